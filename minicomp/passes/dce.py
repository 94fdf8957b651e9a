"""Dead-code elimination: drop nodes none of whose outputs reach a graph output."""

from __future__ import annotations

from minicomp.ir.graph import Graph, Value, size_symbols


def dce(graph: Graph) -> Graph:
    """Keep only nodes that (transitively) feed an output, or bind a size (tensor.item()'s u0) a kept node or
    an output mentions; the graph is functional, so this is safe."""
    live = {o for o in graph.outputs if isinstance(o, Value)}
    sizes = size_symbols(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(v in live for v in node.outputs) or node.attrs.get("binds") in sizes:
            kept.append(node)
            live.update(node.inputs)
            sizes |= size_symbols(node)
    new = graph.copy_shell()
    new.nodes = list(reversed(kept))
    new.outputs = list(graph.outputs)
    return new
