"""Sorting (sort, argsort, topk, kthvalue, median, nanmedian) by ranks: compare every pair, count, scatter.

Entry i of a row goes to position rank(i), the number of entries that come before it: the smaller ones
(larger when descending; NaN sorts last ascending and first descending, as in torch) and the equal ones
with a smaller index. That is the stable sort, and the ranks are a permutation, so a SCATTER (assign)
of the values and of their positions to their ranks writes every slot once. The work is n comparisons
per entry: the rank sort is used while the row length is static and numel * n <= MAX_COMPARISONS;
longer sorts are left to torch, as Inductor leaves rows that do not fit one block. Where eager torch
breaks ties in its own order (topk, kthvalue, an unstable sort of a long row), minicomp returns the
stable choice: the same values, and indices that point at them.
"""

from __future__ import annotations

import sympy
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, normalize_axis, register
from minicomp.frontend.lowerings.views import permute_axes, slice_axis
from minicomp.ir import DType, Op, Value

aten = ops.aten

MAX_COMPARISONS = 2 ** 24


def _comes_first(ctx: Context, a: Value, b: Value, descending: bool) -> tuple[Value, Value]:
    """(a strictly before b, a ties with b) in torch's sort order, NaNs included."""
    if not a.dtype.is_float:
        if a.dtype is DType.BOOL:
            a, b = ctx.cast(a, DType.UINT8), ctx.cast(b, DType.UINT8)
        return ctx.add(Op.GT if descending else Op.LT, a, b), ctx.add(Op.EQ, a, b)
    nan_a, nan_b = ctx.add(Op.NE, a, a), ctx.add(Op.NE, b, b)
    if descending:  # NaN first
        nan_first = ctx.add(Op.BITWISE_AND, nan_a, ctx.add(Op.LOGICAL_NOT, nan_b))
        before = ctx.add(Op.BITWISE_OR, ctx.add(Op.GT, a, b), nan_first)
    else:  # NaN last
        nan_last = ctx.add(Op.BITWISE_AND, ctx.add(Op.LOGICAL_NOT, nan_a), nan_b)
        before = ctx.add(Op.BITWISE_OR, ctx.add(Op.LT, a, b), nan_last)
    tie = ctx.add(Op.BITWISE_OR, ctx.add(Op.EQ, a, b), ctx.add(Op.BITWISE_AND, nan_a, nan_b))
    return before, tie


def _positions(ctx: Context, shape: tuple) -> Value:
    """0, 1, ..., n - 1 along the last axis, broadcast to `shape`."""
    line = ctx.add(Op.IOTA, length=shape[-1], start=0, step=1, dtype=DType.INT64)
    return ctx.expand_to(line, shape)


def ranks(ctx: Context, rows: Value, descending: bool) -> Value:
    """Where each entry of the last axis lands in a stable sort of its row (int64, shaped like rows)."""
    n = rows.shape[-1]
    square = tuple(rows.shape) + (n,)  # [..., i, j]
    entry = ctx.expand_to(ctx.reshape(rows, tuple(rows.shape) + (1,)), square)
    other = ctx.expand_to(ctx.reshape(rows, tuple(rows.shape[:-1]) + (1, n)), square)
    before, tie = _comes_first(ctx, other, entry, descending)
    j = _positions(ctx, square)
    i = ctx.expand_to(ctx.reshape(ctx.add(Op.IOTA, length=n, start=0, step=1, dtype=DType.INT64), (n, 1)), square)
    earlier = ctx.add(Op.BITWISE_AND, tie, ctx.add(Op.LT, j, i))
    counted = ctx.cast(ctx.add(Op.BITWISE_OR, before, earlier), DType.INT64)
    return ctx.add(Op.SUM, counted, axes=(len(square) - 1,), keepdim=False)


def sorted_rows(ctx: Context, x: Value, dim: int, descending: bool) -> tuple[Value, Value, tuple]:
    """(values, indices) sorted along the last axis of x with `dim` moved last, and that permutation."""
    axis = normalize_axis(dim, x.rank)
    n = x.shape[axis]
    if not n.is_Integer or not x.numel.is_Integer or int(x.numel) * int(n) > MAX_COMPARISONS:
        raise Unsupported(f"sorting rows of {n} elements ({x.numel} in all): left to torch")
    order = tuple(d for d in range(x.rank) if d != axis) + (axis,)
    rows = permute_axes(ctx, x, order)
    rank = ranks(ctx, rows, descending)
    values = ctx.add(Op.SCATTER, rows, rank, rows, axis=rows.rank - 1, reduce="assign")
    positions = _positions(ctx, rows.shape)
    indices = ctx.add(Op.SCATTER, positions, rank, positions, axis=rows.rank - 1, reduce="assign")
    return values, indices, order


def _restore(ctx: Context, rows: Value, order: tuple) -> Value:
    return permute_axes(ctx, rows, tuple(order.index(d) for d in range(len(order))))


