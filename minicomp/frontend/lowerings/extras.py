"""Composite ops spelled with existing primitives: addbmm, _trilinear (bilinear), cdist, pdist, searchsorted,
masked_scatter.

Distances are reductions of pairwise differences; their gradients follow torch's per-element formulas
(Distance.cpp), summed over the partner rows. searchsorted replays torch's binary search step by step
with GATHER, so it agrees with torch even on unsorted or NaN boundaries. masked_scatter reads the
source at the running count of the mask.
"""

from __future__ import annotations

import math

import sympy
import torch
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, register, sym
from minicomp.frontend.lowerings.scans import scan
from minicomp.ir import DType, Op, Value

aten = ops.aten


def _product(sizes) -> sympy.Expr:
    return sympy.Mul(*sizes) if sizes else sympy.Integer(1)


def _static(size, what: str) -> int:
    """A size that must be known at compile time, as an int."""
    size = sym(size)
    if not size.is_Integer:
        raise Unsupported(f"{what} of dynamic size {size}")
    return int(size)


def _meta_shape(ctx: Context) -> tuple:
    value = ctx.fx_node.meta["val"]
    return tuple((value[0] if isinstance(value, (tuple, list)) else value).shape)


def _scaled(ctx: Context, x: Value, factor) -> Value:
    """x * factor, skipping the multiplication when factor is 1."""
    return x if factor == 1 else ctx.elementwise(Op.MUL, x, factor, dtype=x.dtype)


@register(aten.addbmm.default)
def addbmm(ctx: Context, x: Value, batch1: Value, batch2: Value, *, beta=1, alpha=1) -> Value:
    """beta * x + alpha * sum_b batch1[b] @ batch2[b], the batch sum folded into one product of width B*k."""
    if not (x.dtype == batch1.dtype == batch2.dtype) or isinstance(beta, Value) or isinstance(alpha, Value):
        raise Unsupported("addbmm of mixed dtypes or tensor scalars")
    batch, rows, inner = batch1.shape
    columns = batch2.shape[2]
    left = ctx.reshape(ctx.add(Op.PERMUTE, batch1, dims=(1, 0, 2)), (rows, batch * inner))
    right = ctx.reshape(batch2, (batch * inner, columns))
    product = _scaled(ctx, ctx.add(Op.MATMUL, left, right), alpha)
    if beta == 0:  # torch ignores x then, NaN included
        return product
    return ctx.elementwise(Op.ADD, _scaled(ctx, x, beta), product, dtype=x.dtype)


@register(aten._trilinear.default)
def trilinear(ctx: Context, i1: Value, i2: Value, i3: Value, expand1, expand2, expand3, sumdim,
              unroll_dim=1) -> Value:
    """Each input gets size-1 axes at its `expand` dims; the product of all three is summed over `sumdim`.

    float16/bfloat16 are computed in float32 and rounded once: eager multiplies and sums through bmm,
    which does not round each product to the low-precision type."""
    if not (i1.dtype == i2.dtype == i3.dtype):
        raise Unsupported("_trilinear of mixed dtypes")
    dtype = i1.dtype
    if dtype.is_low_precision:
        i1, i2, i3 = (ctx.cast(value, DType.FLOAT32) for value in (i1, i2, i3))
    rank = i1.rank + len(expand1)
    spread = []
    for value, expand in ((i1, expand1), (i2, expand2), (i3, expand3)):
        sizes = iter(value.shape)
        spread.append(ctx.reshape(value, [1 if axis in expand else next(sizes) for axis in range(rank)]))
    a, b, c = ctx.broadcast(*spread)
    product = ctx.add(Op.MUL, ctx.add(Op.MUL, a, b), c)
    axes = tuple(sorted(set(sumdim)))
    summed = ctx.add(Op.SUM, product, axes=axes, keepdim=True) if axes else product
    return ctx.reshape(ctx.cast(summed, dtype), _meta_shape(ctx))


