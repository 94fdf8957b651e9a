"""Outputs come back with eager's strides (channels_last, transposes, expands), values and gradients too."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import minicomp
from helpers import assert_same

TARGETS = ["numpy", "cpp", "triton"]


def channels_last(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(memory_format=torch.channels_last)


def assert_same_with_strides(actual, expected, what: str) -> None:
    """Equal values, and the same strides for every tensor."""
    assert_same(actual, expected, what=what)
    actual, expected = (tuple(t) if isinstance(t, (tuple, list)) else (t,) for t in (actual, expected))
    for index, (got, want) in enumerate(zip(actual, expected)):
        assert got.stride() == want.stride(), f"{what}[{index}]: strides {got.stride()}, eager {want.stride()}"


LAYOUTS = {
    "channels_last_pointwise": (lambda x: x * 2, lambda: channels_last(2, 3, 4, 4)),
    "transpose_then_pointwise": (lambda x: x.t() * 2, lambda: torch.randn(3, 5)),
    "pointwise_then_transpose": (lambda x: (x.exp() + 1).t(), lambda: torch.randn(3, 5)),
    "expand": (lambda x: (x * 2).expand(3, 4), lambda: torch.randn(1, 4)),
    "channels_last_reduction_and_pointwise": (lambda x: (x.sum(1, keepdim=True) * x, x.relu()),
                                              lambda: channels_last(2, 3, 4, 5)),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_outputs_have_eager_strides(name, target):
    function, make_input = LAYOUTS[name]
    x = make_input()
    compiled = torch.compile(function, backend="minicomp", options={"target": target})
    assert_same_with_strides(compiled(x), function(x), what=name)


@pytest.mark.parametrize("target", TARGETS)
def test_channels_last_strides_follow_a_dynamic_batch(target):
    function = LAYOUTS["channels_last_pointwise"][0]
    compiled = torch.compile(function, backend="minicomp", options={"target": target})
    for batch in (2, 3, 4):  # the second call compiles a graph whose strides are expressions of the batch
        x = channels_last(batch, 3, 4, 4, seed=batch)
        assert_same_with_strides(compiled(x), function(x), what=f"batch {batch}")
    assert len(minicomp.reports()) == 2


class ConvBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x))) * 2


@pytest.mark.parametrize("target", TARGETS)
def test_channels_last_conv_batch_norm_training_step_matches_eager(target):
    torch.manual_seed(0)
    eager = ConvBatchNorm().to(memory_format=torch.channels_last)
    compiled = torch.compile(copy.deepcopy(eager), backend="minicomp", options={"target": target})
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.1) for model in (eager, compiled)]
    for step in range(2):
        x = channels_last(2, 3, 6, 6, seed=step)
        results = []
        for model, optimizer in zip((eager, compiled), optimizers):
            optimizer.zero_grad()
            data = x.clone().requires_grad_()
            output = model(data)
            (output * torch.linspace(-1, 1, output.numel()).view(output.shape)).sum().backward()
            optimizer.step()
            results.append((output, data.grad))
        # autograd itself gives a leaf's grad the leaf's layout; the output's strides are minicomp's doing
        assert_same_with_strides(results[1], results[0], what=f"output and input grad at step {step}")
    compiled_module = compiled._orig_mod
    assert_same(dict(compiled_module.state_dict()), dict(eager.state_dict()), what="parameters and buffers")
    assert {"forward", "backward"} <= {report.kind for report in minicomp.reports()}
