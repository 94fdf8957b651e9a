"""The closed Op vocabulary: small, grouped, and every group rule consistent with the shape rules."""

from __future__ import annotations

import pytest
import sympy

from minicomp.ir import DType, Graph, Op
from minicomp.ir import ops as ir_ops
from minicomp.ir.ops import ShapeError

GROUPS = {
    "UNARY": ir_ops.UNARY,
    "BINARY": ir_ops.BINARY,
    "COMPARISON": ir_ops.COMPARISON,
    "WHERE": frozenset({Op.WHERE}),
    "CAST": frozenset({Op.CAST}),
    "REDUCTION": ir_ops.REDUCTION,
    "LAYOUT": ir_ops.LAYOUT,
    "CREATION": ir_ops.CREATION,
    "INDEXING": ir_ops.INDEXING,
    "EXTERN": ir_ops.EXTERN,
}


def test_at_most_64_primitives():
    assert len(Op) <= 64, f"{len(Op)} primitives; the design allows at most 64"


def test_every_op_is_in_exactly_one_group():
    for op in Op:
        owners = [name for name, members in GROUPS.items() if op in members]
        assert len(owners) == 1, f"{op.value} is in groups {owners}"


def test_derived_groups_are_unions_of_the_basic_ones():
    assert ir_ops.POINTWISE == ir_ops.UNARY | ir_ops.BINARY | ir_ops.COMPARISON | {Op.WHERE, Op.CAST}
    assert ir_ops.VIEW <= ir_ops.LAYOUT
    assert ir_ops.FLOAT_ONLY <= ir_ops.UNARY | ir_ops.BINARY
    assert ir_ops.INTEGER_ONLY <= ir_ops.UNARY | ir_ops.BINARY


def test_op_names_are_unique_lowercase_identifiers():
    names = [op.value for op in Op]
    assert len(set(names)) == len(names)
    assert all(name.isidentifier() and name == name.lower() for name in names)


def test_elementwise_rules_keep_shape_and_dtype():
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [3, 4])
    y = graph.add_input("y", DType.FLOAT32, [3, 4])
    assert graph.add(Op.EXP, [x]).shape == (3, 4)
    assert graph.add(Op.ADD, [x, y]).dtype is DType.FLOAT32
    assert graph.add(Op.LT, [x, y]).dtype is DType.BOOL
    assert graph.add(Op.CAST, [x], dtype=DType.INT32).dtype is DType.INT32


@pytest.mark.parametrize("build", [
    lambda g, x, i: g.add(Op.ADD, [x, i]),                          # dtypes differ
    lambda g, x, i: g.add(Op.ADD, [x, g.add(Op.RESHAPE, [x], shape=(4, 3))]),  # shapes differ
    lambda g, x, i: g.add(Op.EXP, [i]),                             # float-only op on an int
    lambda g, x, i: g.add(Op.BITWISE_AND, [x, x]),                  # integer-only op on a float
    lambda g, x, i: g.add(Op.LOGICAL_NOT, [i]),                     # bool-only op on an int
    lambda g, x, i: g.add(Op.WHERE, [x, x, x]),                     # condition is not bool
    lambda g, x, i: g.add(Op.RESHAPE, [x], shape=(5,)),             # element count changes
    lambda g, x, i: g.add(Op.PERMUTE, [x], dims=(0, 0)),            # not a permutation
    lambda g, x, i: g.add(Op.EXPAND, [x], shape=(6, 4)),            # only size-1 dims grow
    lambda g, x, i: g.add(Op.SUM, [x], axes=(2,), keepdim=False),   # axis out of range
    lambda g, x, i: g.add(Op.ARGMAX, [x], axes=(0, 1), keepdim=False),  # one axis only
    lambda g, x, i: g.add(Op.GATHER, [x, g.add(Op.CAST, [i], dtype=DType.INT32)], axis=0),  # index not int64
    lambda g, x, i: g.add(Op.MATMUL, [x, x]),                       # contraction sizes differ
])
def test_shape_rules_reject_bad_inputs(build):
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [3, 4])
    i = graph.add_input("i", DType.INT64, [3, 4])
    with pytest.raises(ShapeError):
        build(graph, x, i)


def test_layout_and_extern_shape_rules():
    graph = Graph()
    n = sympy.Symbol("s0", integer=True, positive=True)
    x = graph.add_input("x", DType.FLOAT32, [n, 6])
    assert graph.add(Op.SLICE, [x], axis=1, start=1, stop=6, step=2).shape == (n, 3)
    assert graph.add(Op.CAT, [x, x], axis=0).shape == (2 * n, 6)
    assert graph.add(Op.PAD, [x], pads=((0, 1), (2, 3)), value=0.0).shape == (n + 1, 11)
    assert graph.add(Op.SUM, [x], axes=(1,), keepdim=True).shape == (n, 1)
    assert graph.add(Op.ARGMIN, [x], axes=(0,), keepdim=False).dtype is DType.INT64
    w = graph.add_input("w", DType.FLOAT32, [6, 5])
    assert graph.add(Op.MATMUL, [x, w]).shape == (n, 5)
    image = graph.add_input("image", DType.FLOAT32, [2, 3, 9, 9])
    kernel = graph.add_input("kernel", DType.FLOAT32, [8, 3, 3, 3])
    out = graph.add(Op.CONV, [image, kernel], stride=[2, 2], padding=[1, 1], dilation=[1, 1], groups=1)
    assert out.shape == (2, 8, 5, 5)
    assert graph.add(Op.IOTA, [], length=n, start=0, step=1, dtype=DType.INT64).shape == (n,)


def test_dtype_limits_and_wrapping():
    assert (DType.BOOL.lowest, DType.BOOL.highest) == (False, True)
    assert (DType.UINT8.lowest, DType.UINT8.highest) == (0, 255)
    assert (DType.INT8.lowest, DType.INT8.highest) == (-128, 127)
    assert (DType.INT64.lowest, DType.INT64.highest) == (-2 ** 63, 2 ** 63 - 1)
    assert (DType.BFLOAT16.lowest, DType.FLOAT64.highest) == (float("-inf"), float("inf"))
    assert [DType.UINT8.wrap(v) for v in (-1, 256, 300)] == [255, 0, 44]
    assert [DType.INT8.wrap(v) for v in (128, -129, 255)] == [-128, 127, -1]
    assert DType.INT64.wrap(2 ** 63) == -2 ** 63
