"""Compile options: one frozen dataclass, validated from the dict users pass to torch.compile."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from typing import Any, Optional

from minicomp.errors import InvalidOptionError

TARGETS = ("auto", "numpy", "cpp", "triton")
DUMP_DIR_VARIABLE = "MINICOMP_DUMP_DIR"
VERIFY_VARIABLE = "MINICOMP_VERIFY"


def verifying() -> bool:
    """Whether each pass's output graph is checked (ir/verify.py): with MINICOMP_VERIFY=1, as the tests run
    it. Off by default: the checks cost about a third of a compile and find bugs in minicomp, not in
    the user's program."""
    return os.environ.get(VERIFY_VARIABLE, "") == "1"


@dataclasses.dataclass(frozen=True)
class Options:
    """What to compile for and which passes to run; see README for each key."""

    target: str = "auto"
    dump_dir: Optional[str] = None
    fusion: bool = True
    memory_planning: bool = True
    fallback: bool = True

    @classmethod
    def from_dict(cls, options: Optional[Mapping[str, Any]]) -> "Options":
        """Validate `options` (unknown keys and bad values raise InvalidOptionError, a ValueError)."""
        if options is not None and not isinstance(options, Mapping):
            raise InvalidOptionError(f"options must be a dict such as {{'target': 'numpy'}}, not the "
                                     f"{type(options).__name__} {options!r}")
        options = dict(options or {})
        valid = option_names()
        unknown = sorted(set(options) - set(valid), key=str)
        if unknown:
            raise InvalidOptionError(f"unknown minicomp option(s) {unknown}{did_you_mean(unknown[0], valid)}; "
                                     f"valid options are {valid}")
        if options.get("target", "auto") not in TARGETS:
            raise InvalidOptionError(f"target={options['target']!r} is not one of {list(TARGETS)}")
        for key in ("fusion", "memory_planning", "fallback"):
            if key in options and not isinstance(options[key], bool):
                raise InvalidOptionError(f"{key}={options[key]!r} must be True or False")
        dump_dir = options.get("dump_dir", os.environ.get(DUMP_DIR_VARIABLE) or None)
        if dump_dir is not None and not isinstance(dump_dir, (str, os.PathLike)):
            raise InvalidOptionError(f"dump_dir={dump_dir!r} must be a path")
        options["dump_dir"] = os.path.expanduser(os.fspath(dump_dir)) if dump_dir is not None else None
        return cls(**options)


def option_names() -> list[str]:
    """The valid option keys, in the order README lists them."""
    return [field.name for field in dataclasses.fields(Options)]


def did_you_mean(name: Any, valid: list[str]) -> str:
    """` (did you mean 'fusion'?)` for the valid name closest to a misspelled one, or ''."""
    close = difflib.get_close_matches(str(name), valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
