"""Layout ATen ops -> RESHAPE/PERMUTE/EXPAND/SLICE/CAT/PAD (and WHERE/GATHER where a copy needs them).

Views, slicing, diagonal and unfold are index arithmetic; cat, pad, repeat and flip copy; the
*_scatter ops (the backward of a view) write into a slice through PAD and a WHERE with a bool mask.

Sizes may be symbolic. Where torch clamps a slice bound and sympy cannot tell whether the clamp
applies, we take the in-range case; torch guarded the same case while tracing, and lower.py compares
every output shape with torch's, so a wrong guess becomes a fallback, never a wrong value.
"""

from __future__ import annotations

import math

import sympy
import torch
from torch import ops
from torch._prims_common import is_non_overlapping_and_dense_or_false

from minicomp.errors import UnsupportedOpError
from minicomp.frontend.lowerings.common import Context, Unsupported, normalize_axis, register, sym
from minicomp.ir import DType, Op, Value

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


def element_positions(source, size, stride, storage_offset) -> torch.Tensor | None:
    """For as_strided(source, size, stride, offset): the row-major flat index in `source` of each element
    read, in row-major order of the result; None when a read storage position holds none of source's
    elements (eager would read the rest of the storage, which the IR's values do not hold) or sizes are
    symbolic. `source` is torch's fake tensor: it carries eager's strides and storage offset, which
    need not be row-major (an input view, a transposed intermediate)."""
    offset = source.storage_offset() if storage_offset is None else storage_offset
    numbers = [*size, *stride, offset, *source.shape, *source.stride(), source.storage_offset()]
    if not all(isinstance(n, int) for n in numbers):
        return None
    if math.prod(size) == 0:
        return torch.zeros(0, dtype=torch.int64)
    if source.numel() == 0:
        return None
    last_read = offset + sum((n - 1) * step for n, step in zip(size, stride))
    last_held = source.storage_offset() + sum((n - 1) * step for n, step in zip(source.shape, source.stride()))
    owner = torch.full((max(last_read, last_held) + 1,), -1, dtype=torch.int64)  # storage position -> element
    flat = torch.arange(source.numel()).reshape(source.shape)
    # along a broadcast (stride 0) axis every element has the same value: the first one stands for all
    kept = tuple(slice(0, 1) if step == 0 else slice(None) for step in source.stride())
    shape = flat[kept].shape
    try:
        owner.as_strided(shape, source.stride(), source.storage_offset()).copy_(flat[kept])
    except RuntimeError:  # source's elements overlap in other ways: which one a position holds is unclear
        return None
    positions = owner.as_strided(tuple(size), tuple(stride), offset).reshape(-1)
    return None if bool((positions < 0).any()) else positions


def read_in_axis_order(source, size, stride, storage_offset) -> list[int] | None:
    """The axes of `source` (size-1 axes left out) in the order as_strided reads them, when it reads exactly
    source's own elements with source's own sizes and strides, only permuted: the layout AOTAutograd
    restores after a reduction of a channels_last tensor. Sizes may be symbolic. None otherwise."""
    offset = source.storage_offset() if storage_offset is None else storage_offset
    if not is_non_overlapping_and_dense_or_false(source) or sym(offset) != sym(source.storage_offset()):
        return None
    held: dict[tuple, list[int]] = {}  # (size, stride) of each axis longer than 1 -> those axes
    for axis, (length, step) in enumerate(zip(source.shape, source.stride())):
        if sym(length) != 1:
            held.setdefault((sym(length), sym(step)), []).append(axis)
    order = []
    for length, step in zip(size, stride):
        if sym(length) != 1:
            axes = held.get((sym(length), sym(step)))
            if not axes:
                return None
            order.append(axes.pop(0))
    return None if any(held.values()) else order


def is_row_major(shape, stride) -> bool:
    """Are these strides the row-major ones of `shape` (size-1 axes aside)? Sizes may be symbolic."""
    expected = sympy.Integer(1)
    for length, step in reversed(list(zip(shape, stride))):
        if sym(length) != 1:
            if sym(step) != expected:
                return False
            expected = expected * sym(length)
    return True


def reads_all_in_row_major(shape, stride, offset, size, read_stride, read_offset) -> bool:
    """Does a strided read (size, read_stride, read_offset) find exactly the elements of a row-major layout
    (shape, stride, offset), in their order? Then as_strided is a reshape, also with symbolic sizes."""
    count = sympy.Integer(1)
    for length in shape:
        count = count * sym(length)
    read = sympy.Integer(1)
    for length in size:
        read = read * sym(length)
    return (is_row_major(shape, stride) and is_row_major(size, read_stride)
            and sym(offset) == sym(read_offset) and sympy.expand(count - read) == 0)


