"""Elementwise math ATen ops without a primitive of their own, as short numerically careful formulas.

Each formula is accurate to a few ulps in float32 and float64 (torch.testing.assert_close's default
tolerances), including at 0, -0.0, inf, nan and the overflow edges. float16/bfloat16 inputs are
computed in float32 and rounded once at the end, as torch's kernels do.
"""

from __future__ import annotations

import math

from minicomp.frontend.lowerings.common import INT_TO_FLOAT, Context, Unsupported, register
from minicomp.ir import DType, Op, Value
from torch import ops

aten = ops.aten

LN2 = math.log(2.0)
LN10 = math.log(10.0)
LARGE = 2.0 ** 28  # beyond it sqrt(x*x + 1) == |x| and exp(-|x|) vanishes next to exp(|x|), even in float64
TINY = 2.0 ** -28  # below it sinh(x) == asinh(x) == x, even in float64


def apply(ctx: Context, op: Op, *args) -> Value:
    """`op` on Values and Python numbers, in the dtype of the first Value."""
    dtype = next(a.dtype for a in args if isinstance(a, Value))
    return ctx.elementwise(op, *args, dtype=dtype)


def horner(ctx: Context, x: Value, coefficients: list) -> Value:
    """sum(coefficients[k] * x^k)."""
    result = ctx.full(float(coefficients[-1]), x.dtype, x.shape)
    for coefficient in reversed(coefficients[:-1]):
        result = apply(ctx, Op.ADD, ctx.add(Op.MUL, result, x), float(coefficient))
    return result


def where(ctx: Context, condition: Value, a, b) -> Value:
    """where(condition, a, b) with a and b Values or Python numbers of the branches' dtype."""
    dtype = next(v.dtype for v in (a, b) if isinstance(v, Value))
    return ctx.add(Op.WHERE, *ctx.broadcast(condition, ctx.as_value(a, dtype), ctx.as_value(b, dtype)))


def float_unary(formula):
    """A unary lowering: promote integers to float, compute `formula` (float32 for 16-bit floats), round once."""
    def lower(ctx: Context, x: Value) -> Value:
        dtype = ctx.promote(x, kind=INT_TO_FLOAT)
        compute = DType.FLOAT32 if dtype.is_low_precision else dtype
        return ctx.cast(formula(ctx, ctx.cast(x, compute)), dtype)
    lower.__doc__ = formula.__doc__
    return lower


def odd(ctx: Context, x: Value, magnitude: Value) -> Value:
    """An odd function from its value at |x|: x itself near 0 (keeps -0.0), else the magnitude with x's sign."""
    signed = where(ctx, apply(ctx, Op.LT, x, 0), ctx.add(Op.NEG, magnitude), magnitude)
    return where(ctx, apply(ctx, Op.LT, ctx.add(Op.ABS, x), TINY), x, signed)


def one_minus_x_squared(ctx: Context, x: Value) -> Value:
    """(1 - x) * (1 + x): 1 - x*x without the cancellation near |x| = 1."""
    return apply(ctx, Op.MUL, apply(ctx, Op.SUB, 1, x), apply(ctx, Op.ADD, 1, x))


def asin(ctx: Context, x: Value) -> Value:
    """asin(x) = atan2(x, sqrt((1 - x)(1 + x))): nan outside [-1, 1]."""
    return ctx.add(Op.ATAN2, x, ctx.add(Op.SQRT, one_minus_x_squared(ctx, x)))


def acos(ctx: Context, x: Value) -> Value:
    """acos(x) = atan2(sqrt((1 - x)(1 + x)), x): accurate near 1 where acos is small."""
    return ctx.add(Op.ATAN2, ctx.add(Op.SQRT, one_minus_x_squared(ctx, x)), x)


