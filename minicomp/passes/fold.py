"""Folding: constants through casts and broadcasts, algebraic identities (x*1, x+0, no-op views),
and reductions in one canonical form (keepdim=False, then a reshape)."""

from __future__ import annotations

import math
from typing import Optional

import sympy

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import REDUCTION, Op
from minicomp.ir.shapes import shapes_equal
from minicomp.passes.rewrite import rebuild

# op -> (constant that leaves the other operand unchanged, which operand may be that constant)
IDENTITIES = {
    Op.ADD: (0, (0, 1)),
    Op.SUB: (0, (1,)),
    Op.MUL: (1, (0, 1)),
    Op.DIV: (1, (1,)),
}


def fold(graph: Graph) -> Graph:
    """Apply the folding rules once, in order; later passes see the simplified graph."""
    constants: dict[Value, Node] = {}

    def rule(node: Node, new: Graph) -> Optional[Value]:
        replacement = _fold_node(node, constants, new)
        if replacement is None and node.op is Op.FULL:
            constants[node.output] = node
        elif new.nodes and new.nodes[-1].op is Op.FULL and new.nodes[-1].output is replacement:
            constants[replacement] = new.nodes[-1]
        return replacement

    return rebuild(graph, rule)


def _fold_node(node: Node, constants: dict, new: Graph) -> Optional[Value]:
    if node.op in REDUCTION and node.attrs["keepdim"]:
        # one canonical form, so CSE sees sum(x, keepdim=True) and sum(x) as the same reduction
        reduced = new.add(node.op, node.inputs, **{**node.attrs, "keepdim": False})
        return new.add(Op.RESHAPE, [reduced], shape=node.output.shape)
    if node.op in (Op.RESHAPE, Op.EXPAND, Op.CAST, Op.PERMUTE) and _same_type(node.inputs[0], node.output):
        if node.op is not Op.PERMUTE or list(node.attrs["dims"]) == sorted(node.attrs["dims"]):
            return node.inputs[0]
    source = constants.get(node.inputs[0]) if node.inputs else None
    float_to_integer = node.op is Op.CAST and isinstance(source and source.attrs["value"], float) \
        and not node.output.dtype.is_float
    if source is not None and node.op in (Op.EXPAND, Op.RESHAPE, Op.CAST) and not float_to_integer:
        # a constant stays a constant: full(v) viewed or cast is full(v') of the new type
        out = node.output
        value = _convert(source.attrs["value"], source.output.dtype, out.dtype)
        if value is not None:
            return new.add(Op.FULL, [], value=value, dtype=out.dtype, shape=out.shape)
    if node.op in IDENTITIES:
        _, positions = IDENTITIES[node.op]
        for position in positions:
            constant = constants.get(node.inputs[position])
            other = node.inputs[1 - position]
            if constant is not None and _is_neutral(node.op, constant.attrs["value"], other.dtype) \
                    and _same_type(other, node.output):
                return other
    return None


def _is_neutral(op: Op, value, dtype) -> bool:
    """Whether `value` leaves the other operand unchanged bit for bit (x + 0.0 turns -0.0 into 0.0, x + -0.0 does not)."""
    if value != IDENTITIES[op][0]:
        return False
    if dtype.is_float and op in (Op.ADD, Op.SUB):
        negative_zero = math.copysign(1.0, value) < 0
        return negative_zero if op is Op.ADD else not negative_zero
    return True


def _same_type(a: Value, b: Value) -> bool:
    return a.dtype == b.dtype and shapes_equal(a.shape, b.shape)


def _convert(value, source, target):
    """The constant `value` of type `source` converted like torch converts a tensor element to `target`,
    or None when the Python number cannot say it exactly (a float not representable in `source`)."""
    if isinstance(value, sympy.Basic) and not value.is_number:
        return value if target.is_float or target.is_integer else None  # a size: exact in either
    if target.name == "BOOL":
        return bool(value)
    if target.is_integer:
        return target.wrap(value)  # integer casts wrap around, like C and torch
    if not source.is_float:  # an integer or bool: exact as a Python float below 2**53
        return float(value) if abs(value) < 2 ** 53 else None
    value = float(value)
    # a Python float is a double: exact for float64, and for integers small enough for every float type
    exact = source.name == "FLOAT64" or not math.isfinite(value) or (value.is_integer() and abs(value) <= 256)
    return value if exact else None
