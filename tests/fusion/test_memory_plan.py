"""Memory planning: buffers are reused across a deep stack, results never change, plans are sound."""

import torch
from torch import nn

import minicomp
from minicomp.demo import TransformerBlock
from minicomp.ir import DType, Graph, Op, verify
from minicomp.passes.fusion import fusion
from minicomp.passes.memory import memory


def test_six_transformer_blocks_share_memory():
    torch.manual_seed(0)
    model = nn.Sequential(*[TransformerBlock(dim=32, heads=4, hidden=64) for _ in range(6)]).eval()
    x = torch.randn(2, 16, 32)
    minicomp.reset()
    with torch.no_grad():
        result = torch.compile(model, backend="minicomp")(x)
        expected = model(x)
    torch.testing.assert_close(result, expected)
    (report,) = minicomp.reports()
    assert report.fallback_ops == []
    assert report.peak_bytes <= 0.4 * report.naive_peak_bytes, (report.peak_bytes, report.naive_peak_bytes)


def test_plan_gives_identical_results_to_no_plan():
    torch.manual_seed(0)
    model = nn.Sequential(TransformerBlock(), TransformerBlock()).eval()
    x = torch.randn(2, 8, 32)
    with torch.no_grad():
        minicomp.reset()
        planned = torch.compile(model, backend="minicomp")(x)
        minicomp.reset()
        unplanned = torch.compile(model, backend="minicomp", options={"memory_planning": False})(x)
    assert torch.equal(planned, unplanned)


def build():
    """x -> matmul -> exp -> matmul: the exp kernel can overwrite the first matmul's dying output."""
    graph = Graph("g")
    x = graph.add_input("x", DType.FLOAT32, [4, 4])
    a = graph.add(Op.MATMUL, [x, x])
    b = graph.add(Op.EXP, [a])
    c = graph.add(Op.MATMUL, [b, x])
    d = graph.add(Op.NEG, [c])
    graph.outputs = [d]
    return graph, (x, a, b, c, d)


def test_pointwise_kernel_writes_in_place_over_a_dying_input():
    graph, (x, a, b, c, d) = build()
    planned = memory(fusion(graph))
    verify(planned)
    plan = planned.plan
    assert plan.in_place == {b.name: a.name}
    assert x.name not in plan.offsets and d.name not in plan.offsets  # inputs and outputs stay out
    assert plan.offsets[b.name] == plan.offsets[a.name]
    assert plan.arena_bytes == 2 * 4 * 4 * 4  # a/b share a slot, c has its own (d is an output)


def test_plan_is_printed_in_the_dump(tmp_path):
    minicomp.reset()
    torch.compile(lambda x: torch.softmax(x @ x, -1) @ x, backend="minicomp",
                  options={"dump_dir": str(tmp_path)})(torch.randn(4, 4))
    (folder,) = tmp_path.iterdir()
    final = sorted(folder.glob("*_memory.txt"))[-1].read_text()
    assert "arena:" in final and "offset" in final
