"""Layout ATen ops -> RESHAPE/PERMUTE/EXPAND/SLICE/CAT/PAD (and WHERE/GATHER where a copy needs them).

Views, slicing, diagonal and unfold are index arithmetic; cat, pad, repeat and flip copy; the
*_scatter ops (the backward of a view) write into a slice through PAD and a WHERE with a bool mask;
as_strided, which reads storage, is in strided.py.

Sizes may be symbolic. Where torch clamps a slice bound and sympy cannot tell whether the clamp
applies, we take the in-range case; torch guarded the same case while tracing, and lower.py compares
every output shape with torch's, so a wrong guess becomes a fallback, never a wrong value.
"""

from __future__ import annotations

import sympy
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, normalize_axis, register, sym
from minicomp.ir import DType, Op, Value
from minicomp.ir.shapes import sizes_equal

aten = ops.aten

END_OF_AXIS = 2**62  # a slice end at or past this means "to the end" (torch passes INT64_MAX)


def output_shape(ctx: Context) -> tuple:
    """The shape torch computed for the node being lowered: -1 entries and symbolic sizes resolved."""
    return tuple(sym(s) for s in ctx.fx_node.meta["val"].shape)


def is_true(relation) -> bool:
    """True only when sympy can prove `relation` (a comparison of sizes)."""
    return sympy.sympify(relation) == sympy.true


# -- pure views ---------------------------------------------------------------------------------

@register(aten.view, aten._unsafe_view, aten.reshape, aten.view_copy, aten.unsqueeze, aten.squeeze)
def reshape(ctx: Context, x: Value, *args, **kwargs) -> Value:
    """Every reshape-like op keeps the row-major element order, so one RESHAPE to torch's shape does it."""
    if ctx.fx_node.target._overloadname == "dtype":
        raise Unsupported("view as another dtype reinterprets bits")
    return ctx.reshape(x, output_shape(ctx))


@register(aten.expand, aten.expand_copy)
def expand(ctx: Context, x: Value, size, implicit: bool = False) -> Value:
    return ctx.expand_to(x, output_shape(ctx))


def permute_axes(ctx: Context, x: Value, dims) -> Value:
    """PERMUTE, skipped when `dims` is the identity."""
    dims = tuple(normalize_axis(d, x.rank) for d in dims)
    if dims == tuple(range(x.rank)):
        return x
    return ctx.add(Op.PERMUTE, x, dims=dims)


@register(aten.permute, aten.permute_copy)
def permute(ctx: Context, x: Value, dims) -> Value:
    return permute_axes(ctx, x, dims)


@register(aten.transpose.int)
def transpose(ctx: Context, x: Value, dim0: int, dim1: int) -> Value:
    dims = list(range(x.rank))
    a, b = normalize_axis(dim0, x.rank), normalize_axis(dim1, x.rank)
    dims[a], dims[b] = dims[b], dims[a]
    return permute_axes(ctx, x, dims)


@register(aten.t)
def t(ctx: Context, x: Value) -> Value:
    return permute_axes(ctx, x, (1, 0)) if x.rank == 2 else x


