"""Indexing compiles to GATHER / SCATTER (no fallback) and agrees with eager torch, forward and backward."""

from __future__ import annotations

import pytest
import torch

import minicomp
from helpers import compile_and_compare, fallback_ops, random_tensor as make

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.int32, torch.int64]


def check(fn, *inputs, grad=True, **kwargs):
    """Compare with eager and require that nothing ran through torch."""
    reports = compile_and_compare(fn, *inputs, grad=grad, **kwargs)
    assert fallback_ops(reports) == []


@pytest.mark.parametrize("dtype", DTYPES + [torch.bool])
def test_gather(dtype):
    def fn(x, index, small, scalar):
        return (x.gather(1, index), x.gather(0, small), torch.gather(x, -1, index[:, :0]),
                scalar.gather(0, torch.zeros((), dtype=torch.int64)))
    index = torch.tensor([[0, 4], [2, 2], [1, 0]])
    check(fn, make((3, 5), dtype), index, torch.tensor([[2, 0, 1], [0, 0, 2]]), make((), dtype))


def test_gather_with_an_int32_index_and_of_a_0d_tensor():
    def fn(x, index, scalar):
        return x.gather(1, index), scalar.gather(0, index[2, :1].long())
    check(fn, make((3, 4)), torch.tensor([[3, 0], [1, 1], [0, 2]], dtype=torch.int32), make(()))


