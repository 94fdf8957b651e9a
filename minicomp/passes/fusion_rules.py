"""When may nodes share a kernel? Domains, reduction signatures and the index rule for in-kernel edges.

A kernel iterates over a domain of `outer * reduced` elements. A pointwise kernel has no reduced part.
A reduction kernel has a signature: the input shape S and the axes A that its reductions reduce (all
its reductions share it), so `outer` = the elements of S outside A and `reduced` = those inside A.
Every value computed in a kernel is either
  - full-size (one per element of S, at the same linear position), or
  - row-size (one per outer element: reduction results and what is computed from them), or
  - a small pointwise value recomputed for every element that reads it (only if no reduction feeds it
    and nothing outside the kernel reads it: recomputing cheap math is fine, recomputing a reduction
    or a matmul is not).
An edge between two nodes of a kernel may pass through views only when the consumer reads the
producer at its own position (a chain of reshapes), or a row-size value broadcast along exactly A;
other index maps (permute, slice, cat, pad, gather) need the producer recomputable at any position.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import sympy

from minicomp.ir.graph import Node, Value
from minicomp.ir.ops import EXTERN, GENERATED, INTEGER_DIVISION, POINTWISE, REDUCTION, VIEW, Op
from minicomp.ir.shapes import shapes_equal, sizes_equal

# Ops whose inputs are read at positions other than the output's own (so through an index map).
INDEXED_READS = frozenset({Op.CAT, Op.PAD, Op.GATHER})
MAX_NODES_PER_KERNEL = 96


def may_divide_by_zero(node: Node, producers: dict) -> bool:
    """Is `node` an integer division whose divisor may be zero (so it raises, as in torch)? A constant
    non-zero divisor, broadcast or not (the `// 2` of index arithmetic), cannot be."""
    if node.op not in INTEGER_DIVISION or node.output.dtype.is_float:
        return False
    divisor = producers.get(node.inputs[1])
    while divisor is not None and divisor.op in VIEW:
        divisor = producers.get(divisor.inputs[0])
    value = divisor.attrs["value"] if divisor is not None and divisor.op is Op.FULL else 0
    return isinstance(value, sympy.Basic) or value == 0


def is_free(node: Node) -> bool:
    """Views and generated constants cost nothing of their own: each kernel that needs one gets a copy."""
    return node.op in VIEW or node.op in GENERATED


def is_fusible(node: Node) -> bool:
    """Compute nodes that can live in a fused kernel (externs and scatters run alone)."""
    return node.op in POINTWISE or node.op in REDUCTION or node.op in INDEXED_READS


@dataclasses.dataclass(frozen=True)
class Signature:
    """The reduction domain of a kernel: the reductions' input shape and reduced axes."""

    shape: tuple
    axes: tuple

    @property
    def outer(self) -> sympy.Expr:
        return sympy.Mul(*[s for i, s in enumerate(self.shape) if i not in self.axes])

    @property
    def reduced(self) -> sympy.Expr:
        return sympy.Mul(*[self.shape[i] for i in self.axes])

    def matches(self, other: "Signature") -> bool:
        return self.axes == other.axes and shapes_equal(self.shape, other.shape)


def signature_of(node: Node) -> Optional[Signature]:
    if node.op not in REDUCTION:
        return None
    return Signature(tuple(node.inputs[0].shape), tuple(node.attrs["axes"]))


def kernel_signature(kernel) -> Optional[Signature]:
    """The reduction domain of a kernel or fusion group (all its reductions share one), None without reductions."""
    return next((s for s in map(signature_of, kernel.nodes) if s is not None), None)


def view_chain(value: Value, producers: dict) -> tuple[Value, list[Node]]:
    """Walk back through views from `value`: the value they view and the views, innermost first."""
    chain = []
    node = producers.get(value)
    while node is not None and node.op in VIEW:
        chain.append(node)
        value = node.inputs[0]
        node = producers.get(value)
    chain.reverse()
    return value, chain


def is_row_broadcast(chain: list[Node], signature: Signature) -> bool:
    """Reshapes around one expand that broadcasts exactly the reduced axes of `signature`."""
    expands = [node for node in chain if node.op is Op.EXPAND]
    if len(expands) != 1 or any(node.op not in (Op.RESHAPE, Op.EXPAND) for node in chain):
        return False
    expand = expands[0]
    before, after = expand.inputs[0].shape, expand.output.shape
    if not shapes_equal(after, signature.shape):
        return False
    grown = {i for i, (b, a) in enumerate(zip(before, after)) if not sizes_equal(a, b)}
    wanted = {i for i in signature.axes if not sizes_equal(signature.shape[i], 1)}
    kept_ones = all(sizes_equal(before[i], 1) for i in signature.axes)
    return grown == wanted and kept_ones


def is_same_position(chain: list[Node]) -> bool:
    """Reshapes keep every element at its linear position; nothing else does."""
    return all(node.op is Op.RESHAPE for node in chain)


def is_expensive(node: Node) -> bool:
    return node.op in REDUCTION or node.op in EXTERN
