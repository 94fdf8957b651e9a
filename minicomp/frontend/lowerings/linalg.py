"""Matrix products and convolutions -> the extern ops MATMUL and CONV (plus layout ops around them).

The decomposition table already turns baddbmm/matmul into mm or bmm plus pointwise ops, and dot/mv
into mul + sum, so mm, bmm and a plain addmm (a Linear layer: MATMUL with a bias) are the products
that reach us. convolution_backward
becomes convolutions of re-laid-out tensors: exact, and it keeps CNN training off the fallback path.
A transposed convolution is the input gradient of a plain one, so it reuses that code.
"""

from __future__ import annotations

from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, register, sym
from minicomp.frontend.lowerings.views import flip_axes, interleave, pad_or_crop, permute_axes, slice_axis
from minicomp.ir import Op, Value
from minicomp.ir.shapes import sizes_equal

aten = ops.aten


@register(aten.mm, aten.bmm)
def matmul(ctx: Context, a: Value, b: Value) -> Value:
    if a.dtype != b.dtype:
        raise Unsupported(f"product of {a.dtype!r} and {b.dtype!r}")
    return ctx.add(Op.MATMUL, a, b)


@register(aten.addmm.default)
def addmm(ctx: Context, bias: Value, a: Value, b: Value, *, beta=1, alpha=1) -> Value:
    """bias + a @ b in one extern call (the decomposition table lets only beta = alpha = 1 through)."""
    if beta != 1 or alpha != 1 or not (bias.dtype == a.dtype == b.dtype):
        raise Unsupported("addmm with scaling factors or mixed dtypes")
    if not (bias.rank == 1 and sizes_equal(bias.shape[0], b.shape[1])):
        bias = ctx.expand_to(bias, (a.shape[0], b.shape[1]))  # a bias of another shape: broadcast (a view)
    return ctx.add(Op.MATMUL, a, b, bias)


def conv(ctx: Context, x: Value, weight: Value, bias, stride, padding, dilation, groups: int) -> Value:
    """One CONV node, attrs as plain int lists; bias may be None."""
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ctx.add(Op.CONV, *inputs, stride=list(stride), padding=list(padding), dilation=list(dilation),
                   groups=groups)


def check_conv(values: list, stride, padding, dilation, groups) -> None:
    """Raise Unsupported for what CONV does not express: mixed dtypes, symbolic attrs."""
    x, weight = values[0], values[1]
    if x.rank != weight.rank or x.rank < 3:
        raise Unsupported(f"convolution of a rank-{x.rank} input with a rank-{weight.rank} weight")
    if len({v.dtype for v in values if v is not None}) != 1:
        raise Unsupported("convolution operands of different dtypes")
    for name, numbers in (("stride", stride), ("padding", padding), ("dilation", dilation)):
        if len(numbers) != x.rank - 2 or not all(isinstance(n, int) for n in numbers):
            raise Unsupported(f"convolution {name} {numbers}")
    if not isinstance(groups, int):
        raise Unsupported(f"convolution groups {groups}")


@register(aten.convolution.default)
def convolution(ctx: Context, x: Value, weight: Value, bias, stride, padding, dilation, transposed,
                output_padding, groups) -> Value:
    check_conv([x, weight, bias], stride, padding, dilation, groups)
    if not transposed:
        return conv(ctx, x, weight, bias, stride, padding, dilation, groups)
    if not all(size.is_Integer for size in weight.shape[2:]):
        raise Unsupported("transposed convolution with a dynamic kernel size")
    sizes = ctx.fx_node.meta["val"].shape[2:]
    return input_grad(ctx, x, sizes, weight, stride, padding, dilation, groups, bias)


