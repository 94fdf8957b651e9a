"""Pooling ATen ops -> strided SLICEs of a PADded input, combined with ADD or a running maximum.

A pooling window is a product of one window per spatial axis, so every pool here works one axis at
a time: window j along an axis is the SLICE start j*dilation, step stride of the padded input. Sums
then match torch up to the order of the float additions (within assert_close defaults; low
precision inputs are summed in float32, as torch does). Maxima and their indices match torch
exactly: reducing the last axis first, then the one before, with "a larger value or a NaN replaces
the running one" composes to torch's row-major scan of the whole window (first maximum wins, the
last NaN wins). Padded positions carry index -1 and never win. Gradients go back by SCATTER (sum) at
the saved indices (max) or by spreading each window sum back with PAD (average).
"""

from __future__ import annotations

import sympy
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, register, sym
from minicomp.frontend.lowerings.views import is_true, pad_or_crop, slice_axis, spread
from minicomp.ir import DType, Op, Value

aten = ops.aten

LOW_PRECISION = (DType.FLOAT16, DType.BFLOAT16)


def spatial_params(value, count: int, default=None) -> list[int]:
    """A kernel/stride/padding/dilation argument as `count` ints (one int or an empty list mean all axes)."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        value = default
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * count
    if len(values) != count or not all(isinstance(v, int) for v in values):
        raise Unsupported(f"pooling argument {value} for {count} spatial axes")
    return values


def spatial_axes(ctx: Context) -> int:
    """How many trailing axes the op being lowered pools over: 3 for the *3d ops, else 2."""
    return 3 if "3d" in ctx.fx_node.target.name() else 2


def meta_shape(ctx: Context, index: int = 0) -> tuple:
    """Shape of torch's `index`-th output of the node being lowered."""
    value = ctx.fx_node.meta["val"]
    value = value[index] if isinstance(value, (tuple, list)) else value
    return tuple(sym(s) for s in value.shape)


def accumulate_dtype(dtype: DType) -> DType:
    """The dtype torch sums pools in: float32 for half and bfloat16, else the input's own."""
    if not dtype.is_float:
        raise Unsupported(f"average pooling of {dtype!r}")
    return DType.FLOAT32 if dtype in LOW_PRECISION else dtype


def window_slices(ctx: Context, x: Value, axis: int, kernel: int, stride: int, dilation: int, pads,
                  outputs, fill) -> list[Value]:
    """Slice j holds, at output i, entry i*stride + j*dilation of x padded by pads = (low, high) `fill`s.

    The caller's pads must cover the last window: torch's padding, plus stride - 1 at the far end in
    ceil mode (torch drops a last window that would start in the far padding, so that is enough).
    """
    reach = (outputs - 1) * stride + (kernel - 1) * dilation + 1
    if is_true(reach > x.shape[axis] + pads[0] + pads[1]):
        raise Unsupported(f"pooling windows reach past the padded axis ({reach} > {x.shape[axis]} + {pads})")
    padding = [(0, 0)] * x.rank
    padding[axis] = pads
    padded = pad_or_crop(ctx, x, padding, fill)
    span = (outputs - 1) * stride + 1
    return [slice_axis(ctx, padded, axis, j * dilation, j * dilation + span, stride) for j in range(kernel)]


def total(ctx: Context, values: list[Value]) -> Value:
    """The sum of equally shaped values, left to right."""
    result = values[0]
    for value in values[1:]:
        result = ctx.add(Op.ADD, result, value)
    return result


def axis_pads(padding: int, stride: int, ceil_mode: bool) -> tuple:
    """(low, high) padding of one axis that holds every window torch computes."""
    return padding, padding + (stride - 1 if ceil_mode else 0)


# -- average pooling ----------------------------------------------------------------------------

def window_counts(ctx: Context, length, kernel: int, stride: int, pads: tuple, outputs,
                  include_pad: bool, dtype: DType) -> Value:
    """Per output along one axis, how many entries torch divides by: the window within the padded
    axis (count_include_pad) or within the input itself; pooling a vector of ones gives both."""
    low, high = pads
    if include_pad:
        ones, pads = ctx.full(1, dtype, (length + 2 * low,)), (0, high - low)
    else:
        ones = ctx.full(1, dtype, (length,))
    return total(ctx, window_slices(ctx, ones, 0, kernel, stride, 1, pads, outputs, 0))


