"""Modified Bessel functions of the first kind, I0 and I1, and their exp-scaled forms, from two series.

For |x| <= SERIES_LIMIT the power series I_n(x) = (x/2)^n sum_k (x^2/4)^k / (k! (k + n)!), whose terms
are all positive (no cancellation); beyond it Hankel's asymptotic expansion
I_n(x) ~ e^|x| / sqrt(2 pi |x|) sum_k a_k(n) / |x|^k,  a_k(n) = a_(k-1)(n) ((2k - 1)^2 - 4n^2) / (8k)
(a_0 = 1). With SERIES_TERMS and ASYMPTOTIC_TERMS as below both stay within 2e-15 of the true value
in float64, where they are evaluated before rounding once to the result dtype. I0 is even, I1 odd.
"""

from __future__ import annotations

import math

from torch import ops

from minicomp.frontend.lowerings.common import Context, register
from minicomp.frontend.lowerings.math import apply, in_float64, where
from minicomp.frontend.lowerings.special import horner
from minicomp.ir import DType, Op, Value

aten = ops.aten

SERIES_LIMIT = 20.0
SERIES_TERMS = 50
ASYMPTOTIC_TERMS = 20


def power_series(ctx: Context, x: Value, order: int) -> Value:
    """I_order(x) for |x| <= SERIES_LIMIT."""
    quarter_square = apply(ctx, Op.MUL, ctx.add(Op.MUL, x, x), 0.25)
    terms = [1.0 / (math.factorial(k) * math.factorial(k + order)) for k in range(SERIES_TERMS)]
    total = horner(ctx, quarter_square, terms)
    return total if order == 0 else ctx.add(Op.MUL, total, apply(ctx, Op.MUL, x, 0.5))


def scaled_asymptotic(ctx: Context, magnitude: Value, order: int) -> Value:
    """e^-|x| I_order(|x|) for |x| > SERIES_LIMIT."""
    coefficients = [1.0]
    for k in range(1, ASYMPTOTIC_TERMS):
        coefficients.append(coefficients[-1] * ((2 * k - 1) ** 2 - 4 * order * order) / (8 * k))
    total = horner(ctx, apply(ctx, Op.DIV, 1.0, magnitude), coefficients)
    return ctx.add(Op.DIV, total, ctx.add(Op.SQRT, apply(ctx, Op.MUL, magnitude, 2 * math.pi)))


def bessel(ctx: Context, x: Value, order: int, scaled: bool) -> Value:
    """I_order(x), or e^-|x| I_order(x) when `scaled` (at +-inf, like torch: NaN unscaled, 0 scaled)."""
    magnitude = ctx.add(Op.ABS, x)
    small = apply(ctx, Op.LE, magnitude, SERIES_LIMIT)
    series = power_series(ctx, x, order)
    large = scaled_asymptotic(ctx, magnitude, order)
    if order == 1:
        large = ctx.add(Op.MUL, large, ctx.add(Op.SIGN, x))
    if scaled:
        return where(ctx, small, ctx.add(Op.MUL, series, ctx.add(Op.EXP, ctx.add(Op.NEG, magnitude))), large)
    return where(ctx, small, series, ctx.add(Op.MUL, large, ctx.add(Op.EXP, magnitude)))


def bessel_lowering(order: int, scaled: bool):
    """The lowering of one of the four functions: promote, evaluate in float64, round once."""
    def formula(ctx: Context, x: Value, dtype: DType) -> Value:
        return bessel(ctx, x, order, scaled)
    formula.__doc__ = f"{'e^-|x| ' if scaled else ''}I{order}(x)"
    return in_float64(formula)


register(aten.i0.default, aten.special_modified_bessel_i0.default)(bessel_lowering(0, scaled=False))
register(aten.special_i0e.default)(bessel_lowering(0, scaled=True))
register(aten.special_i1.default, aten.special_modified_bessel_i1.default)(bessel_lowering(1, scaled=False))
register(aten.special_i1e.default)(bessel_lowering(1, scaled=True))
