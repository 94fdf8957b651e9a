"""Folding: constants through casts and broadcasts, algebraic identities (x*1, x+0, no-op views),
and reductions in one canonical form (keepdim=False, then a reshape)."""

from __future__ import annotations

from typing import Optional

import sympy

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import REDUCTION, Op
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
    constants: dict[int, Node] = {}

    def rule(node: Node, new: Graph) -> Optional[Value]:
        replacement = _fold_node(node, constants, new)
        if replacement is None and node.op is Op.FULL:
            constants[id(node.output)] = node
        elif new.nodes and new.nodes[-1].op is Op.FULL and new.nodes[-1].output is replacement:
            constants[id(replacement)] = new.nodes[-1]
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
    source = constants.get(id(node.inputs[0])) if node.inputs else None
    float_to_integer = node.op is Op.CAST and isinstance(source and source.attrs["value"], float) \
        and not node.output.dtype.is_float
    if source is not None and node.op in (Op.EXPAND, Op.RESHAPE, Op.CAST) and not float_to_integer:
        # a constant stays a constant: full(v) viewed or cast is full(v') of the new type
        out = node.output
        return new.add(Op.FULL, [], value=_convert(source.attrs["value"], out.dtype), dtype=out.dtype, shape=out.shape)
    if node.op in IDENTITIES:
        neutral, positions = IDENTITIES[node.op]
        for position in positions:
            constant = constants.get(id(node.inputs[position]))
            other = node.inputs[1 - position]
            if constant is not None and constant.attrs["value"] == neutral and _same_type(other, node.output):
                return other
    return None


def _same_type(a: Value, b: Value) -> bool:
    return a.dtype == b.dtype and len(a.shape) == len(b.shape) and all(
        sympy.simplify(x - y) == 0 for x, y in zip(a.shape, b.shape))


def _convert(value, dtype):
    """A Python scalar converted like torch converts a tensor element (float -> int truncates)."""
    if dtype.name == "BOOL":
        return bool(value)
    if dtype.is_integer:
        return int(value)
    return float(value)