def divisors(ctx: Context, shape: tuple, lengths, kernel, stride, pads, include_pad, divisor_override,
             dtype: DType) -> Value:
    """What each output window sum is divided by, broadcast to `shape` (the pooled shape)."""
    if divisor_override:
        return ctx.full(divisor_override, dtype, shape)
    spatial = len(lengths)
    result = None
    for i in range(spatial):
        axis = len(shape) - spatial + i
        counts = window_counts(ctx, lengths[i], kernel[i], stride[i], pads[i], shape[axis], include_pad, dtype)
        counts = ctx.reshape(counts, [shape[axis] if a == axis else 1 for a in range(len(shape))])
        result = counts if result is None else ctx.elementwise(Op.MUL, result, counts, dtype=dtype)
    return ctx.expand_to(result, shape)


@register(aten.avg_pool2d, aten.avg_pool3d)
def avg_pool(ctx: Context, x: Value, kernel_size, stride=(), padding=0, ceil_mode=False,
             count_include_pad=True, divisor_override=None) -> Value:
    """Window sums one axis at a time, divided by torch's count."""
    spatial = spatial_axes(ctx)
    kernel = spatial_params(kernel_size, spatial)
    stride = spatial_params(stride, spatial, kernel)
    pads = [axis_pads(p, s, ceil_mode) for p, s in zip(spatial_params(padding, spatial), stride)]
    outputs = meta_shape(ctx)[-spatial:]
    dtype = accumulate_dtype(x.dtype)
    work = ctx.cast(x, dtype)
    for i in range(spatial):
        axis = x.rank - spatial + i
        work = total(ctx, window_slices(ctx, work, axis, kernel[i], stride[i], 1, pads[i], outputs[i], 0))
    lengths = x.shape[-spatial:]
    divisor = divisors(ctx, work.shape, lengths, kernel, stride, pads, count_include_pad, divisor_override,
                       dtype)
    return ctx.cast(ctx.add(Op.DIV, work, divisor), x.dtype)




def spread_windows(ctx: Context, grad: Value, axis: int, kernel: int, stride: int, pads, length) -> Value:
    """The transpose of window_slices + total: each output's value added to every entry of its window
    on the padded axis, then the padding cut off."""
    low, high = pads
    result = total(ctx, [spread(ctx, grad, axis, j, stride, length + low + high, 0) for j in range(kernel)])
    return slice_axis(ctx, result, axis, low, low + length)


@register(aten.avg_pool2d_backward, aten.avg_pool3d_backward)
def avg_pool_backward(ctx: Context, grad: Value, x: Value, kernel_size, stride, padding,
                      ceil_mode, count_include_pad, divisor_override) -> Value:
    """grad / count spread back over each window, one axis at a time."""
    spatial = spatial_axes(ctx)
    kernel = spatial_params(kernel_size, spatial)
    stride = spatial_params(stride, spatial, kernel)
    pads = [axis_pads(p, s, ceil_mode) for p, s in zip(spatial_params(padding, spatial), stride)]
    dtype = accumulate_dtype(grad.dtype)
    lengths = x.shape[-spatial:]
    work = ctx.cast(grad, dtype)
    divisor = divisors(ctx, work.shape, lengths, kernel, stride, pads, count_include_pad, divisor_override,
                       dtype)
    work = ctx.add(Op.DIV, work, divisor)
    for i in range(spatial):
        axis = x.rank - spatial + i
        work = spread_windows(ctx, work, axis, kernel[i], stride[i], pads[i], lengths[i])
    return ctx.cast(work, ctx.out_dtype)




# -- max pooling --------------------------------------------------------------------------------

def flat_positions(ctx: Context, x: Value, spatial: int) -> Value:
    """int64 tensor like x holding each entry's row-major position within its spatial plane."""
    lengths = tuple(x.shape[-spatial:])
    plane = ctx.add(Op.IOTA, length=sympy.Mul(*lengths), start=0, step=1, dtype=DType.INT64)
    plane = ctx.reshape(plane, (1,) * (x.rank - spatial) + lengths)
    return ctx.expand_to(plane, x.shape)


def running_max(ctx: Context, candidates: list) -> tuple:
    """(value, index) pairs in scan order -> torch's pick: a larger value or a NaN replaces the
    running one; index -1 marks padding, which never wins and is always replaced."""
    best, where = candidates[0]
    for value, index in candidates[1:]:
        replace = ctx.add(Op.GT, value, best)
        if value.dtype.is_float:
            replace = ctx.add(Op.BITWISE_OR, replace, ctx.add(Op.NE, value, value))
        replace = ctx.add(Op.BITWISE_OR, replace, ctx.elementwise(Op.LT, where, 0, dtype=DType.INT64))
        replace = ctx.add(Op.BITWISE_AND, replace, ctx.elementwise(Op.GE, index, 0, dtype=DType.INT64))
        best = ctx.add(Op.WHERE, replace, value, best)
        where = ctx.add(Op.WHERE, replace, index, where)
    return best, where


