"""Views: collapse chains of views into one, so each kernel reads a buffer through a single index map.

reshape(reshape(x)) is one reshape, permute(permute(x)) one permute (or none), expand(expand(x)) one
expand. Copies that only change layout (clone, contiguous) never reach the IR: the lowering drops them.
`view_roots` says which buffer a view reads, for the cost and memory accounting and the compiler.
"""

from __future__ import annotations

from typing import Optional

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import VIEW, Op
from minicomp.passes.rewrite import rebuild


def views(graph: Graph) -> Graph:
    """Rewrite each view whose input is a view of the same kind into a single view of the source."""
    producers: dict[Value, Node] = {}

    def rule(node: Node, new: Graph) -> Optional[Value]:
        replacement = _collapse(node, producers.get(node.inputs[0]) if node.inputs else None, new)
        if replacement is None and node.outputs:  # a node binding tensor.item()'s u0 has none
            producers[node.outputs[0]] = node
        return replacement

    return rebuild(graph, rule)


def view_roots(graph: Graph) -> dict[Value, Value]:
    """For each value made by a chain of views (inside kernels too), the buffer it reads: views move no
    bytes, so traffic, liveness and aliasing are the root buffer's."""
    roots: dict[Value, Value] = {}
    for node in graph.all_nodes():
        if node.op in VIEW:
            source = node.inputs[0]
            roots[node.output] = roots.get(source, source)
    return roots


def _collapse(node: Node, inner: Optional[Node], new: Graph) -> Optional[Value]:
    if inner is None or inner.op is not node.op or node.op not in (Op.RESHAPE, Op.PERMUTE, Op.EXPAND):
        return None
    source = inner.inputs[0]
    if node.op is Op.PERMUTE:
        dims = tuple(inner.attrs["dims"][d] for d in node.attrs["dims"])
        if dims == tuple(range(len(dims))):
            return source
        return new.add(Op.PERMUTE, [source], dims=dims)
    if node.op is Op.RESHAPE and source.shape == node.output.shape:
        return source
    return new.add(node.op, [source], shape=node.attrs["shape"])
