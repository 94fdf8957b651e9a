"""Dumps: one folder per compiled graph with the ATen graph, the IR after each pass, code and report.

Dumps are diagnostics: a dump folder that cannot be written is reported by one warning, and the graph is
compiled anyway."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import threading
import warnings
from typing import Callable, Optional

from minicomp.errors import MinicompWarning
from minicomp.ir.dot import to_dot
from minicomp.ir.graph import Graph
from minicomp.options import DUMP_DIR_VARIABLE

MAX_SVG_NODES = 120
SVG_SECONDS = 30
FIRST_FILE = "aten_fx.txt"  # every dump folder starts with it: a folder holding it is an earlier dump
_WARNED: set[str] = set()
# graphviz lays out the SVGs on one thread beside the compile, not in it (a layout can take seconds);
# the interpreter waits for the queued ones at exit, and wait_for_svgs() waits for them at once
_RENDERER: Optional[concurrent.futures.ThreadPoolExecutor] = None
_PENDING: list[concurrent.futures.Future] = []
_LOCK = threading.Lock()


def wait_for_svgs() -> None:
    """Block until every SVG this process queued is written (or has its `.svg_skipped.txt`): for a script
    that reads its dumps right after compiling."""
    with _LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    concurrent.futures.wait(pending)


def _queue_svg(dot_source: str, svg_path: str, skipped_path: str) -> None:
    global _RENDERER
    with _LOCK:
        if _RENDERER is None:
            _RENDERER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="minicomp-svg")
        _PENDING[:] = [f for f in _PENDING if not f.done()]
        _PENDING.append(_RENDERER.submit(_render_svg, dot_source, svg_path, skipped_path))


def _render_svg(dot_source: str, svg_path: str, skipped_path: str) -> None:
    try:
        subprocess.run(["dot", "-Tsvg", "-o", svg_path], input=dot_source.encode(), check=False,
                       capture_output=True, timeout=SVG_SECONDS)
    except (subprocess.TimeoutExpired, OSError) as error:
        try:
            with open(skipped_path, "w") as handle:
                handle.write(f"graphviz failed ({error}); render the .dot yourself.\n")
        except OSError:
            pass  # (the folder went away: nothing to say it in)


class Dumper:
    """Writes numbered files into `<dump_dir>/<graph name>/`; a no-op when dump_dir is None."""

    def __init__(self, dump_dir: Optional[str], graph_name: str):
        self.dump_dir = dump_dir
        self.folder = os.path.join(dump_dir, graph_name) if dump_dir else None
        self.step = 0
        self.svg_skipped = False
        self._attempt(self._start_folder)

    def text(self, filename: str, content: str) -> None:
        """Write `content` to `filename` in the folder."""
        self._attempt(self._write, filename, content)

    def source(self, filename: str, content: str) -> Optional[str]:
        """Write generated code; its path, to compile it under (so tracebacks show its lines), or None."""
        self.text(filename, content)
        return os.path.abspath(os.path.join(self.folder, filename)) if self.folder else None

    def graph(self, stage: str, graph: Graph) -> None:
        """`NN_<stage>.txt` and `.dot` (and `.svg` when graphviz's `dot` is installed, written in the
        background: wait_for_svgs)."""
        if not self.folder:
            return
        base = f"{self.step:02d}_{stage}"
        self.step += 1
        self.text(base + ".txt", str(graph))
        dot_source = to_dot(graph)
        self.text(base + ".dot", dot_source)
        nodes = sum(1 for _ in graph.all_nodes())
        if shutil.which("dot") is None or nodes > MAX_SVG_NODES:
            if not self.svg_skipped:
                why = ("graphviz's `dot` program is not installed" if shutil.which("dot") is None
                       else f"graphs over {MAX_SVG_NODES} nodes can take graphviz minutes to lay out")
                self.text("SVG_SKIPPED.txt", f"{why}; only .dot files were written (render one with dot -Tsvg).\n")
                self.svg_skipped = True
            return
        _queue_svg(dot_source, os.path.join(self.folder, base + ".svg"),
                   os.path.join(self.folder, base + ".svg_skipped.txt"))

    def _start_folder(self) -> None:
        """Make the folder; one left by an earlier run loses its files, so it holds this run's files only."""
        os.makedirs(self.folder, exist_ok=True)
        if os.path.exists(os.path.join(self.folder, FIRST_FILE)):
            for entry in os.scandir(self.folder):
                if entry.is_file(follow_symlinks=False):
                    os.remove(entry.path)

    def _write(self, filename: str, content: str) -> None:
        with open(os.path.join(self.folder, filename), "w") as handle:
            handle.write(content)

    def _attempt(self, action: Callable, *args) -> None:
        """Run a file operation; an OSError stops dumping for this graph with one warning per dump_dir."""
        if not self.folder:
            return
        try:
            action(*args)
        except OSError as error:
            self.folder = None
            _warn_once(self.dump_dir, error)


def _warn_once(dump_dir: str, error: OSError) -> None:
    if dump_dir in _WARNED:
        return
    _WARNED.add(dump_dir)
    variable = os.environ.get(DUMP_DIR_VARIABLE)
    setting = (DUMP_DIR_VARIABLE if variable and os.path.expanduser(variable) == dump_dir
               else "the dump_dir option")
    warnings.warn(f"minicomp cannot write dumps to {dump_dir!r} (set by {setting}): {error}. Compiling without "
                  f"dumps; point {setting} at a writable folder to get them.", MinicompWarning, stacklevel=2)