def _norm(ctx: Context, difference: Value, p: float) -> Value:
    """The p-norm of `difference` over its last axis (p = 0 counts the non-zero entries)."""
    axes, dtype = (difference.rank - 1,), difference.dtype
    if p == 0:
        nonzero = ctx.cast(ctx.elementwise(Op.NE, difference, 0, dtype=dtype), dtype)
        return ctx.add(Op.SUM, nonzero, axes=axes, keepdim=False)
    magnitude = ctx.add(Op.ABS, difference)
    if p == 1:
        return ctx.add(Op.SUM, magnitude, axes=axes, keepdim=False)
    if p == 2:
        return ctx.add(Op.SQRT, ctx.add(Op.SUM, ctx.add(Op.MUL, difference, difference), axes=axes, keepdim=False))
    if math.isinf(p):
        if difference.shape[-1] == 0:
            raise Unsupported("inf-norm over an empty axis")
        return ctx.add(Op.MAX, magnitude, axes=axes, keepdim=False)
    powered = ctx.elementwise(Op.POW, magnitude, p, dtype=dtype)
    return ctx.elementwise(Op.POW, ctx.add(Op.SUM, powered, axes=axes, keepdim=False), 1.0 / p, dtype=dtype)


def _norm_grad(ctx: Context, difference: Value, distance: Value, grad: Value, p: float) -> Value:
    """d(distance)/d(difference) * grad elementwise, as torch's cdist/pdist backward kernels compute it."""
    dtype = difference.dtype
    distance, grad = ctx.expand_to(distance, difference.shape), ctx.expand_to(grad, difference.shape)
    zero = ctx.full(0, dtype, difference.shape)
    sign = ctx.add(Op.SIGN, difference)
    if p == 0:
        return zero
    if p == 1:
        return ctx.add(Op.MUL, grad, sign)
    at_zero = ctx.elementwise(Op.EQ, distance, 0, dtype=dtype)
    if p == 2:
        return ctx.add(Op.WHERE, at_zero, zero, ctx.add(Op.DIV, ctx.add(Op.MUL, grad, difference), distance))
    magnitude = ctx.add(Op.ABS, difference)
    if math.isinf(p):
        reached = ctx.cast(ctx.add(Op.EQ, magnitude, distance), dtype)
        return ctx.add(Op.MUL, ctx.add(Op.MUL, grad, sign), reached)
    scale = ctx.elementwise(Op.POW, distance, p - 1, dtype=dtype)
    if p < 2:
        numerator = ctx.add(Op.MUL, ctx.add(Op.MUL, sign, ctx.elementwise(Op.POW, magnitude, p - 1, dtype=dtype)), grad)
        if p < 1:
            at_zero = ctx.add(Op.BITWISE_OR, at_zero, ctx.elementwise(Op.EQ, difference, 0, dtype=dtype))
    else:
        numerator = ctx.add(Op.MUL, ctx.add(Op.MUL, difference, ctx.elementwise(Op.POW, magnitude, p - 2, dtype=dtype)),
                            grad)
    return ctx.add(Op.WHERE, at_zero, zero, ctx.add(Op.DIV, numerator, scale))


def _pairwise_difference(ctx: Context, x1: Value, x2: Value) -> Value:
    """x1[..., i, :] - x2[..., j, :] of shape (..., P, R, M)."""
    left = ctx.reshape(x1, (*x1.shape[:-1], 1, x1.shape[-1]))
    right = ctx.reshape(x2, (*x2.shape[:-2], 1, *x2.shape[-2:]))
    return ctx.add(Op.SUB, *ctx.broadcast(left, right))


def _euclidean_by_matmul(ctx: Context, x1: Value, x2: Value) -> Value:
    """torch's _euclidean_dist: one product of [-2 x1, |x1|^2, 1] and [x2, 1, |x2|^2], clamped at 0, sqrt."""
    batch = tuple(ctx.fx_node.meta["val"].shape[:-2])
    parts = []
    for x, ones_last in ((x1, True), (x2, False)):
        x = ctx.expand_to(x, (*batch, *x.shape[-2:]))
        x = ctx.reshape(x, (_product([sym(s) for s in batch]), *x.shape[-2:]))
        norm = ctx.add(Op.SUM, ctx.add(Op.MUL, x, x), axes=(2,), keepdim=True)
        ones = ctx.full(1, x.dtype, norm.shape)
        if ones_last:
            parts.append(ctx.add(Op.CAT, ctx.elementwise(Op.MUL, x, -2, dtype=x.dtype), norm, ones, axis=2))
        else:
            parts.append(ctx.add(Op.PERMUTE, ctx.add(Op.CAT, x, ones, norm, axis=2), dims=(0, 2, 1)))
    squared = ctx.add(Op.MATMUL, *parts)
    clamped = ctx.elementwise(Op.MAXIMUM, squared, 0, dtype=squared.dtype)
    return ctx.reshape(ctx.add(Op.SQRT, clamped), ctx.fx_node.meta["val"].shape)