def check_max_input(x: Value) -> None:
    if x.dtype is DType.BOOL:
        raise Unsupported("max pooling of bool")


@register(aten.max_pool2d_with_indices, aten.max_pool3d_with_indices)
def max_pool(ctx: Context, x: Value, kernel_size, stride=(), padding=0, dilation=1,
             ceil_mode=False) -> tuple:
    """(values, indices): a running maximum over the window slices, last spatial axis first."""
    spatial = spatial_axes(ctx)
    check_max_input(x)
    kernel = spatial_params(kernel_size, spatial)
    stride = spatial_params(stride, spatial, kernel)
    pads = [axis_pads(p, s, ceil_mode) for p, s in zip(spatial_params(padding, spatial), stride)]
    dilation = spatial_params(dilation, spatial)
    outputs = meta_shape(ctx)[-spatial:]
    value, index = x, flat_positions(ctx, x, spatial)
    for i in reversed(range(spatial)):
        axis = x.rank - spatial + i
        args = (axis, kernel[i], stride[i], dilation[i], pads[i], outputs[i])
        values = window_slices(ctx, value, *args, 0)
        indices = window_slices(ctx, index, *args, -1)
        value, index = running_max(ctx, list(zip(values, indices)))
    return value, index




def scatter_to_indices(ctx: Context, grad: Value, x: Value, indices: Value, spatial: int) -> Value:
    """Zeros like x plus grad added at the saved flat indices of each spatial plane."""
    dtype = accumulate_dtype(grad.dtype)
    lead = tuple(x.shape[:-spatial])
    outputs = sympy.Mul(*grad.shape[-spatial:])
    grad = ctx.reshape(ctx.cast(grad, dtype), lead + (outputs,))
    indices = ctx.reshape(indices, lead + (outputs,))
    zeros = ctx.full(0, dtype, lead + (sympy.Mul(*x.shape[-spatial:]),))
    result = ctx.add(Op.SCATTER, zeros, indices, grad, axis=len(lead), reduce="sum")
    return ctx.cast(ctx.reshape(result, x.shape), ctx.out_dtype)




# -- adaptive pooling ---------------------------------------------------------------------------

