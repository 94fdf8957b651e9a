"""Building generated C++: find a working compiler once, compile one translation unit per graph into a
shared library, cache it on disk, load it with ctypes.

The compiler is `$CXX`, else the first of c++, g++, clang++ that compiles a probe; flags are
`-O3 -march=native -mprefer-vector-width=512 -fopenmp` where the compiler takes them (without OpenMP the kernels run serial),
never -ffast-math. `-fwrapv` makes integer overflow wrap, as torch's does; -fno-math-errno and
-fno-trapping-math let floor and sqrt vectorize (no value changes: errno and FP exception flags are
not read by anyone); `-ffp-contract=off` keeps
a multiply and an add two roundings, as eager has them (so fused and unfused kernels agree bit for bit).

Libraries live under MINICOMP_CACHE_DIR (default ~/.cache/minicomp)/cpp, named by a hash of the
source, the compiler's version and the flags. A library is written to a private temporary name and
renamed into place, so two processes compiling the same graph both end with a whole file; each
library exports `minicomp_key()`, checked on load, so a file that holds something else is rebuilt.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from typing import Optional

from minicomp.errors import BackendUnavailableError

PROBE = "#include <cmath>\n#include <omp.h>\nextern \"C\" int probe(void) { return omp_get_max_threads(); }\n"
PROBE_SERIAL = "#include <cmath>\nextern \"C\" int probe(void) { _Float16 h = (_Float16)1.5f; return (int)h; }\n"
PROBE_ALL = PROBE + PROBE_SERIAL.replace("probe", "probe_half")  # OpenMP and _Float16 in one
BASE_FLAGS = ["-std=c++17", "-O3", "-shared", "-fPIC", "-fwrapv", "-fno-math-errno", "-fno-trapping-math",
              "-ffp-contract=off"]
# each kept where the compiler takes it: code for this machine's vector units, and all of their width
# (g++ and clang++ use 256 of AVX-512's 512 bits unless told; the full width runs the standard blocks
# 1.2-1.3x faster on an AVX-512 Xeon)
TUNING_FLAGS = ["-march=native", "-mprefer-vector-width=512"]
_LOADED: dict[str, ctypes.CDLL] = {}
STATS = {"compiles": 0, "seconds": 0.0}  # C++ compiler runs in this process (the report's share of them)


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """A compiler that works here and the flags it takes."""

    command: str
    version: str
    flags: tuple
    openmp: bool


def cache_dir() -> str:
    """The folder of compiled libraries, read from the environment when used."""
    root = os.environ.get("MINICOMP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "minicomp")
    return os.path.join(root, "cpp")


@functools.lru_cache(maxsize=None)
def toolchain() -> Optional[Toolchain]:
    """The first compiler that builds the probe, with OpenMP when it can; None when none works."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    for name in names:
        command = shutil.which(name)
        if command is None:
            continue
        version = _version(command)
        every = BASE_FLAGS + ["-fopenmp"] + TUNING_FLAGS
        if _builds(command, every, PROBE_ALL):  # one probe, usually
            return Toolchain(command, version, tuple(every), True)
        if not _builds(command, BASE_FLAGS, PROBE_SERIAL):
            continue
        openmp = _builds(command, BASE_FLAGS + ["-fopenmp"], PROBE)
        flags = BASE_FLAGS + (["-fopenmp"] if openmp else [])
        for extra in TUNING_FLAGS:
            if _builds(command, flags + [extra], PROBE if openmp else PROBE_SERIAL):
                flags.append(extra)
        return Toolchain(command, version, tuple(flags), openmp)
    return None


def require_toolchain() -> Toolchain:
    """The toolchain, or a clear error saying how to get one."""
    found = toolchain()
    if found is None:
        wanted = f"$CXX={os.environ['CXX']}" if os.environ.get("CXX") else "c++, g++ or clang++"
        raise BackendUnavailableError(f"target='cpp' needs a C++17 compiler ({wanted} did not compile a probe); "
                                      "install g++ (make setup does with apt) or use target='numpy'")
    return found


def load_library(source: str) -> ctypes.CDLL:
    """The shared library of `source`, compiled once per (source, compiler, flags) and cached on disk."""
    chain = require_toolchain()
    key = hashlib.sha256("\n".join([source, chain.version, *chain.flags]).encode()).hexdigest()[:32]
    if key in _LOADED:
        return _LOADED[key]
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"graph_{key}.so")
    library = _open_checked(path, key)
    if library is None:
        library = _compile(chain, source + _key_function(key), path, key)
    _LOADED[key] = library
    return library


def clear() -> None:
    """Forget loaded libraries, so the next load reads the disk cache (tests do this to act as a new
    process would; the loader itself still holds a library it opened under the same path)."""
    _LOADED.clear()


def _key_function(key: str) -> str:
    return f'\nextern "C" const char* minicomp_key(void) {{ return "{key}"; }}\n'


def _open_checked(path: str, key: str) -> Optional[ctypes.CDLL]:
    """The library at `path` if it loads and holds program `key` (a different or broken file: None)."""
    if not os.path.exists(path):
        return None
    try:
        library = ctypes.CDLL(path)
        library.minicomp_key.restype = ctypes.c_char_p
        if library.minicomp_key().decode() == key:
            return library
    except (OSError, AttributeError):
        pass
    return None


def _compile(chain: Toolchain, source: str, path: str, key: str) -> ctypes.CDLL:
    """Compile `source` into `path`: into a private file first, loaded from there (the loader would hand
    back a library it loaded before under `path`), then renamed into place."""
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".so.tmp")
    os.close(handle)
    source_path = temporary[:-len(".so.tmp")] + ".cpp"
    with open(source_path, "w") as file:
        file.write(source)
    start = time.perf_counter()
    try:
        result = subprocess.run([chain.command, *chain.flags, source_path, "-o", temporary],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{chain.command} failed on the generated C++ ({source_path}):\n{result.stderr[-4000:]}")
        library = _open_checked(temporary, key)
        if library is None:
            raise RuntimeError(f"the library {chain.command} built from {source_path} does not say it holds it")
        os.replace(temporary, path)
        os.unlink(source_path)
        return library
    finally:
        STATS["compiles"] += 1
        STATS["seconds"] += time.perf_counter() - start
        if os.path.exists(temporary):
            os.unlink(temporary)


def _version(command: str) -> str:
    try:
        return subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return command


def _builds(command: str, flags: list, probe: str) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "probe.cpp")
        with open(source, "w") as file:
            file.write(probe)
        try:
            result = subprocess.run([command, *flags, source, "-o", os.path.join(folder, "probe.so")],
                                    capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        return result.returncode == 0