def input_grad(ctx: Context, grad: Value, sizes, weight: Value, stride, padding, dilation, groups,
               bias=None) -> Value:
    """d(conv)/dx (x of spatial `sizes`) as a stride-1 convolution of the spread-out grad with the flipped
    weight; the same map is a transposed convolution of `grad` (output_padding is in `sizes`).

    Output j reads input j*stride - padding + k*dilation, so input i gets grad[j] * w[k] wherever
    j*stride + k*dilation = i + padding: put stride-1 zeros between grad entries, pad it by
    dilation*(K-1) - padding in front (crop if negative) and to length L + dilation*(K-1) in all, then
    correlate (same dilation) with the weight reversed along k, in/out channels swapped in each group.
    """
    out_channels, group_in = weight.shape[0], weight.shape[1]
    kernel = weight.shape[2:]
    spatial = len(kernel)
    pads = [(0, 0), (0, 0)]
    for i in range(spatial):
        grad = interleave(ctx, grad, 2 + i, stride[i], 0)
        reach = dilation[i] * (kernel[i] - 1)
        pads.append((reach - padding[i], sym(sizes[i]) + padding[i] - grad.shape[2 + i]))
    grad = pad_or_crop(ctx, grad, pads, 0)
    per_group = ctx.reshape(weight, (groups, out_channels // groups, group_in, *kernel))
    swapped = permute_axes(ctx, per_group, (0, 2, 1, *range(3, 3 + spatial)))
    swapped = ctx.reshape(swapped, (groups * group_in, out_channels // groups, *kernel))
    flipped = flip_axes(ctx, swapped, range(2, 2 + spatial))
    return conv(ctx, grad, flipped, bias, [1] * spatial, [0] * spatial, dilation, groups)


def weight_grad(ctx: Context, grad: Value, x: Value, weight: Value, stride, padding, dilation, groups) -> Value:
    """d(conv)/dw as a convolution with batch and channels swapped: x is the input, grad the kernel.

    dw[o, c, k] = sum over n, j of grad[n, o, j] * x_padded[n, c, j*stride + k*dilation]: a correlation
    over j (kernel step `stride`) at outputs k (step `dilation`), with the batch n as the channel
    axis, grouped so that output channel o only sees the inputs of its group; the result may have
    more than K positions (the tail the forward never reached) and is sliced back to K.
    """
    batch = x.shape[0]
    group_in = weight.shape[1]
    spatial_x = tuple(x.shape[2:])
    spatial = len(spatial_x)
    grouped = ctx.reshape(x, (batch, groups, group_in, *spatial_x))
    grouped = permute_axes(ctx, grouped, (2, 1, 0, *range(3, 3 + spatial)))
    grouped = ctx.reshape(grouped, (group_in, groups * batch, *spatial_x))
    kernel = permute_axes(ctx, grad, (1, 0, *range(2, 2 + spatial)))
    result = conv(ctx, grouped, kernel, None, dilation, padding, stride, groups)
    for i in range(spatial):
        result = slice_axis(ctx, result, 2 + i, 0, weight.shape[2 + i])
    return permute_axes(ctx, result, (1, 0, *range(2, 2 + spatial)))


@register(aten.convolution_backward.default)
def convolution_backward(ctx: Context, grad: Value, x: Value, weight: Value, bias_sizes, stride, padding,
                         dilation, transposed, output_padding, groups, output_mask) -> tuple:
    """(grad_input, grad_weight, grad_bias), each None where output_mask says it is not needed."""
    check_conv([grad, x, weight], stride, padding, dilation, groups)
    if not all(size.is_Integer for size in weight.shape[2:]):
        raise Unsupported("convolution_backward with a dynamic kernel size")
    args = (stride, padding, dilation, groups)
    if transposed:
        # the transposed convolution is the adjoint of the plain one: its input grad is a plain
        # convolution of grad (cropped: output_padding can leave a longer result), and its weight
        # grad is the plain weight grad with the roles of grad and input swapped
        grad_input = None
        if output_mask[0]:
            grad_input = conv(ctx, grad, weight, None, stride, padding, dilation, groups)
            for i in range(x.rank - 2):
                grad_input = slice_axis(ctx, grad_input, 2 + i, 0, x.shape[2 + i])
        grad_weight = weight_grad(ctx, x, grad, weight, *args) if output_mask[1] else None
    else:
        grad_input = input_grad(ctx, grad, x.shape[2:], weight, *args) if output_mask[0] else None
        grad_weight = weight_grad(ctx, grad, x, weight, *args) if output_mask[1] else None
    grad_bias = None
    if output_mask[2]:
        axes = (0, *range(2, grad.rank))
        grad_bias = ctx.add(Op.SUM, grad, axes=axes, keepdim=False)
    return grad_input, grad_weight, grad_bias