def adaptive_bounds(length, outputs) -> list[tuple[int, int]]:
    """torch's adaptive windows: output i reads [floor(i*L/O), ceil((i+1)*L/O)); static sizes only."""
    if not (sympy.sympify(length).is_Integer and sympy.sympify(outputs).is_Integer):
        raise Unsupported("adaptive pooling of a dynamic-size axis")
    length, outputs = int(length), int(outputs)
    return [(i * length // outputs, -(-(i + 1) * length // outputs)) for i in range(outputs)]


def adaptive_sum_axis(ctx: Context, x: Value, axis: int, outputs) -> tuple:
    """(window sums along `axis`, window lengths as a vector)."""
    bounds = adaptive_bounds(x.shape[axis], outputs)
    sizes = [end - start for start, end in bounds]
    if len(set(sizes)) == 1 and all(start == i * sizes[0] for i, (start, _) in enumerate(bounds)):
        shape = tuple(x.shape)
        split = ctx.reshape(x, shape[:axis] + (outputs, sizes[0]) + shape[axis + 1:])
        sums = ctx.add(Op.SUM, split, axes=(axis + 1,), keepdim=False)
    else:
        pieces = [ctx.add(Op.SUM, slice_axis(ctx, x, axis, start, end), axes=(axis,), keepdim=True)
                  for start, end in bounds]
        sums = ctx.add(Op.CAT, *pieces, axis=axis)
    return sums, sizes


def size_vector(ctx: Context, sizes: list[int], dtype: DType) -> Value:
    """A 1-D constant holding `sizes` (equal sizes become one FULL)."""
    if len(set(sizes)) == 1:
        return ctx.full(sizes[0], dtype, (len(sizes),))
    return ctx.add(Op.CAT, *[ctx.full(size, dtype, (1,)) for size in sizes], axis=0)


def adaptive_divisor(ctx: Context, shape: tuple, all_sizes: list, dtype: DType) -> Value:
    """The product of the per-axis window lengths, broadcast to the pooled `shape`."""
    spatial = len(all_sizes)
    result = None
    for i, sizes in enumerate(all_sizes):
        axis = len(shape) - spatial + i
        line = [shape[axis] if a == axis else 1 for a in range(len(shape))]
        vector = ctx.reshape(size_vector(ctx, sizes, dtype), line)
        result = vector if result is None else ctx.elementwise(Op.MUL, result, vector, dtype=dtype)
    return ctx.expand_to(result, shape)


@register(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d)
def adaptive_avg_pool(ctx: Context, x: Value, output_size) -> Value:
    """Window sums one axis at a time divided by the window areas."""
    spatial = spatial_axes(ctx)
    outputs = meta_shape(ctx)[-spatial:]
    dtype = accumulate_dtype(x.dtype)
    work, all_sizes = ctx.cast(x, dtype), []
    for i in range(spatial):
        work, sizes = adaptive_sum_axis(ctx, work, x.rank - spatial + i, outputs[i])
        all_sizes.append(sizes)
    work = ctx.add(Op.DIV, work, adaptive_divisor(ctx, work.shape, all_sizes, dtype))
    return ctx.cast(work, x.dtype)




def adaptive_spread_axis(ctx: Context, grad: Value, axis: int, length) -> Value:
    """The transpose of adaptive_sum_axis: each output's value copied over its window, overlaps added."""
    bounds = adaptive_bounds(length, grad.shape[axis])
    pieces = []
    for i, (start, end) in enumerate(bounds):
        one = slice_axis(ctx, grad, axis, i, i + 1)
        wide = ctx.expand_to(one, [end - start if a == axis else s for a, s in enumerate(grad.shape)])
        pads = [(0, 0)] * grad.rank
        pads[axis] = (start, int(length) - end)
        pieces.append(pad_or_crop(ctx, wide, pads, 0))
    return total(ctx, pieces)


@register(aten._adaptive_avg_pool2d_backward, aten._adaptive_avg_pool3d_backward)
def adaptive_avg_pool_backward(ctx: Context, grad: Value, x: Value) -> Value:
    """grad / window area spread back over each window, one axis at a time."""
    spatial = spatial_axes(ctx)
    dtype = accumulate_dtype(grad.dtype)
    lengths = x.shape[-spatial:]
    all_sizes = [[end - start for start, end in adaptive_bounds(lengths[i], grad.shape[x.rank - spatial + i])]
                 for i in range(spatial)]
    work = ctx.cast(grad, dtype)
    work = ctx.add(Op.DIV, work, adaptive_divisor(ctx, work.shape, all_sizes, dtype))
    for i in range(spatial):
        work = adaptive_spread_axis(ctx, work, x.rank - spatial + i, lengths[i])
    return ctx.cast(work, ctx.out_dtype)




@register(aten.adaptive_max_pool2d, aten.adaptive_max_pool3d)
def adaptive_max_pool(ctx: Context, x: Value, output_size) -> tuple:
    """(values, indices): a running maximum over window slices (equal windows) or, per output, over
    the single-entry slices of its window; last axis first."""
    spatial = spatial_axes(ctx)
    check_max_input(x)
    outputs = meta_shape(ctx)[-spatial:]
    value, index = x, flat_positions(ctx, x, spatial)
    for i in reversed(range(spatial)):
        axis = x.rank - spatial + i
        length = x.shape[axis]
        if adaptive_bounds(length, outputs[i]) and length % outputs[i] == 0:
            step = length // outputs[i]
            args = (axis, step, step, 1, (0, 0), outputs[i])
            pairs = zip(window_slices(ctx, value, *args, 0), window_slices(ctx, index, *args, -1))
            value, index = running_max(ctx, list(pairs))
            continue
        values, indices = [], []
        for start, end in adaptive_bounds(length, outputs[i]):
            candidates = [(slice_axis(ctx, value, axis, j, j + 1), slice_axis(ctx, index, axis, j, j + 1))
                          for j in range(start, end)]
            best, where = running_max(ctx, candidates)
            values.append(best)
            indices.append(where)
        value = values[0] if len(values) == 1 else ctx.add(Op.CAT, *values, axis=axis)
        index = indices[0] if len(indices) == 1 else ctx.add(Op.CAT, *indices, axis=axis)
    return value, index




@register(aten.max_pool2d_with_indices_backward, aten.max_pool3d_with_indices_backward)
def max_pool_backward(ctx: Context, grad: Value, x: Value, kernel_size, stride, padding, dilation,
                      ceil_mode, indices: Value) -> Value:
    return scatter_to_indices(ctx, grad, x, indices, spatial_axes(ctx))


@register(aten.adaptive_max_pool2d_backward, aten.adaptive_max_pool3d_backward)
def adaptive_max_pool_backward(ctx: Context, grad: Value, x: Value, indices: Value) -> Value:
    return scatter_to_indices(ctx, grad, x, indices, spatial_axes(ctx))
