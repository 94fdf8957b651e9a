"""FSDP2 (torch.distributed.fsdp.fully_shard) over two gloo processes on CPU: a model compiled with
minicomp trains like the eager sharded model (the same losses and parameters after 10 steps)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from torch import nn

import minicomp
from helpers import compiled_reports, fallback_ops
from launch import join_gloo_group, run_on_two_processes, save, seeded, train

pytestmark = [pytest.mark.distributed,
              pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                 reason="this torch has no gloo process group")]


class Block(nn.Module):
    """A residual layer; each block is sharded on its own, as FSDP2 recipes shard transformer blocks."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 64)

    def forward(self, x):
        return x + torch.tanh(self.linear(x))


class ResidualMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(16, 64)
        self.blocks = nn.ModuleList([Block() for _ in range(3)])
        self.last = nn.Linear(64, 4)

    def forward(self, x):
        x = self.first(x)
        for block in self.blocks:
            x = block(x)
        return self.last(x)


def sharded(model: nn.Module) -> nn.Module:
    """fully_shard each block, then the root (which holds the first and last layers)."""
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block)
    return fully_shard(model)


def fsdp_worker(rank: int, result_dir: str) -> None:
    """The sharded model trained eagerly, and a copy compiled with minicomp, from the same weights."""
    join_gloo_group(rank)
    model = seeded(ResidualMLP)
    eager = sharded(copy.deepcopy(model))
    compiled_model = sharded(copy.deepcopy(model))
    compiled = torch.compile(compiled_model, backend="minicomp")
    eager_losses = train(eager, list(eager.parameters()), rank)
    compiled_losses = train(compiled, list(compiled_model.parameters()), rank)
    save(rank, result_dir, eager_losses=eager_losses, compiled_losses=compiled_losses,
         eager_parameters=[p.full_tensor() for p in eager.parameters()],  # all-gathers the shards
         compiled_parameters=[p.full_tensor() for p in compiled_model.parameters()],
         reports=minicomp.reports())


def test_fsdp2_trains_like_eager_fsdp2(tmp_path):
    for rank, result in enumerate(run_on_two_processes(fsdp_worker, tmp_path)):
        torch.testing.assert_close(torch.tensor(result["compiled_losses"]), torch.tensor(result["eager_losses"]),
                                   msg=lambda m: f"rank {rank} losses: {m}")
        for index, (got, want) in enumerate(zip(result["compiled_parameters"], result["eager_parameters"])):
            torch.testing.assert_close(got, want, msg=lambda m: f"rank {rank} parameter {index}: {m}")
        # FSDP2's hooks run eagerly (Dynamo skips them), so the blocks' forward is what minicomp compiles
        kinds = {report.kind for report in compiled_reports(result["reports"])}
        assert {"forward", "backward"} <= kinds and fallback_ops(result["reports"]) == [], result["reports"]


@pytest.mark.parametrize("target", ["numpy", "triton"])
def test_compiled_graph_leaves_its_inputs_storage_resizable(target):
    # FSDP2 frees an unsharded parameter after the forward by resizing its storage to 0 and reallocates
    # it before the next one; Tensor.numpy() marks a storage as never resizable again, which made FSDP2
    # fail with "Trying to resize storage that is not resizable" as soon as minicomp had read a parameter.
    if target == "triton":
        pytest.importorskip("triton")
    x, weight = torch.randn(4, 8), torch.randn(8, 3, requires_grad=True)
    compiled = torch.compile(lambda x, weight: torch.tanh(x @ weight), backend="minicomp", options={"target": target})
    compiled(x, weight).sum().backward()
    assert compiled_reports(minicomp.reports())
    for tensor in (x, weight):
        tensor.untyped_storage().resize_(0)  # raises if the storage was marked not resizable
