"""Traffic and memory accounting over a graph: what each kernel reads and writes, and buffer totals."""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.ir.graph import Graph, Value
from minicomp.ir.ops import EXTERN, VIEW, Op
from minicomp.ir.shapes import evaluate_size
from minicomp.passes.views import view_roots


@dataclasses.dataclass
class KernelCost:
    """A unit the backend launches: its name, ops, and bytes it moves (extern calls included)."""

    name: str
    ops: list[str]
    bytes_read: int
    bytes_written: int
    extern: bool


def launch_units(graph: Graph) -> list:
    """What runs as one launch: each Kernel, and each unfused node that is neither a view nor constant data."""
    return [item for item in graph.nodes if item.is_kernel or (item.op not in VIEW and item.op is not Op.CONSTANT)]


def costs(graph: Graph, hints: dict) -> list[KernelCost]:
    """Bytes read and written per launch unit, with symbolic sizes evaluated at `hints` (1 for a size without one)."""
    storage = view_roots(graph)
    result = []
    for item in launch_units(graph):
        reads = dict.fromkeys(storage.get(v, v) for v in item.inputs)  # each buffer once, views as what they view
        read = sum(evaluate_size(_bytes_read(v, item.nodes), hints, missing=1) for v in reads)
        written = sum(evaluate_size(v.nbytes, hints, missing=1) for v in item.outputs)
        extern = not item.is_kernel and item.op in EXTERN
        result.append(KernelCost(item.name, [n.op.value for n in item.nodes], read, written, extern))
    return result


def _bytes_read(buffer: Value, nodes: list) -> sympy.Expr:
    """A buffer read only by gathers costs the elements gathered, not the whole buffer."""
    readers = [node for node in nodes if any(v is buffer for v in node.inputs)]
    if readers and all(node.op is Op.GATHER and node.inputs[0] is buffer and buffer not in node.inputs[1:]
                       for node in readers):
        return sympy.Min(buffer.nbytes, sum(node.output.numel for node in readers) * buffer.dtype.itemsize)
    return buffer.nbytes


def naive_peak_bytes(graph: Graph, hints: dict) -> int:
    """Memory for intermediates if every buffer got its own allocation (graph inputs and outputs excluded)."""
    roots = view_roots(graph)
    excluded = set(graph.tensor_inputs) | {roots.get(o, o) for o in graph.outputs if isinstance(o, Value)}
    return sum(evaluate_size(v.nbytes, hints, missing=1) for item in launch_units(graph) for v in item.outputs
               if v not in excluded)
