"""Reductions compile to SUM..ARGMIN primitives (no fallback) and agree with eager torch, forward and backward."""

from __future__ import annotations

import pytest
import torch

from helpers import compile_and_compare, fallback_ops, random_tensor

FLOATS = [torch.float32, torch.float64, torch.bfloat16]
INTEGERS = [torch.int32, torch.int64]
SHAPES = [(3, 5), (1, 7, 1), (4, 0, 3)]


def make(shape, dtype, seed=0):
    """Test data with small integers (sums and products stay far from overflow)."""
    return random_tensor(shape, dtype, seed, bound=4)


def check(fn, *inputs, grad=True, **kwargs):
    """Compare with eager and require that nothing ran through torch."""
    reports = compile_and_compare(fn, *inputs, grad=grad, **kwargs)
    assert fallback_ops(reports) == []


def on_each(reductions):
    """A function applying `reductions` to each of its inputs (one compile covers several shapes)."""
    return lambda *inputs: [reductions(x) for x in inputs]


@pytest.mark.parametrize("dtype", FLOATS + INTEGERS + [torch.bool])
def test_sum(dtype):
    def sums(x):
        return x.sum(), x.sum(1), x.sum([0, -1], keepdim=True), x.sum([]), x.sum(-1, dtype=torch.float64)
    check(on_each(sums), *[make(shape, dtype, seed) for seed, shape in enumerate(SHAPES)])


def test_sum_with_a_narrower_dtype_and_a_0d_input():
    def fn(x, scalar):
        return x.sum(1, dtype=torch.bfloat16), scalar.sum(), scalar.sum(0, keepdim=True)
    check(fn, make((4, 9), torch.float32), torch.tensor(2.5))


@pytest.mark.parametrize("dtype", FLOATS + [torch.float16])
def test_mean(dtype):
    def means(x):
        return x.mean(), x.mean(1), x.mean([0, -1], keepdim=True), x.mean(dtype=torch.float64)
    check(on_each(means), *[make(shape, dtype, seed) for seed, shape in enumerate(SHAPES)])


def test_mean_of_integers_with_a_float_dtype():
    check(lambda x: (x.mean(dtype=torch.float32), x.mean(0, dtype=torch.bfloat16)), make((5, 3), torch.int64))


@pytest.mark.parametrize("dtype", FLOATS + INTEGERS + [torch.bool])
def test_prod(dtype):
    check(lambda x: (x.prod(), x.prod(1), x.prod(0, keepdim=True)), make((3, 5), dtype), grad=False)


def test_prod_backward_needs_only_cumprod_from_torch():
    x = make((3, 5), torch.float32)
    x[1, 2] = 0.0  # torch's gradient formula treats rows with a zero specially
    reports = compile_and_compare(lambda x: x.prod(1), x)
    assert set(fallback_ops(reports)) <= {"aten.cumprod.default"}


def test_prod_over_a_zero_size_dim_is_one():
    check(lambda x: (x.prod(1), x.prod()), make((4, 0), torch.float32))


@pytest.mark.parametrize("dtype", FLOATS + INTEGERS + [torch.bool])
def test_amax_amin(dtype):
    extremes = on_each(lambda x: (x.amax(1), x.amin([0, -1], keepdim=True), x.amax(), x.amin([])))
    check(extremes, make((3, 5), dtype), make((1, 7, 1), dtype, seed=1))


def test_amax_amin_keep_zero_size_dims_they_do_not_reduce():
    check(lambda x: (x.amax(1), x.amin(-1, keepdim=True)), make((0, 3, 2), torch.float32))


def test_amax_propagates_nan_and_splits_the_gradient_between_ties():
    x = torch.tensor([[1.0, float("nan"), 3.0], [2.0, 5.0, 5.0], [-1.0, -1.0, -3.0]])
    check(lambda x: (x.amax(1), x.amin(0)), x)


