"""Scans (cumsum, cumprod, cummax, cummin, logcumsumexp) -> log-step (Hillis-Steele) scans.

Step k combines every entry with the running result 2**k places before it (a SLICE shifted by a PAD
of the combine's identity), so a scan is log2(n) rounds of elementwise ops; the scan axis needs a
static length. Sums, products and log-add-exps are reassociated: floats are scanned in float64 and
rounded once (torch's CPU kernels accumulate float32 in double too), which keeps float32 and lower
precisions within torch.testing.assert_close defaults; float64 results differ in the last bits only.
Integer sums and products wrap exactly like torch's, in any order. cummax/cummin only pick entries,
so they are exact: the combine "the later entry wins if it is a NaN, or if neither is and it is >= (<=)
the earlier" is associative and is the rule torch's sequential loop applies.
"""

from __future__ import annotations

from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, normalize_axis, register
from minicomp.frontend.lowerings.views import pad_or_crop, slice_axis
from minicomp.ir import DType, Op, Value

aten = ops.aten


def shifted(ctx: Context, x: Value, axis: int, distance: int, fill) -> Value:
    """x moved `distance` places along `axis`: `fill` in front, the last entries dropped."""
    kept = slice_axis(ctx, x, axis, 0, x.shape[axis] - distance)
    pads = [(0, 0)] * x.rank
    pads[axis] = (distance, 0)
    return pad_or_crop(ctx, kept, pads, fill)


def scan(ctx: Context, values: list[Value], axis: int, combine, identities: list) -> list[Value]:
    """Inclusive scan of the tuple `values` along `axis`; combine(earlier, later) -> tuple, associative."""
    length = values[0].shape[axis]
    if not length.is_Integer:
        raise Unsupported("scan along a dynamic-size axis")
    distance = 1
    while distance < int(length):
        earlier = [shifted(ctx, v, axis, distance, fill) for v, fill in zip(values, identities)]
        values = combine(earlier, values)
        distance *= 2
    return values


def wide_dtype(dtype: DType) -> DType:
    """The dtype a sum or product is scanned in: float64 for floats, the type itself for integers."""
    return DType.FLOAT64 if dtype.is_float else dtype


def arithmetic_scan(ctx: Context, x: Value, dim: int, op: Op, identity) -> Value:
    """cumsum / cumprod: x cast to torch's result type, scanned with `op`, cast back."""
    dtype = ctx.out_dtype
    if dtype is DType.BOOL:
        raise Unsupported("bool scan result")
    if x.rank == 0:
        return ctx.cast(x, dtype)
    axis = normalize_axis(dim, x.rank)
    work = ctx.cast(ctx.cast(x, dtype), wide_dtype(dtype))
    result, = scan(ctx, [work], axis, lambda a, b: [ctx.add(op, a[0], b[0])], [identity])
    return ctx.cast(result, dtype)


@register(aten.cumsum)
def cumsum(ctx: Context, x: Value, dim: int, dtype=None) -> Value:
    return arithmetic_scan(ctx, x, dim, Op.ADD, 0)


@register(aten.cumprod)
def cumprod(ctx: Context, x: Value, dim: int, dtype=None) -> Value:
    return arithmetic_scan(ctx, x, dim, Op.MUL, 1)


@register(aten.logcumsumexp)
def logcumsumexp(ctx: Context, x: Value, dim: int) -> Value:
    """log(exp(a) + exp(b)) as max + log1p(exp(min - max)); two equal infinities give themselves."""
    dtype = ctx.out_dtype
    if not dtype.is_float:
        raise Unsupported(f"logcumsumexp of {dtype!r}")
    if x.rank == 0:
        return ctx.cast(x, dtype)
    axis = normalize_axis(dim, x.rank)

    def combine(earlier: list, later: list) -> list:
        low = ctx.add(Op.MINIMUM, earlier[0], later[0])
        high = ctx.add(Op.MAXIMUM, earlier[0], later[0])
        infinite = ctx.elementwise(Op.EQ, ctx.add(Op.ABS, high), float("inf"), dtype=high.dtype)
        same_infinity = ctx.add(Op.BITWISE_AND, ctx.add(Op.EQ, low, high), infinite)
        added = ctx.add(Op.ADD, high, ctx.add(Op.LOG1P, ctx.add(Op.EXP, ctx.add(Op.SUB, low, high))))
        return [ctx.add(Op.WHERE, same_infinity, high, added)]

    work = ctx.cast(x, DType.FLOAT64)
    result, = scan(ctx, [work], axis, combine, [float("-inf")])
    return ctx.cast(result, dtype)


def extreme_scan(ctx: Context, x: Value, dim: int, compare: Op) -> tuple:
    """(values, indices) of cummax (compare GE) or cummin (compare LE), torch's tie and NaN rules."""
    if x.dtype is DType.BOOL:
        raise Unsupported("cummax/cummin of bool")
    if x.rank == 0:
        return x, ctx.full(0, DType.INT64)
    axis = normalize_axis(dim, x.rank)
    length = x.shape[axis]
    positions = ctx.add(Op.IOTA, length=length, start=0, step=1, dtype=DType.INT64)
    positions = ctx.expand_to(ctx.reshape(positions, [length if a == axis else 1 for a in range(x.rank)]), x.shape)
    worst = x.dtype.lowest if compare is Op.GE else x.dtype.highest

    def combine(earlier: list, later: list) -> list:
        wins = ctx.add(compare, later[0], earlier[0])  # false when the earlier entry is a NaN
        if x.dtype.is_float:
            wins = ctx.add(Op.BITWISE_OR, wins, ctx.add(Op.NE, later[0], later[0]))
        return [ctx.add(Op.WHERE, wins, later[0], earlier[0]), ctx.add(Op.WHERE, wins, later[1], earlier[1])]

    values, indices = scan(ctx, [x, positions], axis, combine, [worst, 0])
    return values, indices


@register(aten.cummax)
def cummax(ctx: Context, x: Value, dim: int) -> tuple:
    return extreme_scan(ctx, x, dim, Op.GE)


@register(aten.cummin)
def cummin(ctx: Context, x: Value, dim: int) -> tuple:
    return extreme_scan(ctx, x, dim, Op.LE)
