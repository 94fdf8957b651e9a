"""Elementwise ATen ops -> elementwise primitives, with torch's promotion and broadcasting."""

from __future__ import annotations

import math

from minicomp.frontend.lowerings.common import INT_TO_FLOAT, Context, Unsupported, ir_dtype, register
from minicomp.ir import DType, Op, Value
from torch import ops

aten = ops.aten
prims = ops.prims

FLOAT_UNARY = {
    aten.exp: Op.EXP, aten.log: Op.LOG, aten.log1p: Op.LOG1P, aten.expm1: Op.EXPM1,
    aten.sqrt: Op.SQRT, aten.rsqrt: Op.RSQRT, aten.reciprocal: Op.RECIPROCAL, aten.sin: Op.SIN,
    aten.cos: Op.COS, aten.tan: Op.TAN, aten.tanh: Op.TANH, aten.atan: Op.ATAN, aten.erf: Op.ERF,
}
SAME_TYPE_UNARY = {
    aten.neg: Op.NEG, aten.abs: Op.ABS, aten.floor: Op.FLOOR, aten.ceil: Op.CEIL,
    aten.trunc: Op.TRUNC, aten.sign: Op.SIGN, aten.bitwise_not: Op.BITWISE_NOT,
}
ROUNDING = (Op.FLOOR, Op.CEIL, Op.TRUNC, Op.ROUND)
BINARY = {
    aten.mul: Op.MUL, aten.maximum: Op.MAXIMUM, aten.minimum: Op.MINIMUM, aten.fmod: Op.FMOD,
    aten.remainder: Op.REMAINDER, aten.bitwise_and: Op.BITWISE_AND, aten.bitwise_or: Op.BITWISE_OR,
    aten.bitwise_xor: Op.BITWISE_XOR, aten.floor_divide: Op.FLOORDIV,
}
COMPARE = {aten.eq: Op.EQ, aten.ne: Op.NE, aten.lt: Op.LT, aten.le: Op.LE, aten.gt: Op.GT, aten.ge: Op.GE}
LOGICAL = {aten.logical_and: Op.BITWISE_AND, aten.logical_or: Op.BITWISE_OR, aten.logical_xor: Op.BITWISE_XOR}


def _float_unary(op: Op):
    def lower(ctx: Context, x: Value) -> Value:
        return ctx.elementwise(op, x, dtype=ctx.promote(x, kind=INT_TO_FLOAT))
    return lower


def _same_type_unary(op: Op):
    def lower(ctx: Context, x: Value) -> Value:
        if op in ROUNDING and not x.dtype.is_float:
            return x  # rounding an integer is the identity
        if op is Op.NEG and x.dtype is DType.BOOL:
            raise Unsupported("neg of a bool tensor is an error in torch")
        return ctx.add(op, x)
    return lower


def _binary(op: Op):
    def lower(ctx: Context, a, b) -> Value:
        return ctx.elementwise(op, a, b, dtype=ctx.promote(a, b))
    return lower


def _compare(op: Op):
    def lower(ctx: Context, a, b) -> Value:
        return ctx.elementwise(op, a, b, dtype=ctx.promote(a, b))
    return lower


def _logical(op: Op):
    def lower(ctx: Context, a, b) -> Value:
        a_bool, b_bool = (ctx.elementwise(Op.NE, v, 0, dtype=v.dtype) if isinstance(v, Value) and v.dtype is not DType.BOOL
                          else (v if isinstance(v, Value) else bool(v)) for v in (a, b))
        return ctx.elementwise(op, a_bool, b_bool, dtype=DType.BOOL)
    return lower


for _table, _factory in ((FLOAT_UNARY, _float_unary), (SAME_TYPE_UNARY, _same_type_unary),
                         (BINARY, _binary), (COMPARE, _compare), (LOGICAL, _logical)):
    for _target, _op in _table.items():
        register(_target)(_factory(_op))


@register(aten.round.default)
def round_(ctx: Context, x: Value) -> Value:
    return ctx.add(Op.ROUND, x) if x.dtype.is_float else x


@register(aten.logical_not)
def logical_not(ctx: Context, x: Value) -> Value:
    as_bool = x if x.dtype is DType.BOOL else ctx.elementwise(Op.NE, x, 0, dtype=x.dtype)
    return ctx.add(Op.LOGICAL_NOT, as_bool)


@register(aten.add, aten.sub)
def add_sub(ctx: Context, a, b, *, alpha=1) -> Value:
    dtype = ctx.promote(a, b)
    if alpha != 1:
        b = ctx.elementwise(Op.MUL, b, alpha, dtype=dtype)
    op = Op.ADD if ctx.fx_node.target._opname == "add" else Op.SUB
    if op is Op.SUB and dtype is DType.BOOL:
        raise Unsupported("subtracting bool tensors is an error in torch")
    return ctx.elementwise(op, a, b, dtype=dtype)