@register(aten.sort.default)
def sort(ctx: Context, x: Value, dim: int = -1, descending: bool = False) -> tuple:
    if x.rank == 0:
        return x, ctx.full(0, DType.INT64)
    values, indices, order = sorted_rows(ctx, x, dim, descending)
    return _restore(ctx, values, order), _restore(ctx, indices, order)


@register(aten.sort.stable)
def sort_stable(ctx: Context, x: Value, *, stable=None, dim: int = -1, descending: bool = False) -> tuple:
    """The rank sort is stable, so stable=True and stable=False give the same answer."""
    return sort(ctx, x, dim, descending)


def _pick(ctx: Context, rows: Value, position: Value, order: tuple, keepdim: bool) -> Value:
    """rows[..., position] (position shaped like rows without its last axis), back in x's dim order."""
    picked = ctx.add(Op.GATHER, rows, ctx.reshape(position, tuple(position.shape) + (1,)), axis=rows.rank - 1)
    picked = _restore(ctx, picked, order)
    if keepdim:
        return picked
    axis = order[-1]
    return ctx.reshape(picked, tuple(s for d, s in enumerate(picked.shape) if d != axis))


def _leading(ctx: Context, rows: Value, count, order: tuple) -> Value:
    return _restore(ctx, slice_axis(ctx, rows, rows.rank - 1, 0, sympy.Integer(count)), order)


@register(aten.topk.default)
def topk(ctx: Context, x: Value, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple:
    """The first k of a descending (ascending for largest=False) sort."""
    if not sorted:
        raise Unsupported("topk with sorted=False returns torch's own order")
    if x.rank == 0:
        return x, ctx.full(0, DType.INT64)
    values, indices, order = sorted_rows(ctx, x, dim, descending=largest)
    return _leading(ctx, values, k, order), _leading(ctx, indices, k, order)


def _select(ctx: Context, x: Value, dim: int, keepdim: bool, position) -> tuple:
    """(value, index) at `position` (a function of the ascending rows) of each sorted row."""
    if x.rank == 0:
        return x, ctx.full(0, DType.INT64)
    values, indices, order = sorted_rows(ctx, x, dim, descending=False)
    where = position(values)
    return _pick(ctx, values, where, order, keepdim), _pick(ctx, indices, where, order, keepdim)


def _constant_position(ctx: Context, rows: Value, position: int) -> Value:
    return ctx.full(position, DType.INT64, tuple(rows.shape[:-1]))


@register(aten.kthvalue.default)
def kthvalue(ctx: Context, x: Value, k: int, dim: int = -1, keepdim: bool = False) -> tuple:
    return _select(ctx, x, dim, keepdim, lambda rows: _constant_position(ctx, rows, k - 1))


def _nan_count(ctx: Context, rows: Value) -> Value:
    """Entries of each row that are not NaN (NaNs sort last)."""
    if not rows.dtype.is_float:
        return ctx.full(rows.shape[-1], DType.INT64, tuple(rows.shape[:-1]))
    numbers = ctx.cast(ctx.add(Op.EQ, rows, rows), DType.INT64)
    return ctx.add(Op.SUM, numbers, axes=(rows.rank - 1,), keepdim=False)


@register(aten.median.dim)
def median_dim(ctx: Context, x: Value, dim: int, keepdim: bool = False) -> tuple:
    """The lower median; a row with a NaN gives its first NaN, as torch does."""
    def position(rows: Value) -> Value:
        numbers = _nan_count(ctx, rows)
        middle = _constant_position(ctx, rows, (int(rows.shape[-1]) - 1) // 2)
        has_nan = ctx.elementwise(Op.LT, numbers, rows.shape[-1], dtype=DType.INT64)
        return ctx.add(Op.WHERE, has_nan, numbers, middle)
    return _select(ctx, x, dim, keepdim, position)


@register(aten.nanmedian.dim)
def nanmedian_dim(ctx: Context, x: Value, dim: int, keepdim: bool = False) -> tuple:
    """The lower median of the numbers in each row (NaN only when the row has nothing else)."""
    def position(rows: Value) -> Value:
        numbers = _nan_count(ctx, rows)
        lower_middle = ctx.elementwise(Op.FLOORDIV, ctx.elementwise(Op.SUB, numbers, 1, dtype=DType.INT64), 2,
                                       dtype=DType.INT64)
        return ctx.add(Op.MAXIMUM, lower_middle, _constant_position(ctx, rows, 0))
    return _select(ctx, x, dim, keepdim, position)


@register(aten.median.default)
def median(ctx: Context, x: Value) -> Value:
    return median_dim(ctx, ctx.reshape(x, (x.numel,)), 0)[0]


@register(aten.nanmedian.default)
def nanmedian(ctx: Context, x: Value) -> Value:
    return nanmedian_dim(ctx, ctx.reshape(x, (x.numel,)), 0)[0]
