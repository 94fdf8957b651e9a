"""Runnable companion to docs/cpp_codegen.md: from a fused layer_norm kernel to C++ loops.

    python docs/cpp_codegen.py
"""

import torch

import minicomp
from minicomp.backends.cpp_codegen import write_kernel
from minicomp.ir import DType, Graph, Kernel, Op
from minicomp.kernels.loop_form import lower_kernel
from minicomp.passes.fusion import fusion


def layer_norm_graph() -> Graph:
    """layer_norm over the last axis of an [R, 768] input (no weight), written with primitives by hand."""
    graph = Graph("layer_norm")
    x = graph.add_input("x", DType.FLOAT32, ["R", 768])
    mean = graph.add(Op.DIV, [graph.add(Op.SUM, [x], axes=(1,), keepdim=True),
                              graph.add(Op.FULL, [], value=768.0, dtype=DType.FLOAT32, shape=("R", 1))])
    centered = graph.add(Op.SUB, [x, graph.add(Op.EXPAND, [mean], shape=x.shape)])
    squares = graph.add(Op.MUL, [centered, centered])
    variance = graph.add(Op.DIV, [graph.add(Op.SUM, [squares], axes=(1,), keepdim=True),
                                  graph.add(Op.FULL, [], value=768.0, dtype=DType.FLOAT32, shape=("R", 1))])
    scale = graph.add(Op.RSQRT, [graph.add(Op.ADD, [variance, graph.add(
        Op.FULL, [], value=1e-5, dtype=DType.FLOAT32, shape=("R", 1))])])
    graph.outputs = [graph.add(Op.MUL, [centered, graph.add(Op.EXPAND, [scale], shape=x.shape)])]
    return graph


def main() -> None:
    fused = fusion(layer_norm_graph())
    (kernel,) = [item for item in fused.nodes if isinstance(item, Kernel)]
    print(f"1. one kernel with {len(kernel.nodes)} nodes: {' '.join(op.value for op in kernel.ops)}\n")

    loops = lower_kernel(kernel, "layer_norm_kernel")
    print(f"2. its loop form: domain {loops.shape}, reduced axes {loops.reduced_axes}, "
          f"loop variables {loops.variables}")
    for statement in loops.statements:
        where = "element" if statement.varies else "row"
        detail = statement.node.op.value if statement.node is not None else ""
        index = f" at {statement.index}" if statement.index is not None else ""
        print(f"   {statement.name:4} {statement.kind:8} {detail:10} {where:8} depth {statement.depth}{index}")
    for store in loops.stores:
        print(f"   store out{store.position}[{store.index}] = {store.statement.name}")

    print("\n3. the C++ printer's loops:\n")
    print(write_kernel(loops).source)

    x = torch.randn(300, 768)
    minicomp.reset()
    result = torch.compile(lambda t: torch.nn.functional.layer_norm(t, (768,)), backend="minicomp",
                           options={"target": "cpp"})(x)
    torch.testing.assert_close(result, torch.nn.functional.layer_norm(x, (768,)))
    (report,) = minicomp.reports()
    print(f"4. torch.compile(..., options={{'target': 'cpp'}}): {report.num_kernels} kernel, matches eager; "
          f"{report.pass_seconds['codegen']:.3f} s of code generation, "
          f"{report.pass_seconds['cpp_compiler']:.3f} s in the C++ compiler (0 when the library was cached)")


if __name__ == "__main__":
    main()
