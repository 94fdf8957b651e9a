"""Building the C++: the compiler probe, the disk cache (one compiler run per graph, ever; checked on
load; safe for two processes at once), and clear errors where no compiler works."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import minicomp
from minicomp.backends import cpp_build
from minicomp.errors import BackendUnavailableError


def function(x):
    return torch.sin(x) * 3 + 1


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty cache folder of this test; returns its cpp/ folder."""
    monkeypatch.setenv("MINICOMP_CACHE_DIR", str(tmp_path))
    cpp_build.clear()
    yield tmp_path / "cpp"
    cpp_build.clear()


def compile_and_check(x):
    minicomp.reset()
    result = torch.compile(function, backend="minicomp", options={"target": "cpp"})(x)
    torch.testing.assert_close(result, function(x))
    (report,) = minicomp.reports()
    assert report.target == "cpp"
    return report


def test_the_toolchain_takes_openmp_and_never_fast_math():
    chain = cpp_build.toolchain()
    assert chain is not None, "make setup installs g++: the C++ backend is tested on every machine"
    assert "-fopenmp" in chain.flags and chain.openmp
    assert not any("fast-math" in flag or flag == "-Ofast" for flag in chain.flags)


def test_a_second_compile_of_the_same_graph_runs_no_compiler(cache):
    x = torch.randn(7)
    first = compile_and_check(x)
    assert first.pass_seconds["cpp_compiler"] > 0
    assert len(list(cache.glob("graph_*.so"))) == 1
    cpp_build.clear()  # as a new process would: nothing loaded, the library on disk
    runs = cpp_build.STATS["compiles"]
    second = compile_and_check(x)
    assert cpp_build.STATS["compiles"] == runs and second.pass_seconds["cpp_compiler"] == 0


def test_two_processes_compiling_the_same_graph_at_once_both_succeed(cache):
    script = textwrap.dedent("""
        import torch, minicomp
        f = torch.compile(lambda x: torch.cos(x) * 5 - 2, backend="minicomp", options={"target": "cpp"})
        x = torch.randn(9)
        torch.testing.assert_close(f(x), torch.cos(x) * 5 - 2)
    """)
    environment = {**os.environ, "MINICOMP_CACHE_DIR": str(cache.parent)}
    processes = [subprocess.Popen([sys.executable, "-c", script], env=environment, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    errors = [p.communicate()[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    assert len(list(cache.glob("graph_*.so"))) == 1 and not list(cache.glob("*.tmp"))


RUN_ONCE = textwrap.dedent("""
    import torch, minicomp
    from minicomp.backends import cpp_build
    f = torch.compile(lambda x: torch.sin(x) * 3 + 1, backend="minicomp", options={"target": "cpp"})
    x = torch.randn(7)
    torch.testing.assert_close(f(x), torch.sin(x) * 3 + 1)
    print(cpp_build.STATS["compiles"])
""")


def run_in_a_new_process(cache) -> int:
    """Compile and check `sin(x) * 3 + 1` in a new process; the number of compiler runs it made."""
    environment = {**os.environ, "MINICOMP_CACHE_DIR": str(cache.parent)}
    result = subprocess.run([sys.executable, "-c", RUN_ONCE], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.split()[-1])


def test_a_new_process_reuses_the_cached_library(cache):
    assert [run_in_a_new_process(cache), run_in_a_new_process(cache)] == [1, 0]


@pytest.mark.parametrize("damage", ["truncated", "another program"])
def test_a_damaged_cached_library_is_rebuilt(damage, cache):
    assert run_in_a_new_process(cache) == 1
    (library,) = cache.glob("graph_*.so")
    if damage == "truncated":
        replacement = library.read_bytes()[:100]
    else:  # a whole library, but of another graph
        minicomp.reset()
        torch.compile(lambda y: y * 7, backend="minicomp", options={"target": "cpp"})(torch.randn(5))
        replacement = next(p for p in cache.glob("graph_*.so") if p != library).read_bytes()
    spare = cache / "replacement"
    spare.write_bytes(replacement)
    os.replace(spare, library)  # a new file under the old name (a library in use is never written over)
    assert run_in_a_new_process(cache) == 1
    assert run_in_a_new_process(cache) == 0


def test_without_a_compiler_cpp_is_a_clear_error_and_auto_picks_numpy(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    cpp_build.toolchain.cache_clear()
    try:
        with pytest.raises(BackendUnavailableError, match="needs a C\\+\\+17 compiler"):
            compile_and_check(torch.randn(3))
        minicomp.reset()
        x = torch.randn(3)
        torch.testing.assert_close(torch.compile(function, backend="minicomp")(x), function(x))
        assert [r.target for r in minicomp.reports()] == ["numpy"]
    finally:
        monkeypatch.delenv("CXX")
        cpp_build.toolchain.cache_clear()


def test_auto_picks_cpp_on_the_cpu_when_a_compiler_works():
    x = torch.randn(3)
    torch.compile(function, backend="minicomp")(x)
    assert [r.target for r in minicomp.reports()] == ["cpp"]


def test_a_compiler_error_names_the_generated_file(cache, monkeypatch):
    monkeypatch.setattr("minicomp.backends.cpp_math.PRELUDE", "#error broken prelude\n")
    monkeypatch.setattr("minicomp.backends.cpp_backend.PRELUDE", "#error broken prelude\n")
    with pytest.raises(Exception, match="failed on the generated C\\+\\+"):
        compile_and_check(torch.randn(3))
