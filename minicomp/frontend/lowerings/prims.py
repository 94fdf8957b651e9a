"""torch.prims ops that torch's own decompositions (layer_norm, var_mean, ...) leave in the graph.

Prims are already broadcast and promoted, so most map one-to-one onto our primitives.
"""

from __future__ import annotations

import sympy
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, ir_dtype, normalize_axis, register, sym
from minicomp.ir import DType, Op, Value

prims = ops.prims

SAME_OP = {
    prims.add: Op.ADD, prims.sub: Op.SUB, prims.mul: Op.MUL, prims.maximum: Op.MAXIMUM,
    prims.minimum: Op.MINIMUM, prims.eq: Op.EQ, prims.ne: Op.NE, prims.lt: Op.LT, prims.le: Op.LE,
    prims.gt: Op.GT, prims.ge: Op.GE, prims.neg: Op.NEG, prims.abs: Op.ABS, prims.exp: Op.EXP,
    prims.log: Op.LOG, prims.sqrt: Op.SQRT, prims.rsqrt: Op.RSQRT, prims.sin: Op.SIN, prims.cos: Op.COS,
    prims.tanh: Op.TANH, prims.erf: Op.ERF, prims.log1p: Op.LOG1P, prims.expm1: Op.EXPM1,
    prims.floor: Op.FLOOR, prims.ceil: Op.CEIL, prims.trunc: Op.TRUNC, prims.reciprocal: Op.RECIPROCAL,
    prims.pow: Op.POW, prims.fmod: Op.FMOD, prims.remainder: Op.REMAINDER, prims.atan2: Op.ATAN2,
}
REDUCE = {prims.sum: Op.SUM, prims.amax: Op.MAX, prims.amin: Op.MIN, prims.prod: Op.PROD}


def _same_op(op: Op):
    def lower(ctx: Context, *args: Value) -> Value:
        dtype = next(a.dtype for a in args if isinstance(a, Value))
        return ctx.elementwise(op, *args, dtype=dtype)
    return lower


def _reduce(op: Op):
    def lower(ctx: Context, x: Value, dims, *, output_dtype=None) -> Value:
        axes = _axes(dims, x.rank)
        result = ctx.add(op, x, axes=axes, keepdim=False)
        return ctx.cast(result, ir_dtype(output_dtype)) if output_dtype is not None else result
    return lower


for _target, _op in SAME_OP.items():
    register(_target.default)(_same_op(_op))
for _target, _op in REDUCE.items():
    register(_target.default)(_reduce(_op))


def _axes(dims, rank: int) -> tuple:
    if dims is None:
        return tuple(range(rank))
    return tuple(sorted({normalize_axis(d, rank) for d in dims}))


@register(prims.div.default)
def div(ctx: Context, a: Value, b: Value) -> Value:
    dtype = a.dtype if isinstance(a, Value) else b.dtype
    if not dtype.is_float:
        raise Unsupported("prims.div on integers rounds toward zero")
    return ctx.elementwise(Op.DIV, a, b, dtype=dtype)


@register(prims.var.default)
def var(ctx: Context, x: Value, dims, correction=1, *, output_dtype=None) -> Value:
    """Two-pass variance: mean, then the mean of squared deviations with `correction`."""
    if not x.dtype.is_float:
        raise Unsupported("variance of a non-float tensor")
    axes = _axes(dims, x.rank)
    count = sympy.Mul(*[x.shape[a] for a in axes]) if axes else sympy.Integer(1)
    total = ctx.add(Op.SUM, x, axes=axes, keepdim=True)
    mean = ctx.elementwise(Op.DIV, total, float(count) if count.is_number else count, dtype=x.dtype)
    deviation = ctx.add(Op.SUB, *ctx.broadcast(x, mean))
    squares = ctx.add(Op.SUM, ctx.add(Op.MUL, deviation, deviation), axes=axes, keepdim=False)
    if count.is_number:
        divisor = max(float(count) - float(correction), 0.0)
    elif float(correction) == int(correction):
        divisor = sympy.Max(count - int(correction), 0)
    else:
        raise Unsupported("a fractional correction over a dynamic number of elements")
    result = ctx.elementwise(Op.DIV, squares, divisor, dtype=x.dtype)
    return ctx.cast(result, ir_dtype(output_dtype)) if output_dtype is not None else result


@register(prims.broadcast_in_dim.default)
def broadcast_in_dim(ctx: Context, x: Value, shape, broadcast_dimensions) -> Value:
    keep = [1] * len(shape)
    for source_axis, target_axis in enumerate(broadcast_dimensions):
        keep[target_axis] = x.shape[source_axis]
    return ctx.expand_to(ctx.reshape(x, keep), shape)


@register(prims.where.default)
def where(ctx: Context, condition: Value, a, b) -> Value:
    dtype = a.dtype if isinstance(a, Value) else b.dtype
    values = [condition, ctx.as_value(a, dtype), ctx.as_value(b, dtype)]
    return ctx.add(Op.WHERE, *ctx.broadcast(*values))


@register(prims.squeeze.default)
def squeeze(ctx: Context, x: Value, dimensions) -> Value:
    drop = {normalize_axis(d, x.rank) for d in dimensions}
    return ctx.reshape(x, [s for i, s in enumerate(x.shape) if i not in drop])


@register(prims.reshape.default)
def reshape(ctx: Context, x: Value, shape) -> Value:
    return ctx.reshape(x, shape)


@register(prims.collapse_view.default)
def collapse_view(ctx: Context, x: Value, start: int, end: int) -> Value:
    merged = sympy.Mul(*x.shape[start:end])
    return ctx.reshape(x, list(x.shape[:start]) + [merged] + list(x.shape[end:]))


@register(prims.split_dim.default)
def split_dim(ctx: Context, x: Value, dim: int, outer_length) -> Value:
    dim = normalize_axis(dim, x.rank)
    outer = sym(outer_length)
    inner = sympy.simplify(x.shape[dim] / outer)
    return ctx.reshape(x, list(x.shape[:dim]) + [outer, inner] + list(x.shape[dim + 1:]))


@register(prims.view_of.default)
def view_of(ctx: Context, x: Value) -> Value:
    return x


@register(prims.transpose.default)
def transpose(ctx: Context, x: Value, permutation) -> Value:
    if list(permutation) == list(range(x.rank)):
        return x
    return ctx.add(Op.PERMUTE, x, dims=tuple(permutation))


@register(prims.full.default)
def full(ctx: Context, shape, fill_value, *, dtype, device=None, requires_grad=False) -> Value:
    return ctx.full(fill_value, ir_dtype(dtype), shape)


@register(prims.iota.default)
def iota(ctx: Context, length, *, start, step, dtype, device=None, requires_grad=False) -> Value:
    ir = ir_dtype(dtype)
    if ir.is_float or ir is DType.BOOL:
        raise Unsupported("prims.iota is integer-only")
    return ctx.add(Op.IOTA, length=sym(length), start=int(start), step=int(step), dtype=ir)
