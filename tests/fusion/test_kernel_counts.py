"""Kernel counts for the standard blocks, forward and backward: the structure fusion must reach."""

import pytest
import torch
import torch.nn.functional as F

import minicomp
from minicomp.blocks import BLOCKS


def compile_and_run(function, *inputs, options=None):
    minicomp.reset()
    compiled = torch.compile(function, backend="minicomp", options=options or {})
    result = compiled(*inputs)
    return result, minicomp.reports()


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_forward_kernel_budget(block):
    torch.manual_seed(0)
    inputs = block.make_inputs(6, 20, torch.float32)
    result, reports = compile_and_run(block.function, *inputs)
    torch.testing.assert_close(result, block.function(*inputs))
    (report,) = reports
    assert report.fallback_ops == []
    assert report.num_kernels <= block.kernels, [k.ops for k in report.kernels]
    assert report.num_extern == block.extern


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_same_results_with_fusion_and_memory_planning_off(block):
    torch.manual_seed(0)
    inputs = block.make_inputs(5, 12, torch.float32)
    fused, _ = compile_and_run(block.function, *inputs)
    plain, reports = compile_and_run(block.function, *inputs, options={"fusion": False, "memory_planning": False})
    assert torch.equal(fused, plain)
    assert reports[0].num_kernels >= block.kernels and all(len(k.ops) == 1 for k in reports[0].kernels)


def backward_reports(function, *shapes):
    minicomp.reset()
    torch.manual_seed(0)
    inputs = [torch.randn(*shape, requires_grad=True) for shape in shapes]
    eager_inputs = [x.detach().clone().requires_grad_() for x in inputs]
    torch.compile(function, backend="minicomp")(*inputs).pow(2).sum().backward()
    function(*eager_inputs).pow(2).sum().backward()
    for compiled, eager in zip(inputs, eager_inputs):
        torch.testing.assert_close(compiled.grad, eager.grad)
    forward, backward = minicomp.reports()
    assert backward.kind == "backward" and backward.fallback_ops == []
    return backward


def test_layer_norm_backward_in_two_kernels():
    backward = backward_reports(lambda x, w, b: F.layer_norm(x, (24,), w, b), (7, 24), (24,), (24,))
    assert backward.num_kernels <= 2, [k.ops for k in backward.kernels]


def test_softmax_backward_in_two_kernels():
    backward = backward_reports(lambda x: torch.softmax(x, -1), (7, 24))
    assert backward.num_kernels <= 2, [k.ops for k in backward.kernels]


def test_fusion_reports_fewer_bytes_than_unfused():
    torch.manual_seed(0)
    x, w, b = BLOCKS[2].make_inputs(16, 64, torch.float32)
    _, (report,) = compile_and_run(BLOCKS[2].function, x, w, b)
    ideal = (x.numel() + w.numel() + b.numel() + x.numel()) * 4
    assert report.bytes_moved <= 1.5 * ideal
    assert report.naive_bytes_moved > 2 * report.bytes_moved


def test_mlp_training_step_needs_no_more_kernels_than_inductor():
    """Linear-GELU-Linear + MSE, forward and backward: Inductor emits 4 kernels besides the matmuls
    (benchmarks/kernels.py measures it side by side); minicomp must not need more."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    x, target = torch.randn(32, 64), torch.randn(32, 64)
    minicomp.reset()
    loss = torch.compile(lambda x, t: F.mse_loss(model(x), t), backend="minicomp")(x, target)
    loss.backward()
    torch.testing.assert_close(loss, F.mse_loss(model(x), target))
    reports = minicomp.reports()
    assert [r.kind for r in reports] == ["forward", "backward"] and all(r.fallback_ops == [] for r in reports)
    assert sum(r.num_kernels for r in reports) <= 4, [[k.ops for k in r.kernels] for r in reports]
