"""The standard blocks and small models on a compiled target agree with eager torch, forward and backward.

Not collected by itself: tests/cpp/test_cpp_blocks.py and tests/triton/test_triton_blocks.py import these
tests and give them the `target` fixture (and the `device` its tensors live on).
"""

import copy

import pytest
import torch
import torch.nn.functional as F

import minicomp
from minicomp.blocks import BLOCKS
from minicomp.demo import TransformerBlock
from fusion import test_split_reductions as split_cases


def run(function, *inputs, options):
    minicomp.reset()
    return torch.compile(function, backend="minicomp", options=options)(*inputs), minicomp.reports()


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_block_forward(block, target, device):
    torch.manual_seed(0)
    inputs = [x.to(device) for x in block.make_inputs(5, 19, torch.float32)]
    result, reports = run(block.function, *inputs, options={"target": target})
    torch.testing.assert_close(result, block.function(*inputs))
    assert [r.target for r in reports] == [target]
    assert reports[0].num_kernels <= block.kernels


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.name in ("softmax", "layer_norm", "rms_norm", "swiglu")],
                         ids=lambda b: b.name)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_block_other_dtypes(block, dtype, target, device):
    torch.manual_seed(0)
    inputs = [x.to(device) for x in block.make_inputs(4, 33, dtype)]
    result, _ = run(block.function, *inputs, options={"target": target})
    # Triton keeps low-precision values in float32 inside a kernel (eager rounds after every op),
    # so results differ by a rounding of the output dtype: assert_close's per-dtype defaults allow it.
    torch.testing.assert_close(result, block.function(*inputs))


@pytest.mark.parametrize("name", ["layer_norm", "softmax", "log_softmax", "cross_entropy"])
def test_block_backward(name, target, device):
    block = next(b for b in BLOCKS if b.name == name)
    torch.manual_seed(0)
    inputs = [x.to(device) for x in block.make_inputs(6, 17, torch.float32)]
    inputs = [x.requires_grad_() if x.is_floating_point() else x for x in inputs]
    eager_inputs = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    result, _ = run(block.function, *inputs, options={"target": target})
    result.float().pow(2).sum().backward()
    block.function(*eager_inputs).float().pow(2).sum().backward()
    for ours, theirs in zip(inputs, eager_inputs):
        if ours.requires_grad:
            torch.testing.assert_close(ours.grad, theirs.grad)
    assert {r.target for r in minicomp.reports()} == {target}


def test_fusion_and_memory_planning_off_give_the_same_answer(target, device):
    torch.manual_seed(0)
    x, w, b = [t.to(device) for t in BLOCKS[2].make_inputs(8, 24, torch.float32)]
    fused, _ = run(BLOCKS[2].function, x, w, b, options={"target": target})
    plain, reports = run(BLOCKS[2].function, x, w, b,
                         options={"target": target, "fusion": False, "memory_planning": False})
    torch.testing.assert_close(fused, plain)
    assert reports[0].num_kernels > 1


