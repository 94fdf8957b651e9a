"""Turn fusion groups into Kernel regions in a valid order, copying views and constants into each."""

from __future__ import annotations

import heapq

from minicomp.ir.graph import Graph, Kernel, Node, Value
from minicomp.passes import fusion_rules as rules


def build_kernels(graph: Graph, fuser) -> Graph:
    """A new graph whose items are Kernels, extern nodes, and the top-level views externs and outputs need."""
    new = graph.copy_shell()
    emitted: set[Node] = set()
    units = _units_in_order(graph, fuser)
    for unit in units:
        if not isinstance(unit, Node):
            kernel = _make_kernel(new, unit, fuser, len([i for i in new.nodes if i.is_kernel]))
            for value in kernel.inputs:
                _emit_free(new, value, fuser, emitted)
            new.nodes.append(kernel)
        else:
            for value in unit.inputs:
                _emit_free(new, value, fuser, emitted)
            new.nodes.append(unit)
    for output in graph.outputs:
        if isinstance(output, Value):
            _emit_free(new, output, fuser, emitted)
    new.outputs = list(graph.outputs)
    return new


def _units_in_order(graph: Graph, fuser) -> list:
    """Groups and lone compute nodes, topologically sorted, earliest original position first."""
    units = list(dict.fromkeys(fuser.group_of[node] for node in graph.nodes if node in fuser.group_of))
    depends = {unit: set() for unit in units}
    for unit in units:
        for node in unit.nodes:
            for producer in fuser.compute_producers(node):
                other = fuser.group_of[producer]
                if other is not unit:
                    depends[unit].add(other)
    # each unit's earliest original position; distinct, since a node is in one unit, so it names the unit
    first = {unit: min(fuser.position[n] for n in unit.nodes) for unit in units}
    unit_at = {position: unit for unit, position in first.items()}
    waiting = {unit: len(deps) for unit, deps in depends.items()}
    dependents: dict = {unit: [] for unit in units}
    for unit, deps in depends.items():
        for dep in deps:
            dependents[dep].append(unit)
    ready = [first[unit] for unit, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        unit = unit_at[heapq.heappop(ready)]
        order.append(unit)
        for dependent in dependents[unit]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, first[dependent])
    if len(order) != len(units):
        raise AssertionError("fusion produced a cycle between kernels")
    return order


def _make_kernel(new: Graph, group, fuser, index: int) -> Kernel:
    members = set(group.nodes)
    nodes: list[Node] = []
    inputs: dict[Value, None] = {}  # the values read from memory, in order of first use
    copies: dict[Value, Value] = {}

    def resolve(value: Value) -> Value:
        producer = fuser.producers.get(value)
        if producer is not None and producer in members:
            return value
        if producer is not None and rules.is_free(producer):
            if value not in copies:
                copy = Value(new.fresh_name(), value.dtype, value.shape)
                nodes.append(Node(producer.op, [resolve(v) for v in producer.inputs], dict(producer.attrs),
                                  [copy], producer.source))
                copies[value] = copy
            return copies[value]
        inputs.setdefault(value)
        return value

    for node in group.nodes:
        nodes.append(Node(node.op, [resolve(v) for v in node.inputs], node.attrs, node.outputs, node.source))
    outputs = [n.output for n in group.nodes if fuser.is_sink(n, members)]
    reason = "; ".join(dict.fromkeys(group.refused)) if group.refused else ""
    return Kernel(f"k{index}", nodes, list(inputs), outputs, reason)


def _emit_free(new: Graph, value: Value, fuser, emitted: set) -> None:
    """Put the views/constants producing `value` at top level (once), inputs first."""
    producer = fuser.producers.get(value)
    if producer is None or not rules.is_free(producer) or producer in emitted:
        return
    for source in producer.inputs:
        _emit_free(new, source, fuser, emitted)
    emitted.add(producer)
    new.nodes.append(producer)
