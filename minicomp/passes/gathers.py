"""Gather sinking: gather(f(a, b), i) -> f(gather(a, i), gather(b, i)) for pointwise f.

Cross-entropy gathers one log-probability per row from a full log_softmax; after sinking, the
gather reads the logits directly and the row statistics (max, log-sum-exp) are used as they are,
so the full log_softmax never has to be written to memory. It only fires when the gather picks
fewer elements than the pointwise value has, so it never adds work; it stops at an integer division,
whose division by zero must raise whichever elements the gather picks, as in eager.
"""

from __future__ import annotations

from typing import Optional

import sympy

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import BINARY, COMPARISON, UNARY, Op
from minicomp.ir.shapes import sizes_equal
from minicomp.passes.fusion_rules import may_divide_by_zero
from minicomp.passes.rewrite import rebuild

SINKS_THROUGH = UNARY | BINARY | COMPARISON | {Op.WHERE, Op.CAST}


def sink_gathers(graph: Graph) -> Graph:
    """Push every gather below the pointwise ops, broadcasts and constants that produce its input."""
    producers: dict[Value, Node] = {}

    def rule(node: Node, new: Graph) -> Optional[Value]:
        replacement = None
        if node.op is Op.GATHER and sympy.simplify(node.output.numel - node.inputs[0].numel).is_negative:
            replacement = _sink(node.inputs[0], node.inputs[1], node.attrs["axis"], producers, new)
        if replacement is None:
            for value in node.outputs:
                producers[value] = node
        return replacement

    return rebuild(graph, rule)


def _sink(source: Value, index: Value, axis: int, producers: dict, new: Graph) -> Optional[Value]:
    """The gather of `source` at `index`, built below source's producer; None where it cannot go."""
    producer = producers.get(source)
    same_other_dims = all(sizes_equal(a, b) for d, (a, b) in enumerate(zip(index.shape, source.shape)) if d != axis)
    if producer is None or not same_other_dims:
        return None
    if may_divide_by_zero(producer, producers):
        return None
    if producer.op in SINKS_THROUGH:
        operands = [_sink(v, index, axis, producers, new) or new.add(Op.GATHER, [v, index], axis=axis)
                    for v in producer.inputs]
        return new.add(producer.op, operands, **producer.attrs)
    if producer.op is Op.FULL:
        return new.add(Op.FULL, [], **{**producer.attrs, "shape": tuple(index.shape)})
    if producer.op is Op.EXPAND and producer.inputs[0].shape[axis] == 1:
        row = producer.inputs[0]
        return new.add(Op.EXPAND, [row], shape=tuple(index.shape)) if _can_expand(row, index) else None
    return None


def _can_expand(row: Value, index: Value) -> bool:
    return all(r == 1 or sizes_equal(r, i) for r, i in zip(row.shape, index.shape))
