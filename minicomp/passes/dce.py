"""Dead-code elimination: drop nodes none of whose outputs reach a graph output."""

from __future__ import annotations

from minicomp.ir.graph import Graph, Value


def dce(graph: Graph) -> Graph:
    """Keep only nodes that (transitively) feed an output; the graph is functional, so this is safe."""
    live = {id(o) for o in graph.outputs if isinstance(o, Value)}
    kept = []
    for node in reversed(graph.nodes):
        if any(id(v) in live for v in node.outputs):
            kept.append(node)
            live.update(id(v) for v in node.inputs)
    new = graph.copy_shell()
    new.nodes = list(reversed(kept))
    new.outputs = list(graph.outputs)
    return new
