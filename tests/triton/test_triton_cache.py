"""The Triton cache on disk: atomic files checked when read; any problem with it means compiling
without it, with one CacheWarning, never a failed compile or a stale program."""

import os
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch

import minicomp
from minicomp.errors import CacheWarning

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def function(x):
    return torch.sin(x) * 3 + 1


def compile_and_check(x, grad=False) -> list[str]:
    """Compile `function` afresh (forward, and backward when `grad`), compare with eager, return the
    CacheWarnings raised meanwhile."""
    minicomp.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = x.detach().clone().requires_grad_(grad)
        result = torch.compile(function, backend="minicomp", options={"target": "triton"})(inputs)
        torch.testing.assert_close(result, function(x))
        if grad:
            result.sum().backward()
            torch.testing.assert_close(inputs.grad, torch.cos(x) * 3)
    assert {r.target for r in minicomp.reports()} == {"triton"}
    return [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty cache folder of this test; returns its triton/ folder."""
    monkeypatch.setenv("MINICOMP_CACHE_DIR", str(tmp_path))
    return tmp_path / "triton"


@pytest.mark.parametrize("variable", ["MINICOMP_CACHE_DIR", "HOME"])
def test_an_unusable_cache_folder_compiles_without_a_cache_and_warns_once(variable, monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"  # a folder cannot be made inside a file, even by root
    blocker.write_text("")
    monkeypatch.delenv("MINICOMP_CACHE_DIR", raising=False)
    monkeypatch.setenv(variable, str(blocker))
    (message,) = compile_and_check(torch.randn(5, device=DEVICE), grad=True)  # two graphs, one warning
    assert "cannot use the Triton cache folder" in message and "MINICOMP_CACHE_DIR" in message


@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_a_damaged_cached_program_is_rewritten(damage, cache):
    x = torch.randn(5, device=DEVICE)
    assert compile_and_check(x) == []
    (path,) = cache.glob("program_*.py")
    source = path.read_text()
    if damage == "truncated":
        path.write_text(source[:len(source) // 2])
    else:
        path.write_text(source + "\n\ndef program(graph_data, DEVICE, *inputs):\n    return [inputs[0] * 0]\n")
    (message,) = compile_and_check(x)
    assert str(path) in message and "rewritten" in message
    assert path.read_text() == source
    assert compile_and_check(x) == []  # repaired: the next compile finds it as written


def test_the_cache_folder_is_read_when_used(cache, monkeypatch, tmp_path):
    compile_and_check(torch.randn(5, device=DEVICE))
    monkeypatch.setenv("MINICOMP_CACHE_DIR", str(tmp_path / "elsewhere"))
    compile_and_check(torch.randn(5, device=DEVICE))
    assert len(list(cache.glob("program_*.py"))) == 1
    assert len(list((tmp_path / "elsewhere" / "triton").glob("program_*.py"))) == 1


COMPILE_WHEN_TOLD = textwrap.dedent("""
    import os, sys, time
    import torch
    import minicomp
    ready, go = sys.argv[1], sys.argv[2]
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    x = torch.randn(64)
    result = torch.compile(lambda x: torch.softmax(x * 2, -1) + x, backend="minicomp",
                           options={"target": "triton"})(x)
    torch.testing.assert_close(result, torch.softmax(x * 2, -1) + x)
    print("matches eager")
""")


def test_two_processes_compiling_the_same_graph_at_once_both_succeed(cache, tmp_path):
    go = tmp_path / "go"
    readies = [tmp_path / f"ready{index}" for index in range(2)]
    processes = [subprocess.Popen([sys.executable, "-c", COMPILE_WHEN_TOLD, str(ready), str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for ready in readies]
    try:
        while not all(ready.exists() for ready in readies) and all(p.poll() is None for p in processes):
            time.sleep(0.05)
        go.write_text("")  # both have imported torch and minicomp: now they compile at the same moment
        results = [process.communicate(timeout=300) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (out, error) in zip(processes, results):
        assert process.returncode == 0 and "matches eager" in out, error[-3000:]
    assert len(list(cache.glob("program_*.py"))) == 1
    assert not list(cache.glob("*.tmp"))  # no temporary file left behind


def test_without_a_cache_the_temporary_program_folder_is_removed_at_exit(tmp_path):
    blocker, temporary = tmp_path / "a_file", tmp_path / "tmp"
    blocker.write_text("")
    temporary.mkdir()
    script = textwrap.dedent("""
        import warnings, torch, minicomp, tempfile
        warnings.simplefilter("ignore")
        x = torch.randn(5)
        torch.testing.assert_close(torch.compile(lambda x: x.sin() * 3, backend="minicomp",
                                                 options={"target": "triton"})(x), x.sin() * 3)
        import glob; print(len(glob.glob(tempfile.gettempdir() + "/minicomp-triton-*/program_*.py")))
    """)
    environment = {**os.environ, "MINICOMP_CACHE_DIR": str(blocker), "TMPDIR": str(temporary),
                   "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.split()[-1] == "1", done.stderr[-3000:]  # it was used
    assert not list(temporary.glob("minicomp-triton-*"))
