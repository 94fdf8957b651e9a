"""Errors minicomp raises; each message names the op, where it came from and what the user can do."""

from __future__ import annotations


class MinicompError(Exception):
    """Base class of every error minicomp raises on purpose."""


class InvalidOptionError(MinicompError, ValueError):
    """An unknown option key or a bad option value."""


class UnsupportedOpError(MinicompError):
    """An op minicomp cannot compile, raised when `fallback=False` (or when nothing can run it)."""

    def __init__(self, message: str, *, op: str, source: str):
        self.op = op
        self.source = source
        where = f" (at {source})" if source else ""
        super().__init__(f"{message}{where}")


class BackendUnavailableError(MinicompError):
    """The chosen target cannot run on this machine; the message says what is missing."""


class CacheWarning(UserWarning):
    """minicomp's disk cache could not be used as it is (unwritable, corrupt); it compiled without it."""
