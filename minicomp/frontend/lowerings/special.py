"""Gamma-family special functions (lgamma, digamma, polygamma) as formulas over existing primitives.

lgamma, digamma and polygamma of order >= 2 are computed in float64 (Lanczos, asymptotic and
Euler-Maclaurin series with float64-accurate coefficients) and rounded once. For float32 that is at
least as accurate as eager, which multiplies its series by n! computed as exp(lgamma(n + 1)) in float32. trigamma (polygamma with
n == 1) follows torch's own recurrence in the input dtype, because torch evaluates sin(pi x) in that dtype
and so gives finite values at the poles.
"""

from __future__ import annotations

import math
import struct

from minicomp.frontend.lowerings.common import INT_TO_FLOAT, Context, Unsupported, register
from minicomp.frontend.lowerings.math import apply, horner, in_float64, where
from minicomp.ir import DType, Op, Value
from torch import ops

aten = ops.aten

# Lanczos approximation with g = 7 and 9 coefficients: Gamma(z + 1) ~ sqrt(2 pi) t^(z + 1/2) e^-t A(z),
# t = z + g + 1/2, relative error about 1e-15 for z >= -1/2.
LANCZOS_G = 7.0
LANCZOS = (
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
)
HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
LOG_PI = math.log(math.pi)

# digamma(y) ~ log(y) - 1/(2y) - sum B_2k / (2k y^2k): the B_2k / 2k for k = 1..7 (enough for y >= 10).
DIGAMMA_ASYMPTOTIC = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
DIGAMMA_SHIFT = 10

# Bernoulli numbers B_2j for j = 1..10 (index j), for the Euler-Maclaurin tail of the Hurwitz zeta function.
BERNOULLI = (None, 1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798, -174611 / 330)
POLYGAMMA_SHIFT = 16
MAX_POLYGAMMA_ORDER = 20  # the Euler-Maclaurin tail after 16 shifts stays below 1e-12 relative up to here


def is_pole(ctx: Context, x: Value) -> Value:
    """Whether x is 0, a negative integer or -inf (the poles of Gamma)."""
    return ctx.add(Op.BITWISE_AND, apply(ctx, Op.LE, x, 0), ctx.add(Op.EQ, x, ctx.add(Op.FLOOR, x)))


def distance_to_integer(ctx: Context, x: Value) -> Value:
    """r = x - round(x), exact and in [-1/2, 1/2], so sin(pi r) and tan(pi r) keep full accuracy near the poles."""
    return ctx.add(Op.SUB, x, ctx.add(Op.ROUND, x))


def lanczos_lgamma(ctx: Context, x: Value) -> Value:
    """lgamma(x) for x >= 1/2: log(sqrt(2 pi)) + (z + 1/2)(log(t) - 1) - g + log(A(z)), z = x - 1 (inf at inf)."""
    z = apply(ctx, Op.SUB, x, 1)
    series = ctx.full(LANCZOS[0], x.dtype, x.shape)
    for index, coefficient in enumerate(LANCZOS[1:], start=1):
        series = ctx.add(Op.ADD, series, apply(ctx, Op.DIV, coefficient, apply(ctx, Op.ADD, z, index)))
    t = apply(ctx, Op.ADD, z, LANCZOS_G + 0.5)
    power = ctx.add(Op.MUL, apply(ctx, Op.ADD, z, 0.5), apply(ctx, Op.SUB, ctx.add(Op.LOG, t), 1))
    return apply(ctx, Op.ADD, ctx.add(Op.ADD, power, ctx.add(Op.LOG, series)), HALF_LOG_TWO_PI - LANCZOS_G)


@register(aten.lgamma.default)
@in_float64
def lgamma(ctx: Context, x: Value, dtype: DType) -> Value:
    """lgamma by Lanczos for x >= 1/2 and log(pi / |sin(pi x)|) - lgamma(1 - x) below; inf at the poles."""
    reflected = apply(ctx, Op.LT, x, 0.5)
    value = lanczos_lgamma(ctx, where(ctx, reflected, apply(ctx, Op.SUB, 1, x), x))
    sine = ctx.add(Op.ABS, ctx.add(Op.SIN, apply(ctx, Op.MUL, distance_to_integer(ctx, x), math.pi)))
    reflection = apply(ctx, Op.SUB, apply(ctx, Op.SUB, LOG_PI, ctx.add(Op.LOG, sine)), value)
    return where(ctx, is_pole(ctx, x), math.inf, where(ctx, reflected, reflection, value))


