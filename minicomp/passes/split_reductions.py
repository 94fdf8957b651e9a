"""Split reductions: a reduction over more than MAX_ROW elements becomes two, so every row fits a block.

It runs for the Triton target (the numpy backend has no block to fit). Triton kernels keep a whole
reduced row on chip (a persistent reduction, like the Triton tutorial's
softmax). That is the fast shape up to tens of thousands of elements, but a sum over a whole
activation (millions) cannot live in one block. Like Inductor's split reductions, such a reduction
is rewritten as: move the reduced axes last, flatten them, pad with the reduction's identity to a
multiple of CHUNK, reduce chunks, then reduce the partial results. Sums change their order of
additions (within float tolerance); max, min and prod are exact. argmax/argmin over huge rows and
rows of dynamic length are left whole: the Triton generator reduces those in a loop.
"""

from __future__ import annotations

import math
from typing import Optional

import sympy

from minicomp.ir.dtypes import DType
from minicomp.ir.graph import Graph, Node, Value
from minicomp.ir.ops import Op
from minicomp.passes.rewrite import rebuild

MAX_ROW = 65536
CHUNK = 4096


def split_reductions(graph: Graph) -> Graph:
    """Rewrite every sum/prod/max/min over more than MAX_ROW elements into two smaller reductions."""
    return rebuild(graph, lambda node, new: _split(node, new))


def _split(node: Node, new: Graph) -> Optional[Value]:
    if node.op not in (Op.SUM, Op.PROD, Op.MAX, Op.MIN):
        return None
    source, axes = node.inputs[0], tuple(node.attrs["axes"])
    reduced = sympy.Mul(*[source.shape[a] for a in axes]) if axes else sympy.Integer(1)
    if not reduced.is_Integer or int(reduced) <= MAX_ROW:
        return None
    kept = [a for a in range(source.rank) if a not in axes]
    outer = [source.shape[a] for a in kept]
    rows = new.add(Op.PERMUTE, [source], dims=tuple(kept + list(axes))) if kept + list(axes) != list(range(source.rank)) \
        else source
    length = int(reduced)
    padded = math.ceil(length / CHUNK) * CHUNK
    rows = new.add(Op.RESHAPE, [rows], shape=tuple(outer) + (length,))
    if padded != length:
        pads = tuple((0, 0) for _ in outer) + ((0, padded - length),)
        rows = new.add(Op.PAD, [rows], pads=pads, value=_identity(node.op, source.dtype))
    chunks = new.add(Op.RESHAPE, [rows], shape=tuple(outer) + (padded // CHUNK, CHUNK))
    partial = new.add(node.op, [chunks], axes=(len(outer) + 1,), keepdim=False)
    total = new.add(node.op, [partial], axes=(len(outer),), keepdim=False)
    return new.add(Op.RESHAPE, [total], shape=node.output.shape) if tuple(total.shape) != tuple(node.output.shape) \
        else total


def _identity(op: Op, dtype: DType):
    """The value that leaves `op` unchanged, as a Python number of `dtype`'s kind."""
    if op is Op.SUM:
        return False if dtype is DType.BOOL else (0.0 if dtype.is_float else 0)
    if op is Op.PROD:
        return True if dtype is DType.BOOL else (1.0 if dtype.is_float else 1)
    return dtype.lowest if op is Op.MAX else dtype.highest
