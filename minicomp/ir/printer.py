"""Stable, diff-friendly text form of a Graph: one line per node, attrs sorted, sources as comments."""

from __future__ import annotations

from typing import Any

import sympy

from minicomp.ir.graph import Graph, Kernel, Node, Value


def format_type(value: Value) -> str:
    """`f32[4, s0]` for a value's dtype and shape."""
    return f"{value.dtype.value}[{', '.join(format_expr(s) for s in value.shape)}]"


def format_expr(expr: Any) -> str:
    """Sizes print as plain integers or sympy expressions in a fixed order."""
    if isinstance(expr, sympy.Basic):
        return str(expr) if not expr.is_Integer else str(int(expr))
    return str(expr)


def format_attr(value: Any) -> str:
    """Attributes print in a compact, deterministic form (Values as %name)."""
    if isinstance(value, Value):
        return f"%{value.name}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(format_attr(v) for v in value)
        return f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_attr(v)}" for k, v in sorted(value.items())) + "}"
    if hasattr(value, "value") and hasattr(value, "name") and type(value).__module__.startswith("minicomp"):
        return str(value.value)  # an enum such as DType
    if isinstance(value, float):
        return repr(value)
    return format_expr(value)


def format_node(node: Node, indent: str = "  ") -> str:
    """`t3: f32[4, 8] = add(t1, t2)  # model.py:12` — the line for one node."""
    outputs = ", ".join(f"{v.name}: {format_type(v)}" for v in node.outputs)
    args = [v.name for v in node.inputs]
    args += [f"{key}={format_attr(node.attrs[key])}" for key in sorted(node.attrs)]
    line = f"{indent}{outputs} = {node.op.value}({', '.join(args)})"
    if node.source:
        line += f"  # {node.source}"
    return line


def format_kernel(kernel: Kernel, indent: str = "  ") -> list[str]:
    """A kernel as a block: its reads and writes, then its nodes indented."""
    reads = ", ".join(v.name for v in kernel.inputs)
    writes = ", ".join(v.name for v in kernel.outputs)
    lines = [f"{indent}kernel {kernel.name}(reads: {reads}; writes: {writes}) {{"]
    if kernel.reason:
        lines.append(f"{indent}  # boundary: {kernel.reason}")
    lines += [format_node(node, indent + "  ") for node in kernel.nodes]
    lines.append(f"{indent}}}")
    return lines


def format_graph(graph: Graph) -> str:
    """The whole graph; equal graphs print equal text, so dumps diff cleanly."""
    params = ", ".join(f"{v.name}: {format_type(v)}" if isinstance(v, Value) else f"{v}: int"
                       for v in graph.inputs)
    lines = [f"graph {graph.name}({params}) {{"]
    for item in graph.nodes:
        if item.is_kernel:
            lines += format_kernel(item)
        else:
            lines.append(format_node(item))
    outputs = ", ".join("None" if o is None else (o.name if isinstance(o, Value) else format_expr(o))
                        for o in graph.outputs)
    lines.append(f"  return ({outputs})")
    lines.append("}")
    if graph.plan is not None:
        lines.append(graph.plan.format().rstrip("\n"))
    return "\n".join(lines) + "\n"