def shifted_digamma(ctx: Context, y: Value) -> Value:
    """digamma(y) for y >= 1/2: digamma(y + 10) by its asymptotic series minus sum 1/(y + k), k < 10."""
    far = apply(ctx, Op.ADD, y, DIGAMMA_SHIFT)
    inverse_square = apply(ctx, Op.DIV, 1, ctx.add(Op.MUL, far, far))
    series = ctx.full(DIGAMMA_ASYMPTOTIC[-1], y.dtype, y.shape)
    for coefficient in reversed(DIGAMMA_ASYMPTOTIC[:-1]):
        series = apply(ctx, Op.ADD, ctx.add(Op.MUL, series, inverse_square), coefficient)
    result = ctx.add(Op.SUB, ctx.add(Op.LOG, far), apply(ctx, Op.DIV, 0.5, far))
    result = ctx.add(Op.SUB, result, ctx.add(Op.MUL, series, inverse_square))
    for k in range(DIGAMMA_SHIFT):
        result = ctx.add(Op.SUB, result, apply(ctx, Op.DIV, 1, apply(ctx, Op.ADD, y, k)))
    return result


@register(aten.digamma.default)
@in_float64
def digamma(ctx: Context, x: Value, dtype: DType) -> Value:
    """digamma with reflection digamma(1 - x) - pi / tan(pi x) below 1/2, like torch: -1/x at +-0 (-inf at +0,
    inf at -0), nan at negative integers and -inf."""
    reflected = apply(ctx, Op.LT, x, 0.5)
    value = shifted_digamma(ctx, where(ctx, reflected, apply(ctx, Op.SUB, 1, x), x))
    tangent = ctx.add(Op.TAN, apply(ctx, Op.MUL, distance_to_integer(ctx, x), math.pi))
    reflection = ctx.add(Op.SUB, value, apply(ctx, Op.DIV, math.pi, tangent))
    result = where(ctx, reflected, reflection, value)
    result = where(ctx, is_pole(ctx, x), math.nan, result)
    return where(ctx, apply(ctx, Op.EQ, x, 0), apply(ctx, Op.DIV, -1, x), result)


def float32_round(value: float) -> float:
    """`value` rounded to the nearest float32."""
    return struct.unpack("f", struct.pack("f", value))[0]


def trigamma(ctx: Context, x: Value) -> Value:
    """torch's trigamma in x's dtype and order of operations: -pi^2 / sin^2(pi x) for trigamma(1 - x) below 1/2,
    six recurrence steps, the asymptotic series (within 1e-9 relative from 6.5), negated if reflected."""
    pi = float32_round(math.pi) if x.dtype is DType.FLOAT32 else math.pi
    pi_squared = float32_round(pi * pi) if x.dtype is DType.FLOAT32 else pi * pi
    reflected = apply(ctx, Op.LT, x, 0.5)
    sine = ctx.add(Op.SIN, apply(ctx, Op.MUL, x, pi))
    pole_term = ctx.add(Op.NEG, apply(ctx, Op.DIV, pi_squared, ctx.add(Op.MUL, sine, sine)))
    result = where(ctx, reflected, pole_term, 0.0)
    y = where(ctx, reflected, apply(ctx, Op.SUB, 1, x), x)
    for _ in range(6):
        result = ctx.add(Op.ADD, result, apply(ctx, Op.DIV, 1, ctx.add(Op.MUL, y, y)))
        y = apply(ctx, Op.ADD, y, 1)
    inverse_square = apply(ctx, Op.DIV, 1, ctx.add(Op.MUL, y, y))
    series = apply(ctx, Op.SUB, 1 / 30, apply(ctx, Op.MUL, inverse_square, 1 / 42))
    series = apply(ctx, Op.SUB, 1 / 6, ctx.add(Op.MUL, inverse_square, series))
    series = ctx.add(Op.ADD, apply(ctx, Op.ADD, apply(ctx, Op.DIV, 0.5, y), 1), ctx.add(Op.MUL, inverse_square, series))
    result = ctx.add(Op.ADD, result, ctx.add(Op.DIV, series, y))
    return where(ctx, reflected, ctx.add(Op.NEG, result), result)


