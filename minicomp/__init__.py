"""minicomp: a small, readable deep-learning compiler behind torch.compile(backend="minicomp")."""

from __future__ import annotations

from typing import Any, Optional

from minicomp.errors import (
    BackendUnavailableError, InvalidOptionError, MinicompError, UnsupportedOpError,
)
from minicomp.options import Options
from minicomp.report import CompileReport, reports

__all__ = [
    "BackendUnavailableError", "CompileReport", "InvalidOptionError", "MinicompError", "Options",
    "UnsupportedOpError", "compile", "reports", "reset",
]


def compile(model: Any, *, target: str = "auto", dump_dir: Optional[str] = None, **torch_compile_kwargs: Any):
    """`torch.compile(model, backend="minicomp")` with minicomp options as keywords."""
    import torch

    options = dict(torch_compile_kwargs.pop("options", None) or {})
    options.setdefault("target", target)
    if dump_dir is not None:
        options["dump_dir"] = dump_dir
    Options.from_dict(options)  # fail early, before Dynamo defers the compile to the first call
    return torch.compile(model, backend="minicomp", options=options, **torch_compile_kwargs)


def reset() -> None:
    """Forget all reports and Dynamo's compiled code, so the next call compiles afresh; the Triton cache
    is read from disk again (MINICOMP_CACHE_DIR as it is then)."""
    import torch._dynamo

    from minicomp import report
    from minicomp.backends import triton_cache

    report.clear()
    triton_cache.clear()
    torch._dynamo.reset()
