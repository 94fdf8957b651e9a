"""Graphviz rendering of a Graph: values as edges, nodes as boxes, kernels as clusters."""

from __future__ import annotations

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.printer import format_type


def to_dot(graph: Graph) -> str:
    """DOT source for `graph`; render it with `dot -Tsvg`."""
    lines = [f'digraph "{graph.name}" {{', "  rankdir=TB;", '  node [fontname="monospace", fontsize=10];']
    producer: dict[Value, str] = {}
    for value in graph.tensor_inputs:
        lines.append(f'  "{value.name}" [shape=ellipse, label="{value.name}\\n{format_type(value)}"];')
        producer[value] = value.name
    edges: list[str] = []
    for index, item in enumerate(graph.nodes):
        if item.is_kernel:
            lines.append(f'  subgraph "cluster_{item.name}" {{')
            lines.append(f'    label="{item.name}"; style=rounded; color=blue;')
            for node in item.nodes:
                lines.append("  " + _node_line(node, producer, edges))
            lines.append("  }")
        else:
            lines.append(_node_line(item, producer, edges))
    for position, output in enumerate(graph.outputs):
        if isinstance(output, Value):
            lines.append(f'  "output{position}" [shape=ellipse, style=dashed, label="output {position}"];')
            edges.append(f'  "{producer[output]}" -> "output{position}";')
    return "\n".join(lines + edges + ["}"]) + "\n"


def _node_line(node: Node, producer: dict, edges: list) -> str:
    # a node without outputs (one binding tensor.item()'s size) has no value name: its id() is the unique name
    node_id = "n_" + node.outputs[0].name if node.outputs else f"n_{id(node)}"
    label = node.op.value if node.op.value != "fallback" else f"fallback\\n{node.attrs['target']}"
    types = "\\n".join(format_type(v) for v in node.outputs)
    for value in node.inputs:
        edges.append(f'  "{producer[value]}" -> "{node_id}" [label="{value.name}"];')
    for value in node.outputs:
        producer[value] = node_id
    style = "box, style=filled, fillcolor=lightgrey" if node.is_extern else "box"
    return f'  "{node_id}" [shape={style}, label="{label}\\n{types}"];'
