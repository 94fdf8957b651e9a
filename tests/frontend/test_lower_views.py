"""Layout ops (views, slicing, cat, pad, split, flip, repeat, slice_scatter) lower to RESHAPE..PAD primitives
without fallback and agree with eager torch, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import minicomp
from minicomp.frontend.lowerings.strided import element_positions, read_in_axis_order

from helpers import check_lowering as check, compile_and_compare, fallback_ops, random_tensor as make

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool]


@pytest.mark.parametrize("dtype", DTYPES)
def test_views_keep_values_of_every_dtype(lowered, dtype):
    def fn(x):
        return x.view(5, -1), x.reshape(-1), x.permute(2, 0, 1), x.unsqueeze(-1), x.squeeze(1), x.transpose(0, -1)
    check(lowered, ["aten.view.default", "aten.permute.default", "aten.unsqueeze.default"],
          fn, make((3, 1, 5), dtype), grad=dtype.is_floating_point)


def test_reshape_of_a_permuted_tensor_copies_in_row_major_order(lowered):
    def fn(x):
        return x.permute(2, 0, 1).contiguous().view(5, 3), x.squeeze(1).t().reshape(-1, 3)
    check(lowered, ["aten.view.default", "aten.permute.default"], fn, make((3, 1, 5)))


def test_expand_with_minus_one_and_new_leading_dims(lowered):
    def fn(x):
        return x.expand(4, -1, -1, 5) * 2, x[:, :1].expand(3, 1, 2)
    check(lowered, ["aten.expand.default"], fn, make((3, 1, 1)))


def test_squeeze_all_dims_and_0d_results(lowered):
    def fn(x):
        return x.squeeze(), x.squeeze((0, 2)), x.view(-1).squeeze(0) + 1
    check(lowered, ["prims.squeeze.default"], fn, make((1, 1, 1)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_slice_bounds_normalised_like_torch(lowered, dtype):
    def fn(x):
        return (x[:, 2:], x[:, -3:], x[:, :-1], x[1:, ::3], x[:, 5:100], x[:, -100:2], x[:, 4:2], x[-1:, 1:-1:2],
                x[:, 7:])
    check(lowered, ["aten.slice.Tensor"], fn, make((3, 7), dtype), grad=dtype.is_floating_point)


def test_narrow_and_getitem_chain(lowered):
    def fn(x):
        return x.narrow(2, 1, 2).unflatten(2, (2, 1)), x[..., 1:-1:2].squeeze(1)
    check(lowered, ["aten.slice.Tensor"], fn, make((3, 1, 5)))


def test_select_with_negative_index_and_dim(lowered):
    def fn(x):
        return x.select(2, -1), x[:, 0, 2], x[-1], x.unbind(0)[1]
    check(lowered, ["aten.select.int"], fn, make((3, 1, 5)))


def test_cat_promotes_and_skips_legacy_empty_tensors(lowered):
    def fn(x, y, empty):
        return torch.cat([x, y.to(torch.float64)], -1), torch.cat([empty, x, empty], 0), torch.cat([x], 1)
    check(lowered, ["aten.cat.default"], fn, make((3, 1, 5)), make((3, 1, 2)), torch.empty(0), grad=False)


def test_cat_backward_and_stack(lowered):
    def fn(x, y):
        return torch.cat([x, y * 2, x], 1), torch.stack([x, x], 1).movedim(0, -1).flatten()
    check(lowered, ["aten.cat.default"], fn, make((2, 3, 5)), make((2, 1, 5)))


@pytest.mark.parametrize("pad", [(1, 2), (1, -2, 0, 1), (-1, -1, 2, 0, 1, 1), (0, 0)])
def test_constant_pad_with_negative_pads_crops(lowered, pad):
    def fn(x):
        return F.pad(x, pad, value=-1.5)
    check(lowered, ["aten.constant_pad_nd.default"], fn, make((3, 1, 5)))


def test_constant_pad_of_integers_and_bools(lowered):
    def fn(x, mask):
        return F.pad(x, (2, 1), value=7), F.pad(mask, (1, 1, 1, 0), value=True)
    check(lowered, ["aten.constant_pad_nd.default"], fn, make((2, 3), torch.int64), make((2, 3), torch.bool),
          grad=False)


def test_split_chunk_and_unbind(lowered):
    def fn(x):
        first, second = x.split([2, 3], -1)
        chunks = x.chunk(2, 0)
        return first * 2, second, chunks[-1], x.split(2, -1)[2], x.unbind(1)[0]
    check(lowered, ["aten.split_with_sizes.default"], fn, make((3, 1, 5)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_flip(lowered, dtype):
    def fn(x):
        return x.flip(-1), x.flip(0, 1), torch.fliplr(x[0])
    check(lowered, ["aten.flip.default"], fn, make((3, 1, 5), dtype), grad=dtype.is_floating_point)


def test_repeat_adds_leading_dims(lowered):
    def fn(x):
        return x.repeat(2, 1, 3), x.repeat(2, 1, 1, 1), x.repeat(1, 1, 1)
    check(lowered, ["aten.repeat.default"], fn, make((3, 1, 5)))


def test_slice_scatter_from_slice_backward(lowered):
    def fn(x):
        return x[:, 1:-1:2] * 3, x[1:2, :, -2:]
    check(lowered, ["aten.slice_scatter.default"], fn, make((3, 7, 4)))


@pytest.mark.parametrize("start, end, step", [(0, None, 1), (1, -1, 2), (-3, None, 3), (2, 3, 1), (0, 7, 4)])
def test_slice_scatter_direct(lowered, start, end, step):
    def fn(x, src):
        return torch.slice_scatter(x, src, 1, start, end, step)
    length = len(range(7)[slice(start, end, step)])
    check(lowered, ["aten.slice_scatter.default"], fn, make((2, 7, 3)), make((2, length, 3), seed=1))


def test_dynamic_sizes(lowered):
    def fn(x):
        return x[:, 2:], x[:, -3:], x[1:].reshape(-1), x.unsqueeze(0).expand(2, -1, -1), x.permute(1, 0)
    check(lowered, ["aten.slice.Tensor", "aten.expand.default"], fn, make((3, 7)), grad=False, dynamic=True)


def test_diagonal_with_offsets_and_its_backward(lowered):
    def fn(matrix, x):
        return (matrix.diagonal(), matrix.diag(-1), matrix.diagonal(2), matrix.diagonal(-3), matrix.diagonal(7),
                x.diagonal(1, -1, 1), x.diagonal(-2, 3, 2))
    check(lowered, ["aten.diagonal.default", "aten.diagonal_scatter.default"], fn, make((3, 5)), make((2, 4, 6, 5)))


def test_diagonal_scatter_and_diag_embed(lowered):
    def fn(x, src):
        return torch.diagonal_scatter(x, src, 1), torch.diag_embed(src)
    check(lowered, ["aten.diagonal_scatter.default"], fn, make((3, 5)), make((3,), seed=1))


def test_unfold_windows(lowered):
    def fn(x, scalar):
        return (x.unfold(1, 2, 1), x.unfold(1, 2, 2), x.unfold(0, 3, 5), x.unfold(-1, 1, 3),
                x.unfold(0, 2, 1).unfold(1, 3, 2), scalar.unfold(0, 1, 1))
    check(lowered, ["aten.unfold.default"], fn, make((3, 5)), make(()))


def test_as_strided_reads_any_strided_positions_of_a_contiguous_input(lowered):
    def fn(x):
        return (x.as_strided((15,), (1,)) * 2, x.as_strided((5, 1, 3), (3, 7, 1)), x.as_strided((5, 3), (1, 5)),
                x.as_strided((2, 2), (1, 2), 1), x.as_strided((3, 4), (0, 2), 6),  # overlapping windows
                x.as_strided((), (), 14), x.as_strided((2, 0), (1, 1)))
    # the gradient of overlapping windows goes back through as_strided_scatter
    check(lowered, ["aten.as_strided.default", "aten.as_strided_scatter.default"], fn, make((3, 5)))


def compiled_equals_eager(function, *inputs, options=None) -> list:
    """Call `function` compiled on the very tensors given (strides and storage offsets kept, unlike
    compile_and_compare's clones) and compare with eager; return the reports."""
    torch.testing.assert_close(torch.compile(function, backend="minicomp", options=options or {})(*inputs),
                               function(*inputs), rtol=0, atol=0)
    return minicomp.reports()


def test_as_strided_reads_what_eager_reads_in_a_non_row_major_layout(lowered):
    # eager's x.t() * 2 keeps x.t()'s column-major strides, so as_strided walks it down the columns
    def of_intermediates(x):
        return ((x.t() * 2).as_strided((3,), (1,)), (x.t() * 2).as_strided((2, 2), (2, 1), 1),
                torch.exp(x.t()).as_strided((6,), (1,)))
    check(lowered, ["aten.as_strided.default"], of_intermediates, make((2, 3)))
    base = make((20,))

    views = {  # an input view and a strided read of storage it holds
        "transposed": (base[:12].view(3, 4).t(), (2, 3), (1, 4), None),
        "at an offset": (base[3:15], (2, 2), (1, 2), 5),
        "expanded": (base[:4].expand(3, 4), (2, 2), (1, 2), None),
        "expanded column": (base[2:5].view(3, 1).expand(3, 4), (2, 3), (0, 1), 2),
    }
    for view, size, stride, offset in views.values():
        assert fallback_ops(compiled_equals_eager(lambda x: x.as_strided(size, stride, offset) * 2, view)) == []
        torch._dynamo.reset()


def test_as_strided_past_its_input_elements_runs_the_whole_graph_in_torch():
    def past_the_view(x):
        return x.as_strided((4,), (1,), 1) * 2  # x holds storage positions 1 and 2 only
    view = torch.arange(6.0)[1:3]
    assert fallback_ops(compiled_equals_eager(past_the_view, view)) == ["<whole graph>"]
    torch._dynamo.reset()
    with pytest.raises(minicomp.UnsupportedOpError, match="as_strided reaches storage that holds none of its "
                                                          "input's elements.*options=\\{'fallback': True\\}"):
        torch.compile(past_the_view, backend="minicomp", options={"fallback": False})(view)
    base = make((20,))
    assert element_positions(base[:15].view(3, 5), (4, 4), (4, 1), None) is None
    assert element_positions(base[:15].view(3, 5), (3, 4), (0, 2), 6).tolist() == [6, 8, 10, 12] * 3
    assert element_positions(base[:6].view(2, 3).t(), (3,), (1,), None).tolist() == [0, 2, 4]


def test_as_strided_with_symbolic_sizes_reading_its_input_in_place_is_lowered():
    # AOTAutograd restores a channels_last layout with as_strided after the pooling (forward) and rebuilds
    # the gradient with as_strided_scatter over a flat buffer (backward): with a smaller last batch the
    # sizes are symbolic, and these reads are a permute and a reshape of the input's own elements
    def pooled(x):
        return x.mean((-1, -2), keepdim=True).flatten(1) * 3
    reports = []
    for batch in (4, 3, 5):
        x = make((batch, 3, 4, 4)).to(memory_format=torch.channels_last)
        reports += compile_and_compare(pooled, x, dynamic=None if batch == 4 else True)
    assert {report.kind for report in reports} == {"forward", "backward"}
    assert fallback_ops(reports) == []
    strided = torch.empty_strided((3, 8, 1, 1), (8, 1, 8, 8), device="meta")
    assert read_in_axis_order(strided, (3, 8, 1, 1), (8, 1, 8, 8), None) == [0, 1]
    assert read_in_axis_order(strided, (8, 3), (1, 8), 0) == [1, 0]
    assert read_in_axis_order(strided, (8, 3), (1, 8), 1) is None  # another offset
    assert read_in_axis_order(strided, (4, 3), (1, 8), None) is None  # a part of the elements


def test_as_strided_scatter(lowered):
    def fn(x, source):
        return (torch.as_strided_scatter(x, source, (2, 3), (1, 4), 2),
                torch.as_strided_scatter(x, source[:1, :1], (1, 1), (5, 5), 14))
    check(lowered, ["aten.as_strided_scatter.default"], fn, make((3, 5)), make((2, 3), seed=1))


def test_as_strided_scatter_writes_where_eager_writes_in_a_non_row_major_layout(lowered):
    # eager writes into a clone of x.t() * 2, which keeps its column-major strides (no gradient: eager's
    # own backward supports only contiguous inputs)
    def fn(x, source):
        return torch.as_strided_scatter(x.t() * 2, source, (2,), (1,), 1)
    check(lowered, ["aten.as_strided_scatter.default"], fn, make((2, 3)), make((2,), seed=1), grad=False)


@pytest.mark.parametrize("pad", [(2, 1), (1, 0, 2, 3), (1, 2, 0, 1, 2, 0), (-1, 2, 1, -1)])
def test_replicate_padding_and_its_gradient(lowered, pad):
    shape = (2, 3, 4, 5, 6)[: 2 + len(pad) // 2] if len(pad) // 2 > 1 else (2, 3, 5)
    backward = f"aten.replication_pad{len(pad) // 2}d_backward.default"
    check(lowered, [backward], lambda x: F.pad(x, pad, mode="replicate"), make(shape))
