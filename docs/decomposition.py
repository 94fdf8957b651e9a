"""PrimTorch in minicomp, in numbers: how many ops torch has, how few we keep, what the demo block becomes.

Run it with `python docs/decomposition.py` (or `make docs`); docs/decomposition.md explains each part.
"""

from __future__ import annotations

import collections
from typing import Callable

import torch
from torch._decomp import core_aten_decompositions
from functorch.compile import make_boxed_func
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.partitioners import min_cut_rematerialization_partition
from torch.fx.experimental.proxy_tensor import make_fx

from minicomp.demo import TransformerBlock
from minicomp.frontend.decompositions import EXTRA, decomposition_table
from minicomp.frontend.lower import lower_fx
from minicomp.frontend.lowerings import LOWERINGS
from minicomp.ir import Kernel, ops
from minicomp.ir.ops import Op
from minicomp.passes.pipeline import PIPELINE, run_pipeline

GROUPS = [
    ("elementwise, one input", ops.UNARY), ("elementwise, two inputs", ops.BINARY),
    ("comparisons", ops.COMPARISON), ("where and cast", {Op.WHERE, Op.CAST}), ("reductions", ops.REDUCTION),
    ("views and layout", ops.LAYOUT), ("creation", ops.CREATION), ("indexing", ops.INDEXING),
    ("extern", ops.EXTERN),
]


def heading(title: str) -> None:
    print(f"\n== {title}")


def count_aten_overloads() -> int:
    """ATen operator overloads registered with the dispatcher (every `aten::name.overload`)."""
    return sum(1 for name in torch._C._dispatch_get_all_op_names() if name.startswith("aten::"))


def show_vocabulary() -> None:
    """The closed primitive set, by group."""
    heading("1. the primitive vocabulary (minicomp/ir/ops.py)")
    print(f"Op members: {len(Op)}")
    for name, group in GROUPS:
        print(f"  {name:24} {len(group):3}  {' '.join(sorted(op.value for op in group))}")


def show_tables() -> None:
    """Sizes of torch's operator set and of our two tables."""
    heading("2. torch's operators and our two tables")
    table = decomposition_table()
    packets = {overload.overloadpacket for overload in LOWERINGS}
    print(f"ATen operator overloads registered in torch: {count_aten_overloads()}")
    print(f"torch's core-ATen decomposition table: {len(core_aten_decompositions())} entries")
    print(f"our decomposition table (frontend/decompositions.py): {len(table)} entries "
          f"({len(EXTRA)} composite ops added by name)")
    print(f"LOWERINGS (frontend/lowerings/*.py): {len(LOWERINGS)} ATen overloads in {len(packets)} ops")


def show_gelu() -> None:
    """One op all the way down: aten.gelu -> decomposed ATen -> IR -> IR after the passes."""
    heading("3. one op all the way down: gelu")
    x = torch.randn(4, 8)
    gelu = torch.nn.functional.gelu
    print("traced without decompositions:")
    print(indent(make_fx(gelu)(x).code))
    decomposed = make_fx(gelu, decomposition_table=decomposition_table())(x)
    print("traced with our decomposition table:")
    print(indent(decomposed.code))
    graph = lower_fx(decomposed, "gelu", allow_fallback=True).graph
    print("lowered to minicomp IR:")
    print(indent(str(graph)))
    graph, _ = run_pipeline(graph)
    print(f"after the passes ({', '.join(step.name for step in PIPELINE)}):")
    print(indent(str(graph)))


def capture_graphs(decompositions: dict) -> list:
    """Forward and backward ATen graphs of the demo block, as AOTAutograd hands them to a backend."""
    graphs = []

    def keep(gm: torch.fx.GraphModule, example_inputs) -> Callable:
        graphs.append(gm)
        return make_boxed_func(gm.forward)

    torch.manual_seed(0)
    model = TransformerBlock()
    x = torch.randn(2, 8, 32, requires_grad=True)
    torch._dynamo.reset()
    backend = aot_autograd(fw_compiler=keep, bw_compiler=keep, decompositions=decompositions,
                           partition_fn=min_cut_rematerialization_partition)  # as entry.py
    torch.compile(model, backend=backend)(x).sum().backward()
    torch._dynamo.reset()
    return graphs


def aten_ops(gm: torch.fx.GraphModule) -> collections.Counter:
    return collections.Counter(str(node.target) for node in gm.graph.nodes if node.op == "call_function"
                               and not str(node.target).startswith("<built-in"))


def ir_ops(graph) -> collections.Counter:
    return collections.Counter(node.op.value for node in graph.all_nodes())


def show_demo_block() -> None:
    """Distinct ops in the demo block before decomposition, after it, and as IR primitives."""
    heading("4. the demo transformer block, forward + backward")
    before = capture_graphs({})
    after = capture_graphs(decomposition_table())
    for kind, raw, decomposed in zip(("forward", "backward"), before, after):
        raw_ops, decomposed_ops = aten_ops(raw), aten_ops(decomposed)
        lowered = lower_fx(decomposed, kind, allow_fallback=True)
        optimized, _ = run_pipeline(lowered.graph)
        primitive_ops, final_ops = ir_ops(lowered.graph), ir_ops(optimized)
        print(f"{kind}:")
        print(f"  ATen, no decompositions:    {len(raw_ops):3} distinct ops, {sum(raw_ops.values()):4} nodes")
        print(f"  ATen, our decompositions:   {len(decomposed_ops):3} distinct ops, {sum(decomposed_ops.values()):4} nodes")
        print(f"  IR primitives, lowered:     {len(primitive_ops):3} distinct ops, {sum(primitive_ops.values()):4} nodes"
              f" ({primitive_ops['fallback']} fallback)")
        kernels = sum(1 for item in optimized.nodes if isinstance(item, Kernel))
        print(f"  IR primitives, after passes:{len(final_ops):3} distinct ops, {sum(final_ops.values()):4} nodes"
              f" ({kernels} fused kernels)")
        print(f"  ATen ops, no decompositions:  {' '.join(sorted(name_of(op) for op in raw_ops))}")
        print(f"  decomposed ATen ops:          {' '.join(sorted(name_of(op) for op in decomposed_ops))}")
        print(f"  primitives:                   {' '.join(sorted(primitive_ops))}")
        print(f"  still falling back to torch:  {' '.join(sorted(set(lowered.fallback_ops))) or 'none'}")


def name_of(op: str) -> str:
    """`aten.mm.default` -> `aten.mm`: the op without its overload, for short lists."""
    return op.rsplit(".", 1)[0]


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.strip("\n").splitlines())


def main() -> None:
    show_vocabulary()
    show_tables()
    show_gelu()
    show_demo_block()


if __name__ == "__main__":
    main()
