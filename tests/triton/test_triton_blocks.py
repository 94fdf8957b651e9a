"""The standard blocks and small models on the Triton backend agree with eager torch, forward and backward."""

import copy

import pytest
import torch
import torch.nn.functional as F

import minicomp
from minicomp.blocks import BLOCKS
from minicomp.demo import TransformerBlock
from fusion import test_split_reductions as split_cases

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TRITON = {"target": "triton"}


def run(function, *inputs, options=TRITON):
    minicomp.reset()
    return torch.compile(function, backend="minicomp", options=options)(*inputs), minicomp.reports()


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_block_forward(block):
    torch.manual_seed(0)
    inputs = [x.to(DEVICE) for x in block.make_inputs(5, 19, torch.float32)]
    result, reports = run(block.function, *inputs)
    torch.testing.assert_close(result, block.function(*inputs))
    assert [r.target for r in reports] == ["triton"]
    assert reports[0].num_kernels <= block.kernels


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.name in ("softmax", "layer_norm", "rms_norm", "swiglu")],
                         ids=lambda b: b.name)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_block_other_dtypes(block, dtype):
    torch.manual_seed(0)
    inputs = [x.to(DEVICE) for x in block.make_inputs(4, 33, dtype)]
    result, _ = run(block.function, *inputs)
    # Triton keeps low-precision values in float32 inside a kernel (eager rounds after every op),
    # so results differ by a rounding of the output dtype: assert_close's per-dtype defaults allow it.
    torch.testing.assert_close(result, block.function(*inputs))


@pytest.mark.parametrize("name", ["layer_norm", "softmax", "log_softmax", "cross_entropy"])
def test_block_backward(name):
    block = next(b for b in BLOCKS if b.name == name)
    torch.manual_seed(0)
    inputs = [x.to(DEVICE) for x in block.make_inputs(6, 17, torch.float32)]
    inputs = [x.requires_grad_() if x.is_floating_point() else x for x in inputs]
    eager_inputs = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    result, _ = run(block.function, *inputs)
    result.float().pow(2).sum().backward()
    block.function(*eager_inputs).float().pow(2).sum().backward()
    for ours, theirs in zip(inputs, eager_inputs):
        if ours.requires_grad:
            torch.testing.assert_close(ours.grad, theirs.grad)
    assert all(r.target == "triton" for r in minicomp.reports())


def test_fusion_and_memory_planning_off_give_the_same_answer():
    torch.manual_seed(0)
    x, w, b = [t.to(DEVICE) for t in BLOCKS[2].make_inputs(8, 24, torch.float32)]
    fused, _ = run(BLOCKS[2].function, x, w, b)
    plain, reports = run(BLOCKS[2].function, x, w, b, options={**TRITON, "fusion": False, "memory_planning": False})
    torch.testing.assert_close(fused, plain)
    assert reports[0].num_kernels > 1


def test_transformer_block_training_step_matches_eager():
    torch.manual_seed(0)
    eager = TransformerBlock().to(DEVICE)
    ours = copy.deepcopy(eager)
    x = torch.randn(2, 8, 32, device=DEVICE)
    compiled = torch.compile(ours, backend="minicomp", options=TRITON)
    minicomp.reset()
    loss = compiled(x).pow(2).mean()
    loss.backward()
    expected = eager(x).pow(2).mean()
    expected.backward()
    torch.testing.assert_close(loss, expected)
    for (name, p), q in zip(ours.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert {r.target for r in minicomp.reports()} == {"triton"}


def test_indexing_and_layout_ops():
    def function(table, positions, x):
        rows = F.embedding(positions, table)
        padded = F.pad(x, (1, 2))
        return rows.sum(-1) + padded[:, 1:-2].flip(-1).mean(-1) + torch.cat([x, -x], -1).amax(-1)

    torch.manual_seed(0)
    table, x = torch.randn(10, 6, device=DEVICE), torch.randn(4, 6, device=DEVICE)
    positions = torch.tensor([1, 3, 3, 9], device=DEVICE)
    result, _ = run(function, table, positions, x)
    torch.testing.assert_close(result, function(table, positions, x))


@pytest.mark.parametrize("reduce", split_cases.REDUCTIONS)
def test_long_reductions_are_split_and_match_eager(reduce):
    split_cases.test_long_reductions_match_eager(reduce, target="triton")


def test_a_reduction_plus_a_broadcast_one_element_tensor():
    # the one-element operand is indexed like the row it is added to, not like the reduced block
    function = lambda x, y: (torch.amax(x, 0) + y, x.sum(1, keepdim=True) * y)  # noqa: E731
    x, y = torch.tensor([[1, 2], [3, 4]], device=DEVICE), torch.tensor([5], device=DEVICE)
    result, _ = run(function, x, y)
    torch.testing.assert_close(result, function(x, y))


def test_rank_sort_topk_and_median():
    function = lambda x: (torch.sort(x, 1, descending=True), torch.topk(x, 3, 0), torch.median(x, 1))  # noqa: E731
    x = torch.randn(4, 9, device=DEVICE)
    x[1, 3] = float("nan")
    result, _ = run(function, x)
    torch.testing.assert_close(result, function(x), equal_nan=True)