@pytest.mark.parametrize("dtype", FLOATS + INTEGERS + [torch.bool])
def test_max_min_with_indices(dtype):
    def fn(x):
        values, indices = x.max(1)
        low_values, low_indices = torch.min(x, 0, keepdim=True)
        return values, indices, low_values, low_indices
    check(fn, make((4, 7), dtype))


def test_max_with_indices_takes_the_first_of_ties_and_the_nan():
    x = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0], [0.0, float("nan"), 4.0, float("nan")]])
    check(lambda x: (x.max(1), x.min(1), x.max(-1, keepdim=True)), x)


def test_max_min_of_a_0d_tensor_along_dim_0():
    check(lambda x: (x.max(0), x.min(-1, keepdim=True)), torch.tensor(1.5))


@pytest.mark.parametrize("dtype", FLOATS + INTEGERS)
def test_max_min_of_everything(dtype):
    check(lambda x: (x.max(), x.min()), make((3, 1, 5), dtype))


@pytest.mark.parametrize("dtype", FLOATS + INTEGERS)
def test_argmax_argmin(dtype):
    def fn(x):
        return (x.argmax(), x.argmin(1), x.argmax(0, keepdim=True), x.argmin(keepdim=True),
                torch.argmax(x, dim=-1))
    check(fn, make((4, 6), dtype), grad=False)


def test_argmax_takes_the_first_of_ties_and_0d_tensors():
    x = torch.tensor([[1, 3, 3], [2, 2, 1], [0, 0, 0]])
    check(lambda x, s: (x.argmax(1), x.argmin(0), x.argmax(), s.argmax(), s.argmin(0)), x, torch.tensor(7),
          grad=False)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.int32, torch.uint8])
def test_any_all(dtype):
    def tests(x):
        return (x.any(), x.all(), x.any(1), x.all(0, keepdim=True), torch.any(x, dim=(0, 1)),
                torch.all(x, dim=[]), torch.any(x, dim=()))
    shapes = [(3, 4), (1, 5), (2, 0), (0, 3)]
    inputs = [make(shape, torch.int64, seed).abs().clamp(max=1).to(dtype) for seed, shape in enumerate(shapes)]
    check(on_each(tests), *inputs, grad=False)  # inputs are mostly ones, some zeros


@pytest.mark.filterwarnings(r"ignore:var\(\). degrees of freedom:UserWarning")  # var over 1 element: nan
def test_variance_family_has_no_fallback():
    def variances(x):
        variance, mean = torch.var_mean(x, dim=1, correction=0)
        return torch.var(x, 1), torch.std(x), variance, mean, torch.std(x, dim=0, keepdim=True, unbiased=False)
    check(on_each(variances), make((4, 6), torch.float32), make((1, 9), torch.float32), make((3, 1), torch.float32))


def test_logsumexp_layer_norm_and_training_batch_norm():
    def fn(x, weight, bias):
        normed = torch.nn.functional.layer_norm(x, (6,), weight, bias)
        batch = torch.nn.functional.batch_norm(x.reshape(4, 3, 2), None, None, training=True)
        return torch.logsumexp(x, 1), normed, batch
    check(fn, make((4, 6), torch.float32), make((6,), torch.float32, seed=1), make((6,), torch.float32, seed=2))


def test_softmax_cross_entropy_has_no_fallback():
    def fn(logits, target):
        return torch.nn.functional.cross_entropy(logits, target), torch.softmax(logits, -1)
    check(fn, make((5, 7), torch.float32), torch.tensor([0, 6, 3, 3, 1]))


def test_reductions_over_dynamic_dims():
    check(lambda x: (x.sum(0), x.amax(1), x.argmax(0)), make((5, 3), torch.float32), dynamic=True)


def test_vector_norms():
    def fn(x):
        return (x.norm(dim=1), torch.linalg.vector_norm(x, ord=1), torch.linalg.vector_norm(x, float("inf"), dim=0),
                torch.linalg.vector_norm(x, ord=3, dim=(0, 1), keepdim=True), torch.linalg.vector_norm(x, ord=0))
    check(fn, make((4, 6), torch.float32))
