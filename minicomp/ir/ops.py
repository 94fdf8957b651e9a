"""The closed set of primitive ops, their groups, and the one shape/dtype rule for each.

Every backend must supply code for every member of `Op`; tests walk this enum to check it.
"""

from __future__ import annotations

import enum
from typing import Any, Sequence

import sympy

from minicomp.ir.dtypes import DType
from minicomp.ir.shapes import shapes_equal, sizes_equal


class Op(enum.Enum):
    """A primitive operation. The value is the name printed in dumps."""

    # elementwise, one input
    NEG = "neg"
    ABS = "abs"
    EXP = "exp"
    LOG = "log"
    LOG1P = "log1p"
    EXPM1 = "expm1"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    RECIPROCAL = "reciprocal"
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    TANH = "tanh"
    ATAN = "atan"
    ERF = "erf"
    FLOOR = "floor"
    CEIL = "ceil"
    TRUNC = "trunc"
    ROUND = "round"
    SIGN = "sign"
    LOGICAL_NOT = "logical_not"
    BITWISE_NOT = "bitwise_not"
    # elementwise, two inputs of one dtype and one shape
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    FLOORDIV = "floordiv"
    REMAINDER = "remainder"
    FMOD = "fmod"
    POW = "pow"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    ATAN2 = "atan2"
    BITWISE_AND = "bitwise_and"
    BITWISE_OR = "bitwise_or"
    BITWISE_XOR = "bitwise_xor"
    # comparisons: two inputs of one dtype, a bool output
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    # elementwise, three inputs: where(cond, a, b)
    WHERE = "where"
    # dtype conversion with torch's semantics (float -> int truncates)
    CAST = "cast"
    # reductions over `axes` (argmax/argmin over one `axis`)
    SUM = "sum"
    PROD = "prod"
    MAX = "max"
    MIN = "min"
    ARGMAX = "argmax"
    ARGMIN = "argmin"
    # views and layout: index arithmetic, no math
    RESHAPE = "reshape"
    PERMUTE = "permute"
    EXPAND = "expand"
    SLICE = "slice"
    CAT = "cat"
    PAD = "pad"
    # creation
    FULL = "full"
    IOTA = "iota"
    CONSTANT = "constant"
    # indexing
    GATHER = "gather"
    SCATTER = "scatter"
    # extern: calls into a library or into torch; they end a fused kernel
    MATMUL = "matmul"
    CONV = "conv"
    FALLBACK = "fallback"

    def __repr__(self) -> str:
        return self.value


UNARY = frozenset({
    Op.NEG, Op.ABS, Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SQRT, Op.RSQRT, Op.RECIPROCAL,
    Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.ATAN, Op.ERF, Op.FLOOR, Op.CEIL, Op.TRUNC, Op.ROUND,
    Op.SIGN, Op.LOGICAL_NOT, Op.BITWISE_NOT,
})
BINARY = frozenset({
    Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.FLOORDIV, Op.REMAINDER, Op.FMOD, Op.POW, Op.MAXIMUM,
    Op.MINIMUM, Op.ATAN2, Op.BITWISE_AND, Op.BITWISE_OR, Op.BITWISE_XOR,
})
COMPARISON = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
POINTWISE = UNARY | BINARY | COMPARISON | {Op.WHERE, Op.CAST}
REDUCTION = frozenset({Op.SUM, Op.PROD, Op.MAX, Op.MIN, Op.ARGMAX, Op.ARGMIN})
VIEW = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SLICE})
LAYOUT = VIEW | {Op.CAT, Op.PAD}
CREATION = frozenset({Op.FULL, Op.IOTA, Op.CONSTANT})
# Creation from attributes alone: free to recompute inside any kernel that reads it.
GENERATED = frozenset({Op.FULL, Op.IOTA})
INDEXING = frozenset({Op.GATHER, Op.SCATTER})
# Ops whose float16/bfloat16 result is already representable in its type (they pick or move values)
EXACT_IN_LOW_PRECISION = frozenset({Op.NEG, Op.ABS, Op.MAXIMUM, Op.MINIMUM, Op.WHERE, Op.CAST, Op.FLOOR,
                                    Op.CEIL, Op.TRUNC, Op.ROUND, Op.SIGN, Op.MAX, Op.MIN, Op.GATHER, Op.CAT})
