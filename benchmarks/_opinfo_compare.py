"""Comparison rules of the OpInfo sweep: tolerances, max abs diff, and the verdict on one run against eager."""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch.testing._internal.common_device_type import toleranceOverride
from torch.testing._internal.opinfo.core import DecorateInfo
from torch.utils._pytree import tree_flatten

# torch.testing.assert_close's default (atol, rtol) per dtype; integers and bool must be equal
DEFAULT_TOLERANCES = {torch.float64: (1e-7, 1e-7), torch.float32: (1e-5, 1.3e-6), torch.float16: (1e-5, 1e-3),
                      torch.bfloat16: (1e-5, 1.6e-2)}


def default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """assert_close's default (atol, rtol) for `dtype`."""
    return DEFAULT_TOLERANCES.get(dtype, (0.0, 0.0))


def tolerance_for(op, dtype: torch.dtype = torch.float32) -> tuple[float, float, bool]:
    """(atol, rtol, overridden): the largest toleranceOverride for `dtype` the OpInfo carries, else the defaults."""
    (atol, rtol), overridden = default_tolerance(dtype), False
    for entry in op.decorators:
        for decorator in entry.decorators if isinstance(entry, DecorateInfo) else [entry]:
            if isinstance(decorator, toleranceOverride) and dtype in decorator.d:
                override = decorator.d[dtype]
                atol, rtol, overridden = max(atol, override.atol), max(rtol, override.rtol), True
    return atol, rtol, overridden


def describe(value: Any) -> str:
    """Short text for a sample value: f32[3, 4] for tensors, repr for the rest."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided:
            layout = f" {value.layout}"
        else:
            layout = "" if value.is_contiguous() else " noncontig"
        return f"{str(value.dtype).replace('torch.', '')}{list(value.shape)}{layout}"
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        inner = ", ".join(describe(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={describe(item)}" for key, item in value.items()) + "}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_sample(sample) -> str:
    """The sample as a call's argument list, e.g. (float32[3, 4], 1, keepdim=True)."""
    parts = [describe(sample.input)] + [describe(arg) for arg in sample.args]
    parts += [f"{key}={describe(item)}" for key, item in sample.kwargs.items()]
    return f"({', '.join(parts)})"


