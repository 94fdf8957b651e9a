"""The pass pipeline: order, options that switch passes off, verification and timing of every pass."""

from __future__ import annotations

import dataclasses

import torch

import minicomp
from helpers import compile_and_compare
from minicomp.ir import DType, Graph, Op, verify
from minicomp.options import Options
from minicomp.passes.pipeline import BACKEND_NEEDS, PIPELINE, run_pipeline


def softmax_graph() -> Graph:
    graph = Graph("softmax")
    x = graph.add_input("x", DType.FLOAT32, [4, 8])
    row_max = graph.add(Op.MAX, [x], axes=(1,), keepdim=True)
    shifted = graph.add(Op.SUB, [x, graph.add(Op.EXPAND, [row_max], shape=(4, 8))])
    exp = graph.add(Op.EXP, [shifted])
    total = graph.add(Op.SUM, [exp], axes=(1,), keepdim=True)
    graph.outputs = [graph.add(Op.DIV, [exp, graph.add(Op.EXPAND, [total], shape=(4, 8))])]
    return graph


def test_pass_names_are_unique_and_options_exist():
    names = [step.name for step in PIPELINE]
    assert len(set(names)) == len(names)
    fields = {field.name for field in dataclasses.fields(Options)}
    assert {step.option for step in PIPELINE if step.option} <= fields | BACKEND_NEEDS
    assert {"fusion", "memory_planning"} <= {step.option for step in PIPELINE}


def test_run_pipeline_verifies_reports_and_times_every_pass_in_order():
    seen = []
    checked = []
    graph, seconds = run_pipeline(softmax_graph(), after_pass=lambda name, g: seen.append(name),
                                  check=lambda g: checked.append(verify(g)))
    assert seen == [step.name for step in PIPELINE] == list(seconds)
    assert len(checked) == len(PIPELINE)
    assert all(value >= 0 for value in seconds.values())


def test_disabled_options_skip_their_passes():
    seen = []
    run_pipeline(softmax_graph(), enabled=lambda option: False, after_pass=lambda name, g: seen.append(name))
    assert seen == [step.name for step in PIPELINE if step.option is None]


def test_pipeline_leaves_its_input_graph_unchanged():
    graph = softmax_graph()
    before = str(graph)
    run_pipeline(graph)
    assert str(graph) == before


def test_options_off_show_in_the_report():
    x = torch.randn(6, 10)
    compile_and_compare(lambda x: torch.softmax(x, -1) * 2, x, grad=False,
                        options={"fusion": False, "memory_planning": False})
    (plain,) = minicomp.reports()
    assert "fusion" not in plain.pass_seconds and "memory" not in plain.pass_seconds
    assert plain.peak_bytes == plain.naive_peak_bytes
    assert plain.bytes_moved == plain.naive_bytes_moved
    compile_and_compare(lambda x: torch.softmax(x, -1) * 2, x, grad=False)
    (fused,) = minicomp.reports()
    assert {"fusion", "memory"} <= set(fused.pass_seconds)
    assert fused.num_kernels < plain.num_kernels
    assert fused.bytes_moved < plain.bytes_moved


def test_a_compile_verifies_every_pass_only_when_asked(monkeypatch):
    # the checks cost a third of a compile: a user's compile skips them, the tests (conftest) and
    # MINICOMP_VERIFY=1 run them after every pass
    import minicomp.compiler

    checked = []
    monkeypatch.setattr(minicomp.compiler, "verify", lambda graph: checked.append(graph))
    x = torch.randn(4, 8)
    for setting, expected in (("0", 0), ("1", sum(1 for p in PIPELINE if p.option != "block_sized_rows"))):
        monkeypatch.setenv("MINICOMP_VERIFY", setting)
        checked.clear()
        minicomp.reset()
        compiled = torch.compile(lambda x: torch.softmax(x, -1), backend="minicomp", options={"target": "numpy"})
        torch.testing.assert_close(compiled(x), torch.softmax(x, -1))
        assert len(checked) == expected
