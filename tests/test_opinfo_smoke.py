"""The OpInfo sweep (benchmarks/opinfo_sweep.py) on a handful of ops, so the script cannot rot."""

from __future__ import annotations

import importlib.util
import pathlib

import torch
from torch.utils._pytree import tree_map

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "opinfo_sweep.py"
SMOKE_OPS = ["add", "exp", "sum", "softmax", "matmul"]


def load_sweep():
    spec = importlib.util.spec_from_file_location("opinfo_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def off_by_one(gm, example_inputs):
    """A deliberately wrong backend: every floating output is shifted by 1."""
    def run(*args):
        return tree_map(lambda t: t + 1 if isinstance(t, torch.Tensor) and t.is_floating_point() else t, gm(*args))
    return run


def test_sweep_forward_has_no_mismatch():
    sweep = load_sweep()
    results = sweep.sweep(SMOKE_OPS, samples_per_op=2)
    assert {entry["op"] for entry in results} == set(SMOKE_OPS) | {"softmax.with_dtype"}
    for entry in results:
        assert entry["samples"], entry["op"]
        assert entry["status"] not in ("mismatch", "baseline_failed", "not_captured"), entry
    summary = sweep.summarize(results)
    assert summary["mismatches"] == 0
    assert summary["baseline_passed"] == len(results)
    assert "MISMATCHES" in sweep.format_summary(summary, results)


def test_sweep_grad_has_no_mismatch():
    sweep = load_sweep()
    results = sweep.sweep(["mul", "exp", "sum"], grad=True, samples_per_op=1)
    for entry in results:
        sample = entry["samples"][0]
        assert "baseline_problem" not in sample, entry
        assert "mismatch" not in sample, entry


def test_sweep_flags_a_wrong_backend():
    sweep = load_sweep()
    results = sweep.sweep(["exp"], backend=off_by_one, samples_per_op=1)
    assert [entry["status"] for entry in results] == ["mismatch"]
    assert results[0]["samples"][0]["max_abs_diff"] == 1.0