def cotangent_derivative(n: int) -> list[int]:
    """Coefficients (lowest power first) of P_n with d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x))."""
    polynomial = [0, 1]
    for _ in range(n):
        derivative = [power * coefficient for power, coefficient in enumerate(polynomial)][1:]
        # -(1 + c^2) P'(c)
        polynomial = [0] * (len(derivative) + 2)
        for power, coefficient in enumerate(derivative):
            polynomial[power] -= coefficient
            polynomial[power + 2] -= coefficient
    return polynomial


def hurwitz_zeta(ctx: Context, s: int, q: Value) -> Value:
    """zeta(s, q) for an integer s >= 3 and q >= 1/2: 16 terms of the sum, then Euler-Maclaurin with 10 terms."""
    result = ctx.full(0.0, q.dtype, q.shape)
    for k in range(POLYGAMMA_SHIFT):
        result = ctx.add(Op.ADD, result, apply(ctx, Op.POW, apply(ctx, Op.ADD, q, k), float(-s)))
    w = apply(ctx, Op.ADD, q, POLYGAMMA_SHIFT)
    inverse_square = apply(ctx, Op.DIV, 1, ctx.add(Op.MUL, w, w))
    coefficients = [0.0]
    rising = s  # s (s + 1) ... (s + 2j - 2)
    for j in range(1, 11):
        coefficients.append(BERNOULLI[j] / math.factorial(2 * j) * rising)
        rising *= (s + 2 * j - 1) * (s + 2 * j)
    tail = ctx.add(Op.MUL, horner(ctx, inverse_square, coefficients), w)
    tail = apply(ctx, Op.ADD, tail, 0.5)
    tail = ctx.add(Op.ADD, tail, apply(ctx, Op.DIV, w, s - 1))
    return ctx.add(Op.ADD, result, ctx.add(Op.MUL, tail, apply(ctx, Op.POW, w, float(-s))))


def higher_polygamma(ctx: Context, n: int, x: Value) -> Value:
    """polygamma(n, x) = (-1)^(n+1) n! zeta(n + 1, x) for x >= 1/2, by reflection below:
    (-1)^(n+1) ((-1)^n pi^(n+1) P_n(cot(pi x)) - polygamma(n, 1 - x)); torch's inf at the poles, nan at inf."""
    sign = -1.0 if n % 2 == 0 else 1.0
    reflected = apply(ctx, Op.LT, x, 0.5)
    y = where(ctx, reflected, apply(ctx, Op.SUB, 1, x), x)
    value = apply(ctx, Op.MUL, hurwitz_zeta(ctx, n + 1, y), sign * math.factorial(n))
    cotangent = apply(ctx, Op.DIV, 1, ctx.add(Op.TAN, apply(ctx, Op.MUL, distance_to_integer(ctx, x), math.pi)))
    derivative = apply(ctx, Op.MUL, horner(ctx, cotangent, cotangent_derivative(n)), -sign * math.pi ** (n + 1))
    reflection = apply(ctx, Op.MUL, ctx.add(Op.SUB, derivative, value), sign)
    result = where(ctx, reflected, reflection, value)
    result = where(ctx, is_pole(ctx, x), sign * math.inf, result)
    return where(ctx, apply(ctx, Op.EQ, x, math.inf), math.nan, result)


@register(aten.polygamma.default)
def polygamma(ctx: Context, n: int, x: Value) -> Value:
    """polygamma(0) is digamma, polygamma(1) torch's trigamma, higher orders (up to 20) in float64."""
    dtype = ctx.promote(x, kind=INT_TO_FLOAT)
    if n == 0:
        return digamma(ctx, x)
    if dtype not in (DType.FLOAT32, DType.FLOAT64):
        raise Unsupported(f"polygamma in {dtype!r}")
    if n == 1:
        return trigamma(ctx, ctx.cast(x, dtype))
    if not 2 <= n <= MAX_POLYGAMMA_ORDER:
        raise Unsupported(f"polygamma of order {n} in {dtype!r}")
    return ctx.cast(higher_polygamma(ctx, n, ctx.cast(x, DType.FLOAT64)), dtype)
