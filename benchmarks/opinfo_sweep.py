"""OpInfo breadth sweep: compile OpInfo samples of one dtype with aot_eager and minicomp, compare both with eager.

Usage (repo root, venv active):  python benchmarks/opinfo_sweep.py [--grad] [--dtype float32] [--ops add,exp]
[--target auto|numpy|cpp|triton] [--limit N] [--samples 3] [--timeout 20] [--json out.json].
Method and figures: docs/opinfo.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import logging
import signal
import subprocess
import sys
import time
import warnings
from typing import Any, Callable, Optional

import torch
import torch._dynamo
from torch.testing._internal.common_methods_invocations import op_db
from torch.utils._pytree import tree_flatten

import minicomp
from _opinfo_report import format_summary, print_progress, summarize
from _opinfo_compare import (WIDENED, closer_than_eager, compare_runs, default_tolerance, describe_sample,
                             same_up_to_ties, tolerance_for)

SAMPLE_POOL = 64  # samples drawn from each OpInfo before picking an evenly spaced few
# Ops that return uninitialized memory: no value is right or wrong, so they are not judged (two eager
# runs usually disagree, but once in a while they agree by chance and the op would count as passed).
UNDEFINED_VALUES = {"empty", "empty_like", "empty_permuted", "empty_strided", "new_empty", "new_empty_strided"}


class SampleTimeout(Exception):
    """One compile-and-run took longer than the per-run limit."""


class Slot:
    """Marks where the i-th tensor argument goes in a sample's (input, args, kwargs) structure."""

    def __init__(self, index: int):
        self.index = index


def op_key(op) -> str:
    """`name` or `name.variant`, the identifier used by --ops and in the results."""
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


def select_ops(names: Optional[list[str]], limit: Optional[int], grad: bool, dtype: torch.dtype) -> list:
    """OpInfos that support `dtype` on CPU (and its backward with grad), restricted to `names` if given."""
    chosen = []
    for op in op_db:
        if names is not None and op_key(op) not in names and op.name not in names:
            continue
        dtypes = op.supported_backward_dtypes("cpu") if grad else op.supported_dtypes("cpu")
        if dtype in dtypes and (op.supports_autograd or not grad):
            chosen.append(op)
    return chosen[:limit] if limit else chosen


def map_leaves(value: Any, function: Callable) -> Any:
    """Apply `function` to each tensor or Slot inside nested lists, tuples and dicts."""
    if isinstance(value, (torch.Tensor, Slot)):
        return function(value)
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return type(value)(map_leaves(item, function) for item in value)
    if isinstance(value, dict):
        return {key: map_leaves(item, function) for key, item in value.items()}
    return value


def make_function(op, sample) -> tuple[Callable, list]:
    """`fn(*tensors)` calling the op on the sample: tensors are arguments, everything else is closed over."""
    tensors: list = []

    def to_slot(tensor: torch.Tensor) -> Slot:
        tensors.append(tensor)
        return Slot(len(tensors) - 1)

    template = map_leaves((sample.input, sample.args, sample.kwargs), to_slot)
    function = op.op

    def call(*arguments):
        first, args, kwargs = map_leaves(template, lambda slot: arguments[slot.index])
        return function(first, *args, **kwargs)

    return call, tensors


def fresh_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A new leaf with the same values, strides when possible, and requires_grad flag."""
    copy = tensor.detach().clone()
    return copy.requires_grad_(tensor.requires_grad)


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise SampleTimeout in the main thread if the block runs longer than `seconds`."""
    def on_alarm(signum, frame):
        raise SampleTimeout(f"took longer than {seconds} s")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_once(function: Callable, originals: list, grad: bool, process: Callable) -> dict:
    """Outputs (and gradients of the sum of the differentiable outputs) of one call, from a fixed seed."""
    tensors = [fresh_copy(t) for t in originals]
    torch.manual_seed(0)
    outputs = function(*tensors)
    result = {"outputs": outputs}
    if grad:
        wanted = [t for t in tensors if t.requires_grad]
        terms = [o.real.sum() + o.imag.sum() if o.is_complex() else o.sum()
                 for o in tree_flatten(process(outputs))[0]
                 if isinstance(o, torch.Tensor) and o.requires_grad]
        if wanted and terms:
            grads = torch.autograd.grad(sum(terms), wanted, allow_unused=True)
            result["grads"] = [g if g is not None else "no gradient" for g in grads]
    return result


