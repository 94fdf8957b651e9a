"""Common-subexpression elimination: one node per distinct (op, inputs, attrs)."""

from __future__ import annotations

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import Op
from minicomp.ir.printer import format_attr
from minicomp.passes.rewrite import rebuild


def cse(graph: Graph) -> Graph:
    """Reuse the first node computing the same thing; fallbacks are never merged (they may be random)."""
    seen: dict[tuple, Value] = {}

    def rule(node: Node, new: Graph):
        if node.op is Op.FALLBACK:
            return None
        key = (node.op, tuple(node.inputs), format_attr(node.attrs))
        if key in seen:
            return seen[key]
        seen[key] = node.output
        return None

    return rebuild(graph, rule)
