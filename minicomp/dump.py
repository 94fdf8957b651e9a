"""Dumps: one folder per compiled graph with the ATen graph, the IR after each pass, code and report."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

from minicomp.ir.dot import to_dot
from minicomp.ir.graph import Graph


MAX_SVG_NODES = 120
SVG_SECONDS = 30


class Dumper:
    """Writes numbered files into `<dump_dir>/<graph name>/`; a no-op when dump_dir is None."""

    def __init__(self, dump_dir: Optional[str], graph_name: str):
        self.folder = os.path.join(dump_dir, graph_name) if dump_dir else None
        self.step = 0
        self.svg_skipped = False
        if self.folder:
            os.makedirs(self.folder, exist_ok=True)

    def text(self, filename: str, content: str) -> None:
        if self.folder:
            with open(os.path.join(self.folder, filename), "w") as handle:
                handle.write(content)

    def graph(self, stage: str, graph: Graph) -> None:
        """`NN_<stage>.txt` and `.dot` (and `.svg` when graphviz's `dot` is installed)."""
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
        try:
            subprocess.run(["dot", "-Tsvg", "-o", os.path.join(self.folder, base + ".svg")],
                           input=dot_source.encode(), check=False, capture_output=True, timeout=SVG_SECONDS)
        except subprocess.TimeoutExpired:
            self.text(base + ".svg_skipped.txt", f"graphviz took over {SVG_SECONDS} s; render the .dot yourself.\n")
