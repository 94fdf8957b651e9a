"""Tensor creation compiles to FULL and IOTA (no fallback) and gives exactly torch's values."""

from __future__ import annotations

import pytest
import torch

from helpers import compile_and_compare, fallback_ops

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int32, torch.int64, torch.bool]


def check(fn, *inputs, grad=True, **kwargs):
    """Compare with eager and require that nothing ran through torch."""
    reports = compile_and_compare(fn, *inputs, grad=grad, **kwargs)
    assert fallback_ops(reports) == []
    return reports


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_zeros_ones(dtype):
    def fn(x):
        return (x * 2, torch.full((2, 3), 7, dtype=dtype), torch.zeros(3, 1, dtype=dtype), torch.ones((), dtype=dtype),
                torch.full((0, 4), 1, dtype=dtype), torch.full((1, 5), True, dtype=dtype))
    check(fn, torch.randn(2, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_full_stores_exactly_what_torch_stores(dtype):
    def fn(x):
        special = [torch.full((2,), value, dtype=dtype) for value in (0.1, 1 / 3, 3e4 + 1 / 7, -0.0, float("inf"),
                                                                     float("-inf"), float("nan"))]
        return x + 1, *special
    check(fn, torch.randn(3), rtol=0, atol=0)


def test_full_converts_values_like_torch():
    def fn(x):
        return (x + 1, torch.full((3,), 2.7, dtype=torch.int64), torch.full((3,), -2.7, dtype=torch.int32),
                torch.full((2,), 2**40, dtype=torch.int64), torch.full((2,), 3, dtype=torch.bool))
    check(fn, torch.randn(3))


def test_like_and_new_forms_follow_the_input():
    def fn(x):
        return (torch.zeros_like(x), torch.ones_like(x, dtype=torch.int32), torch.full_like(x, 3.5),
                torch.empty_like(x).fill_(2), torch.zeros_like(x, dtype=torch.bool), x.new_zeros((2, 0)),
                x.new_ones(3), x.new_full((2,), 7), x.new_empty((2, 3)).zero_(),
                x.new_empty_strided((2, 3), (1, 2)).fill_(1), torch.empty(4, dtype=torch.int64).fill_(-1))
    check(fn, torch.randn(3, 1, 5, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_created_tensors_in_a_differentiated_graph(dtype):
    def fn(x):
        y = x.clone().zero_() + torch.ones_like(x) * x
        return y + torch.full((5,), 0.5, dtype=dtype) + torch.arange(5, dtype=dtype)
    check(fn, torch.randn(3, 5, dtype=dtype))


def test_copy_and_fill_with_a_tensor():
    def fn(x, value, row):
        filled = x.clone().fill_(value)
        copied = x.clone().copy_(row)
        as_int = torch.empty(3, 5, dtype=torch.int32).copy_(x)  # float -> int truncates, like a cast
        return filled, copied, as_int
    check(fn, torch.randn(3, 5) * 4, torch.tensor(1.25), torch.randn(5))


def test_masked_fill_and_where_with_scalars():
    def fn(x):
        return x.masked_fill(x > 0, float("-inf")), torch.where(x < 0, 0.5, x), x.masked_fill(x == 0, 3)
    check(fn, torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, -1.0]]))


def test_integer_arange():
    def fn(x):
        return (x + 1, torch.arange(5), torch.arange(2, 9), torch.arange(0, 10, 3), torch.arange(10, 0, -3),
                torch.arange(-4, -20, -5, dtype=torch.int32), torch.arange(0, 0), torch.arange(3, 3),
                torch.arange(1.0, 4.0, dtype=torch.int64))
    check(fn, torch.randn(2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_exact_float_arange(dtype):
    def fn(x):
        return (x + 1, torch.arange(5, dtype=dtype), torch.arange(0, 2, 0.5, dtype=dtype),
                torch.arange(3, -1, -0.25, dtype=dtype), torch.arange(-1.5, 6.0, 0.75, dtype=dtype))
    check(fn, torch.randn(2), rtol=0, atol=0)


def test_default_float_arange_and_a_float_range_of_integers():
    check(lambda x: (x + 1, torch.arange(5.0), torch.arange(0.0, 7.0, 2.0), torch.arange(2.5)), torch.randn(2),
          rtol=0, atol=0)


def test_inexact_float_arange_falls_back_and_stays_correct():
    reports = compile_and_compare(lambda x: x + torch.arange(0, 1, 0.1), torch.randn(10), rtol=0, atol=0)
    assert fallback_ops(reports) == ["aten.arange.start_step"]
    reason = reports[0].fallback_reasons["aten.arange.start_step"]
    assert "round" in reason


def test_arange_built_triangles_eye_and_linspace():
    def fn(x):
        return torch.tril(x), torch.triu(x, 1), torch.eye(3, 4), torch.linspace(0, 1, 5), torch.linspace(-2, 2, 9)
    check(fn, torch.randn(4, 6), rtol=0, atol=0)


def test_triangle_indices_become_constants():
    def function(x):
        return (torch.triu_indices(4, 5, 1) + x.sum().long(), torch.tril_indices(3, 3, -1, dtype=torch.int32),
                torch.triu_indices(0, 3), torch.tril_indices(2, 6, 3))
    check(function, torch.randn(3), grad=False)
