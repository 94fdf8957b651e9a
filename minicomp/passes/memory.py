"""Memory planning: liveness over the kernel schedule, then one arena where dead buffers are reused.

A buffer is freed after its last reader runs (a view keeps the buffer it views alive). A new buffer
takes a free slot of exactly its (64-byte aligned) size, or grows the arena. A pointwise kernel writes its output
in place over an input that dies in that kernel when size and dtype match and the input is read at
the output's own positions. Graph inputs and outputs never live in the arena, so they are never
clobbered; nor do constants, which the backend keeps for the life of the compiled graph, nor buffers
whose size is known only once the op making them has run (nonzero's u0), since the arena is allocated
when the graph starts.
"""

from __future__ import annotations

import sympy

from minicomp.ir.graph import Graph, Node, Value, size_symbols
from minicomp.ir.ops import GENERATED, POINTWISE, VIEW, Op
from minicomp.ir.plan import MemoryPlan
from minicomp.ir.shapes import shapes_equal, sizes_equal
from minicomp.passes.views import view_roots


def memory(graph: Graph) -> Graph:
    """Attach a MemoryPlan to a copy of the graph."""
    units = [item for item in graph.nodes if item.is_kernel or item.op not in VIEW]
    constants = [item.output for item in units if not item.is_kernel and item.op is Op.CONSTANT]
    root = view_roots(graph)
    keep_out = set(graph.tensor_inputs) | set(constants)
    keep_out |= {root.get(o, o) for o in graph.outputs if isinstance(o, Value)}
    entry_sizes = size_symbols(graph.inputs)  # the sizes known when the graph starts
    keep_out |= {v for unit in units for v in unit.outputs if size_symbols(v) - entry_sizes}
    last_use: dict[Value, int] = {}
    for index, unit in enumerate(units):
        for value in unit.inputs:
            last_use[root.get(value, value)] = index

    offsets, sizes, in_place = {}, {}, {}
    free: list[tuple[sympy.Expr, sympy.Expr]] = []  # (size, offset)
    slot_of: dict[Value, tuple[sympy.Expr, sympy.Expr]] = {}
    arena = sympy.Integer(0)
    for index, unit in enumerate(units):
        dying = [v for v in _unique(unit.inputs, root) if v in slot_of and last_use.get(v) == index]
        for value in unit.outputs:
            if value in keep_out:
                continue
            size = aligned(value.nbytes)
            donor = _in_place_donor(unit, value, dying)
            if donor is not None:
                dying.remove(donor)
                slot = slot_of.pop(donor)
                in_place[value.name] = donor.name
            else:
                slot = _take(free, size)
                if slot is None:
                    slot = (size, arena)
                    arena = arena + size
            slot_of[value] = slot
            offsets[value.name], sizes[value.name] = slot[1], size
            if value not in last_use:
                free.append(slot_of.pop(value))  # written but never read (kept for its kernel only)
        for value in dying:
            free.append(slot_of.pop(value))
    new = graph.copy_shell()
    new.nodes = list(graph.nodes)
    new.outputs = list(graph.outputs)
    new.plan = MemoryPlan(sympy.simplify(arena), offsets, sizes, in_place)
    return new


ALIGNMENT = 64  # bytes; every slot starts on a boundary any element type (and a GPU load) is happy with


def aligned(nbytes: sympy.Expr) -> sympy.Expr:
    """Bytes rounded up to a whole number of ALIGNMENT blocks."""
    return ALIGNMENT * sympy.ceiling(sympy.sympify(nbytes) / ALIGNMENT)


def _take(free: list, size: sympy.Expr):
    for position, (slot_size, offset) in enumerate(free):
        if sizes_equal(slot_size, size):
            return free.pop(position)
    return None


def _in_place_donor(unit, output: Value, dying: list):
    """A dying input a pointwise kernel may overwrite: same bytes and dtype, read at the output's positions."""
    if any(node.op not in POINTWISE and node.op not in VIEW and node.op not in GENERATED for node in unit.nodes):
        return None
    for candidate in dying:
        same_type = candidate.dtype == output.dtype and shapes_equal(candidate.shape, output.shape)
        readers = [node for node in unit.nodes if candidate in node.inputs]
        if same_type and readers and all(_reads_directly(node, candidate) for node in readers):
            return candidate
    return None


def _reads_directly(node: Node, value: Value) -> bool:
    return node.op in POINTWISE and shapes_equal(node.output.shape, value.shape)


def _unique(values, root) -> list[Value]:
    return list(dict.fromkeys(root.get(value, value) for value in values))
