"""Compile options: one frozen dataclass, validated from the dict users pass to torch.compile."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from minicomp.errors import InvalidOptionError

TARGETS = ("auto", "numpy", "triton")


@dataclasses.dataclass(frozen=True)
class Options:
    """What to compile for and which passes to run; see README for each key."""

    target: str = "auto"
    dump_dir: Optional[str] = None
    fusion: bool = True
    memory_planning: bool = True
    fallback: bool = True

    @classmethod
    def from_dict(cls, options: Optional[dict[str, Any]]) -> "Options":
        """Validate `options` (unknown keys and bad values raise InvalidOptionError, a ValueError)."""
        options = dict(options or {})
        valid = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise InvalidOptionError(f"unknown minicomp option(s) {unknown}; valid options are {valid}")
        if options.get("target", "auto") not in TARGETS:
            raise InvalidOptionError(f"target={options['target']!r} is not one of {list(TARGETS)}")
        for key in ("fusion", "memory_planning", "fallback"):
            if key in options and not isinstance(options[key], bool):
                raise InvalidOptionError(f"{key}={options[key]!r} must be True or False")
        dump_dir = options.get("dump_dir", os.environ.get("MINICOMP_DUMP_DIR") or None)
        if dump_dir is not None and not isinstance(dump_dir, (str, os.PathLike)):
            raise InvalidOptionError(f"dump_dir={dump_dir!r} must be a path")
        options["dump_dir"] = os.fspath(dump_dir) if dump_dir is not None else None
        return cls(**options)
