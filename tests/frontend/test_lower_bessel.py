"""i0, i1 and their exp-scaled forms lowered from series agree with eager torch, forward and backward."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import compile_and_compare, fallback_ops

EDGES = [0.0, -0.0, 1e-30, -1e-8, 0.5, -3.0, 19.99, 20.0, 20.01, -25.0, 50.0, 88.0, 89.5, -100.0, 700.0, 714.0,
         math.inf, -math.inf, math.nan]
FUNCTIONS = {"i0": torch.i0, "i0e": torch.special.i0e, "i1": torch.special.i1, "i1e": torch.special.i1e,
             "modified_bessel_i0": torch.special.modified_bessel_i0,
             "modified_bessel_i1": torch.special.modified_bessel_i1}
TOLERANCES = {torch.float32: dict(rtol=1.3e-6, atol=1e-5), torch.float64: dict(rtol=1e-7, atol=1e-7)}


def values(dtype, seed=0):
    """Edges (both sides of the switch between the series at |x| = 20, overflow, inf, nan), then random values."""
    generator = torch.Generator().manual_seed(seed)
    random = torch.randn(60, generator=generator, dtype=torch.float64) * torch.tensor([0.5, 5.0, 50.0]).repeat(20)
    return torch.cat([torch.tensor(EDGES, dtype=torch.float64), random]).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_forward_is_as_accurate_as_eager(name, dtype):
    # eager float32 runs Cephes' Chebyshev series in float32; minicomp sums in float64 and rounds once,
    # so where the two differ beyond the tolerance minicomp must be the closer to float64 torch
    function, x = FUNCTIONS[name], values(dtype)
    got = torch.compile(function, backend="minicomp", options={"fallback": False})(x)
    want, exact = function(x), function(x.double())
    close = torch.isclose(got, want, equal_nan=True, **TOLERANCES[dtype])
    closer = (got.double() - exact).abs() <= (want.double() - exact).abs()
    assert bool((close | closer).all()), (x[~(close | closer)], got[~(close | closer)], want[~(close | closer)])


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_gradients(name):
    x = values(torch.float64, seed=1)[19:].clone()  # finite values: the gradient formulas divide by x
    reports = compile_and_compare(FUNCTIONS[name], x, **TOLERANCES[torch.float64])
    assert fallback_ops(reports) == []


def test_integer_inputs_promote_to_float():
    reports = compile_and_compare(lambda x: (torch.i0(x), torch.special.i1e(x)), torch.arange(-5, 30), grad=False)
    assert fallback_ops(reports) == []