# By a zero divisor these raise for integers, as eager's do (floats give inf or nan): every divisor must be seen
INTEGER_DIVISION = frozenset({Op.FLOORDIV, Op.REMAINDER, Op.FMOD})
# How SCATTER combines a source element with what its target holds; "assign" overwrites (with duplicate
# targets the last one wins on CPU, as in torch, where the order is documented as undefined).
SCATTER_REDUCTIONS = ("sum", "prod", "amax", "amin", "assign")
EXTERN = frozenset({Op.MATMUL, Op.CONV, Op.FALLBACK})

# Unary ops that only make sense on floats (the frontend casts integer inputs first).
FLOAT_ONLY = frozenset({
    Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SQRT, Op.RSQRT, Op.RECIPROCAL, Op.SIN, Op.COS,
    Op.TAN, Op.TANH, Op.ATAN, Op.ERF, Op.DIV, Op.ATAN2,
})
INTEGER_ONLY = frozenset({Op.BITWISE_AND, Op.BITWISE_OR, Op.BITWISE_XOR, Op.BITWISE_NOT})

Shape = tuple  # tuple[sympy.Expr, ...]


class ShapeError(ValueError):
    """Raised when an op is built with inputs or attrs its rule does not accept."""


def infer(op: Op, inputs: Sequence[tuple[DType, Shape]], attrs: dict[str, Any]) -> tuple[DType, Shape]:
    """Return (dtype, shape) of the single output of `op`; FALLBACK nodes carry their own."""
    if op in UNARY:
        (dtype, shape), = inputs
        _check_dtype(op, dtype)
        return dtype, shape
    if op in BINARY or op in COMPARISON:
        (a_dtype, a_shape), (b_dtype, b_shape) = inputs
        _require(a_dtype == b_dtype, op, f"input dtypes differ: {a_dtype!r} vs {b_dtype!r}")
        _require(shapes_equal(a_shape, b_shape), op, f"input shapes differ: {a_shape} vs {b_shape}")
        _check_dtype(op, a_dtype)
        return (DType.BOOL if op in COMPARISON else a_dtype), a_shape
    if op is Op.WHERE:
        (c_dtype, c_shape), (a_dtype, a_shape), (b_dtype, b_shape) = inputs
        _require(c_dtype is DType.BOOL, op, "condition must be bool")
        _require(a_dtype == b_dtype, op, f"branch dtypes differ: {a_dtype!r} vs {b_dtype!r}")
        _require(shapes_equal(c_shape, a_shape) and shapes_equal(a_shape, b_shape), op, "shapes differ")
        return a_dtype, a_shape
    if op is Op.CAST:
        (_, shape), = inputs
        return attrs["dtype"], shape
    if op in REDUCTION:
        return _infer_reduction(op, inputs, attrs)
    if op in LAYOUT:
        return _infer_layout(op, inputs, attrs)
    if op in (Op.FULL, Op.CONSTANT):
        return attrs["dtype"], tuple(attrs["shape"])
    if op is Op.IOTA:
        return attrs["dtype"], (attrs["length"],)
    if op is Op.GATHER:
        (dtype, shape), (i_dtype, i_shape) = inputs
        _require(i_dtype is DType.INT64, op, "index must be int64")
        _require(len(shape) == len(i_shape), op, "index rank must equal input rank")
        return dtype, i_shape
    if op is Op.SCATTER:
        (dtype, shape), (i_dtype, i_shape), (s_dtype, s_shape) = inputs
        _require(attrs["reduce"] in SCATTER_REDUCTIONS, op, f"reduce must be one of {SCATTER_REDUCTIONS}")
        _require(i_dtype is DType.INT64 and s_dtype == dtype, op, "index int64, source like input")
        _require(shapes_equal(i_shape, s_shape), op, "index and source shapes differ")
        return dtype, shape
    if op is Op.MATMUL:  # a @ b, or bias + a @ b (addmm: matrices, the bias a row or the output's shape)
        (a_dtype, a_shape), (b_dtype, b_shape) = inputs[:2]
        _require(a_dtype == b_dtype and len(a_shape) == len(b_shape) >= 2, op, "operands must match")
        _require(shapes_equal(a_shape[:-2], b_shape[:-2]), op, "batch dims differ")
        _require(sizes_equal(a_shape[-1], b_shape[-2]), op, "contraction sizes differ")
        out = tuple(a_shape[:-1]) + (b_shape[-1],)
        if len(inputs) == 3:
            bias_dtype, bias_shape = inputs[2]
            _require(len(out) == 2 and bias_dtype == a_dtype, op, "a bias needs matrices of its dtype")
            _require(shapes_equal(bias_shape, out[1:]) or shapes_equal(bias_shape, out), op,
                     "the bias must be a row or the output's shape")
        return a_dtype, out
    if op is Op.CONV:
        return _infer_conv(inputs, attrs)
    raise ShapeError(f"{op.value}: no shape rule (fallback nodes carry their output types)")