@register(aten.rsub)
def rsub(ctx: Context, a, b, *, alpha=1) -> Value:
    dtype = ctx.promote(a, b)
    if alpha != 1:
        a = ctx.elementwise(Op.MUL, a, alpha, dtype=dtype)
    return ctx.elementwise(Op.SUB, b, a, dtype=dtype)


@register(aten.div)
def div(ctx: Context, a, b, *, rounding_mode=None) -> Value:
    if rounding_mode is None:
        return ctx.elementwise(Op.DIV, a, b, dtype=ctx.promote(a, b, kind=INT_TO_FLOAT))
    dtype = ctx.promote(a, b)
    if rounding_mode == "floor":
        return ctx.elementwise(Op.FLOORDIV, a, b, dtype=dtype)
    if dtype is DType.BOOL:
        raise Unsupported("bool division with rounding_mode='trunc'")
    if not dtype.is_float:  # a - fmod(a, b) is a multiple of b, so flooring its quotient is exact
        a, b = ctx.broadcast(ctx.as_value(a, dtype), ctx.as_value(b, dtype))
        return ctx.add(Op.FLOORDIV, ctx.add(Op.SUB, a, ctx.add(Op.FMOD, a, b)), b)
    return ctx.add(Op.TRUNC, ctx.elementwise(Op.DIV, a, b, dtype=dtype))


@register(aten.true_divide)
def true_divide(ctx: Context, a, b) -> Value:
    return div(ctx, a, b)


@register(aten.pow)
def pow_(ctx: Context, a, b) -> Value:
    dtype = ctx.promote(a, b)
    if not isinstance(b, Value) and b == 2:
        x = ctx.as_value(a, dtype)
        return ctx.add(Op.MUL, x, x)  # torch computes x**2 as x*x
    if not dtype.is_float and not isinstance(b, Value) and b < 0:
        raise Unsupported("integers to negative powers are an error in torch")
    if not dtype.is_float and isinstance(b, Value) and dtype is not DType.BOOL:
        return _integer_power(ctx, a, b, dtype)
    return ctx.elementwise(Op.POW, a, b, dtype=dtype)


def _integer_power(ctx: Context, a, b: Value, dtype: DType) -> Value:
    """Integer a ** b as torch computes it: a negative exponent gives 1 for a == 1, +-1 for a == -1, else 0."""
    base, exponent = ctx.broadcast(ctx.as_value(a, dtype), ctx.as_value(b, dtype))
    zero, one, minus_one = (ctx.full(v, dtype, base.shape) for v in (0, 1, -1))
    power = ctx.add(Op.POW, base, ctx.add(Op.MAXIMUM, exponent, zero))
    odd = ctx.add(Op.NE, ctx.add(Op.REMAINDER, exponent, ctx.full(2, dtype, base.shape)), zero)
    negative = ctx.add(Op.WHERE, ctx.add(Op.EQ, base, one), one,
                       ctx.add(Op.WHERE, ctx.add(Op.EQ, base, minus_one),
                               ctx.add(Op.WHERE, odd, minus_one, one), zero))
    return ctx.add(Op.WHERE, ctx.add(Op.LT, exponent, zero), negative, power)


@register(aten.bitwise_left_shift, aten.__lshift__, aten.bitwise_right_shift, aten.__rshift__)
def shift(ctx: Context, a, b) -> Value:
    """a << b as a wrapping multiply and a >> b as a floor division by 2**b, with torch's rules for shifts
    past the width: left gives 0, right gives a's sign (-1 or 0); negative shifts count as too wide."""
    dtype = ctx.promote(a, b)
    if dtype.is_float or dtype is DType.BOOL:
        raise Unsupported(f"bit shift of {dtype.value}")
    a, b = ctx.broadcast(ctx.as_value(a, dtype), ctx.as_value(b, dtype))
    bits = dtype.itemsize * 8
    left = ctx.fx_node.target._opname in ("bitwise_left_shift", "__lshift__")
    widest = bits if left or dtype is DType.UINT8 else bits - 1  # a signed right shift keeps the sign bit
    fits = ctx.elementwise(Op.BITWISE_AND, ctx.elementwise(Op.GE, b, 0, dtype=dtype),
                           ctx.elementwise(Op.LT, b, widest, dtype=dtype), dtype=DType.BOOL)
    amount = ctx.add(Op.WHERE, fits, b, ctx.full(0 if left else widest, dtype, b.shape))
    half = ctx.elementwise(Op.FLOORDIV, amount, 2, dtype=dtype)  # 2**amount in two factors: 2**(bits-1) overflows
    factors = [ctx.elementwise(Op.POW, 2, part, dtype=dtype) for part in (half, ctx.add(Op.SUB, amount, half))]
    if not left:
        return ctx.add(Op.FLOORDIV, ctx.add(Op.FLOORDIV, a, factors[0]), factors[1])
    product = ctx.add(Op.MUL, ctx.add(Op.MUL, a, factors[0]), factors[1])
    return ctx.add(Op.WHERE, fits, product, ctx.full(0, dtype, b.shape))


