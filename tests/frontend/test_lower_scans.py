"""cumsum, cumprod, cummax, cummin and logcumsumexp lower to log-step scans without fallback and agree
with eager torch (values, indices with ties and NaN, gradients)."""

from __future__ import annotations

import pytest
import torch

from helpers import compile_and_compare, fallback_ops, random_tensor


def make(shape, dtype=torch.float32, seed=0):
    """Test data with small integers (running products stay far from overflow)."""
    return random_tensor(shape, dtype, seed, bound=3)


def specials():
    """Ties, NaNs, and rows of -inf and +inf: what the tie and NaN rules of cummax/cummin decide."""
    x = make((4, 9), torch.int64).float()
    x[0, 2] = x[0, 5] = float("nan")
    x[1, 3:] = float("-inf")
    x[2, :4] = float("inf")
    return x


def check(fn, *inputs, grad=True):
    reports = compile_and_compare(fn, *inputs, grad=grad)
    assert fallback_ops(reports) == []


SCANS = {
    "cumsum": lambda x: torch.cumsum(x, 1),
    "cumsum_first_axis": lambda x: torch.cumsum(x, 0),
    "logcumsumexp": lambda x: torch.logcumsumexp(x, -1),
    "cummax": lambda x: torch.cummax(x, 1),
    "cummin_first_axis": lambda x: torch.cummin(x, 0),
}


@pytest.mark.parametrize("name", sorted(SCANS))
def test_scan_forward_and_backward(name):
    check(SCANS[name], make((3, 11)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_cumsum_low_and_double_precision(dtype):
    check(SCANS["cumsum"], make((3, 11), dtype))


def test_long_cumsum_stays_close():
    """float32 scanned in float64 and rounded once: as close as torch's double accumulation."""
    check(lambda x: torch.cumsum(x, 0), make((1000,)), grad=False)


def test_cumprod_forward():
    check(lambda x: torch.cumprod(x, 1), make((3, 11)), grad=False)


@pytest.mark.parametrize("name", ["cummax", "logcumsumexp", "cummin_first_axis"])
def test_scans_of_ties_nan_and_infinities(name):
    check(SCANS[name], specials(), grad=False)


@pytest.mark.parametrize("fn", [
    lambda x: torch.cumsum(x, 1), lambda x: torch.cumprod(x, 1), lambda x: torch.cummax(x, 1),
    lambda x: torch.cummin(x, 1), lambda x: torch.cumsum(x, 1, dtype=torch.float32),
    lambda x: torch.cumsum(x > 0, 1)])
def test_integer_and_bool_scans(fn):
    check(fn, make((3, 10), torch.int64), grad=False)


def test_scans_of_0d_tensors():
    check(lambda x: (torch.cumsum(x, 0), torch.cummax(x, 0)), make(()))