def atanh(ctx: Context, x: Value) -> Value:
    """atanh(x) = (log1p(x) - log1p(-x)) / 2: the two terms have opposite signs, so nothing cancels."""
    difference = apply(ctx, Op.SUB, ctx.add(Op.LOG1P, x), ctx.add(Op.LOG1P, ctx.add(Op.NEG, x)))
    return apply(ctx, Op.MUL, difference, 0.5)


def acosh(ctx: Context, x: Value) -> Value:
    """acosh(x) = log1p(t + sqrt(t) sqrt(t + 2)) with t = x - 1 (nan below 1), and log(x) + log(2) for large x."""
    t = apply(ctx, Op.SUB, x, 1)
    root = ctx.add(Op.MUL, ctx.add(Op.SQRT, t), ctx.add(Op.SQRT, apply(ctx, Op.ADD, t, 2)))
    near = ctx.add(Op.LOG1P, apply(ctx, Op.ADD, t, root))
    far = apply(ctx, Op.ADD, ctx.add(Op.LOG, x), LN2)
    return where(ctx, apply(ctx, Op.GT, x, LARGE), far, near)


def asinh(ctx: Context, x: Value) -> Value:
    """asinh(|x|) = log1p(a + a^2 / (1 + sqrt(1 + a^2))), log(a) + log(2) for large a; odd."""
    a = ctx.add(Op.ABS, x)
    square = apply(ctx, Op.MUL, a, a)
    denominator = apply(ctx, Op.ADD, ctx.add(Op.SQRT, apply(ctx, Op.ADD, square, 1)), 1)
    near = ctx.add(Op.LOG1P, apply(ctx, Op.ADD, a, apply(ctx, Op.DIV, square, denominator)))
    far = apply(ctx, Op.ADD, ctx.add(Op.LOG, a), LN2)
    return odd(ctx, x, where(ctx, apply(ctx, Op.GT, a, LARGE), far, near))


def half_exp_squared(ctx: Context, a: Value) -> Value:
    """exp(a) / 2 as (exp(a/2) / 2) * exp(a/2): finite wherever the result is (exp(a) overflows first)."""
    root = ctx.add(Op.EXP, apply(ctx, Op.MUL, a, 0.5))
    return apply(ctx, Op.MUL, apply(ctx, Op.MUL, root, 0.5), root)


def cosh(ctx: Context, x: Value) -> Value:
    """cosh(x) = exp(|x|)/2 + exp(-|x|)/2, the first term without intermediate overflow.

    So cosh and sinh stay finite up to where the result overflows, like torch's scalar kernel; torch's
    vectorized kernel already gives inf once exp(|x|) overflows (|x| > 88.7 in float32, 709.8 in float64).
    """
    a = ctx.add(Op.ABS, x)
    return apply(ctx, Op.ADD, half_exp_squared(ctx, a), apply(ctx, Op.MUL, ctx.add(Op.EXP, ctx.add(Op.NEG, a)), 0.5))


def sinh(ctx: Context, x: Value) -> Value:
    """sinh(|x|) = (e + e / (e + 1)) / 2 with e = expm1(|x|) (no cancellation near 0), exp(|x|)/2 beyond 20; odd."""
    a = ctx.add(Op.ABS, x)
    e = ctx.add(Op.EXPM1, a)
    near = apply(ctx, Op.MUL, apply(ctx, Op.ADD, e, apply(ctx, Op.DIV, e, apply(ctx, Op.ADD, e, 1))), 0.5)
    return odd(ctx, x, where(ctx, apply(ctx, Op.GT, a, 20), half_exp_squared(ctx, a), near))


def exact_log(base: float, ln_base: float):
    """log in `base` as log(x) / log(base), made exact at the powers of the base (so floor(log2(8)) is 3)."""
    def formula(ctx: Context, x: Value) -> Value:
        result = apply(ctx, Op.DIV, ctx.add(Op.LOG, x), ln_base)
        nearest = ctx.add(Op.ROUND, result)
        power = apply(ctx, Op.POW, base, nearest)
        return where(ctx, apply(ctx, Op.EQ, power, x), nearest, result)
    formula.__doc__ = f"log{base:g}(x), exact where x is a power of {base:g}."
    return formula