@register(aten.gcd, aten.lcm)
def gcd_lcm(ctx: Context, a, b) -> Value:
    """torch's Euclid loop on |a| and |b| (C remainders; |INT_MIN| stays negative, as in torch), unrolled
    to the most steps the type can need and frozen once done; lcm = |a / gcd * b| (0 when gcd is 0)."""
    dtype = ctx.promote(a, b)
    if not dtype.is_integer:
        raise Unsupported(f"gcd of {dtype.value}")
    a, b = ctx.broadcast(ctx.as_value(a, dtype), ctx.as_value(b, dtype))
    x, y = ctx.add(Op.ABS, a), ctx.add(Op.ABS, b)
    zero, one = ctx.full(0, dtype, x.shape), ctx.full(1, dtype, x.shape)
    steps = math.ceil(1.4405 * dtype.itemsize * 8 + 1.6723) + 1  # Lame: Euclid's steps grow with log_phi
    for _ in range(steps):
        going = ctx.add(Op.NE, x, zero)
        x, y = (ctx.add(Op.WHERE, going, ctx.add(Op.FMOD, y, ctx.add(Op.WHERE, going, x, one)), zero),
                ctx.add(Op.WHERE, going, x, y))
    if ctx.fx_node.target._opname == "gcd":
        return y
    quotient = ctx.add(Op.FLOORDIV, a, ctx.add(Op.WHERE, ctx.add(Op.EQ, y, zero), one, y))  # exact: y divides a
    wide = DType.INT32 if dtype.itemsize < 4 else dtype  # C++ multiplies 8- and 16-bit ints as int, then wraps
    product = ctx.add(Op.ABS, ctx.add(Op.MUL, ctx.cast(quotient, wide), ctx.cast(b, wide)))
    return ctx.add(Op.WHERE, ctx.add(Op.EQ, y, zero), zero, ctx.cast(product, dtype))


@register(aten.atan2)
def atan2(ctx: Context, a, b) -> Value:
    return ctx.elementwise(Op.ATAN2, a, b, dtype=ctx.promote(a, b, kind=INT_TO_FLOAT))


@register(aten.relu)
def relu(ctx: Context, x: Value) -> Value:
    if x.dtype is DType.BOOL:
        raise Unsupported("relu of bool")
    return ctx.elementwise(Op.MAXIMUM, x, 0, dtype=x.dtype)


@register(aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar)
def where(ctx: Context, condition: Value, a, b) -> Value:
    dtype = ctx.out_dtype
    condition = condition if condition.dtype is DType.BOOL else ctx.elementwise(Op.NE, condition, 0, dtype=condition.dtype)
    values = [condition, ctx.as_value(a, dtype), ctx.as_value(b, dtype)]
    return ctx.add(Op.WHERE, *ctx.broadcast(*values))


@register(aten.clamp, aten.clamp_min, aten.clamp_max)
def clamp(ctx: Context, x: Value, *bounds, **kw) -> Value:
    name = ctx.fx_node.target._opname
    low, high = (bounds + (None, None))[:2] if name == "clamp" else ((bounds[0], None) if name == "clamp_min" else (None, bounds[0]))
    low, high = kw.get("min", low), kw.get("max", high)
    dtype = ctx.out_dtype
    result = ctx.cast(x, dtype)
    if low is not None:
        result = ctx.elementwise(Op.MAXIMUM, result, low, dtype=dtype)
    if high is not None:
        result = ctx.elementwise(Op.MINIMUM, result, high, dtype=dtype)
    return result


@register(aten._to_copy, prims.convert_element_type)
def to_copy(ctx: Context, x: Value, dtype=None, **kwargs) -> Value:
    device = kwargs.get("device")
    if device is not None and str(device) != str(ctx.fx_node.args[0].meta["val"].device):
        raise Unsupported("moving between devices")
    return ctx.cast(x, ir_dtype(dtype) if dtype is not None else ctx.out_dtype)


@register(aten.clone, aten.alias, aten.lift_fresh_copy, aten.detach)
def identity(ctx: Context, x: Value, **kwargs) -> Value:
    return x


@register(aten.isnan)
def isnan(ctx: Context, x: Value) -> Value:
    return ctx.add(Op.NE, x, x) if x.dtype.is_float else ctx.full(False, DType.BOOL, x.shape)
