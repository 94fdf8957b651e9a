"""DistributedDataParallel over two gloo processes on CPU: minicomp under DDPOptimizer's graph splits
trains like eager DDP (the same losses and parameters after 10 steps)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import minicomp
from helpers import compiled_reports, fallback_ops
from launch import join_gloo_group, run_on_two_processes, save, seeded, train

pytestmark = [pytest.mark.distributed,
              pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                 reason="this torch has no gloo process group")]

# DDPOptimizer refuses a bucket smaller than DDP's first one (1 MB), so 1 MB is the smallest that
# works; each 512x512 layer (1 MB of weights) then fills a bucket of its own and the graph splits.
BUCKET_CAP_MB = 1


class DeepMLP(nn.Module):
    """Three 1 MB layers between a small input and output layer. A module of our own: DDP hands over to
    Dynamo at its module's forward, and a bare nn.Sequential there is not traced at all."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(16, 512), nn.GELU(), nn.Linear(512, 512), nn.Tanh(),
                                    nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 4))

    def forward(self, x):
        return self.layers(x)


def ddp_worker(rank: int, result_dir: str) -> None:
    """Eager DDP and torch.compile(DDP, backend="minicomp") trained from the same weights."""
    join_gloo_group(rank)
    model = seeded(DeepMLP)
    eager = DistributedDataParallel(copy.deepcopy(model), bucket_cap_mb=BUCKET_CAP_MB)
    compiled_ddp = DistributedDataParallel(copy.deepcopy(model), bucket_cap_mb=BUCKET_CAP_MB)
    compiled = torch.compile(compiled_ddp, backend="minicomp")
    save(rank, result_dir,
         eager_losses=train(eager, list(eager.parameters()), rank),
         compiled_losses=train(compiled, list(compiled_ddp.parameters()), rank),
         eager_parameters=[p.detach() for p in eager.module.parameters()],
         compiled_parameters=[p.detach() for p in compiled_ddp.module.parameters()],
         reports=minicomp.reports())


def test_ddp_with_graph_splits_trains_like_eager_ddp(tmp_path):
    ranks = run_on_two_processes(ddp_worker, tmp_path)
    for rank, result in enumerate(ranks):
        torch.testing.assert_close(torch.tensor(result["compiled_losses"]), torch.tensor(result["eager_losses"]),
                                   msg=lambda m: f"rank {rank} losses: {m}")
        for index, (got, want) in enumerate(zip(result["compiled_parameters"], result["eager_parameters"])):
            torch.testing.assert_close(got, want, msg=lambda m: f"rank {rank} parameter {index}: {m}")
        reports = compiled_reports(result["reports"])
        kinds = [report.kind for report in reports]
        # DDPOptimizer split the model at its buckets: one forward and one backward graph per bucket
        assert kinds.count("forward") >= 3 and kinds.count("backward") >= 3, kinds
        assert len(reports) == len(result["reports"]) and fallback_ops(reports) == []
    for got, want in zip(ranks[1]["compiled_parameters"], ranks[0]["compiled_parameters"]):
        torch.testing.assert_close(got, want, rtol=0, atol=0)  # DDP kept the ranks in step
