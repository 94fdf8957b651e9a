"""The OpInfo sweep (benchmarks/opinfo_sweep.py) on a handful of ops, so the script cannot rot."""

from __future__ import annotations

import importlib
import pathlib
import sys

import torch
from torch.utils._pytree import tree_map

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
SMOKE_OPS = ["add", "exp", "sum", "softmax", "matmul"]


def load_sweep():
    """benchmarks/ is not a package: import the script the way `python benchmarks/opinfo_sweep.py` runs it."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("opinfo_sweep")


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


def test_float64_rule_accepts_only_results_at_least_as_close_as_eager():
    load_sweep()
    from _opinfo_compare import closer_than_eager
    exact = {"outputs": torch.tensor([1.0, 2.0], dtype=torch.float64)}
    eager = {"outputs": torch.tensor([1.0, 2.0 + 4e-5])}
    assert closer_than_eager({"outputs": torch.tensor([1.0, 2.0 - 2e-5])}, eager, exact)
    assert not closer_than_eager({"outputs": torch.tensor([1.0, 2.0 - 6e-5])}, eager, exact)
    far = {"outputs": torch.tensor([1.0, 2.5])}  # eager itself far from float64: the rule says nothing
    assert not closer_than_eager({"outputs": torch.tensor([1.0, 2.4])}, far, exact)
    assert not closer_than_eager(eager, eager, {})  # no float64 run
    overflowed = {"outputs": torch.tensor([1.0, float("inf")])}  # eager overflowed, minicomp did not
    assert closer_than_eager({"outputs": torch.tensor([1.0, 2.0])}, overflowed, exact)
    indices = {"outputs": (torch.tensor([1.0, 2.0]), torch.tensor([0, 1]))}
    wrong_index = {"outputs": (torch.tensor([1.0, 2.0]), torch.tensor([0, 2]))}
    assert not closer_than_eager(wrong_index, indices, {"outputs": (exact["outputs"], torch.tensor([0, 1]))})


def test_sweep_judges_other_dtypes_exactly_for_integers():
    sweep = load_sweep()
    results = sweep.sweep(["add", "sum", "floor_divide"], samples_per_op=1, dtype=torch.int64)
    for entry in results:
        assert entry["atol"] == entry["rtol"] == 0.0, entry
        assert "int64" in entry["samples"][0]["sample"], entry
        assert entry["status"] in ("passed", "passed_with_fallback"), entry

    def plus_one(gm, example_inputs):
        def run(*args):
            return tree_map(lambda t: t + 1 if isinstance(t, torch.Tensor) and t.dtype != torch.bool else t, gm(*args))
        return run
    (entry,) = sweep.sweep(["add"], backend=plus_one, samples_per_op=1, dtype=torch.int64)
    assert entry["status"] == "mismatch"
    (entry,) = sweep.sweep(["exp"], samples_per_op=1, dtype=torch.bfloat16)
    assert entry["status"] == "passed" and "bfloat16" in entry["samples"][0]["sample"]


def test_tie_rule_accepts_only_indices_of_equal_values():
    load_sweep()
    from torch.testing._internal.opinfo.core import SampleInput
    from _opinfo_compare import same_up_to_ties
    x = torch.tensor([[1.0, 3.0, 3.0, 0.0]])
    sample = SampleInput(x, args=(2, 1))  # topk(x, 2, dim=1)
    eager = {"outputs": (torch.tensor([[3.0, 3.0]]), torch.tensor([[1, 2]]))}
    assert same_up_to_ties("topk", sample, {"outputs": (torch.tensor([[3.0, 3.0]]), torch.tensor([[2, 1]]))},
                           eager, 1e-5, 1.3e-6)
    assert not same_up_to_ties("topk", sample, {"outputs": (torch.tensor([[3.0, 3.0]]), torch.tensor([[2, 0]]))},
                               eager, 1e-5, 1.3e-6)
    assert not same_up_to_ties("exp", sample, eager, eager, 1e-5, 1.3e-6)  # only ops whose tie order is free
    integers = SampleInput(x.long(), args=(2, 1))  # int64 values: only the last output holds indices
    assert same_up_to_ties("topk", integers, {"outputs": (torch.tensor([[3, 3]]), torch.tensor([[2, 1]]))},
                           {"outputs": (torch.tensor([[3, 3]]), torch.tensor([[1, 2]]))}, 0.0, 0.0)
    stable = SampleInput(x, args=(1,), kwargs={"stable": True})
    assert not same_up_to_ties("sort", stable, {"outputs": (torch.tensor([[0.0, 1.0, 3.0, 3.0]]),
                                                            torch.tensor([[3, 0, 2, 1]]))},
                               {"outputs": (torch.tensor([[0.0, 1.0, 3.0, 3.0]]), torch.tensor([[3, 0, 1, 2]]))},
                               1e-5, 1.3e-6)
    # with gradients: the same elements in another order pass only if the gradients agree too
    with_grads = dict(eager, grads=[torch.tensor([[0.0, 1.0, 1.0, 0.0]])])
    swapped = {"outputs": (torch.tensor([[3.0, 3.0]]), torch.tensor([[2, 1]])), "grads": with_grads["grads"]}
    assert same_up_to_ties("topk", sample, swapped, with_grads, 1e-5, 1.3e-6)
    assert not same_up_to_ties("topk", sample, dict(swapped, grads=[torch.tensor([[0.0, 2.0, 0.0, 0.0]])]),
                               with_grads, 1e-5, 1.3e-6)
