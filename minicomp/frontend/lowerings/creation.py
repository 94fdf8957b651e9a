"""Tensor creation (full, zeros/ones/empty and their _like/new_ forms, scalar_tensor, arange) -> FULL and IOTA;
triu_indices and tril_indices -> CONSTANT.

Shapes and dtypes come from torch's meta for the node, so every overload shares one code path. Empty
tensors are materialised as zeros (torch leaves their contents undefined). A created tensor must live on
the device the compiled graph runs on; anything else is Unsupported.
"""

from __future__ import annotations

from fractions import Fraction

import sympy
import torch
from torch import ops
from torch._subclasses.fake_tensor import unset_fake_temporarily

from minicomp.frontend.lowerings.common import IR_TO_TORCH, Context, Unsupported, register, sym
from minicomp.ir import DType, Op, Value

aten = ops.aten
prims = ops.prims

# Significand bits and smallest exponent of a normal number, per float dtype (for exact arange).
FLOAT_FORMAT = {DType.FLOAT64: (53, -1022), DType.FLOAT32: (24, -126), DType.BFLOAT16: (8, -126),
                DType.FLOAT16: (11, -14)}


def _check_placement(ctx: Context) -> None:
    """The result must be a strided tensor on the device of the graph's inputs (the program's device)."""
    meta = ctx.fx_node.meta["val"]
    if meta.layout != torch.strided:
        raise Unsupported(f"layout {meta.layout}")
    inputs = [n.meta.get("val") for n in ctx.fx_node.graph.nodes if n.op == "placeholder"]
    devices = [v.device for v in inputs if isinstance(v, torch.Tensor)]
    graph_device = devices[0] if devices else torch.device("cpu")
    if meta.device != graph_device:
        raise Unsupported(f"creating a tensor on {meta.device} in a graph running on {graph_device}")


def _number(value) -> int | float | bool:
    if isinstance(value, sympy.Basic):
        if not value.is_number:
            raise Unsupported(f"symbolic value {value}")
        return int(value) if value.is_Integer else float(value)
    if not isinstance(value, (bool, int, float)):
        raise Unsupported(f"value of type {type(value).__name__}")
    return value


def stored_value(value, dtype: DType) -> int | float | bool:
    """Exactly the element torch stores when it fills a `dtype` tensor with the Python number `value`."""
    with unset_fake_temporarily():  # lowering runs under the tracer's fake mode; this needs a real tensor
        try:
            return torch.full((), _number(value), dtype=IR_TO_TORCH[dtype]).item()
        except (RuntimeError, OverflowError) as error:
            raise Unsupported(f"{value!r} as {dtype.full_name}: {error}") from None


def constant(ctx: Context, value) -> Value:
    """A FULL node with torch's result shape and dtype, holding exactly the element torch would store."""
    _check_placement(ctx)
    dtype = ctx.out_dtype
    return ctx.full(stored_value(value, dtype), dtype, [sym(s) for s in ctx.fx_node.meta["val"].shape])


def _filled(position: int | None, default=0):
    """A lowering that fills torch's result with args[position] (or `default`), ignoring the other args."""
    def lower(ctx: Context, *args, **kwargs) -> Value:
        return constant(ctx, default if position is None else args[position])
    return lower


register(aten.full.default)(_filled(1))
register(aten.full_like.default, prims.full_like.default, aten.fill.Scalar)(_filled(1))
register(aten.new_full.default)(_filled(2))
register(aten.scalar_tensor.default, prims.scalar_tensor.default)(_filled(0))
register(aten.ones.default, aten.ones_like.default, aten.new_ones.default)(_filled(None, 1))
register(aten.zeros.default, aten.zeros_like.default, aten.new_zeros.default, aten.zero.default,
         aten.empty.memory_format, aten.empty_like.default, aten.empty_strided.default,
         aten.empty_permuted.default, aten.new_empty.default, aten.new_empty_strided.default,
         aten._efficientzerotensor.default)(_filled(None, 0))


@register(aten.copy.default, aten.fill.Tensor)
def copy(ctx: Context, x: Value, source, non_blocking=False) -> Value:
    """What x.copy_(source) or x.fill_(tensor) leave in x: source cast to x's dtype, broadcast to x's shape."""
    if not isinstance(source, Value):
        raise Unsupported("copy from a non-tensor")
    _check_placement(ctx)
    return ctx.expand_to(ctx.cast(source, x.dtype), x.shape)


@register(aten.arange.default, aten.arange.start, aten.arange.start_step)
def arange(ctx: Context, *args, **kwargs) -> Value:
    """IOTA with torch's length; float ranges only where every value start + step * i is exact."""
    _check_placement(ctx)
    start, _, step = (0, args[0], 1) if len(args) == 1 else (tuple(args) + (1,))[:3]
    return _iota(ctx, _number(start), _number(step))


def _iota(ctx: Context, start, step) -> Value:
    dtype = ctx.out_dtype
    length = sym(ctx.fx_node.meta["val"].shape[0])
    if dtype.is_float:
        if not _float_range_is_exact(start, step, length, dtype):
            raise Unsupported(f"float arange(start={start}, step={step}) values may round differently from torch")
        start, step = float(start), float(step)
    elif float(start) != int(start) or float(step) != int(step):
        raise Unsupported("integer arange with fractional start or step")
    else:
        start, step = int(start), int(step)
    return ctx.add(Op.IOTA, length=length, start=start, step=step, dtype=dtype)


def _float_range_is_exact(start, step, length: sympy.Expr, dtype: DType) -> bool:
    """True when start, step and every start + step * i are exact in `dtype` (and in the arithmetic
    torch uses), so that any evaluation order gives torch's values: all are multiples of one power of
    two with few enough significant bits."""
    if not length.is_Integer:
        return False
    bits, min_exponent = FLOAT_FORMAT[dtype]
    start, step = Fraction(start), Fraction(step)
    unit = max(start.denominator, step.denominator)  # both powers of two: floats are dyadic
    if unit.bit_length() - 1 > bits - 1 - min_exponent:
        return False  # multiples of 1/unit would be subnormal with fewer bits
    span = step * max(int(length) - 1, 0)
    magnitude = max(abs(start), abs(start + span), abs(span))  # of every value and intermediate
    return magnitude * unit < 2 ** bits and float(magnitude) <= torch.finfo(IR_TO_TORCH[dtype]).max


@register(aten.triu_indices.default, aten.tril_indices.default)
def triangle_indices(ctx: Context, rows, columns, offset=0, **kwargs) -> Value:
    """The indices depend only on Python ints, so torch computes them once, here, into a constant."""
    _check_placement(ctx)
    if not all(isinstance(size, int) for size in (rows, columns, offset)):
        raise Unsupported("triangle indices of sizes known only at run time")
    function = torch.triu_indices if ctx.fx_node.target is aten.triu_indices.default else torch.tril_indices
    with unset_fake_temporarily():  # lowering runs under the tracer's fake mode; this needs real values
        return ctx.constant(function(rows, columns, offset, dtype=IR_TO_TORCH[ctx.out_dtype]))
