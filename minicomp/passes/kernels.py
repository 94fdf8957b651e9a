"""Turn fusion groups into Kernel regions in a valid order, copying views and constants into each."""

from __future__ import annotations

import heapq

from minicomp.ir.graph import Graph, Kernel, Node, Value
from minicomp.passes import fusion_rules as rules


def build_kernels(graph: Graph, fuser) -> Graph:
    """A new graph whose items are Kernels, extern nodes, and the top-level views externs and outputs need."""
    new = graph.copy_shell()
    emitted: set[int] = set()
    units = _units_in_order(graph, fuser)
    for unit in units:
        if not isinstance(unit, Node):
            kernel = _make_kernel(new, unit, fuser, len([i for i in new.nodes if isinstance(i, Kernel)]))
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
    units = {}
    for node in graph.nodes:
        if id(node) in fuser.group_of:
            unit = fuser.group_of[id(node)]
            units.setdefault(id(unit), unit)
    depends = {key: set() for key in units}
    for key, unit in units.items():
        nodes = unit.nodes if not isinstance(unit, Node) else [unit]
        for node in nodes:
            for producer in fuser.compute_producers(node):
                other = id(fuser.group_of[id(producer)])
                if other != key:
                    depends[key].add(other)
    first = {key: min(fuser.position[id(n)] for n in (u.nodes if not isinstance(u, Node) else [u]))
             for key, u in units.items()}
    waiting = {key: len(deps) for key, deps in depends.items()}
    dependents: dict[int, list[int]] = {key: [] for key in units}
    for key, deps in depends.items():
        for dep in deps:
            dependents[dep].append(key)
    ready = [(first[key], key) for key, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(units[key])
        for dependent in dependents[key]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (first[dependent], dependent))
    if len(order) != len(units):
        raise AssertionError("fusion produced a cycle between kernels")
    return order


def _make_kernel(new: Graph, group, fuser, index: int) -> Kernel:
    members = {id(n) for n in group.nodes}
    nodes: list[Node] = []
    inputs: dict[int, Value] = {}
    copies: dict[int, Value] = {}

    def resolve(value: Value) -> Value:
        producer = fuser.producers.get(id(value))
        if producer is not None and id(producer) in members:
            return value
        if producer is not None and rules.is_free(producer):
            if id(value) not in copies:
                copy = Value(new.fresh_name(), value.dtype, value.shape)
                nodes.append(Node(producer.op, [resolve(v) for v in producer.inputs], dict(producer.attrs),
                                  [copy], producer.source))
                copies[id(value)] = copy
            return copies[id(value)]
        inputs.setdefault(id(value), value)
        return value

    for node in group.nodes:
        nodes.append(Node(node.op, [resolve(v) for v in node.inputs], node.attrs, node.outputs, node.source))
    outputs = [n.output for n in group.nodes if fuser.is_sink(n, members)]
    reason = "; ".join(dict.fromkeys(group.refused)) if group.refused else ""
    return Kernel(f"k{index}", nodes, list(inputs.values()), outputs, reason)


def _emit_free(new: Graph, value: Value, fuser, emitted: set) -> None:
    """Put the views/constants producing `value` at top level (once), inputs first."""
    producer = fuser.producers.get(id(value))
    if producer is None or not rules.is_free(producer) or id(producer) in emitted:
        return
    for source in producer.inputs:
        _emit_free(new, source, fuser, emitted)
    emitted.add(id(producer))
    new.nodes.append(producer)
