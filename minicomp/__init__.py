"""minicomp: a small, readable deep-learning compiler behind torch.compile(backend="minicomp")."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Optional

from minicomp.errors import (
    BackendUnavailableError, InternalCompilerError, InvalidOptionError, MinicompError, MinicompWarning,
    UnsupportedOpError,
)
from minicomp.options import Options, did_you_mean, option_names
from minicomp.report import CompileReport, reports

__all__ = [
    "BackendUnavailableError", "CompileReport", "InternalCompilerError", "InvalidOptionError", "MinicompError",
    "MinicompWarning", "Options", "UnsupportedOpError", "compile", "reports", "reset",
]


def compile(model: Any, *, options: Optional[Mapping[str, Any]] = None, **keywords: Any):
    """`torch.compile(model, backend="minicomp")`, taking every minicomp option (target, dump_dir, fusion,
    memory_planning, fallback) as a keyword, beside torch.compile's own (dynamic, fullgraph, ...)."""
    import torch

    Options.from_dict(options)  # a non-dict or a bad key in options: a clear error before merging
    merged = dict(options or {})
    torch_keywords = [name for name in inspect.signature(torch.compile).parameters
                      if name not in ("model", "backend", "options")]
    for key, value in keywords.items():
        if key in option_names():
            if key in merged and merged[key] != value:
                raise InvalidOptionError(f"{key} is given twice, as {key}={value!r} and in options as {merged[key]!r}")
            merged[key] = value
        elif key not in torch_keywords:
            raise InvalidOptionError(f"unknown keyword {key!r}{did_you_mean(key, option_names() + torch_keywords)}; "
                                     f"minicomp options are {option_names()}, torch.compile's are {torch_keywords}")
    Options.from_dict(merged)  # fail early, before Dynamo defers the compile to the first call
    passed_on = {key: value for key, value in keywords.items() if key not in option_names()}
    return torch.compile(model, backend="minicomp", options=merged, **passed_on)


def reset() -> None:
    """Forget all reports and Dynamo's compiled code, so the next call compiles afresh; the Triton cache
    is read from disk again (MINICOMP_CACHE_DIR as it is then)."""
    import torch._dynamo

    from minicomp import report
    from minicomp.backends import triton_cache

    report.clear()
    triton_cache.clear()
    torch._dynamo.reset()
