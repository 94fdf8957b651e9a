"""The Triton spelling of each pointwise primitive: element types, operators, literals and the rounding of
float16/bfloat16 results (computed in float32 registers, rounded back after every op, as eager does)."""

from __future__ import annotations

from minicomp.ir import DType, Node, Op
from minicomp.ir.ops import EXACT_IN_LOW_PRECISION, UNARY

TRITON_TYPE = {
    DType.BOOL: "tl.int1", DType.UINT8: "tl.uint8", DType.INT8: "tl.int8", DType.INT16: "tl.int16",
    DType.INT32: "tl.int32", DType.INT64: "tl.int64", DType.FLOAT16: "tl.float16",
    DType.BFLOAT16: "tl.bfloat16", DType.FLOAT32: "tl.float32", DType.FLOAT64: "tl.float64",
}
UNARY_CODE = {
    Op.NEG: "-({0})", Op.ABS: "tl.abs({0})", Op.EXP: "tl.exp({0})", Op.LOG: "tl.log({0})",
    Op.LOG1P: "tl.log(1.0 + {0})", Op.EXPM1: "(tl.exp({0}) - 1.0)", Op.SQRT: "tl.sqrt({0})",
    Op.RSQRT: "(1.0 / tl.sqrt({0}))", Op.RECIPROCAL: "(1.0 / {0})", Op.SIN: "tl.sin({0})",
    Op.COS: "tl.cos({0})", Op.TAN: "(tl.sin({0}) / tl.cos({0}))", Op.TANH: "tm.tanh({0})",
    Op.ATAN: "tm.atan({0})", Op.ERF: "tl.erf({0})", Op.FLOOR: "tl.floor({0})", Op.CEIL: "tl.ceil({0})",
    Op.TRUNC: "tm.trunc({0})", Op.ROUND: "tm.round_half_even({0})", Op.SIGN: "tm.sign({0})",
    Op.LOGICAL_NOT: "({0} == 0)", Op.BITWISE_NOT: "(~{0})",
}
BINARY_CODE = {
    Op.ADD: "({0} + {1})", Op.SUB: "({0} - {1})", Op.MUL: "({0} * {1})", Op.DIV: "({0} / {1})",
    Op.MAXIMUM: "tm.maximum({0}, {1})", Op.MINIMUM: "tm.minimum({0}, {1})", Op.ATAN2: "tm.atan2({0}, {1})",
    Op.BITWISE_AND: "({0} & {1})", Op.BITWISE_OR: "({0} | {1})", Op.BITWISE_XOR: "({0} ^ {1})",
    Op.EQ: "({0} == {1})", Op.NE: "({0} != {1})", Op.LT: "({0} < {1})", Op.LE: "({0} <= {1})",
    Op.GT: "({0} > {1})", Op.GE: "({0} >= {1})",
}

BOOL_CODE = {
    Op.ADD: "({0} | {1})", Op.MUL: "({0} & {1})", Op.MAXIMUM: "({0} | {1})", Op.MINIMUM: "({0} & {1})",
}


def compute_type(dtype: DType) -> str:
    """Registers hold float16/bfloat16 as float32."""
    return "tl.float32" if dtype.is_low_precision else TRITON_TYPE[dtype]


def rounded(node: Node, code: str) -> str:
    """`code` rounded to the float16/bfloat16 type of `node`'s result and held in float32 again, as eager
    rounds after every op: a later cast to a wider type then sees eager's value, not a more precise one."""
    dtype = node.output.dtype
    if not dtype.is_low_precision or node.op in EXACT_IN_LOW_PRECISION:
        return code
    return round_to(dtype, code)


def round_to(dtype: DType, code: str) -> str:
    """float32 `code` rounded to float16 or bfloat16 (to nearest, ties to even), held in float32."""
    if dtype is DType.BFLOAT16:
        return f"tm.round_to_bfloat16({code})"
    return f"{code}.to(tl.float16).to(tl.float32)"


def pointwise_code(node: Node, args: list[str]) -> str:
    """The Triton expression of a pointwise node (or cast or where) on the expressions of its inputs."""
    op, dtype = node.op, node.inputs[0].dtype if node.inputs else node.output.dtype
    if op is Op.CAST:
        target, value = node.attrs["dtype"], args[0]
        if target is DType.BOOL:
            return f"({value} != 0)"
        if target.is_low_precision:  # through float32, as c10 converts
            return round_to(target, f"{value}.to(tl.float32)")
        return f"{value}.to({TRITON_TYPE[target]})"
    if op is Op.WHERE:
        return f"tl.where({args[0]}, {args[1]}, {args[2]})"
    if op in UNARY:
        if op in (Op.FLOOR, Op.CEIL, Op.TRUNC, Op.ROUND) and not dtype.is_float:
            return args[0]  # rounding an integer changes nothing
        if op is Op.SIGN and dtype is DType.BOOL:
            return args[0]  # a bool is its own sign (and int1 values cannot be subtracted)
        if op is Op.BITWISE_NOT and dtype is DType.UINT8:
            return f"({args[0]} ^ {DType.UINT8.highest}).to(tl.uint8)"  # `~` xors with -1, which uint8 cannot hold
        return UNARY_CODE[op].format(*args)
    if dtype is DType.BOOL and op in BOOL_CODE:
        return BOOL_CODE[op].format(*args)  # int1 arithmetic would wrap: True + True is True in torch
    integer = not dtype.is_float
    if op is Op.FLOORDIV:
        return f"tm.floordiv_int({args[0]}, {args[1]})" if integer else f"tl.floor({args[0]} / {args[1]})"
    if op is Op.REMAINDER:
        return f"tm.remainder_int({args[0]}, {args[1]})" if integer else f"tm.remainder_float({args[0]}, {args[1]})"
    if op is Op.FMOD:
        return f"({args[0]} % {args[1]})" if integer else f"tm.fmod_float({args[0]}, {args[1]})"
    if op is Op.POW:
        if integer:
            power = f"tm.power({args[0]}.to(tl.float64), {args[1]}.to(tl.float64))"
            return f"tm.round_half_even({power}).to({TRITON_TYPE[dtype]})"
        return f"tm.power({args[0]}, {args[1]})"
    return BINARY_CODE[op].format(*args)


def literal(value) -> str:
    """A Python number as Triton source (bools as 0/1, NaN and infinities spelled out)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f'float("{value}")'
    return repr(value)


def extreme_literal(dtype: DType, lowest: bool) -> str:
    """The identity of max (lowest=True) or min over `dtype`."""
    return literal(dtype.lowest if lowest else dtype.highest)
