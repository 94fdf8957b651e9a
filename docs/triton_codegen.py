"""Runnable companion to docs/triton_codegen.md: the Triton kernel minicomp writes for a fused softmax.

    TRITON_INTERPRET=1 python docs/triton_codegen.py      (on CPU: Triton's interpreter runs the kernel)
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import minicomp  # noqa: E402
from minicomp.backends.triton_codegen import write_kernel  # noqa: E402
from minicomp.ir import DType, Graph, Op, Kernel  # noqa: E402
from minicomp.kernels.loop_form import lower_kernel  # noqa: E402
from minicomp.kernels.merge_axes import merge_axes  # noqa: E402
from minicomp.passes.fusion import fusion  # noqa: E402


def softmax_graph() -> Graph:
    """softmax over the last axis of an [R, 1000] input, written with primitives by hand."""
    graph = Graph("softmax")
    x = graph.add_input("x", DType.FLOAT32, ["R", 1000])
    row_max = graph.add(Op.MAX, [x], axes=(1,), keepdim=True)
    shifted = graph.add(Op.SUB, [x, graph.add(Op.EXPAND, [row_max], shape=x.shape)])
    exponent = graph.add(Op.EXP, [shifted])
    total = graph.add(Op.SUM, [exponent], axes=(1,), keepdim=True)
    graph.outputs = [graph.add(Op.DIV, [exponent, graph.add(Op.EXPAND, [total], shape=x.shape)])]
    return graph


def main() -> None:
    fused = fusion(softmax_graph())
    (kernel,) = [item for item in fused.nodes if isinstance(item, Kernel)]
    print(f"one kernel with {len(kernel.nodes)} nodes: {' '.join(op.value for op in kernel.ops)}\n")
    print(write_kernel(merge_axes(lower_kernel(kernel, "softmax_kernel"))).source)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.randn(37, 1000, device=device)
    minicomp.reset()
    result = torch.compile(lambda t: torch.softmax(t, -1), backend="minicomp", options={"target": "triton"})(x)
    torch.testing.assert_close(result, torch.softmax(x, -1))
    (report,) = minicomp.reports()
    print(f"torch.compile(..., options={{'target': 'triton'}}) on {device}: {report.num_kernels} kernel, "
          f"matches eager; passes {sum(report.passes_seconds().values()):.3f} s")


if __name__ == "__main__":
    main()
