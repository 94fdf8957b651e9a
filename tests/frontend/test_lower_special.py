"""lgamma, digamma and polygamma lowered as formulas run without fallback and agree with eager.

Forward and backward, float32 and float64, at the poles (0, -0.0, negative integers, -inf), next to them,
at inf and nan, and at random values of several magnitudes of both signs, within assert_close's defaults.
"""

from __future__ import annotations

import math

import pytest
import torch

from helpers import assert_as_accurate_as_eager, check_formula, edge_and_random_values

DTYPES = [torch.float32, torch.float64]
EDGES = [0.0, -0.0, 1.0, 2.0, -1.0, -2.0, -7.0, 0.5, -0.5, -2.5, 1.4616321, -1e-3, -1 + 1e-4, -3 - 1e-3,
         1e-30, -1e-30, 1e-8, 3.7, 6.5, 10.0, 1e5, -1e5 - 0.25, 1e30, math.inf, -math.inf, math.nan]


def values(dtype, seed=0, count=30):
    """The edge values followed by random ones of several magnitudes, of both signs."""
    return edge_and_random_values(EDGES, dtype, seed, count, (0.5, 5.0, 50.0))


@pytest.mark.parametrize("target", ["numpy", "cpp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lgamma_and_digamma_forward_and_backward(dtype, target):
    check_formula(lambda x: (torch.lgamma(x), torch.digamma(x), torch.polygamma(0, x)), values(dtype), dtype=dtype,
                  options={"target": target})


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_float64_forward_and_backward(n):
    check_formula(lambda x: torch.polygamma(n, x), values(torch.float64, seed=n), dtype=torch.float64)


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
    check_formula(lambda v: (torch.mvlgamma(v, 1), torch.mvlgamma(v, 3)), x, dtype=dtype)


def test_integer_input_promotes_to_float():
    check_formula(lambda x: (torch.lgamma(x), torch.digamma(x)), torch.arange(-3, 30), dtype=torch.float32, grad=False)