def test_transformer_block_training_step_matches_eager(target, device):
    torch.manual_seed(0)
    eager = TransformerBlock().to(device)
    ours = copy.deepcopy(eager)
    x = torch.randn(2, 8, 32, device=device)
    compiled = torch.compile(ours, backend="minicomp", options={"target": target})
    minicomp.reset()
    loss = compiled(x).pow(2).mean()
    loss.backward()
    expected = eager(x).pow(2).mean()
    expected.backward()
    torch.testing.assert_close(loss, expected)
    for (name, p), q in zip(ours.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert {r.target for r in minicomp.reports()} == {target}


def test_indexing_and_layout_ops(target, device):
    def function(table, positions, x):
        rows = F.embedding(positions, table)
        padded = F.pad(x, (1, 2))
        return rows.sum(-1) + padded[:, 1:-2].flip(-1).mean(-1) + torch.cat([x, -x], -1).amax(-1)

    torch.manual_seed(0)
    table, x = torch.randn(10, 6, device=device), torch.randn(4, 6, device=device)
    positions = torch.tensor([1, 3, 3, 9], device=device)
    result, _ = run(function, table, positions, x, options={"target": target})
    torch.testing.assert_close(result, function(table, positions, x))


@pytest.mark.parametrize("reduce", split_cases.REDUCTIONS)
def test_long_reductions_match_eager(reduce, target, device):
    split_cases.test_long_reductions_match_eager(reduce, target=target)


def test_a_reduction_plus_a_broadcast_one_element_tensor(target, device):
    # the one-element operand is indexed like the row it is added to, not like the reduced block
    function = lambda x, y: (torch.amax(x, 0) + y, x.sum(1, keepdim=True) * y)  # noqa: E731
    x, y = torch.tensor([[1, 2], [3, 4]], device=device), torch.tensor([5], device=device)
    result, _ = run(function, x, y, options={"target": target})
    torch.testing.assert_close(result, function(x, y))


def test_rank_sort_topk_and_median(target, device):
    function = lambda x: (torch.sort(x, 1, descending=True), torch.topk(x, 3, 0), torch.median(x, 1))  # noqa: E731
    x = torch.randn(4, 9, device=device)
    x[1, 3] = float("nan")
    result, _ = run(function, x, options={"target": target})
    torch.testing.assert_close(result, function(x), equal_nan=True)


def test_nan_and_infinities_flow_through_reductions_like_eager(target, device):
    function = lambda x: (x.amax(1), x.amin(0), x.argmax(1), x.argmin(0), x.sum(1), torch.softmax(x, 1))  # noqa: E731
    x = torch.randn(6, 40)
    x[1, 7] = float("nan")
    x[2, 3] = float("inf")
    x[3, :] = float("-inf")
    x[4, 9] = float("nan")
    x[4, 2] = float("inf")
    x = x.to(device)
    result, _ = run(function, x, options={"target": target})
    torch.testing.assert_close(result, function(x), equal_nan=True)


def test_outputs_that_are_one_value_in_the_program_are_distinct_tensors(target, device):
    # digamma(x) and polygamma(0, x) are one value after common-subexpression elimination; eager returns
    # two tensors, so an in-place update of one leaves the other, and each gets its own gradient
    # (returned as one tensor, autograd gave both gradients to one and a zero to the other: 0 * inf
    # made the gradient NaN at x = 0)
    def function(x):
        return torch.digamma(x), torch.polygamma(0, x), x * 2, x * 2

    x = torch.tensor([-0.0, 1e-30, 0.5, 3.0], device=device, requires_grad=True)
    (a, b, c, d), _ = run(function, x, options={"target": target})
    assert a.data_ptr() != b.data_ptr() and c.data_ptr() != d.data_ptr()
    (grad,) = torch.autograd.grad(sum(o.sum() for o in (a, b, c, d)), x)
    expected = torch.autograd.grad(sum(o.sum() for o in function(x)), x)[0]
    torch.testing.assert_close(grad, expected)
    c.detach().add_(1)
    torch.testing.assert_close(d, x * 2)


def test_empty_tensors_through_planned_intermediates(target, device):
    # every intermediate of an empty input is zero bytes: the arena is empty but its slots are still read
    x = torch.randn(1, 0, 3, device=device)
    result, _ = run(torch.special.log_ndtr, x, options={"target": target})
    torch.testing.assert_close(result, torch.special.log_ndtr(x))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_a_torch_fallback_with_strided_inputs_and_a_result_unlike_its_meta_shape(mode, target, device):
    # embedding_bag runs as a torch fallback: its kernel misreads strided indices (fallbacks get contiguous
    # inputs, as on numpy), and in sum mode it returns an empty offset2bag where its meta function
    # promised one entry per index; the backward reads it as eager's backward does
    weight = torch.randn(10, 5, device=device, dtype=torch.bfloat16, requires_grad=True)
    indices = torch.tensor([1, 0, 5, 0, 4, 0, 5, 0, 9, 0], device=device)[::2]
    offsets = torch.tensor([0, 3], device=device)
    scale = torch.randn(5, device=device, dtype=torch.bfloat16) if mode == "sum" else None

    def function(weight, indices, offsets):
        return F.embedding_bag(indices, weight, offsets, mode=mode, per_sample_weights=scale)

    result, _ = run(function, weight, indices, offsets, options={"target": target})
    expected = function(weight, indices, offsets)
    torch.testing.assert_close(result, expected)
    torch.testing.assert_close(torch.autograd.grad(result.sum(), weight), torch.autograd.grad(expected.sum(), weight))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_a_pad_value_is_rounded_to_the_low_precision_type(dtype, target, device):
    # the kernel holds float16 in float32 registers: the fill must be float16's 0.0999755859375, not 0.1
    def function(x):
        return F.pad(x, (1, 1), value=0.1).double(), F.pad(x, (2, 0), value=1000.3).double()

    x = torch.randn(257, dtype=dtype, device=device)
    result, _ = run(function, x, options={"target": target})
    torch.testing.assert_close(result, function(x), rtol=0, atol=0)