def _check_float(*values: Value) -> None:
    if not all(v.dtype == values[0].dtype and v.dtype.is_float for v in values):
        raise Unsupported("distances of non-float or mixed dtypes")


@register(aten._cdist_forward.default)
def cdist_forward(ctx: Context, x1: Value, x2: Value, p: float, compute_mode=None) -> Value:
    """p-norms of all row differences; p=2 by torch's matmul formula exactly where torch picks it."""
    _check_float(x1, x2)
    rows1, rows2 = _static(x1.shape[-2], "cdist rows"), _static(x2.shape[-2], "cdist rows")
    mode = 0 if compute_mode is None else compute_mode
    if p == 2 and (mode == 1 or (mode == 0 and (rows1 > 25 or rows2 > 25))):
        return _euclidean_by_matmul(ctx, x1, x2)
    return _norm(ctx, _pairwise_difference(ctx, x1, x2), p)


@register(aten._cdist_backward.default)
def cdist_backward(ctx: Context, grad: Value, x1: Value, x2: Value, p: float, distance: Value) -> Value:
    """Gradient for x1 at the broadcast batch shape (autograd sums it back): the per-pair derivative summed
    over the rows of x2; zeros for p = 0 or empty operands (then x1's own shape if empty, as torch returns)."""
    _check_float(grad, x1, x2, distance)
    counts = [sym(v.numel) for v in (grad, x1, x2)]
    if not all(count.is_Integer for count in counts):
        raise Unsupported("cdist backward with dynamic sizes")
    if p == 0 or 0 in counts:
        return ctx.full(0, x1.dtype, _meta_shape(ctx))
    difference = _pairwise_difference(ctx, x1, x2)
    spread = [ctx.reshape(v, (*v.shape, 1)) for v in (distance, grad)]
    pieces = _norm_grad(ctx, difference, spread[0], spread[1], p)
    return ctx.add(Op.SUM, pieces, axes=(difference.rank - 2,), keepdim=False)


def _pair_rows(ctx: Context, count: int) -> tuple[Value, Value]:
    """The int64 row indices (i, j), i < j, of every pair in torch.pdist's order, as two constants."""
    rows, columns = torch.triu_indices(count, count, offset=1, dtype=torch.int64)
    return ctx.constant(rows), ctx.constant(columns)


def _pair_difference(ctx: Context, x: Value) -> tuple[Value, Value, Value]:
    """(x[i] - x[j] for all pairs i < j, the i index, the j index), indices spread to (pairs, M)."""
    count = _static(x.shape[0], "pdist rows")
    width = x.shape[1]
    spread = []
    for rows in _pair_rows(ctx, count):
        spread.append(ctx.expand_to(ctx.reshape(rows, (rows.shape[0], 1)), (rows.shape[0], width)))
    first, second = (ctx.add(Op.GATHER, x, rows, axis=0) for rows in spread)
    return ctx.add(Op.SUB, first, second), spread[0], spread[1]


@register(aten._pdist_forward.default)
def pdist_forward(ctx: Context, x: Value, p: float = 2) -> Value:
    """p-norms of the differences of all row pairs i < j."""
    _check_float(x)
    if _static(x.shape[0], "pdist rows") < 2:
        return ctx.full(0, x.dtype, (0,))
    return _norm(ctx, _pair_difference(ctx, x)[0], p)


@register(aten._pdist_backward.default)
def pdist_backward(ctx: Context, grad: Value, x: Value, p: float, distance: Value) -> Value:
    """Each pair's derivative added to row i and subtracted from row j."""
    _check_float(grad, x, distance)
    if _static(x.shape[0], "pdist rows") < 2:
        return ctx.full(0, x.dtype, x.shape)
    difference, first, second = _pair_difference(ctx, x)
    spread = [ctx.reshape(v, (v.shape[0], 1)) for v in (distance, grad)]
    pieces = _norm_grad(ctx, difference, spread[0], spread[1], p)
    zeros = ctx.full(0, x.dtype, x.shape)
    added = ctx.add(Op.SCATTER, zeros, first, pieces, axis=0, reduce="sum")
    return ctx.add(Op.SCATTER, added, second, ctx.add(Op.NEG, pieces), axis=0, reduce="sum")


