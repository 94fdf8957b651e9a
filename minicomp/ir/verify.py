"""Structural checks run between passes in tests: SSA order, unique names, types that match the rules."""

from __future__ import annotations

from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import Op, ShapeError, infer
from minicomp.ir.shapes import shapes_equal


class VerificationError(AssertionError):
    """The graph breaks an IR invariant; the message names the node."""


def verify(graph: Graph) -> None:
    """Raise VerificationError unless every value is defined once, before use, with the type its op gives."""
    defined: set[Value] = set(graph.tensor_inputs)
    names: set[str] = {v.name for v in graph.tensor_inputs}
    for item in graph.nodes:
        if item.is_kernel:
            _check_uses(item.inputs, defined, f"kernel {item.name}")
        inner = set(defined)
        for node in item.nodes:
            _check_uses(node.inputs, inner, _describe(node))
            _check_types(node)
            for value in node.outputs:
                if value.name in names:
                    raise VerificationError(f"{_describe(node)}: name {value.name} defined twice")
                names.add(value.name)
                inner.add(value)
        if item.is_kernel:
            for value in item.outputs:
                if value not in inner:
                    raise VerificationError(f"kernel {item.name}: writes {value.name} which no node produces")
            defined |= set(item.outputs)
        else:
            defined = inner
    for output in graph.outputs:
        if isinstance(output, Value) and output not in defined:
            raise VerificationError(f"graph output {output.name} is never defined")


def _check_uses(values, defined, where):
    for value in values:
        if value not in defined:
            raise VerificationError(f"{where}: uses {value.name} before it is defined")


def _check_types(node: Node) -> None:
    if node.op is Op.FALLBACK:
        return
    try:
        dtype, shape = infer(node.op, [(v.dtype, v.shape) for v in node.inputs], node.attrs)
    except ShapeError as error:
        raise VerificationError(f"{_describe(node)}: {error}") from error
    out = node.output
    if dtype != out.dtype or not shapes_equal(shape, out.shape):
        raise VerificationError(f"{_describe(node)}: output typed {out.dtype!r}{list(out.shape)}, "
                                f"rule gives {dtype!r}{list(shape)}")


def _describe(node: Node) -> str:
    return f"{node.op.value} -> {', '.join(v.name for v in node.outputs)}"
