"""i0, i1 and their exp-scaled forms lowered from series agree with eager torch, forward and backward."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import (FORMULA_TOLERANCES, assert_as_accurate_as_eager, compile_and_compare, edge_and_random_values,
                     fallback_ops)

EDGES = [0.0, -0.0, 1e-30, -1e-8, 0.5, -3.0, 19.99, 20.0, 20.01, -25.0, 50.0, 88.0, 89.5, -100.0, 700.0, 714.0,
         math.inf, -math.inf, math.nan]
FUNCTIONS = {"i0": torch.i0, "i0e": torch.special.i0e, "i1": torch.special.i1, "i1e": torch.special.i1e,
             "modified_bessel_i0": torch.special.modified_bessel_i0,
             "modified_bessel_i1": torch.special.modified_bessel_i1}


def values(dtype, seed=0):
    """Edges (both sides of the switch between the series at |x| = 20, overflow, inf, nan), then random values."""
    return edge_and_random_values(EDGES, dtype, seed, 60, (0.5, 5.0, 50.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_forward_is_as_accurate_as_eager(name, dtype):
    # eager float32 runs Cephes' Chebyshev series in float32; minicomp sums in float64 and rounds once,
    # so where the two differ beyond the tolerance minicomp must be the closer to float64 torch
    function, x = FUNCTIONS[name], values(dtype)
    got = torch.compile(function, backend="minicomp", options={"fallback": False})(x)
    want, exact = function(x), function(x.double())
    assert_as_accurate_as_eager(got, want, exact)


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_gradients(name):
    x = values(torch.float64, seed=1)[19:].clone()  # finite values: the gradient formulas divide by x
    reports = compile_and_compare(FUNCTIONS[name], x, **FORMULA_TOLERANCES[torch.float64])
    assert fallback_ops(reports) == []


def test_integer_inputs_promote_to_float():
    reports = compile_and_compare(lambda x: (torch.i0(x), torch.special.i1e(x)), torch.arange(-5, 30), grad=False)
    assert fallback_ops(reports) == []