def exp2(ctx: Context, x: Value) -> Value:
    """exp2(x) = 2 ** x (exact at integers)."""
    return apply(ctx, Op.POW, 2.0, x)


def sigmoid(ctx: Context, x: Value) -> Value:
    """1 / (1 + exp(-x))."""
    return ctx.add(Op.RECIPROCAL, apply(ctx, Op.ADD, ctx.add(Op.EXP, ctx.add(Op.NEG, x)), 1))


for _target, _formula in ((aten.asin, asin), (aten.acos, acos), (aten.atanh, atanh), (aten.acosh, acosh),
                          (aten.asinh, asinh), (aten.cosh, cosh), (aten.sinh, sinh), (aten.exp2, exp2),
                          (aten.sigmoid, sigmoid),
                          (aten.log2, exact_log(2.0, LN2)), (aten.log10, exact_log(10.0, LN10))):
    register(_target.default)(float_unary(_formula))


# log(erfcx(z) / t) as a Chebyshev series in s = 2t - 1, t = 2 / (2 + z), for z >= 0 (the map of Numerical
# Recipes' erfccheb): numpy's chebinterpolate of scipy.special.erfcx at degree 22, within 3e-14 on [-1, 1].
ERFCX_CHEBYSHEV = (
    -6.5132685989085459e-01, 6.4196979235649043e-01, 1.9476473204186016e-02, -9.5615147868088161e-03,
    -9.4659534448175773e-04, 3.6683949785242730e-04, 4.2523324807270380e-05, -2.0278578113237618e-05,
    -1.6242900038828136e-06, 1.3036558347399803e-06, 1.5626442649514131e-08, -8.5238096771677180e-08,
    6.5290553962711910e-09, 5.0593427282786193e-09, -9.9136354696035493e-10, -2.2736584893657915e-10,
    9.6468821910191394e-11, 2.3930890481809572e-12, -6.8847729449850661e-12, 8.9339767468002063e-13,
    3.1430202643410671e-13, -1.1419247190348336e-13, 3.3738108924954145e-15,
)


def chebyshev(ctx: Context, s: Value, coefficients: tuple) -> Value:
    """sum(c[k] * T_k(s)) by Clenshaw's recurrence (stable for |s| <= 1)."""
    two_s = apply(ctx, Op.MUL, s, 2)
    b1, b2 = ctx.full(coefficients[-1], s.dtype, s.shape), ctx.full(0.0, s.dtype, s.shape)
    for coefficient in reversed(coefficients[1:-1]):
        b1, b2 = apply(ctx, Op.ADD, apply(ctx, Op.SUB, ctx.add(Op.MUL, two_s, b1), b2), coefficient), b1
    return apply(ctx, Op.ADD, apply(ctx, Op.SUB, ctx.add(Op.MUL, s, b1), b2), coefficients[0])


def scaled_erfc_parts(ctx: Context, a: Value) -> tuple[Value, Value]:
    """(t, log(erfcx(a) / t)) for a >= 0, so erfcx(a) = t exp(f) and erfc(a) = t exp(f - a^2) without underflow."""
    t = apply(ctx, Op.DIV, 2, apply(ctx, Op.ADD, a, 2))
    return t, chebyshev(ctx, apply(ctx, Op.SUB, apply(ctx, Op.MUL, t, 2), 1), ERFCX_CHEBYSHEV)


def in_float64(formula):
    """A unary lowering computing `formula(ctx, x, dtype)` in float64 and rounding once to torch's result `dtype`."""
    def lower(ctx: Context, x: Value) -> Value:
        dtype = ctx.promote(x, kind=INT_TO_FLOAT)
        return ctx.cast(formula(ctx, ctx.cast(x, DType.FLOAT64), dtype), dtype)
    lower.__doc__ = formula.__doc__
    return lower