@register(aten.replication_pad1d_backward, aten.replication_pad2d_backward, aten.replication_pad3d_backward)
def replication_pad_backward(ctx: Context, grad: Value, x: Value, padding) -> Value:
    """The forward reads x at clamp(i - left, 0, n - 1) along each padded axis: send the gradient back
    there with a SCATTER sum, one axis at a time (padding lists the last axis first, as in F.pad)."""
    for position in range(len(padding) // 2):
        axis = grad.rank - 1 - position
        left, length, size = padding[2 * position], grad.shape[axis], x.shape[axis]
        if not (length.is_Integer and size.is_Integer):
            raise Unsupported("replication padding backward over a dynamic-size axis")
        source = ctx.add(Op.IOTA, length=length, start=-int(left), step=1, dtype=DType.INT64)
        source = ctx.elementwise(Op.MINIMUM, ctx.elementwise(Op.MAXIMUM, source, 0, dtype=DType.INT64),
                                 int(size) - 1, dtype=DType.INT64)
        column = ctx.reshape(source, tuple(length if d == axis else 1 for d in range(grad.rank)))
        target_shape = tuple(size if d == axis else s for d, s in enumerate(grad.shape))
        zeros = ctx.full(0, grad.dtype, target_shape)
        grad = ctx.add(Op.SCATTER, zeros, ctx.expand_to(column, grad.shape), grad, axis=axis, reduce="sum")
    return grad


# -- slicing ------------------------------------------------------------------------------------

def slice_bound(index, size, default) -> sympy.Expr:
    """torch's normalisation of a slice bound: None -> default, negative counts from the end, clamp to [0, size]."""
    if index is None:
        return sympy.sympify(default)
    index = sym(index)
    if index.is_number and index >= END_OF_AXIS:
        return size
    if is_true(index < 0):
        index = index + size
    elif not is_true(index >= 0):
        raise Unsupported(f"slice bound {index} of unknown sign")
    if is_true(index < 0):
        return sympy.Integer(0)
    return size if is_true(index > size) else index


def slice_axis(ctx: Context, x: Value, axis: int, start, stop, step: int = 1) -> Value:
    """SLICE with normalised bounds (stop >= start), skipped when it keeps the whole axis."""
    size = x.shape[axis]
    if is_true(stop < start):
        stop = start
    if step == 1 and start == 0 and sizes_equal(stop, size):
        return x
    return ctx.add(Op.SLICE, x, axis=axis, start=start, stop=stop, step=step)


@register(aten.slice.Tensor, aten.slice_copy.Tensor)
def slice_(ctx: Context, x: Value, dim: int = 0, start=None, end=None, step: int = 1) -> Value:
    if not isinstance(step, int) or step < 1:
        raise Unsupported(f"slice step {step}")
    axis = normalize_axis(dim, x.rank)
    size = x.shape[axis]
    return slice_axis(ctx, x, axis, slice_bound(start, size, 0), slice_bound(end, size, size), step)


@register(aten.select.int, aten.select_copy.int)
def select(ctx: Context, x: Value, dim: int, index) -> Value:
    """x.select(dim, i) is a one-wide slice with the axis then dropped."""
    axis = normalize_axis(dim, x.rank)
    index = sym(index)
    if is_true(index < 0):
        index = index + x.shape[axis]
    elif not is_true(index >= 0):
        raise Unsupported(f"select index {index} of unknown sign")
    one_wide = slice_axis(ctx, x, axis, index, index + 1)
    return ctx.reshape(one_wide, output_shape(ctx))


@register(aten.split_with_sizes, aten.split_with_sizes_copy)
def split_with_sizes(ctx: Context, x: Value, split_sizes, dim: int = 0) -> list:
    axis = normalize_axis(dim, x.rank)
    pieces, start = [], sympy.Integer(0)
    for piece in split_sizes:
        pieces.append(slice_axis(ctx, x, axis, start, start + sym(piece)))
        start = start + sym(piece)
    return pieces


@register(aten.unfold)
def unfold(ctx: Context, x: Value, dimension: int, size: int, step: int) -> Value:
    """Sliding windows along an axis, as a new last axis: one strided SLICE per window offset, then CAT."""
    if size < 1:
        raise Unsupported(f"unfold with window {size}")
    if x.rank == 0:  # torch treats a 0-d tensor as one element along a single axis
        return ctx.reshape(x, output_shape(ctx))
    axis = normalize_axis(dimension, x.rank)
    windows = output_shape(ctx)[axis]
    pieces = []
    for offset in range(size):
        piece = slice_axis(ctx, x, axis, offset, offset + (windows - 1) * step + 1, step)
        pieces.append(ctx.reshape(piece, tuple(piece.shape) + (1,)))
    return pieces[0] if size == 1 else ctx.add(Op.CAT, *pieces, axis=x.rank)


def diagonal_layout(ctx: Context, x: Value, offset: int, dim1: int, dim2: int):
    """x with the two diagonal axes moved last and flattened, plus where the diagonal starts there,
    its step (m + 1 for an n x m matrix), its length and the permutation used."""
    first, second = normalize_axis(dim1, x.rank), normalize_axis(dim2, x.rank)
    rows, columns = x.shape[first], x.shape[second]
    if first == second or not (rows.is_Integer and columns.is_Integer):
        raise Unsupported("diagonal of one axis or of dynamic-size axes")
    rest = [d for d in range(x.rank) if d not in (first, second)]
    dims = rest + [first, second]
    flat = ctx.reshape(permute_axes(ctx, x, dims), [x.shape[d] for d in rest] + [rows * columns])
    length = max(0, min(int(rows) + min(offset, 0), int(columns) - max(offset, 0)))
    start = (offset if offset >= 0 else -offset * int(columns)) if length else 0
    return flat, start, int(columns) + 1, length, dims


@register(aten.diagonal, aten.diagonal_copy)
def diagonal(ctx: Context, x: Value, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Value:
    """The diagonal is every (m+1)-th entry of the flattened n x m matrix: a strided SLICE."""
    flat, start, step, length, _ = diagonal_layout(ctx, x, offset, dim1, dim2)
    return slice_axis(ctx, flat, flat.rank - 1, start, start + max(length - 1, 0) * step + min(length, 1), step)


@register(aten.diagonal_scatter)
def diagonal_scatter(ctx: Context, x: Value, src: Value, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Value:
    """x with its diagonal replaced by src: src spread along the flattened matrix, then WHERE, then un-flatten."""
    dtype = ctx.out_dtype
    x, src = ctx.cast(x, dtype), ctx.cast(src, dtype)
    flat, start, step, length, dims = diagonal_layout(ctx, x, offset, dim1, dim2)
    if length == 0:
        return x
    axis, size = flat.rank - 1, flat.shape[-1]
    placed = spread(ctx, src, axis, start, step, size, 0)
    line = spread(ctx, ctx.full(True, DType.BOOL, (length,)), 0, start, step, size, False)
    mask = ctx.expand_to(ctx.reshape(line, [1] * axis + [size]), flat.shape)
    merged = ctx.add(Op.WHERE, mask, placed, flat)
    moved = ctx.reshape(merged, [x.shape[d] for d in dims])
    return permute_axes(ctx, moved, [dims.index(d) for d in range(x.rank)])


# -- copies that change layout ------------------------------------------------------------------

@register(aten.cat)
def cat(ctx: Context, tensors, dim: int = 0) -> Value:
    """CAT after torch's promotion; 1-d empty tensors are skipped, as torch does for legacy reasons."""
    dtype = ctx.out_dtype
    values = [ctx.cast(t, dtype) for t in tensors if not (t.rank == 1 and t.shape[0] == 0)]
    if not values:
        return ctx.full(0, dtype, (0,))
    if len(values) == 1:
        return values[0]
    return ctx.add(Op.CAT, *values, axis=normalize_axis(dim, values[0].rank))


def fill_value(value, dtype: DType):
    """A Python scalar converted the way torch converts a fill value to `dtype`."""
    if dtype is DType.BOOL:
        return bool(value)
    return int(value) if dtype.is_integer else float(value)


def pad_or_crop(ctx: Context, x: Value, pads, value) -> Value:
    """PAD by one (low, high) pair per axis; a negative amount crops (a SLICE) instead."""
    grow = []
    for axis, (low, high) in enumerate(pads):
        low, high = sym(low), sym(high)
        if not all(is_true(p >= 0) or is_true(p < 0) for p in (low, high)):
            raise Unsupported(f"pad ({low}, {high}) of unknown sign")
        size = x.shape[axis]
        start = -low if is_true(low < 0) else sympy.Integer(0)
        stop = size + high if is_true(high < 0) else size
        x = slice_axis(ctx, x, axis, start, stop)
        grow.append((low if is_true(low > 0) else 0, high if is_true(high > 0) else 0))
    if all(low == 0 and high == 0 for low, high in grow):
        return x
    return ctx.add(Op.PAD, x, pads=tuple(grow), value=fill_value(value, x.dtype))


@register(aten.constant_pad_nd)
def constant_pad_nd(ctx: Context, x: Value, pad, value=0) -> Value:
    """torch lists (low, high) pairs from the last axis backwards."""
    if len(pad) % 2 or len(pad) // 2 > x.rank:
        raise Unsupported(f"pad {pad} for rank {x.rank}")
    pads = [(0, 0)] * x.rank
    for i in range(len(pad) // 2):
        pads[x.rank - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pad_or_crop(ctx, x, pads, value)


@register(aten.repeat)
def repeat(ctx: Context, x: Value, repeats) -> Value:
    """Tile by interleaving a new size-r axis before each axis: (1, s0, 1, s1) -> (r0, s0, r1, s1) -> reshape."""
    repeats = [sym(r) for r in repeats]
    if len(repeats) < x.rank:
        raise Unsupported("fewer repeats than dimensions")
    shape = (sympy.Integer(1),) * (len(repeats) - x.rank) + tuple(x.shape)
    interleaved = ctx.reshape(x, [size for dim in shape for size in (1, dim)])
    tiled = ctx.expand_to(interleaved, [size for r, dim in zip(repeats, shape) for size in (r, dim)])
    return ctx.reshape(tiled, [r * dim for r, dim in zip(repeats, shape)])


def flip_axes(ctx: Context, x: Value, axes) -> Value:
    """Reverse each of `axes` with a GATHER whose index is an IOTA counting down."""
    for axis in axes:
        length = x.shape[axis]
        if length == 1:
            continue
        if not length.is_Integer:
            raise Unsupported("flip of a dynamic-size axis")
        index = ctx.add(Op.IOTA, length=length, start=int(length) - 1, step=-1, dtype=DType.INT64)
        index = ctx.reshape(index, [length if a == axis else 1 for a in range(x.rank)])
        x = ctx.add(Op.GATHER, x, ctx.expand_to(index, x.shape), axis=axis)
    return x


@register(aten.flip)
def flip(ctx: Context, x: Value, dims) -> Value:
    return flip_axes(ctx, x, [normalize_axis(d, x.rank) for d in dims])


def interleave(ctx: Context, x: Value, axis: int, step: int, fill) -> Value:
    """Put step-1 `fill` entries between neighbours along `axis`: length L -> (L-1)*step+1.

    (.., L, ..) -> reshape (.., L, 1, ..) -> pad the new axis to step -> reshape (.., L*step, ..) -> slice.
    """
    if step == 1:
        return x
    shape = tuple(x.shape)
    widened = ctx.reshape(x, shape[:axis + 1] + (1,) + shape[axis + 1:])
    gaps = [(0, 0)] * (x.rank + 1)
    gaps[axis + 1] = (0, step - 1)
    widened = ctx.add(Op.PAD, widened, pads=tuple(gaps), value=fill_value(fill, x.dtype))
    widened = ctx.reshape(widened, shape[:axis] + (shape[axis] * step,) + shape[axis + 1:])
    return slice_axis(ctx, widened, axis, 0, (shape[axis] - 1) * step + 1)


def spread(ctx: Context, x: Value, axis: int, start, step: int, size, fill) -> Value:
    """Place x's entries along `axis` at start, start+step, ... of an axis of length `size`; `fill` elsewhere."""
    x = interleave(ctx, x, axis, step, fill)
    covered = x.shape[axis]
    if start == 0 and sizes_equal(size, covered):
        return x
    pads = [(0, 0)] * x.rank
    pads[axis] = (start, size - start - covered)
    return ctx.add(Op.PAD, x, pads=tuple(pads), value=fill_value(fill, x.dtype))


@register(aten.slice_scatter)
def slice_scatter(ctx: Context, x: Value, src: Value, dim: int = 0, start=None, end=None, step: int = 1) -> Value:
    """x with x[start:end:step] along dim replaced by src: src and a bool mask spread by PAD, then WHERE."""
    if not isinstance(step, int) or step < 1:
        raise Unsupported(f"slice step {step}")
    axis = normalize_axis(dim, x.rank)
    size = x.shape[axis]
    start = slice_bound(start, size, 0)
    dtype = ctx.out_dtype
    x, src = ctx.cast(x, dtype), ctx.cast(src, dtype)
    length = src.shape[axis]
    if length == 0:
        return x
    if start == 0 and step == 1 and sizes_equal(length, size):
        return src
    placed = spread(ctx, src, axis, start, step, size, 0)
    line = spread(ctx, ctx.full(True, DType.BOOL, (length,)), 0, start, step, size, False)
    mask = ctx.expand_to(ctx.reshape(line, [size if a == axis else 1 for a in range(x.rank)]), x.shape)
    return ctx.add(Op.WHERE, mask, placed, x)