def unknown_layout(ctx: Context, name: str) -> UnsupportedOpError:
    """The error sending a graph to torch whole: its values' storage is unknown to minicomp, so a fallback
    of this one op could not see the storage eager's op reads."""
    return UnsupportedOpError(
        f"{ctx.fx_node.target}: {name} reaches storage that holds none of its input's elements, or its input's "
        "layout overlaps or has sizes known only at run time; minicomp keeps values, not their storage, so it "
        "cannot tell what eager reads or writes there. Pass options={'fallback': True} to run this graph with torch",
        op=str(ctx.fx_node.target), source=ctx.graph.source)


@register(aten.as_strided, aten.as_strided_copy)
def as_strided(ctx: Context, x: Value, size, stride, storage_offset=None) -> Value:
    """A permute where it reads x's elements in another order of x's axes; else a GATHER from the flattened
    input at the elements eager's strided read finds in storage (a RESHAPE when they are 0, 1, 2, ...); the
    whole graph goes to torch where they are not all x's elements or sizes are symbolic."""
    source = ctx.fx_node.args[0].meta["val"]
    offset = source.storage_offset() if storage_offset is None else storage_offset
    if reads_all_in_row_major(source.shape, source.stride(), source.storage_offset(), size, stride, offset):
        return ctx.reshape(x, output_shape(ctx))
    order = read_in_axis_order(source, size, stride, storage_offset)
    if order is not None:  # x's own elements, its axes in another order: a permute, with symbolic sizes too
        kept = sorted(order)
        squeezed = ctx.reshape(x, tuple(x.shape[axis] for axis in kept))
        return ctx.reshape(permute_axes(ctx, squeezed, [kept.index(axis) for axis in order]), output_shape(ctx))
    positions = element_positions(source, size, stride, storage_offset)
    if positions is None:
        raise unknown_layout(ctx, "as_strided")
    if torch.equal(positions, torch.arange(int(x.numel))):
        return ctx.reshape(x, output_shape(ctx))
    gathered = ctx.add(Op.GATHER, ctx.reshape(x, (x.numel,)), ctx.constant(positions), axis=0)
    return ctx.reshape(gathered, output_shape(ctx))


@register(aten.as_strided_scatter)
def as_strided_scatter(ctx: Context, x: Value, src: Value, size, stride, storage_offset=None) -> Value:
    """src written into the flattened x at the strided positions: SCATTER assign, when no two coincide.
    Eager writes into x.clone(), which keeps x's strides (when they are dense and do not overlap) at
    storage offset 0; any other x, or a write outside the clone's elements, sends the whole graph to torch."""
    source = ctx.fx_node.args[0].meta["val"]
    if reads_all_in_row_major(source.shape, source.stride(), 0, size, stride, storage_offset or 0):
        return ctx.reshape(ctx.cast(src, x.dtype), x.shape)  # every element of the clone is written, in order
    if not is_non_overlapping_and_dense_or_false(source):
        raise unknown_layout(ctx, "as_strided_scatter")
    clone = torch.empty_strided(source.shape, source.stride(), dtype=source.dtype, device="meta")
    positions = element_positions(clone, size, stride, storage_offset)
    if positions is None:
        raise unknown_layout(ctx, "as_strided_scatter")
    if positions.unique().numel() != positions.numel():  # torch's order of the writes is its own: a fallback
        if not source.is_contiguous():  # sees eager's layout only where it is row-major
            raise unknown_layout(ctx, "as_strided_scatter")
        raise Unsupported("as_strided_scatter writing one position twice")
    flat = ctx.reshape(x, (x.numel,))
    values = ctx.reshape(ctx.cast(src, x.dtype), (sympy.Integer(positions.numel()),))
    written = ctx.add(Op.SCATTER, flat, ctx.constant(positions), values, axis=0, reduce="assign")
    return ctx.reshape(written, x.shape)


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
    if step == 1 and start == 0 and sympy.simplify(stop - size) == 0:
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
    if start == 0 and sympy.simplify(size - covered) == 0:
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
    if start == 0 and step == 1 and sympy.simplify(length - size) == 0:
        return src
    placed = spread(ctx, src, axis, start, step, size, 0)
    line = spread(ctx, ctx.full(True, DType.BOOL, (length,)), 0, start, step, size, False)
    mask = ctx.expand_to(ctx.reshape(line, [size if a == axis else 1 for a in range(x.rank)]), x.shape)
    return ctx.add(Op.WHERE, mask, placed, x)
