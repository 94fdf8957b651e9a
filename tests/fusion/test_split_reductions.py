"""Reductions over more than MAX_ROW elements are split in two, so every kernel row fits one block."""

import pytest
import torch

import minicomp
from minicomp.ir import DType, Graph, Op, verify
from minicomp.passes.split_reductions import CHUNK, MAX_ROW, split_reductions


def test_a_long_sum_becomes_two_reductions():
    graph = Graph("g")
    x = graph.add_input("x", DType.FLOAT32, [3, MAX_ROW + 5])
    graph.outputs = [graph.add(Op.SUM, [x], axes=(1,), keepdim=False)]
    split = split_reductions(graph)
    verify(split)
    reductions = [n for n in split.nodes if n.op is Op.SUM]
    assert [n.inputs[0].shape[-1] for n in reductions] == [CHUNK, (MAX_ROW + 5 + CHUNK - 1) // CHUNK]


REDUCTIONS = [torch.sum, torch.amax, torch.amin, lambda x: x.mean()]


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_long_reductions_match_eager(reduce, target="numpy"):
    """Also run on the Triton backend by tests/triton/test_triton_blocks.py."""
    torch.manual_seed(0)
    x = torch.randn(MAX_ROW + 1000)
    minicomp.reset()
    result = torch.compile(reduce, backend="minicomp", options={"target": target})(x)
    torch.testing.assert_close(result, reduce(x))
    assert minicomp.reports()[0].num_kernels == (2 if target == "triton" else 1)  # only Triton needs short rows
