"""as_strided and as_strided_scatter: reads and writes of storage, lowered from eager's own layout.

The IR holds values, not storage. The fake tensor of the op's input (`meta["val"]`) carries eager's
strides and storage offset, which need not be row-major (an input view, a transposed intermediate);
from them each position read or written is mapped to the element of the input it holds. Where a
position holds none of the input's elements, or the layout cannot be known, the whole graph runs in
torch: a fallback of the one op would see a row-major copy, not eager's storage.
"""

from __future__ import annotations

import math

import sympy
import torch
from torch import ops
from torch._prims_common import is_non_overlapping_and_dense_or_false

from minicomp.errors import UnsupportedOpError
from minicomp.frontend.lowerings.common import Context, Unsupported, register, sym
from minicomp.frontend.lowerings.views import output_shape, permute_axes
from minicomp.ir import Op, Value

aten = ops.aten

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
