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


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_float64_forward_and_backward(n):
    check(lambda x: torch.polygamma(n, x), values(torch.float64, seed=n), dtype=torch.float64)


def assert_as_accurate_as_eager(got, want, exact):
    """Every float32 element is within the default tolerance of eager, or no further from float64 than eager."""
    close = torch.isclose(got, want, **DEFAULT_TOLERANCES[torch.float32], equal_nan=True)
    closer = (got.double() - exact).abs() <= (want.double() - exact).abs()
    assert bool((close | closer).all()), (got[~(close | closer)], want[~(close | closer)])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_polygamma_float32_forward_and_backward(n):
    # eager float32 multiplies a float64 series by exp(lgamma(n + 1)) computed in float32; minicomp
    # evaluates in float64 and rounds once, so where the two differ minicomp is the closer one
    x = values(torch.float32, seed=n).requires_grad_()
    compiled = torch.compile(lambda v: torch.polygamma(n, v), backend="minicomp", options={"fallback": False})
    result = compiled(x)
    assert_as_accurate_as_eager(result, torch.polygamma(n, x), torch.polygamma(n, x.double()))
    grad, = torch.autograd.grad(result.sum(), x)
    assert_as_accurate_as_eager(grad, torch.polygamma(n + 1, x), torch.polygamma(n + 1, x.double()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mvlgamma(dtype):
    x = values(dtype, seed=2).abs() + 1.5
    check(lambda v: (torch.mvlgamma(v, 1), torch.mvlgamma(v, 3)), x, dtype=dtype)


def test_integer_input_promotes_to_float():
    check(lambda x: (torch.lgamma(x), torch.digamma(x)), torch.arange(-3, 30), dtype=torch.float32, grad=False)
