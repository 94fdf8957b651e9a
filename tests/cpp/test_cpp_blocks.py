"""The standard blocks and small models on the C++ backend agree with eager torch, forward and backward."""

import copy

import pytest
import torch

import minicomp
from minicomp.blocks import BLOCKS
from minicomp.demo import TransformerBlock
from fusion import test_split_reductions as split_cases

CPP = {"target": "cpp"}


def run(function, *inputs, options=CPP):
    minicomp.reset()
    return torch.compile(function, backend="minicomp", options=options)(*inputs), minicomp.reports()


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_block_forward(block):
    torch.manual_seed(0)
    inputs = block.make_inputs(5, 19, torch.float32)
    result, reports = run(block.function, *inputs)
    torch.testing.assert_close(result, block.function(*inputs))
    assert [r.target for r in reports] == ["cpp"]
    assert reports[0].num_kernels <= block.kernels


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.name in ("softmax", "layer_norm", "rms_norm", "swiglu")],
                         ids=lambda b: b.name)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_block_other_dtypes(block, dtype):
    torch.manual_seed(0)
    inputs = block.make_inputs(4, 33, dtype)
    result, _ = run(block.function, *inputs)
    torch.testing.assert_close(result, block.function(*inputs))


@pytest.mark.parametrize("name", ["layer_norm", "softmax", "log_softmax", "cross_entropy"])
def test_block_backward(name):
    block = next(b for b in BLOCKS if b.name == name)
    torch.manual_seed(0)
    inputs = block.make_inputs(6, 17, torch.float32)
    inputs = [x.requires_grad_() if x.is_floating_point() else x for x in inputs]
    eager_inputs = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    result, _ = run(block.function, *inputs)
    result.float().pow(2).sum().backward()
    block.function(*eager_inputs).float().pow(2).sum().backward()
    for ours, theirs in zip(inputs, eager_inputs):
        if ours.requires_grad:
            torch.testing.assert_close(ours.grad, theirs.grad)
    assert {r.target for r in minicomp.reports()} == {"cpp"}


def test_blocks_at_a_size_that_runs_in_parallel():
    # 2048 x 96 is above the size where the loops start threads, so the OpenMP path is the one tested
    for block in BLOCKS:
        torch.manual_seed(0)
        inputs = block.make_inputs(2048, 96, torch.float32)
        result, _ = run(block.function, *inputs)
        torch.testing.assert_close(result, block.function(*inputs), msg=block.name)


def test_transformer_block_training_step_matches_eager():
    torch.manual_seed(0)
    eager = TransformerBlock()
    ours = copy.deepcopy(eager)
    x = torch.randn(2, 8, 32)
    compiled = torch.compile(ours, backend="minicomp", options=CPP)
    minicomp.reset()
    loss = compiled(x).pow(2).mean()
    loss.backward()
    expected = eager(x).pow(2).mean()
    expected.backward()
    torch.testing.assert_close(loss, expected)
    for (name, p), q in zip(ours.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert {r.target for r in minicomp.reports()} == {"cpp"}


def test_indexing_and_layout_ops():
    import torch.nn.functional as F

    def function(table, positions, x):
        rows = F.embedding(positions, table)
        padded = F.pad(x, (1, 2))
        return rows.sum(-1) + padded[:, 1:-2].flip(-1).mean(-1) + torch.cat([x, -x], -1).amax(-1)

    torch.manual_seed(0)
    table, x = torch.randn(10, 6), torch.randn(4, 6)
    positions = torch.tensor([1, 3, 3, 9])
    result, _ = run(function, table, positions, x)
    torch.testing.assert_close(result, function(table, positions, x))


@pytest.mark.parametrize("reduce", split_cases.REDUCTIONS)
def test_long_reductions_match_eager(reduce):
    split_cases.test_long_reductions_match_eager(reduce, target="cpp")


def test_nan_and_infinities_flow_through_reductions_like_eager():
    function = lambda x: (x.amax(1), x.amin(0), x.argmax(1), x.argmin(0), x.sum(1), torch.softmax(x, 1))  # noqa: E731
    x = torch.randn(6, 40)
    x[1, 7] = float("nan")
    x[2, 3] = float("inf")
    x[3, :] = float("-inf")
    x[4, 9] = float("nan")
    x[4, 2] = float("inf")
    result, _ = run(function, x)
    torch.testing.assert_close(result, function(x), equal_nan=True)


def test_rank_sort_topk_and_median():
    function = lambda x: (torch.sort(x, 1, descending=True), torch.topk(x, 3, 0), torch.median(x, 1))  # noqa: E731
    x = torch.randn(4, 9)
    x[1, 3] = float("nan")
    result, _ = run(function, x)
    torch.testing.assert_close(result, function(x), equal_nan=True)