def test_take_and_its_gradient_and_put():
    def fn(x, index, source):
        return torch.take(x, index), x.put(index[:1, :1], source[:1]), x.put(index[:0], source[:0])
    check(fn, make((3, 4)), torch.tensor([[0, 11], [-1, 0], [5, 5]]), make((6,), seed=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add(dtype):
    def fn(x, index, source):
        return x.scatter_add(1, index, source), torch.scatter_add(x, 0, index[:2], source[:2])
    index = torch.tensor([[0, 3], [2, 2], [1, 1]])  # duplicates add up
    check(fn, make((4, 5), dtype), index, make((3, 2), dtype, seed=1))


def test_scatter_add_reads_only_the_index_shaped_corner_of_a_larger_source():
    # no gradient: eager torch's own backward rejects a source larger than the index
    check(lambda x, index, source: x.scatter_add(0, index, source), make((4, 5)), torch.tensor([[0, 3], [2, 2]]),
          make((3, 3), seed=1), grad=False)


def test_scatter_of_one_value_and_of_one_source_per_row():
    def fn(x, index, column, source):
        return x.scatter(1, index, 1.5), x.scatter(1, column, source), x.scatter(0, column.T, source.T)
    index = torch.tensor([[0, 4], [2, 2], [1, 1]])
    check(fn, make((3, 5)), index, torch.tensor([[2], [0], [2]]), make((3, 1), seed=1))


def test_scatter_of_one_value_into_bool_and_integer_tensors():
    def fn(mask, counts, index):
        return mask.scatter(1, index, True), counts.scatter(0, index.T, -3), mask.scatter(1, index[:, :1], False)
    index = torch.tensor([[0, 3, 0], [2, 1, 2]])
    check(fn, make((2, 4), torch.bool), make((4, 2), torch.int64), index)


def test_cumprod_gradient_through_zeros():
    # torch's cumprod backward marks the first zero of each row with a bool scatter
    x = make((3, 6))
    x[0, 2] = x[1, 0] = x[1, 4] = 0.0
    check(lambda v: torch.cumprod(v, 1), x)


def test_scatter_keeps_the_sign_of_written_zeros():
    def fn(x, column, source):
        return x.scatter(1, column, source)
    compiled = torch.compile(fn, backend="minicomp")
    x, column, source = torch.ones(2, 3), torch.tensor([[1], [2]]), torch.tensor([[-0.0], [0.0]])
    result = compiled(x, column, source)
    assert torch.equal(torch.signbit(result), torch.signbit(fn(x, column, source)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_scatter_of_several_sources_per_row_keeps_the_last_duplicate_like_eager_on_cpu(dtype):
    # no gradient: eager torch's backward of a scatter with duplicate targets is itself order-dependent
    index = torch.tensor([[0, 3, 0], [2, 1, 2]])  # duplicates in each row
    check(lambda x, i, s: x.scatter(1, i, s), make((2, 4), dtype), index, make((2, 3), dtype, seed=1), grad=False)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int32, torch.int64])
def test_scatter_reduce(reduce, dtype):
    def fn(x, index, source):
        return (x.scatter_reduce(0, index, source, reduce),
                x.scatter_reduce(0, index, source, reduce, include_self=False),
                x.scatter_reduce(-1, index.T, source.T, reduce, include_self=False))
    index = torch.tensor([[0, 1, 0], [0, 2, 2], [0, 2, 0]])  # row 3 of x is never written
    x, source = make((4, 3), dtype), make((3, 3), dtype, seed=1)
    check(fn, x, index, source, grad=dtype.is_floating_point and reduce != "mean" and dtype != torch.bfloat16)


def test_scatter_reduce_mean_gradient_and_nan_propagation():
    check(lambda x, i, s: x.scatter_reduce(1, i, s, "mean", include_self=False), make((3, 4)),
          torch.tensor([[0, 0, 1], [3, 3, 3], [2, 0, 2]]), make((3, 3), seed=1))
    nans = make((3, 3), seed=2)
    nans[0, 1] = nans[2, 2] = float("nan")
    for reduce in ("amax", "amin", "prod", "sum"):
        check(lambda x, i, s: x.scatter_reduce(1, i, s, reduce), make((3, 4)), torch.tensor([[0, 0, 1]] * 3), nans,
              grad=False)


def test_scatter_reduce_without_self_starts_from_torchs_identity_signed_zeros_included():
    def fn(x, index, source):
        return tuple(x.scatter_reduce(0, index, source, reduce, include_self=False)
                     for reduce in ("sum", "mean", "prod", "amax", "amin"))
    x, index, source = torch.full((3,), 5.0), torch.tensor([0, 0, 1]), torch.full((3,), -0.0)
    results = torch.compile(fn, backend="minicomp", options={"fallback": False})(x, index, source)
    for got, want in zip(results, fn(x, index, source)):
        assert torch.equal(got, want) and torch.equal(got.signbit(), want.signbit())


def test_legacy_scatter_reduce_spellings():
    def fn(x, index, source):
        return (x.scatter(0, index, source, reduce="add"), x.scatter(0, index, source, reduce="multiply"),
                x.scatter(1, index, 2.5, reduce="multiply"), x.scatter(1, index, 2.5, reduce="add"))
    check(fn, make((4, 3)), torch.tensor([[0, 1, 0], [0, 2, 2]]), make((2, 3), seed=1), grad=False)


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
def test_index_reduce(reduce):
    def fn(x, index, source):
        return (x.index_reduce(0, index, source, reduce), x.index_reduce(1, index[:2], source[:, :2], reduce,
                                                                          include_self=False))
    grad = reduce != "mean"  # no gradient: eager index_reduce has no derivative for "mean"
    check(fn, make((4, 5)), torch.tensor([2, 0, 2, 3]), make((4, 5), seed=1), grad=grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
def test_index_select(dtype):
    def fn(x, index, index32):
        return (x.index_select(0, index), x.index_select(-1, index32), torch.index_select(x, 1, index[:1]),
                x.index_select(0, index[:0]))
    check(fn, make((4, 5, 3), dtype), torch.tensor([3, 0, 2, 2]), torch.tensor([2, 0], dtype=torch.int32))


def test_index_select_with_a_0d_index_or_of_a_0d_tensor():
    # no gradient: eager torch's own backward rejects the 0-d index
    check(lambda x, index: x.index_select(1, index), make((4, 5)), torch.tensor(3), grad=False)
    check(lambda x, index: x.index_select(0, index), make(()), torch.tensor([0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int32, torch.bool])
def test_index_with_one_tensor(dtype):
    def fn(x, index, matrix):
        return x[index], x[:, index], x[..., matrix], x[:, :, index[:0]], x[index.to(torch.int32)]
    index = torch.tensor([2, -1, 0, -3])  # negative indices count from the end
    check(fn, make((4, 5, 4), dtype), index, torch.tensor([[0, 3], [-1, 1]]))


def test_index_with_broadcast_tensors_adjacent_and_apart():
    def fn(x, rows, columns):
        return (x[rows, columns], x[:, rows, columns], x[rows, :, columns], x[rows, columns, :1],
                x[rows[:0], columns])
    rows, columns = torch.tensor([[0], [2], [-1]]), torch.tensor([1, 0, 3, -2])
    check(fn, make((4, 5, 6)), rows, columns)


def test_index_put_with_accumulate():
    def fn(x, rows, columns, values):
        return (torch.index_put(x, (rows,), values[:, :1], accumulate=True),
                torch.index_put(x, (rows, columns), values[0, :4], accumulate=True),
                torch.ops.aten.index_put(x, [None, columns], values[1, :4], True),
                x.index_add(0, rows % 3, values))
    rows, columns = torch.tensor([0, 2, 0, -1]), torch.tensor([1, 1, 4, -5])  # duplicates accumulate
    check(fn, make((3, 5)), rows, columns, make((4, 5), seed=1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool])
def test_index_put_of_a_single_value(dtype):
    def fn(x, rows, columns, value):
        y = x.clone()
        y[rows] = value
        z = x.clone()
        z[rows, columns] = value
        return y, z
    rows, columns = torch.tensor([0, 2, 0]), torch.tensor([1, 3, 1])  # duplicates write the same value
    check(fn, make((3, 5), dtype), rows, columns, torch.tensor(7, dtype=dtype))


def test_index_fill_and_index_copy_of_a_constant_write_one_value():
    def fn(x, index):
        return x.index_fill(1, index, -1.5), x.index_copy(0, index[:2], torch.ones(2, 5))
    check(fn, make((4, 5)), torch.tensor([0, 3, 0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_index_put_through_a_boolean_mask(dtype):
    def fn(x, mask, rows_mask, value, row):
        y = x.clone()
        y[mask] = value
        z = x.clone()
        z[rows_mask] = value
        w = x.clone()
        w[rows_mask] = row
        return (y, z, w, torch.index_put(x, (mask,), value, accumulate=True),
                torch.index_put(x, (rows_mask,), row[None], accumulate=True))
    x = make((3, 5), dtype)
    # no gradient: the gradient of the values, grad[mask].sum(), has a data-dependent shape
    check(fn, x, x > 0, torch.tensor([True, False, True]), torch.tensor(7, dtype=dtype), make((5,), dtype, seed=1),
          grad=False)


def test_index_put_of_values_at_a_single_index():
    def fn(x, row, values, column_values):
        y = x.clone()
        y[row] = values
        z = x.clone()
        z[:, row] = column_values
        return y, z
    check(fn, make((4, 3)), torch.tensor([-2]), make((1, 3), seed=1), make((4, 1), seed=2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_index_put_of_several_values_keeps_the_last_duplicate_like_eager_on_cpu(dtype):
    def fn(x, rows, columns, values):
        y = x.clone()
        y[rows] = values
        z = x.clone()
        z[rows, columns] = values[:, 0]
        return y, z, x.index_copy(0, rows[1:] % 4, values[1:])
    rows, columns = torch.tensor([0, 2, 0, -1]), torch.tensor([1, 2, 1, 0])  # (0, 1) is written twice
    check(fn, make((4, 3), dtype), rows, columns, make((4, 3), dtype, seed=1), grad=False)
    if dtype is torch.float32:  # gradients where no target is written twice
        check(fn, make((4, 3)), rows[1:], columns[1:], make((3, 3), seed=1))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_embedding_with_max_norm_renormalizes_the_rows_it_reads(norm_type):
    def fn(weight, tokens):
        table = weight.clone()
        rows = torch.nn.functional.embedding(tokens, table, max_norm=1.5, norm_type=norm_type)
        return rows, table  # the table itself is renormalized in place, as in eager
    weight = make((6, 4)) * torch.tensor([[0.1], [1.0], [0.2], [2.0], [0.3], [1.0]])  # some rows under 1.5
    check(fn, weight, torch.tensor([[0, 3], [3, 5], [1, 0]]), grad=False)


def test_embedding_and_its_gradient():
    def fn(weight, tokens):
        padded = torch.nn.functional.embedding(tokens, weight, padding_idx=0)
        return torch.nn.functional.embedding(tokens, weight) * 2 + padded
    check(fn, make((10, 4)), torch.tensor([[1, 0, 9], [9, 9, 3]]))


def test_cross_entropy_with_ignored_targets():
    def fn(logits, target):
        return (torch.nn.functional.cross_entropy(logits, target, ignore_index=2),
                torch.nn.functional.nll_loss(torch.log_softmax(logits, -1), target, reduction="sum"))
    check(fn, make((6, 5)), torch.tensor([0, 4, 2, 2, 1, 3]))


def test_roll_and_nearest_upsampling():
    def fn(x):
        return torch.roll(x, 2, 1), torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    check(fn, make((1, 2, 3, 5)))


def test_indexing_a_static_dim_of_a_tensor_with_a_dynamic_batch():
    def fn(x, index):
        return x[:, index], x.gather(1, index.abs().expand(x.shape[0], 3)), torch.arange(x.shape[0]) * 2
    x, index = make((5, 6)), torch.tensor([1, -1, 0])
    torch._dynamo.mark_dynamic(x, 0)
    torch.testing.assert_close(torch.compile(fn, backend="minicomp")(x, index), fn(x, index))
    assert fallback_ops(minicomp.reports()) == []


@pytest.mark.parametrize("rows, columns", [([0, 4], [1, 1]), ([0, -5], [1, 1]), ([0, 1], [1, 5]), ([0, 1], [-6, 0])])
def test_indices_out_of_range_raise_instead_of_reading_a_neighbour(rows, columns):
    def fn(x, rows, columns):
        return x[rows, columns]
    x, rows, columns = make((4, 5)), torch.tensor(rows), torch.tensor(columns)
    with pytest.raises(IndexError):
        fn(x, rows, columns)
    with pytest.raises(IndexError):
        torch.compile(fn, backend="minicomp")(x, rows, columns)


def test_gather_and_scatter_add_reject_negative_indices_like_torch():
    x, index = make((2, 3)), torch.tensor([[0, -1]])
    with pytest.raises(IndexError):
        torch.compile(lambda x, i: x.gather(1, i), backend="minicomp")(x, index)
    with pytest.raises(IndexError):
        torch.compile(lambda x, i: x.scatter_add(1, i, x[:1, :2]), backend="minicomp")(x, index)