def float64_run(function: Callable, originals: list, grad: bool, process: Callable, timeout: int) -> dict:
    """Eager on float64 copies of the float32/16 tensors (the float64 rule's reference); {} if that fails."""
    widened = [t.detach().double().requires_grad_(t.requires_grad) if t.dtype in WIDENED else t
               for t in originals]
    try:
        with time_limit(timeout):
            return run_once(function, widened, grad, process)
    except Exception:  # noqa: BLE001  (an op without float64 support simply gets no second chance)
        return {}


def error_text(error: BaseException) -> str:
    """`Type: first line of message`, looking through Dynamo's wrappers to the real exception."""
    inner = error
    while True:
        wrapped = inner.__cause__ if type(inner).__module__ == "torch._dynamo.exc" else None
        wrapped = getattr(inner, "inner_exception", None) or wrapped
        if wrapped is None:
            break
        inner = wrapped
    lines = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {lines[0] if lines else ''}"[:300]


def compiled_run(backend: Any, function: Callable, tensors: list, grad: bool, process: Callable,
                 timeout: int) -> tuple[Optional[dict], Optional[str], int]:
    """(result, error text, graphs compiled) of torch.compile(function, backend=backend) on fresh Dynamo state."""
    graphs = [0]
    inner = torch._dynamo.lookup_backend(backend) if isinstance(backend, str) else backend

    def counting_backend(gm, example_inputs, **kwargs):
        graphs[0] += 1
        return inner(gm, example_inputs, **kwargs)

    torch._dynamo.reset()
    minicomp.reset()
    compiled = torch.compile(function, backend=counting_backend)
    try:
        with time_limit(timeout):
            return run_once(compiled, tensors, grad, process), None, graphs[0]
    except SampleTimeout as error:
        return None, f"SampleTimeout: {error}", graphs[0]
    except Exception as error:  # noqa: BLE001  (every failure is a finding of the sweep)
        return None, error_text(error), graphs[0]


def run_sample(op, sample, grad: bool, backend: Any, tolerance: tuple, timeout: int, dtype: torch.dtype) -> dict:
    """Eager twice, the baseline, then the backend under test on one sample; the verdict for each."""
    atol, rtol, overridden = tolerance
    function, tensors = make_function(op, sample)
    process = sample.output_process_fn_grad
    record: dict = {"sample": describe_sample(sample)}
    try:
        with time_limit(timeout):
            expected = run_once(function, tensors, grad, process)
            again = run_once(function, tensors, grad, process)
    except Exception as error:  # noqa: BLE001
        record["unusable"] = f"eager failed: {error_text(error)}"
        return record
    problem, _ = compare_runs(again, expected, atol, rtol)
    if problem:
        record["baseline_problem"] = f"eager is not reproducible: {problem}"
        return record
    baseline, error, record["baseline_graphs"] = compiled_run("aot_eager", function, tensors, grad, process, timeout)
    problem, _ = compare_runs(baseline, expected, atol, rtol) if baseline else (error, 0.0)
    if problem:
        record["baseline_problem"] = problem
        return record
    result, error, record["graphs"] = compiled_run(backend, function, tensors, grad, process, timeout)
    fallback: set = set()
    for report in minicomp.reports():
        fallback.update(report.fallback_ops)
        if "<whole graph>" in report.fallback_ops:
            record["whole_graph_reason"] = report.fallback_reasons.get("<whole graph>", "")[:300]
    record["fallback_ops"] = sorted(fallback)
    if result is None:
        record["error"] = error
        return record
    problem, record["max_abs_diff"] = compare_runs(result, expected, atol, rtol)
    if problem and same_up_to_ties(op.name, sample, result, expected, atol, rtol):
        record["tie_order"] = problem[:500]
    elif problem and closer_than_eager(result, expected, float64_run(function, tensors, grad, process, timeout)):
        record["float64_rule"] = problem[:500]
    elif problem:
        record["mismatch"] = problem[:500]
    elif overridden:
        record["needed_opinfo_tolerance"] = compare_runs(result, expected, *default_tolerance(dtype))[0] is not None
    return record


def classify(samples: list[dict]) -> str:
    """One status per op from its samples (see docs/opinfo.md for the rule)."""
    usable = [s for s in samples if "unusable" not in s]
    if not usable:
        return "skipped"
    if any("baseline_problem" in s for s in usable):
        return "baseline_failed"
    if all(s["baseline_graphs"] == 0 for s in usable):
        return "not_captured"
    if any("mismatch" in s for s in usable):
        return "mismatch"
    if any("error" in s for s in usable):
        return "error"
    return "passed_with_fallback" if any(s["fallback_ops"] for s in usable) else "passed"