def max_abs_diff(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest |actual - expected|, counting equal infinities and NaN pairs as 0."""
    if actual.numel() == 0:
        return 0.0
    actual, expected = actual.detach().to_dense(), expected.detach().to_dense()
    if actual.dtype == torch.bool:
        actual, expected = actual.long(), expected.long()
    same = actual == expected
    if actual.is_floating_point() or actual.is_complex():
        same = same | (actual.isnan() & expected.isnan())
    difference = (actual.to(expected.dtype) - expected).abs().double()
    return float(torch.where(same, torch.zeros_like(difference), difference).max())


def compare(actual: Any, expected: Any, atol: float, rtol: float) -> tuple[Optional[str], float]:
    """(first problem or None, max abs diff over all tensor leaves) of `actual` against the eager result;
    each tensor is judged with the given tolerances or its dtype's defaults, whichever is looser."""
    actual_leaves, expected_leaves = tree_flatten(actual)[0], tree_flatten(expected)[0]
    if len(actual_leaves) != len(expected_leaves):
        return f"{len(actual_leaves)} outputs, eager has {len(expected_leaves)}", math.inf
    problem, worst = None, 0.0
    for index, (got, want) in enumerate(zip(actual_leaves, expected_leaves)):
        if isinstance(want, torch.Tensor):
            if not isinstance(got, torch.Tensor):
                problem = problem or f"output {index}: got {type(got).__name__}, eager has a tensor"
                continue
            if got.shape != want.shape or got.dtype != want.dtype:
                problem = problem or f"output {index}: {describe(got)} vs eager {describe(want)}"
                continue
            try:
                worst = max(worst, max_abs_diff(got, want))
            except RuntimeError:  # layouts without elementwise ops (sparse CSR); assert_close still judges
                worst = math.nan
            # at least assert_close's default for the output's own dtype (float results of integer samples)
            least_atol, least_rtol = default_tolerance(want.dtype)
            try:
                torch.testing.assert_close(got, want, atol=max(atol, least_atol), rtol=max(rtol, least_rtol),
                                           equal_nan=True)
            except AssertionError as error:
                lines = [line.strip() for line in str(error).splitlines() if line.strip()]
                problem = problem or f"output {index}: {' / '.join(lines[:3])}"
        elif not same_scalar(got, want, atol, rtol):
            problem = problem or f"output {index}: {got!r} vs eager {want!r}"
    return problem, worst


def same_scalar(got: Any, want: Any, atol: float, rtol: float) -> bool:
    """Non-tensor outputs: equal, or close floats (NaN equals NaN)."""
    if isinstance(got, float) and isinstance(want, float):
        return math.isclose(got, want, rel_tol=rtol, abs_tol=atol) or (math.isnan(got) and math.isnan(want))
    return bool(got == want)


def compare_runs(actual: dict, expected: dict, atol: float, rtol: float) -> tuple[Optional[str], float]:
    """Compare outputs, then gradients; the problem names which part differs."""
    problem, worst = compare(actual["outputs"], expected["outputs"], atol, rtol)
    if "grads" in expected or "grads" in actual:
        grad_problem, grad_worst = compare(actual.get("grads"), expected.get("grads"), atol, rtol)
        worst = max(worst, grad_worst)
        problem = problem or (f"gradient {grad_problem}" if grad_problem else None)
    return problem, worst


# The float64 rule, after Inductor's accuracy check (torch._dynamo.utils.same with fp64_ref): a result that
# differs from eager (float32, float16 or bfloat16) beyond the tolerance still counts as correct when, on
# every output and gradient, it is within LOOSE[dtype] of a float64 run of the same op (so a random or
# unstable op, where float64 tells nothing, never passes this way) and no further from it than eager is.
# Eager itself may be far off: float16 sums that overflow to inf, or float16 transposed convolutions
# on CPU, which lose more than a percent.
LOOSE = {torch.float32: 1e-3, torch.float16: 5e-2, torch.bfloat16: 5e-2}
WIDENED = tuple(LOOSE)  # the dtypes a float64 run widens


def closer_than_eager(actual: dict, expected: dict, exact: dict) -> bool:
    """True when `actual` is at least as close to the float64 result `exact` as eager's `expected` is."""
    parts = [(actual.get(key), expected.get(key), exact.get(key)) for key in ("outputs", "grads")]
    for got_part, want_part, exact_part in parts:
        leaves = [tree_flatten(part)[0] for part in (got_part, want_part, exact_part)]
        if len({len(items) for items in leaves}) != 1:
            return False
        for got, want, truth in zip(*leaves):
            if not isinstance(want, torch.Tensor) or not want.is_floating_point():
                if compare([got], [want], 0.0, 0.0)[0] is not None:
                    return False  # integers, bools and other values must equal eager's: float64 says nothing
                continue
            if not isinstance(got, torch.Tensor) or not isinstance(truth, torch.Tensor) or got.shape != truth.shape:
                return False
            truth, loose = truth.detach().double(), LOOSE.get(want.dtype, 0.0)
            try:
                torch.testing.assert_close(got.detach().double(), truth, atol=loose, rtol=loose, equal_nan=True)
            except AssertionError:
                return False
            if max_abs_diff(got.double(), truth) > max_abs_diff(want.double(), truth):
                return False
    return True


# Ops whose order among equal elements torch leaves unspecified: (index of `dim` in the sample's args,
# its default). A stable sort (`stable=True`) is specified, and so is max/min/argmax (first occurrence).
# Each returns its indices last (argsort: only them).
TIE_ORDER_UNSPECIFIED = {"topk": (1, -1), "sort": (0, -1), "argsort": (0, -1), "kthvalue": (1, -1),
                         "median": (0, None), "nanmedian": (0, None), "mode": (0, -1)}


def same_up_to_ties(op_name: str, sample, actual: dict, expected: dict, atol: float, rtol: float) -> bool:
    """For an op of TIE_ORDER_UNSPECIFIED: the outputs match eager's except for indices that pick other
    elements of equal value, and the gradients (with --grad) match eager's: indices that pick the same
    elements in another order give the same gradient; ones that pick another of equal elements do not."""
    if op_name not in TIE_ORDER_UNSPECIFIED or sample.kwargs.get("stable"):
        return False
    if ("grads" in expected or "grads" in actual) and \
            compare(actual.get("grads"), expected.get("grads"), atol, rtol)[0] is not None:
        return False
    position, default = TIE_ORDER_UNSPECIFIED[op_name]
    dim = sample.args[position] if len(sample.args) > position else sample.kwargs.get("dim", default)
    if dim is None or not isinstance(sample.input, torch.Tensor):
        return False
    source = sample.input.detach()
    got_leaves, want_leaves = tree_flatten(actual["outputs"])[0], tree_flatten(expected["outputs"])[0]
    if len(got_leaves) != len(want_leaves):
        return False
    for position, (got, want) in enumerate(zip(got_leaves, want_leaves)):
        if position == len(want_leaves) - 1 and isinstance(want, torch.Tensor) and source.dim() > 0:
            picked = [_pick(source, dim, indices) for indices in (got, want)]
            if picked[0] is None or picked[1] is None or compare([picked[0]], [picked[1]], 0.0, 0.0)[0]:
                return False
        elif compare([got], [want], atol, rtol)[0] is not None:
            return False
    return True


def _pick(source: torch.Tensor, dim: int, indices: torch.Tensor) -> Optional[torch.Tensor]:
    """source's elements at `indices` along `dim` (indices with `dim` reduced away are given it back)."""
    if not isinstance(indices, torch.Tensor) or indices.dim() not in (source.dim(), source.dim() - 1):
        return None
    if indices.dim() < source.dim():
        indices = indices.unsqueeze(dim)
    try:
        return torch.gather(source, dim, indices.detach())
    except RuntimeError:
        return None
