"""The one helper passes share: rebuild a graph node by node, letting a rule replace a node's output."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from minicomp.ir.graph import Graph, Node, Value

Rule = Callable[[Node, Graph], Optional[Value]]


def rebuild(graph: Graph, rule: Rule) -> Graph:
    """A new graph where each node (inputs remapped) is offered to `rule`.

    The rule returns a Value to use instead of the node's output (it may add nodes to the new graph
    first), or None to keep the node.
    """
    new = graph.copy_shell()
    remap: dict[Value, Value] = {}

    def mapped(value: Value) -> Value:
        return remap.get(value, value)

    for item in graph.nodes:
        if item.is_kernel:
            new.nodes.append(item)  # passes that rewrite nodes run before fusion builds kernels
            continue
        node = dataclasses.replace(item, inputs=[mapped(v) for v in item.inputs],
                                   attrs={key: _remap(value, mapped) for key, value in item.attrs.items()})
        new.source = node.source
        replacement = rule(node, new)
        if replacement is None:
            new.nodes.append(node)
        else:
            remap[node.output] = replacement
    new.outputs = [mapped(o) if isinstance(o, Value) else o for o in graph.outputs]
    return new


def _remap(attr, mapped):
    """Values inside attrs (a fallback's argument template) follow the same replacements as inputs."""
    if isinstance(attr, Value):
        return mapped(attr)
    if isinstance(attr, (list, tuple)):
        return type(attr)(_remap(item, mapped) for item in attr)
    if isinstance(attr, dict):
        return {key: _remap(item, mapped) for key, item in attr.items()}
    return attr