def pick_spread(samples: list, count: int) -> list:
    """`count` samples evenly spaced over the list: the first ones are often all 0-d tensors."""
    if len(samples) <= count:
        return samples
    if count == 1:
        return samples[:1]
    return [samples[round(i * (len(samples) - 1) / (count - 1))] for i in range(count)]


def sweep_op(op, grad: bool, backend: Any, samples_per_op: int, timeout: int, dtype: torch.dtype) -> dict:
    """All verdicts for one OpInfo: status, tolerance used, and the per-sample records."""
    tolerance = tolerance_for(op, dtype)
    entry: dict = {"op": op_key(op), "atol": tolerance[0], "rtol": tolerance[1],
                   "opinfo_tolerance": tolerance[2], "samples": []}
    if op.name in UNDEFINED_VALUES:
        entry.update(status="skipped", fallback_ops=[], skip_reason="returns uninitialized memory")
        return entry
    torch.manual_seed(0)
    try:
        samples = pick_spread(list(itertools.islice(op.sample_inputs("cpu", dtype, requires_grad=grad),
                                                    SAMPLE_POOL)), samples_per_op)
    except Exception as error:  # noqa: BLE001
        samples, entry["sample_error"] = [], error_text(error)
    for sample in samples:
        try:
            entry["samples"].append(run_sample(op, sample, grad, backend, tolerance, timeout, dtype))
        except Exception as error:  # noqa: BLE001  (a sample the harness cannot handle is reported, not fatal)
            entry["samples"].append({"sample": repr(sample)[:200], "unusable": f"harness: {error_text(error)}"})
    entry["status"] = classify(entry["samples"])
    entry["fallback_ops"] = sorted({name for s in entry["samples"] for name in s.get("fallback_ops", [])})
    return entry


def sweep(ops: Optional[list[str]] = None, limit: Optional[int] = None, grad: bool = False,
          backend: Any = "minicomp", samples_per_op: int = 3, timeout: int = 20,
          progress: Optional[Callable[[dict], None]] = None, dtype: torch.dtype = torch.float32) -> list[dict]:
    """Run the sweep and return one entry per OpInfo (the same entries --json writes)."""
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for op in select_ops(ops, limit, grad, dtype):
            entry = sweep_op(op, grad, backend, samples_per_op, timeout, dtype)
            results.append(entry)
            if progress:
                progress(entry)
    torch._dynamo.reset()
    minicomp.reset()
    return results


def current_commit() -> str:
    """HEAD, marked +uncommitted when minicomp/ has changes not yet committed."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()
    return git("rev-parse", "--short", "HEAD") + ("+uncommitted" if git("status", "--porcelain", "minicomp") else "")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grad", action="store_true", help="also compare gradients of the sum of the outputs")
    parser.add_argument("--dtype", default="float32", help="the samples' dtype (default float32; e.g. float64, "
                        "bfloat16, int64, bool)")
    parser.add_argument("--ops", help="comma-separated OpInfo names (name or name.variant)")
    parser.add_argument("--limit", type=int, help="only the first N selected OpInfos")
    parser.add_argument("--samples", type=int, default=3, help="sample inputs per op (default 3)")
    parser.add_argument("--timeout", type=int, default=20, help="seconds allowed per compile-and-run (default 20)")
    parser.add_argument("--json", help="write the full results to this file")
    parser.add_argument("--target", default="auto", choices=["auto", "numpy", "cpp", "triton"],
                        help="minicomp's target (default auto: cpp on a CPU with a C++ compiler)")
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype, None)
    if not isinstance(dtype, torch.dtype):
        parser.error(f"--dtype {args.dtype}: not a torch dtype")
    if args.grad and not dtype.is_floating_point:
        parser.error(f"--grad needs a floating dtype, not {args.dtype}")
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
    commit = current_commit()  # now: minicomp is already imported, later commits do not count
    start = time.perf_counter()
    names = args.ops.split(",") if args.ops else None
    from minicomp.entry import minicomp as minicomp_backend

    backend = functools.partial(minicomp_backend, options={"target": args.target})
    results = sweep(names, args.limit, args.grad, backend=backend, samples_per_op=args.samples,
                    timeout=args.timeout, progress=print_progress, dtype=dtype)
    duration = time.perf_counter() - start
    summary = summarize(results)
    print(format_summary(summary, results))
    print(f"mode {'forward+grad' if args.grad else 'forward'}, {args.dtype}, target {args.target}, "
          f"{args.samples} samples per op, "
          f"commit {commit}, {duration:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"commit": commit, "grad": args.grad, "dtype": args.dtype, "target": args.target,
                       "samples_per_op": args.samples,
                       "duration_seconds": round(duration, 1), "torch": torch.__version__,
                       "summary": summary, "ops": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
