"""lgamma, digamma and polygamma lowered as formulas run without fallback and agree with eager.

Forward and backward, float32 and float64, at the poles (0, -0.0, negative integers, -inf), next to them,
at inf and nan, and at random values of several magnitudes of both signs, within assert_close's defaults.
"""

from __future__ import annotations

import math

import pytest
import torch

from helpers import compile_and_compare, fallback_ops

DTYPES = [torch.float32, torch.float64]
DEFAULT_TOLERANCES = {torch.float32: dict(rtol=1.3e-6, atol=1e-5), torch.float64: dict(rtol=1e-7, atol=1e-7)}
EDGES = [0.0, -0.0, 1.0, 2.0, -1.0, -2.0, -7.0, 0.5, -0.5, -2.5, 1.4616321, -1e-3, -1 + 1e-4, -3 - 1e-3,
         1e-30, -1e-30, 1e-8, 3.7, 6.5, 10.0, 1e5, -1e5 - 0.25, 1e30, math.inf, -math.inf, math.nan]


def values(dtype, seed=0, count=30):
    """The edge values followed by random ones of several magnitudes, of both signs."""
    generator = torch.Generator().manual_seed(seed)
    random = torch.randn(count, generator=generator, dtype=torch.float64)
    random = random * torch.tensor([0.5, 5.0, 50.0], dtype=torch.float64).repeat(count // 3)
    return torch.cat([torch.tensor(EDGES, dtype=torch.float64), random]).to(dtype)


def check(fn, *inputs, dtype, grad=True):
    """Compare with eager at the default tolerances of `dtype` and require that nothing ran through torch."""
    reports = compile_and_compare(fn, *inputs, grad=grad, **DEFAULT_TOLERANCES[dtype])
    assert fallback_ops(reports) == []


@pytest.mark.parametrize("dtype", DTYPES)
def test_lgamma_and_digamma_forward_and_backward(dtype):
    check(lambda x: (torch.lgamma(x), torch.digamma(x), torch.polygamma(0, x)), values(dtype), dtype=dtype)


def test_trigamma_float32_forward():
    # its gradient is polygamma(2, x), lowered for float64 only
    check(lambda x: torch.polygamma(1, x), values(torch.float32, seed=1), dtype=torch.float32, grad=False)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_float64_forward_and_backward(n):
    check(lambda x: torch.polygamma(n, x), values(torch.float64, seed=n), dtype=torch.float64)


def test_higher_polygamma_of_float32_falls_back():
    # torch's float32 series loses digits to cancellation for negative x, so it is left to torch
    reports = compile_and_compare(lambda x: torch.polygamma(2, x), values(torch.float32), grad=False)
    assert fallback_ops(reports) == ["aten.polygamma.default"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_mvlgamma(dtype):
    x = values(dtype, seed=2).abs() + 1.5
    check(lambda v: (torch.mvlgamma(v, 1), torch.mvlgamma(v, 3)), x, dtype=dtype)


def test_integer_input_promotes_to_float():
    check(lambda x: (torch.lgamma(x), torch.digamma(x)), torch.arange(-3, 30), dtype=torch.float32, grad=False)