def _infer_reduction(op, inputs, attrs):
    (dtype, shape), = inputs
    axes = attrs["axes"]
    _require(all(0 <= a < len(shape) for a in axes), op, f"axes {axes} out of range for rank {len(shape)}")
    if attrs["keepdim"]:
        out = tuple(sympy.Integer(1) if i in axes else s for i, s in enumerate(shape))
    else:
        out = tuple(s for i, s in enumerate(shape) if i not in axes)
    if op in (Op.ARGMAX, Op.ARGMIN):
        _require(len(axes) == 1, op, "argmax/argmin reduce exactly one axis")
        return DType.INT64, out
    return dtype, out


def _infer_layout(op, inputs, attrs):
    (dtype, shape) = inputs[0]
    if op is Op.RESHAPE:
        new = tuple(attrs["shape"])
        _require(sizes_equal(_numel(shape), _numel(new)), op, f"cannot reshape {shape} to {new}")
        return dtype, new
    if op is Op.PERMUTE:
        dims = attrs["dims"]
        _require(sorted(dims) == list(range(len(shape))), op, f"bad permutation {dims}")
        return dtype, tuple(shape[d] for d in dims)
    if op is Op.EXPAND:
        new = tuple(attrs["shape"])
        _require(len(new) == len(shape), op, "expand keeps the rank (reshape first)")
        for old, size in zip(shape, new):
            _require(old == size or old == 1, op, f"cannot expand {shape} to {new}")
        return dtype, new
    if op is Op.SLICE:
        axis, start, stop, step = attrs["axis"], attrs["start"], attrs["stop"], attrs["step"]
        _require(sympy.sympify(start <= stop) != sympy.false, op, f"start {start} is past stop {stop}")
        # bounds are normalised (0 <= start <= stop <= size); floor((n + step - 1) / step) is ceil(n / step)
        # in the form torch's FloorDiv sizes take, so sympy sees both as equal
        length = sympy.floor((stop - start + step - 1) / step)
        return dtype, tuple(length if i == axis else s for i, s in enumerate(shape))
    if op is Op.CAT:
        axis = attrs["axis"]
        for other_dtype, other_shape in inputs[1:]:
            _require(other_dtype == dtype and len(other_shape) == len(shape), op, "inputs must match")
        total = sum((s[axis] for _, s in inputs), sympy.Integer(0))
        return dtype, tuple(total if i == axis else s for i, s in enumerate(shape))
    if op is Op.PAD:
        pads = attrs["pads"]
        _require(len(pads) == len(shape), op, "one (low, high) pair per axis")
        return dtype, tuple(s + lo + hi for s, (lo, hi) in zip(shape, pads))
    raise AssertionError(op)


def _infer_conv(inputs, attrs):
    (x_dtype, x_shape), (w_dtype, w_shape) = inputs[:2]
    _require(x_dtype == w_dtype, Op.CONV, "input and weight dtypes differ")
    stride, padding, dilation = attrs["stride"], attrs["padding"], attrs["dilation"]
    spatial = []
    for i, size in enumerate(x_shape[2:]):
        kernel = w_shape[2 + i]
        spatial.append(sympy.floor((size + 2 * padding[i] - dilation[i] * (kernel - 1) - 1) / stride[i]) + 1)
    return x_dtype, (x_shape[0], w_shape[0], *spatial)


def _numel(shape) -> sympy.Expr:
    return sympy.Mul(*shape) if shape else sympy.Integer(1)


def _check_dtype(op: Op, dtype: DType) -> None:
    if op in FLOAT_ONLY:
        _require(dtype.is_float, op, f"needs a float input, got {dtype!r}")
    if op in INTEGER_ONLY:
        _require(dtype.is_integer or dtype is DType.BOOL, op, f"needs an integer input, got {dtype!r}")
    if op is Op.LOGICAL_NOT:  # its output has its input's type, so only bool means "not"
        _require(dtype is DType.BOOL, op, f"needs a bool input (compare with 0 first), got {dtype!r}")


def _require(condition: bool, op: Op, message: str) -> None:
    if not condition:
        raise ShapeError(f"{op.value}: {message}")