@register(aten.erfc.default)
@in_float64
def erfc(ctx: Context, x: Value, dtype: DType) -> Value:
    """erfc(|x|) = t exp(f - x^2), full relative accuracy far into the tail; erfc(x) = 2 - erfc(-x) below 0."""
    tail = erfc_of_magnitude(ctx, ctx.add(Op.ABS, x))
    return where(ctx, apply(ctx, Op.LT, x, 0), apply(ctx, Op.SUB, 2, tail), tail)


def erfc_of_magnitude(ctx: Context, a: Value) -> Value:
    """erfc(a) for a float64 a >= 0, with full relative accuracy."""
    t, f = scaled_erfc_parts(ctx, a)
    return ctx.add(Op.MUL, t, ctx.add(Op.EXP, ctx.add(Op.SUB, f, ctx.add(Op.MUL, a, a))))


@register(aten.special_erfcx.default)
@in_float64
def erfcx(ctx: Context, x: Value, dtype: DType) -> Value:
    """erfcx(x) = exp(x^2) erfc(x): t exp(f) for x >= 0, 2 exp(x^2) - erfcx(-x) below 0.

    Below 0, x^2 is rounded to the result dtype first, as torch's kernel does (exp magnifies that rounding).
    """
    t, f = scaled_erfc_parts(ctx, ctx.add(Op.ABS, x))
    positive = ctx.add(Op.MUL, t, ctx.add(Op.EXP, f))
    square = ctx.cast(ctx.cast(ctx.add(Op.MUL, x, x), dtype), DType.FLOAT64)
    negative = apply(ctx, Op.SUB, apply(ctx, Op.MUL, ctx.add(Op.EXP, square), 2), positive)
    return where(ctx, apply(ctx, Op.LT, x, 0), negative, positive)


# torch's starting point for erfinv (a rational approximation, central and tail), refined by Newton steps
ERFINV_CENTRAL = ((0.886226899, -1.645349621, 0.914624893, -0.140543331),
                  (1.0, -2.118377725, 1.442710462, -0.329097515, 0.012229801))
ERFINV_TAIL = ((-1.970840454, -1.624906493, 3.429567803, 1.641345311), (1.0, 3.543889200, 1.637067800))


@register(aten.erfinv.default)
@in_float64
def erfinv(ctx: Context, y: Value, dtype: DType) -> Value:
    """torch's rational start, then three Newton steps in float64: on erf(x) = y where |y| <= 0.7, and on
    erfc(|x|) = 1 - |y| beyond, where 1 - |y| is exact and erf(x) would have lost its digits to 1.
    +-inf at +-1 and NaN beyond, as torch gives."""
    magnitude = ctx.add(Op.ABS, y)
    square = ctx.add(Op.MUL, y, y)
    x = apply(ctx, Op.DIV, ctx.add(Op.MUL, y, horner(ctx, square, ERFINV_CENTRAL[0])),
              horner(ctx, square, ERFINV_CENTRAL[1]))
    for _ in range(3):
        x = ctx.add(Op.SUB, x, ctx.add(Op.DIV, ctx.add(Op.SUB, ctx.add(Op.ERF, x), y), _erf_slope(ctx, x)))
    complement = apply(ctx, Op.SUB, 1.0, magnitude)
    # kept away from 0 and from 2: |y| == 1 is answered below, and small |y| take the other branch
    clamped = apply(ctx, Op.MINIMUM, apply(ctx, Op.MAXIMUM, complement, 1e-300), 1.0)
    z = ctx.add(Op.SQRT, ctx.add(Op.NEG, ctx.add(Op.LOG, apply(ctx, Op.DIV, clamped, 2.0))))
    a = apply(ctx, Op.DIV, horner(ctx, z, ERFINV_TAIL[0]), horner(ctx, z, ERFINV_TAIL[1]))
    for _ in range(3):
        a = ctx.add(Op.ADD, a, ctx.add(Op.DIV, ctx.add(Op.SUB, erfc_of_magnitude(ctx, a), clamped),
                                       _erf_slope(ctx, a)))
    x = where(ctx, apply(ctx, Op.LE, magnitude, 0.7), x, ctx.add(Op.MUL, ctx.add(Op.SIGN, y), a))
    x = where(ctx, apply(ctx, Op.EQ, magnitude, 1.0), apply(ctx, Op.MUL, ctx.add(Op.SIGN, y), math.inf), x)
    return where(ctx, apply(ctx, Op.GT, magnitude, 1.0), math.nan, x)


