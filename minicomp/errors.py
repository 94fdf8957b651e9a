"""Errors minicomp raises; each message names the op, where it came from and what the user can do."""

from __future__ import annotations

import traceback

REPRODUCER_HINT = ("PyTorch's minifier writes a small repro.py when the same call runs with "
                   "TORCHDYNAMO_REPRO_AFTER=dynamo TORCHDYNAMO_REPRO_LEVEL=2 set (LEVEL=4 for wrong values)")


class MinicompError(Exception):
    """Base class of every error minicomp raises on purpose."""


class InvalidOptionError(MinicompError, ValueError):
    """An unknown option key or a bad option value."""


class UnsupportedOpError(MinicompError):
    """An op minicomp cannot compile, raised when `fallback=False` (or when nothing can run it).

    `op` and `source` name the first such op; `unsupported` lists every one as (op, source, reason)."""

    def __init__(self, message: str, *, op: str, source: str, unsupported: tuple = ()):
        self.op = op
        self.source = source
        self.unsupported = list(unsupported) or [(op, source, message)]
        where = f" (at {source})" if source and not unsupported else ""  # a listing names each op's line
        super().__init__(f"{message}{where}")


def unsupported_ops_error(unsupported: list[tuple[str, str, str]]) -> UnsupportedOpError:
    """One UnsupportedOpError listing every op of a graph that cannot be lowered, with its line and reason."""
    lines = [f"  {op}{f' at {source}' if source else ''}: {reason}" for op, source, reason in unsupported]
    message = (f"{len(unsupported)} op(s) cannot be lowered to minicomp primitives and fallback=False:\n"
               + "\n".join(lines) + "\npass options={'fallback': True} to run them with torch "
               "(the report's fallback_ops lists them)")
    op, source, _ = unsupported[0]
    return UnsupportedOpError(message, op=op, source=source, unsupported=unsupported)


class BackendUnavailableError(MinicompError):
    """The chosen target cannot run on this machine; the message says what is missing."""


class InternalCompilerError(MinicompError):
    """A bug in minicomp: compiling a graph failed where it should not (in a pass or in code generation)."""

    def __init__(self, graph: str, stage: str, error: BaseException, dump_folder: "str | None"):
        self.graph = graph
        self.stage = stage
        self.error = error  # also its __cause__, which Dynamo drops on the way to the user
        self.dump_folder = dump_folder
        where = (f"The generated program and report.json (with this error) are in {dump_folder}." if dump_folder
                 else "Set options={'dump_dir': 'dumps/'} (or MINICOMP_DUMP_DIR=dumps/) to keep the generated "
                      "program and report.json of this graph.")
        super().__init__(
            f"minicomp bug (not an error in your code): compiling graph {graph} failed in {stage} with "
            f"{type(error).__name__}: {error} (at {_location(error)})\n{where}\nTo make a reproducer: "
            f"{REPRODUCER_HINT}; please report it with that file. Meanwhile, torch.compile(..., "
            "backend='aot_eager') runs this code without minicomp.")


def _location(error: BaseException) -> str:
    """`file:line` where `error` was raised: the generated program's line for a syntax error in it."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}"
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "an unknown line"


class MinicompWarning(UserWarning):
    """Something minicomp skipped without changing results (a dump it could not write, say)."""


class CacheWarning(MinicompWarning):
    """minicomp's disk cache could not be used as it is (unwritable, corrupt); it compiled without it."""
