"""Block-size tuning, the path a GPU takes: every candidate runs, the fastest is kept on disk and reused.

On CPU the interpreter stands in for the GPU and a fake timer for `do_bench`, so the choice is known.
"""

import json

import pytest
import torch

import minicomp
from minicomp.backends import triton_cache, triton_runtime
from minicomp.errors import CacheWarning

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def softmax(x):
    return torch.softmax(x * 2.0, dim=-1)


@pytest.fixture
def tuning(monkeypatch, tmp_path):
    """Tune with the GPU candidates into an empty cache; the fake timer favours the last candidate timed."""
    timed = []

    def fake_timer(launch):
        launch()
        timed.append(launch)
        return 1.0 / (1 + len(timed))  # each later candidate looks faster: the last one measured wins

    monkeypatch.setenv("MINICOMP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(triton_runtime, "time_kernel", fake_timer)
    original = triton_runtime.Launcher.candidates

    def gpu_candidates(self, outer, reduced):
        with monkeypatch.context() as patch:
            patch.setattr(triton_runtime, "interpreting", lambda: False)
            return original(self, outer, reduced)
    monkeypatch.setattr(triton_runtime.Launcher, "candidates", gpu_candidates)
    return timed


def run_compiled(x):
    minicomp.reset()
    return torch.compile(softmax, backend="minicomp", options={"target": "triton"})(x)


def test_every_candidate_is_timed_and_the_fastest_is_cached(monkeypatch, tuning, tmp_path):
    x = torch.randn(6, 10, device=DEVICE)
    torch.testing.assert_close(run_compiled(x), softmax(x))
    assert len(tuning) > 1
    cache = json.loads((tmp_path / "triton" / "autotune.json").read_text())
    (key, chosen), = cache.items()
    assert chosen["XBLOCK"] == 32 and chosen["RBLOCK"] == 16  # the last candidate, which the timer favoured
    assert key.endswith(":6:10:torch.float32")

    count = len(tuning)
    y = torch.randn(6, 10, device=DEVICE)
    torch.testing.assert_close(run_compiled(y), softmax(y))
    assert len(tuning) == count  # same kernel and sizes: read from the cache, not timed again


def test_candidates_that_fail_are_skipped(monkeypatch, tuning):
    launches = []
    original = triton_runtime.Launcher.launch

    def launch_small_blocks_only(self, config, *args):
        launches.append(config)
        if config["XBLOCK"] > 2:
            raise RuntimeError("out of resources")
        return original(self, config, *args)
    monkeypatch.setattr(triton_runtime.Launcher, "launch", launch_small_blocks_only)
    x = torch.randn(6, 10, device=DEVICE)
    torch.testing.assert_close(run_compiled(x), softmax(x))
    (chosen,) = triton_cache.tuned_sizes().values()
    assert chosen["XBLOCK"] == 2
    assert any(config["XBLOCK"] > 2 for config in launches)


def test_no_candidate_compiling_is_a_clear_error(monkeypatch, tuning):
    def refuse(self, config, *args):
        raise RuntimeError("out of resources")
    monkeypatch.setattr(triton_runtime.Launcher, "launch", refuse)
    with pytest.raises(RuntimeError, match="no block size compiled for this kernel"):
        run_compiled(torch.randn(6, 10, device=DEVICE))


def test_a_kernel_writing_over_its_own_input_is_tuned_on_scratch_buffers(monkeypatch, tuning):
    # memory planning puts (x @ w) * 2 + 1 in place over x @ w: timing each candidate on the real
    # buffers would apply the kernel to its own result, once per candidate
    def function(x, w):
        return ((x @ w) * 2 + 1) @ w

    in_place = []
    original = triton_runtime.Launcher.__call__

    def recording(self, inputs, outputs, *args):
        in_place.append(any(o.data_ptr() == i.data_ptr() for o in outputs for i in inputs))
        return original(self, inputs, outputs, *args)
    monkeypatch.setattr(triton_runtime.Launcher, "__call__", recording)
    x, w = torch.randn(8, 8, device=DEVICE), torch.randn(8, 8, device=DEVICE)
    minicomp.reset()
    compiled = torch.compile(function, backend="minicomp", options={"target": "triton"})
    torch.testing.assert_close(compiled(x, w), function(x, w))  # the first call, which tunes
    assert any(in_place) and len(tuning) > 1


def test_a_corrupt_tuning_cache_is_tuned_again_and_rewritten(tuning, tmp_path):
    path = tmp_path / "triton" / "autotune.json"
    path.parent.mkdir()
    path.write_text('{"a truncated file')
    x = torch.randn(6, 10, device=DEVICE)
    with pytest.warns(CacheWarning, match="autotune.json is corrupt"):
        torch.testing.assert_close(run_compiled(x), softmax(x))
    assert len(tuning) > 1
    (chosen,) = json.loads(path.read_text()).values()
    assert chosen["XBLOCK"] == 32


def test_an_edited_tuning_entry_is_tuned_again(tuning, tmp_path):
    x = torch.randn(6, 10, device=DEVICE)
    run_compiled(x)
    path = tmp_path / "triton" / "autotune.json"
    (key,) = json.loads(path.read_text())
    path.write_text(json.dumps({key: {"XBLOCK": 3, "RBLOCK": 16, "num_warps": 4}}))  # no candidate: 3 rows
    count = len(tuning)
    torch.testing.assert_close(run_compiled(x), softmax(x))
    assert len(tuning) > count
    assert json.loads(path.read_text())[key]["XBLOCK"] == 32