def _erf_slope(ctx: Context, x: Value) -> Value:
    """d erf(x) / dx = 2 / sqrt(pi) exp(-x^2)."""
    return apply(ctx, Op.MUL, ctx.add(Op.EXP, ctx.add(Op.NEG, ctx.add(Op.MUL, x, x))), 2.0 / math.sqrt(math.pi))


@register(aten.isinf.default)
def isinf(ctx: Context, x: Value) -> Value:
    """|x| == inf; integers are never infinite."""
    if not x.dtype.is_float:
        return ctx.full(False, DType.BOOL, x.shape)
    return apply(ctx, Op.EQ, ctx.add(Op.ABS, x), math.inf)


def sign_is_negative(ctx: Context, y: Value) -> Value:
    """Whether an integer y's sign bit is set. For floats no primitive can see a nan's sign bit (and 0/0
    makes a negative nan on x86), so float sign bits are left to torch."""
    if y.dtype.is_float:
        raise Unsupported("the sign bit of a float nan is invisible to minicomp's primitives")
    return apply(ctx, Op.LT, y, 0)


@register(aten.signbit.default)
def signbit(ctx: Context, x: Value) -> Value:
    """torch.signbit of integers and bools; floats fall back (see sign_is_negative)."""
    if x.dtype is DType.BOOL:
        return ctx.full(False, DType.BOOL, x.shape)
    return sign_is_negative(ctx, x)


@register(aten.copysign.Tensor, aten.copysign.Scalar)
def copysign(ctx: Context, x, other) -> Value:
    """|x| with the sign of `other`: exact for a Python scalar or an integer tensor `other`."""
    dtype = ctx.promote(x, other, kind=INT_TO_FLOAT)
    magnitude = ctx.add(Op.ABS, ctx.as_value(x, dtype))
    if not isinstance(other, Value):
        return ctx.add(Op.NEG, magnitude) if math.copysign(1.0, other) < 0 else magnitude
    negative = sign_is_negative(ctx, other)
    magnitude, negative = ctx.broadcast(magnitude, negative)
    return where(ctx, negative, ctx.add(Op.NEG, magnitude), magnitude)


def ignoring_nan(op: Op):
    """fmax/fmin: the maximum/minimum, where a nan loses to a number (nan only if both are nan)."""
    def lower(ctx: Context, a, b) -> Value:
        dtype = ctx.promote(a, b)
        a, b = ctx.broadcast(ctx.as_value(a, dtype), ctx.as_value(b, dtype))
        result = ctx.add(op, a, b)
        if not dtype.is_float:
            return result
        result = where(ctx, ctx.add(Op.NE, b, b), a, result)
        return where(ctx, ctx.add(Op.NE, a, a), b, result)
    return lower


register(aten.fmax.default)(ignoring_nan(Op.MAXIMUM))
register(aten.fmin.default)(ignoring_nan(Op.MINIMUM))


