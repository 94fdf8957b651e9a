"""The Triton backend's disk cache: generated programs (triton.jit reads kernels from a real file) and
tuned block sizes (autotune.json), under MINICOMP_CACHE_DIR (default ~/.cache/minicomp)/triton.

Every file is written atomically (a private temporary file, then a rename), so a reader never sees
half a file and two processes can write the same one. Every file is checked when it is read: a program
file must hold exactly the source it is named after (else it is rewritten), autotune.json must be a
JSON object (else it is tuned again and rewritten), and a tuned entry must be one of the kernel's
candidates (checked by the launcher). A cache folder that cannot be used degrades to no cache, with
one CacheWarning: programs then go to a private temporary folder and tuned sizes stay in memory.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import warnings
from typing import Any, Optional

from minicomp.errors import BackendUnavailableError, CacheWarning

_MODULES: dict[str, Any] = {}
_TUNED: dict[str, dict] = {}
_NO_CACHE: dict[str, str] = {}  # once the cache is unusable: "reason", and "folder" (private) when made


def cache_dir() -> str:
    """The cache folder, read from the environment when used (so it can change, and be tested)."""
    root = os.environ.get("MINICOMP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "minicomp")
    return os.path.join(root, "triton")


def clear() -> None:
    """Forget loaded programs, tuned sizes and an earlier cache failure (minicomp.reset() calls this)."""
    _MODULES.clear()
    _TUNED.clear()
    _NO_CACHE.clear()


def load_module(source: str):
    """Import generated source, one module per distinct source text (its per-graph data lives elsewhere)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    if key not in _MODULES:
        path = _program_file(f"program_{key}.py", source)
        spec = importlib.util.spec_from_file_location(f"minicomp_triton_{key}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _MODULES[key] = module
    return _MODULES[key]


def _program_file(name: str, source: str) -> str:
    """A file holding exactly `source`: the cached one when it matches, else (re)written."""
    if not _NO_CACHE:
        path = os.path.join(cache_dir(), name)
        try:
            found = _read(path)
            if found != source:
                _write_atomically(path, source)
                if found is not None:
                    warnings.warn(f"minicomp: the cached Triton program {path} did not match its source "
                                  f"(truncated or edited); it was rewritten", CacheWarning, stacklevel=2)
            return path
        except OSError as error:
            _give_up_cache(error)
    path = os.path.join(_private_folder(), name)
    _write_atomically(path, source)
    return path


def tuned_sizes() -> dict:
    """The tuned block sizes, by launcher key: autotune.json as read once, or empty when it is unusable."""
    if "entries" not in _TUNED:
        _TUNED["entries"] = {} if _NO_CACHE else _read_tuning(warn=True)
    return _TUNED["entries"]


def remember_tuned(key: str, config: dict) -> None:
    """Record a tuned config and write autotune.json (merged with what other processes wrote meanwhile)."""
    entries = tuned_sizes()
    entries[key] = config
    if _NO_CACHE:
        return
    try:
        merged = {**_read_tuning(warn=False), **entries}
        _write_atomically(_tuning_path(), json.dumps(merged, indent=1, sort_keys=True))
    except OSError as error:
        _give_up_cache(error)


def _tuning_path() -> str:
    return os.path.join(cache_dir(), "autotune.json")


def _read_tuning(warn: bool) -> dict:
    """autotune.json's entries; a file that is not a JSON object counts as empty (it is rewritten on save)."""
    path = _tuning_path()
    try:
        text = _read(path)
        if text is None:
            return {}
        entries = json.loads(text)
        if not isinstance(entries, dict):
            raise ValueError(f"a JSON object was expected, not {type(entries).__name__}")
        return entries
    except ValueError as error:
        if warn:
            warnings.warn(f"minicomp: the Triton tuning cache {path} is corrupt ({error}); block sizes are "
                          f"tuned again and the file is rewritten", CacheWarning, stacklevel=3)
        return {}
    except OSError as error:
        _give_up_cache(error)
        return {}


def _read(path: str) -> Optional[str]:
    """The text of `path`, or None when there is no such file (undecodable bytes never match a source)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_atomically(path: str, text: str) -> None:
    """Write a private temporary file beside `path`, then rename it over `path`."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _give_up_cache(error: OSError) -> None:
    """Use no cache from now on (until minicomp.reset()), saying so once."""
    if _NO_CACHE:
        return
    _NO_CACHE["reason"] = str(error)
    warnings.warn(f"minicomp: cannot use the Triton cache folder {cache_dir()} ({error}); compiling without "
                  f"a cache (programs go to a temporary folder, block sizes are tuned in every process). "
                  f"Set MINICOMP_CACHE_DIR to a writable folder to cache again", CacheWarning, stacklevel=3)


def _private_folder() -> str:
    """A temporary folder of this process for program files, made once."""
    if "folder" not in _NO_CACHE:
        try:
            _NO_CACHE["folder"] = tempfile.mkdtemp(prefix="minicomp-triton-")
            atexit.register(shutil.rmtree, _NO_CACHE["folder"], ignore_errors=True)  # nothing left behind
        except OSError as error:
            raise BackendUnavailableError(
                f"target='triton' needs a writable folder for its generated programs (triton.jit reads kernels "
                f"from files): neither {cache_dir()} nor the temporary folder {tempfile.gettempdir()} can be "
                f"written ({error}); set MINICOMP_CACHE_DIR or TMPDIR to a writable folder") from None
    return _NO_CACHE["folder"]
