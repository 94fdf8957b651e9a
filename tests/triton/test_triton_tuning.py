"""Block-size tuning, the path a GPU takes: every candidate runs, the fastest is kept on disk and reused.

On CPU the interpreter stands in for the GPU and a fake timer for `do_bench`, so the choice is known.
"""

import json

import pytest
import torch

import minicomp
from minicomp.backends import triton_runtime

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

    monkeypatch.setattr(triton_runtime, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(triton_runtime, "_TUNED", {})
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
    cache = json.loads((tmp_path / "autotune.json").read_text())
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
    (chosen,) = triton_runtime._tuning_cache().values()
    assert chosen["XBLOCK"] == 2
    assert any(config["XBLOCK"] > 2 for config in launches)


def test_no_candidate_compiling_is_a_clear_error(monkeypatch, tuning):
    def refuse(self, config, *args):
        raise RuntimeError("out of resources")
    monkeypatch.setattr(triton_runtime.Launcher, "launch", refuse)
    with pytest.raises(RuntimeError, match="no block size compiled for this kernel"):
        run_compiled(torch.randn(6, 10, device=DEVICE))
