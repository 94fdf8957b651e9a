"""Reductions (sum, mean, prod, amax/amin, max/min with indices, argmax/argmin, any/all) -> SUM..ARGMIN.

torch's rules followed here: an empty dim list means "all dims" for sum/mean/amax (but "no dim" for
any/all.dims); integer and bool sums and products are int64; half-precision means are computed in float32.
"""

from __future__ import annotations

import sympy
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, normalize_axis, register
from minicomp.ir import DType, Op, Value

aten = ops.aten


def reduction_axes(dims, rank: int, empty_means_all: bool = True) -> tuple:
    """Sorted non-negative axes for a torch `dim` argument (None, an int, or a list of ints)."""
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0 and empty_means_all):
        return tuple(range(rank))
    if isinstance(dims, int):
        dims = [dims]
    axes = sorted({normalize_axis(d, rank) for d in dims})
    return tuple(axes) if rank > 0 else ()


def reduced_count(x: Value, axes: tuple):
    """How many elements each output of a reduction over `axes` combines: an int, or a size expression."""
    count = sympy.Mul(*[x.shape[a] for a in axes]) if axes else sympy.Integer(1)
    return int(count) if count.is_Integer else count


def reduce(ctx: Context, op: Op, x: Value, axes: tuple, keepdim: bool) -> Value:
    """`op` over `axes`; over no axis at all it is the identity (torch reduces a 0-d tensor to itself)."""
    if not axes:
        return x
    return ctx.add(op, x, axes=axes, keepdim=bool(keepdim))


def _require_nonempty(x: Value, axes: tuple, name: str) -> None:
    if any(x.shape[a] == 0 for a in axes):
        raise Unsupported(f"{name} over a zero-size dimension is an error in torch")


@register(aten.sum.dim_IntList, aten.sum.default)
def sum_(ctx: Context, x: Value, dim=None, keepdim=False, *, dtype=None) -> Value:
    """Cast to torch's result dtype (int64 for ints and bools) and add up."""
    axes = reduction_axes(dim, x.rank)
    return reduce(ctx, Op.SUM, ctx.cast(x, ctx.out_dtype), axes, keepdim)


@register(aten.prod.dim_int, aten.prod.default)
def prod(ctx: Context, x: Value, dim=None, keepdim=False, *, dtype=None) -> Value:
    """Like sum: cast to torch's result dtype, then multiply."""
    axes = reduction_axes(dim, x.rank)
    return reduce(ctx, Op.PROD, ctx.cast(x, ctx.out_dtype), axes, keepdim)


@register(aten.mean.dim, aten.mean.default)
def mean(ctx: Context, x: Value, dim=None, keepdim=False, *, dtype=None) -> Value:
    """Sum, then divide by the count; float16/bfloat16 go through float32 like torch on CPU."""
    out = ctx.out_dtype
    if not out.is_float:
        raise Unsupported(f"mean with result dtype {out!r}")
    axes = reduction_axes(dim, x.rank)
    compute = DType.FLOAT32 if out.is_low_precision else out
    total = reduce(ctx, Op.SUM, ctx.cast(x, compute), axes, keepdim)
    return ctx.cast(ctx.elementwise(Op.DIV, total, reduced_count(x, axes), dtype=compute), out)


def _extreme(op: Op):
    def lower(ctx: Context, x: Value, dim=None, keepdim=False) -> Value:
        axes = reduction_axes(dim, x.rank)
        _require_nonempty(x, axes, op.value)
        return reduce(ctx, op, x, axes, keepdim)
    return lower


register(aten.amax.default)(_extreme(Op.MAX))
register(aten.amin.default)(_extreme(Op.MIN))


@register(aten.max.default, aten.min.default)
def max_min_all(ctx: Context, x: Value) -> Value:
    """The largest (smallest) element of the whole tensor; NaN wins, like torch."""
    op = Op.MAX if ctx.fx_node.target._opname == "max" else Op.MIN
    axes = tuple(range(x.rank))
    _require_nonempty(x, axes, op.value)
    return reduce(ctx, op, x, axes, False)


@register(aten.max.dim, aten.min.dim)
def max_min_dim(ctx: Context, x: Value, dim: int, keepdim=False) -> tuple:
    """(values, indices) along one dim: MAX and ARGMAX (first index of the extreme, NaN wins)."""
    is_max = ctx.fx_node.target._opname == "max"
    axes = reduction_axes(dim, x.rank)
    _require_nonempty(x, axes, "max" if is_max else "min")
    values = reduce(ctx, Op.MAX if is_max else Op.MIN, x, axes, keepdim)
    return values, _arg_extreme(ctx, Op.ARGMAX if is_max else Op.ARGMIN, x, axes, keepdim)


@register(aten.argmax.default, aten.argmin.default)
def argmax_argmin(ctx: Context, x: Value, dim=None, keepdim=False) -> Value:
    """Index of the first extreme along `dim`; dim=None indexes the flattened tensor."""
    op = Op.ARGMAX if ctx.fx_node.target._opname == "argmax" else Op.ARGMIN
    if x.dtype is DType.BOOL:  # torch raises "does not support bool input" when it runs: let it
        raise Unsupported(f"{op.value} of a bool tensor is an error in torch")
    if dim is not None:
        axes = reduction_axes(dim, x.rank)
        _require_nonempty(x, axes, op.value)
        return _arg_extreme(ctx, op, x, axes, keepdim)
    _require_nonempty(x, tuple(range(x.rank)), op.value)
    flat = _arg_extreme(ctx, op, ctx.reshape(x, (x.numel,)), (0,), False)
    return ctx.reshape(flat, (1,) * x.rank if keepdim else ())


def _arg_extreme(ctx: Context, op: Op, x: Value, axes: tuple, keepdim: bool) -> Value:
    if not axes:
        return ctx.full(0, DType.INT64, x.shape)  # a 0-d tensor is its own extreme, at index 0
    return ctx.add(op, x, axes=axes, keepdim=bool(keepdim))


@register(aten.any.dim, aten.any.dims, aten.any.default, aten.all.dim, aten.all.dims, aten.all.default)
def any_all(ctx: Context, x: Value, dim=None, keepdim=False) -> Value:
    """any = MAX of x != 0, all = MIN; over an empty extent any is False and all is True."""
    is_any = ctx.fx_node.target._opname == "any"
    axes = reduction_axes(dim, x.rank, empty_means_all=False)
    truth = x if x.dtype is DType.BOOL else ctx.elementwise(Op.NE, x, 0, dtype=x.dtype)
    if any(x.shape[a] == 0 for a in axes):
        shape = [1 if a in axes else s for a, s in enumerate(x.shape) if keepdim or a not in axes]
        result = ctx.full(not is_any, DType.BOOL, shape)
    else:
        result = reduce(ctx, Op.MAX if is_any else Op.MIN, truth, axes, keepdim)
    return ctx.cast(result, ctx.out_dtype)