@register(aten.ldexp.Tensor)
def ldexp(ctx: Context, x: Value, exponent: Value) -> Value:
    """x * 2**exponent: exact (one rounding) for integer exponents, x * pow(2, exponent) for float ones, like torch."""
    dtype = ctx.out_dtype
    x = ctx.cast(x, dtype)
    if exponent.dtype.is_float:
        return ctx.elementwise(Op.MUL, x, apply(ctx, Op.POW, 2.0, ctx.cast(exponent, dtype)), dtype=dtype)
    exponent = ctx.cast(exponent, DType.INT64)
    if dtype is not DType.FLOAT64:
        # float64 holds x * 2**e exactly for every e that matters (|e| <= 400); one rounding back to dtype
        exponent = apply(ctx, Op.MAXIMUM, apply(ctx, Op.MINIMUM, exponent, 400), -400)
        scale = apply(ctx, Op.POW, 2.0, ctx.cast(exponent, DType.FLOAT64))
        return ctx.cast(ctx.elementwise(Op.MUL, ctx.cast(x, DType.FLOAT64), scale, dtype=DType.FLOAT64), dtype)
    # three exact steps of at most 2**700 each; only a subnormal result can round twice (an error of 2**-1074)
    exponent = apply(ctx, Op.MAXIMUM, apply(ctx, Op.MINIMUM, exponent, 2100), -2100)
    first = apply(ctx, Op.FLOORDIV, exponent, 3)
    rest = apply(ctx, Op.SUB, exponent, first)
    second = apply(ctx, Op.FLOORDIV, rest, 2)
    for part in (first, second, apply(ctx, Op.SUB, rest, second)):
        x = ctx.elementwise(Op.MUL, x, apply(ctx, Op.POW, 2.0, ctx.cast(part, dtype)), dtype=dtype)
    return x


@register(aten.round.decimals)
def round_decimals(ctx: Context, x: Value, *, decimals: int = 0) -> Value:
    """torch's formula: round(x * 10**d) / 10**d, or round(x / 10**-d) * 10**-d for negative d."""
    if not x.dtype.is_float:
        raise Unsupported("round with decimals of an integer tensor")
    compute = DType.FLOAT32 if x.dtype.is_low_precision else x.dtype
    value = ctx.cast(x, compute)
    scale = 10.0 ** abs(decimals)
    if decimals >= 0:
        result = apply(ctx, Op.DIV, ctx.add(Op.ROUND, apply(ctx, Op.MUL, value, scale)), scale)
    else:
        result = apply(ctx, Op.MUL, ctx.add(Op.ROUND, apply(ctx, Op.DIV, value, scale)), scale)
    return ctx.cast(result, x.dtype)


@register(aten.hypot.default)
def hypot(ctx: Context, a: Value, b: Value) -> Value:
    """sqrt(a^2 + b^2) as big * sqrt(1 + (small/big)^2): no overflow; inf if either is inf, even with a nan."""
    dtype = ctx.promote(a, b, kind=INT_TO_FLOAT)
    compute = DType.FLOAT32 if dtype.is_low_precision else dtype
    a, b = ctx.broadcast(ctx.add(Op.ABS, ctx.cast(a, compute)), ctx.add(Op.ABS, ctx.cast(b, compute)))
    big, small = ctx.add(Op.MAXIMUM, a, b), ctx.add(Op.MINIMUM, a, b)
    ratio = ctx.add(Op.DIV, small, big)
    result = ctx.add(Op.MUL, big, ctx.add(Op.SQRT, apply(ctx, Op.ADD, ctx.add(Op.MUL, ratio, ratio), 1)))
    result = where(ctx, apply(ctx, Op.EQ, big, 0), 0, result)
    infinite = ctx.add(Op.BITWISE_OR, apply(ctx, Op.EQ, a, math.inf), apply(ctx, Op.EQ, b, math.inf))
    return ctx.cast(where(ctx, infinite, math.inf, result), dtype)


@register(aten.angle.default)
def angle(ctx: Context, x: Value) -> Value:
    """The angle of a real number: pi for negatives, 0 otherwise, nan for nan."""
    dtype = ctx.out_dtype
    if not dtype.is_float:
        raise Unsupported(f"angle with a {dtype!r} result")
    x = ctx.cast(x, dtype)
    return where(ctx, apply(ctx, Op.LT, x, 0), math.pi, where(ctx, ctx.add(Op.NE, x, x), x, 0))