@register(aten.searchsorted.Tensor)
def searchsorted(ctx: Context, boundaries: Value, values: Value, *, out_int32=False, right=False, side=None,
                 sorter=None) -> Value:
    """torch's CPU binary search (lower or upper bound), one GATHER per halving step over all values."""
    if boundaries.dtype != values.dtype or boundaries.rank == 0:
        raise Unsupported("searchsorted of mixed dtypes or 0-d boundaries")
    upper = right or side == "right"
    length = _static(boundaries.shape[-1], "searchsorted boundaries")
    if boundaries.rank == 1:
        rows, row_values = 1, values.numel
    else:
        if tuple(boundaries.shape[:-1]) != tuple(values.shape[:-1]):
            raise Unsupported("searchsorted with mismatched leading dims")
        rows, row_values = _product(boundaries.shape[:-1]), values.shape[-1]
    table = ctx.reshape(boundaries, (rows, length))
    if sorter is not None:
        table = ctx.add(Op.GATHER, table, ctx.cast(ctx.reshape(sorter, (rows, length)), DType.INT64), axis=1)
    targets = ctx.reshape(values, (rows, row_values))
    shape = targets.shape
    start = ctx.full(0, DType.INT64, shape)
    end = ctx.full(length, DType.INT64, shape)
    zero = ctx.full(0, DType.INT64, shape)
    for _ in range(length.bit_length()):
        active = ctx.add(Op.LT, start, end)
        half = ctx.elementwise(Op.FLOORDIV, ctx.add(Op.SUB, end, start), 2, dtype=DType.INT64)
        middle = ctx.add(Op.WHERE, active, ctx.add(Op.ADD, start, half), zero)
        probe = ctx.add(Op.GATHER, table, middle, axis=1)
        stop = ctx.add(Op.GT if upper else Op.GE, probe, targets)
        go_up = ctx.add(Op.BITWISE_AND, active, ctx.add(Op.LOGICAL_NOT, stop))
        go_down = ctx.add(Op.BITWISE_AND, active, stop)
        start = ctx.add(Op.WHERE, go_up, ctx.elementwise(Op.ADD, middle, 1, dtype=DType.INT64), start)
        end = ctx.add(Op.WHERE, go_down, middle, end)
    return ctx.cast(ctx.reshape(start, values.shape), DType.INT32 if out_int32 else DType.INT64)


def _mask_positions(ctx: Context, mask: Value) -> Value:
    """For a flat bool mask: how many True entries come before each entry (int64)."""
    counts = ctx.cast(mask, DType.INT64)
    running, = scan(ctx, [counts], 0, lambda a, b: [ctx.add(Op.ADD, a[0], b[0])], [0])
    return ctx.add(Op.SUB, running, counts)


@register(aten.masked_scatter.default)
def masked_scatter(ctx: Context, x: Value, mask: Value, source: Value) -> Value:
    """Where mask is True, the next unread source element (in flat order); elsewhere x."""
    if x.dtype != source.dtype or mask.dtype is not DType.BOOL:
        raise Unsupported("masked_scatter of mixed dtypes")
    shape = _meta_shape(ctx)
    x, mask = ctx.expand_to(x, shape), ctx.expand_to(mask, shape)
    count = _product([sym(s) for s in shape])
    if source.numel == 0:
        raise Unsupported("masked_scatter from an empty source")
    flat_mask = ctx.reshape(mask, (count,))
    position = ctx.add(Op.WHERE, flat_mask, _mask_positions(ctx, flat_mask), ctx.full(0, DType.INT64, (count,)))
    read = ctx.add(Op.GATHER, ctx.reshape(source, (source.numel,)), position, axis=0)
    return ctx.add(Op.WHERE, mask, ctx.reshape(read, shape), x)


@register(aten.masked_scatter_backward.default)
def masked_scatter_backward(ctx: Context, grad: Value, mask: Value, sizes) -> Value:
    """The source's gradient: grad at the True entries in order, zeros after them."""
    mask = ctx.expand_to(mask, grad.shape)
    count, length = grad.numel, _product([sym(s) for s in sizes])
    flat_mask = ctx.reshape(mask, (count,))
    spare = ctx.full(length, DType.INT64, (count,))  # unmasked entries land in one extra slot, cut off below
    position = ctx.add(Op.WHERE, flat_mask, _mask_positions(ctx, flat_mask), spare)
    slots = ctx.add(Op.SCATTER, ctx.full(0, grad.dtype, (length + 1,)), position,
                    ctx.reshape(grad, (count,)), axis=0, reduce="sum")
    return ctx.reshape(ctx.add(Op.SLICE, slots, axis=0, start=0, stop=length, step=1), sizes)
