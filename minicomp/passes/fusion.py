"""Fusion: group compute nodes into kernels so each intermediate stays on chip instead of in memory.

Greedy, like Inductor's scheduler but smaller: (1) vertical — visit nodes in order and merge each into
the producer kernel it reads the most bytes from, then its other producers' kernels too; (2) horizontal
— merge kernels with the same domain that read the same buffer, most shared bytes first. Every merge
must keep the graph acyclic, keep one reduction domain per kernel, obey the index rule in
fusion_rules.py, and stay under MAX_NODES_PER_KERNEL. Views and constants are copied into every kernel
that reads them. Each kernel remembers why its neighbours were not merged into it.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

from minicomp.ir.graph import Graph, Node, Value, size_symbols
from minicomp.ir.ops import REDUCTION
from minicomp.ir.shapes import evaluate_size, sizes_equal
from minicomp.passes import fusion_rules as rules
from minicomp.passes.kernels import build_kernels


@dataclasses.dataclass(eq=False)
class Group:
    """Compute nodes that will become one kernel, with the merges refused and why."""

    nodes: list
    refused: list = dataclasses.field(default_factory=list)


class Fuser:
    """The state of one fusion run: who produces and who reads each value, and which group holds a node."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.position = {node: index for index, node in enumerate(graph.nodes)}
        self.producers = {v: node for node in graph.nodes for v in node.outputs}
        self.binders = {node.attrs["binds"]: node for node in graph.nodes if "binds" in node.attrs}
        self.consumers: dict[Node, list[Node]] = {node: [] for node in graph.nodes}
        self._compute_producers: dict[Node, tuple] = {}  # the graph does not change while fusing
        self.group_of: dict[Node, Union[Group, Node]] = {}
        self.outputs = {self.root(o) for o in graph.outputs if isinstance(o, Value)}
        for node in graph.nodes:
            if rules.is_free(node):
                continue
            for producer in self.compute_producers(node):
                self.consumers[producer].append(node)
            self.group_of[node] = Group([node]) if rules.is_fusible(node) else node

    # -- graph queries ----------------------------------------------------------------------
    def root(self, value: Value) -> Value:
        return rules.view_chain(value, self.producers)[0]

    def compute_producers(self, node: Node) -> tuple:
        """The compute nodes `node` reads from, looking through views and constants, and those that bind
        the sizes it or those views mention (tensor.item()'s u0): it must run after them. Found once per
        node: every merge the fuser weighs asks again for each node of both groups."""
        if node not in self._compute_producers:
            self._compute_producers[node] = tuple(self._find_compute_producers(node))
        return self._compute_producers[node]

    def _find_compute_producers(self, node: Node) -> list[Node]:
        found = [self.binders[name] for name in sorted(size_symbols(node)) if name in self.binders]
        stack = list(node.inputs)
        while stack:
            producer = self.producers.get(stack.pop())
            if producer is None:
                continue
            if rules.is_free(producer):
                stack.extend(producer.inputs)
                found += [self.binders[name] for name in sorted(size_symbols(producer))
                          if name in self.binders and self.binders[name] not in found]
            elif producer not in found:
                found.append(producer)
        return found

    def unit(self, node: Node):
        return self.group_of[node]

    def successors(self, unit) -> set:
        return {self.unit(c) for n in unit.nodes for c in self.consumers[n]} - {unit}

    def reaches_through_others(self, start, goal) -> bool:
        """Is there a path start -> X -> ... -> goal with X another unit? Merging would make a cycle."""
        frontier = [unit for unit in self.successors(start) if unit is not goal]
        seen = set(frontier)
        while frontier:
            current = frontier.pop()
            for nxt in self.successors(current):
                if nxt is goal:
                    return True
                if nxt not in seen and nxt is not start:
                    seen.add(nxt)
                    frontier.append(nxt)
        return False

    # -- merging ----------------------------------------------------------------------------
    def refusal(self, a: Group, b: Group) -> Optional[str]:
        """Why a and b cannot be one kernel, or None if they can."""
        nodes = sorted(a.nodes + b.nodes, key=lambda n: self.position[n])
        if len(nodes) > rules.MAX_NODES_PER_KERNEL:
            return f"kernel would exceed {rules.MAX_NODES_PER_KERNEL} nodes"
        signatures = [s for s in (rules.signature_of(n) for n in nodes) if s is not None]
        if any(not s.matches(signatures[0]) for s in signatures[1:]):
            return "different reduction domains"
        if self.reaches_through_others(a, b) or self.reaches_through_others(b, a):
            return "would create a cycle through another kernel"
        return self.index_refusal(nodes, signatures[0] if signatures else None)

    def index_refusal(self, nodes: list[Node], signature) -> Optional[str]:
        members = set(nodes)
        after_reduction: set[Node] = set()
        for node in nodes:
            upstream = [p for p in self.compute_producers(node) if p in members]
            if node.op in REDUCTION or any(p in after_reduction for p in upstream):
                after_reduction.add(node)
        domain = self.domain(nodes, members, signature)
        if isinstance(domain, str):
            return domain
        for node in nodes:
            size = self.size_class(node.output, domain, signature)
            sink = self.is_sink(node, members)
            if size == "other" and (sink or node in after_reduction):
                return f"{node.outputs[0].name} has {node.output.numel} elements, not the kernel's {domain}"
            for position, value in enumerate(node.inputs):
                source, chain = rules.view_chain(value, self.producers)
                producer = self.producers.get(source)
                if producer is not None and producer in members and rules.may_divide_by_zero(producer, self.producers) \
                        and (node.op in rules.INDEXED_READS or not rules.is_same_position(chain)):
                    return (f"{node.outputs[0].name} would compute {producer.outputs[0].name} only where it reads it, "
                            "and an integer division must see every divisor")
                if producer is None or producer not in members or producer not in after_reduction:
                    continue
                if node.op in rules.INDEXED_READS:
                    return f"{node.op.value} reads {producer.outputs[0].name} out of position after a reduction"
                reader = "full" if node.op in REDUCTION else size
                written = self.size_class(source, domain, signature)
                if rules.is_same_position(chain) and reader == written:
                    continue
                if signature is not None and written == "row" and reader == "full" \
                        and rules.is_row_broadcast(chain, signature):
                    continue
                return f"{node.outputs[0].name} reads {source.name} through a view that moves elements"
        return None

    def domain(self, nodes, members, signature):
        """Elements per kernel: the reduction input size, else the size of every value written out."""
        if signature is not None:
            return signature.outer * signature.reduced
        sizes = [n.output.numel for n in nodes if self.is_sink(n, members)]
        if any(not sizes_equal(s, sizes[0]) for s in sizes[1:]):
            return "its outputs have different sizes"
        return sizes[0] if sizes else nodes[-1].output.numel

    @staticmethod
    def size_class(value: Value, domain, signature) -> str:
        if sizes_equal(value.numel, domain):
            return "full"
        if signature is not None and sizes_equal(value.numel, signature.outer):
            return "row"
        return "other"

    def is_sink(self, node: Node, members: set) -> bool:
        """Is the node's value needed outside the kernel (so it must be written to memory)?"""
        return node.output in self.outputs or any(c not in members for c in self.consumers[node])

    def merge(self, a: Group, b: Group) -> Optional[str]:
        """Merge b into a if allowed; return the refusal otherwise."""
        reason = self.refusal(a, b)
        if reason is not None:
            return reason
        a.nodes = sorted(a.nodes + b.nodes, key=lambda n: self.position[n])
        a.refused += b.refused
        for node in b.nodes:
            self.group_of[node] = a
        return None

    # -- the two phases ---------------------------------------------------------------------
    def fuse_vertically(self) -> None:
        for node in self.graph.nodes:
            if not isinstance(self.group_of.get(node), Group):
                continue
            saved: dict[Group, int] = {}  # bytes a merge keeps on chip, per producer group
            for producer in self.compute_producers(node):
                unit = self.unit(producer)
                if isinstance(unit, Group) and unit is not self.unit(node):
                    saved[unit] = saved.get(unit, 0) + int(_bytes(producer.output))
            for producer_group, _ in sorted(saved.items(), key=lambda entry: -entry[1]):
                own = self.unit(node)
                if producer_group is own:
                    continue
                reason = self.merge(producer_group, own)
                if reason is not None:
                    producer_group.refused.append(f"not fused with {node.outputs[0].name}: {reason}")
            for producer in self.compute_producers(node):
                if not isinstance(self.unit(producer), Group) and producer.outputs:
                    own = self.unit(node)
                    own.refused.append(f"reads {producer.outputs[0].name} from extern {producer.op.value}")

    def fuse_horizontally(self) -> None:
        """Merge kernels that read the same buffer, most shared bytes first."""
        readers: dict[Value, list[Group]] = {}
        for unit in self.groups():
            for node in unit.nodes:
                for value in node.inputs:
                    root = self.root(value)
                    producer = self.producers.get(root)
                    if producer is not None and (rules.is_free(producer) or self.unit(producer) is unit):
                        continue
                    groups = readers.setdefault(root, [])
                    if unit not in groups:
                        groups.append(unit)
        pairs = [(_bytes(root), a, b) for root, groups in readers.items()
                 for i, a in enumerate(groups) for b in groups[i + 1:]]
        # Independent reductions over one domain share a launch even when they read nothing in common.
        reductions = [g for g in self.groups() if rules.kernel_signature(g) is not None]
        pairs += [(0, a, b) for i, a in enumerate(reductions) for b in reductions[i + 1:]
                  if rules.kernel_signature(a).matches(rules.kernel_signature(b))]
        for _, a, b in sorted(pairs, key=lambda pair: -pair[0]):
            a_unit, b_unit = self.current(a), self.current(b)
            if a_unit is not b_unit:
                self.merge(a_unit, b_unit)

    def current(self, group: Group) -> Group:
        return self.unit(group.nodes[0])

    def groups(self) -> list[Group]:
        seen, result = set(), []
        for node in self.graph.nodes:
            unit = self.group_of.get(node)
            if isinstance(unit, Group) and unit not in seen:
                seen.add(unit)
                result.append(unit)
        return result


def _bytes(value: Value) -> int:
    """The bytes of `value`, taking 64 for each dynamic size: the weight of a merge."""
    return evaluate_size(value.nbytes, {}, missing=64)


def fusion(graph: Graph) -> Graph:
    """Group the graph's compute nodes into Kernel regions (see the module docstring for the rules)."""
    fuser = Fuser(graph)
    fuser.fuse_vertically()
    fuser.fuse_horizontally()
    return build_kernels(graph, fuser)
