"""Run a training worker on two gloo processes (CPU) and collect what each rank saved.

Each worker trains the same seeded model twice, eagerly and compiled with minicomp, on data that
differs per rank, and saves its losses, final parameters and minicomp's reports for the test to
compare in the parent process (where pytest shows the assertion).
"""

from __future__ import annotations

import datetime
import os
import socket
from pathlib import Path
from typing import Callable
from unittest import mock

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

WORLD_SIZE = 2
STEPS = 10
TIMEOUT_SECONDS = 300  # a rank that hangs in a collective fails the test instead of blocking the suite


def free_port() -> int:
    """A TCP port nobody listens on now, for the rendezvous of this run."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_on_two_processes(worker: Callable, result_dir: Path) -> list[dict]:
    """Spawn `worker(rank, result_dir)` on WORLD_SIZE processes; return each rank's saved results."""
    rendezvous = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    with mock.patch.dict(os.environ, rendezvous):  # the children inherit it; this process is left as it was
        context = mp.start_processes(worker, args=(str(result_dir),), nprocs=WORLD_SIZE, join=False,
                                     start_method="spawn")
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=TIMEOUT_SECONDS)
    while not context.join(timeout=5):
        if datetime.datetime.now() > deadline:
            for process in context.processes:
                process.kill()
            raise TimeoutError(f"{worker.__name__} did not finish within {TIMEOUT_SECONDS} s")
    return [torch.load(Path(result_dir) / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD_SIZE)]


def join_gloo_group(rank: int) -> None:
    """Join the two-process gloo group (MASTER_ADDR/MASTER_PORT were set by the parent)."""
    torch.set_num_threads(1)  # two ranks share the CPU cores
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE,
                            timeout=datetime.timedelta(seconds=TIMEOUT_SECONDS))


def seeded(model_factory: Callable[[], nn.Module]) -> nn.Module:
    """The same initial weights on every rank and every run."""
    torch.manual_seed(0)
    return model_factory()


def batches(rank: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """STEPS batches of (input, target), different on each rank, the same on every run."""
    generator = torch.Generator().manual_seed(1000 + rank)
    return [(torch.randn(8, 16, generator=generator), torch.randn(8, 4, generator=generator))
            for _ in range(STEPS)]


def train(model: nn.Module, parameters: list, rank: int) -> list[float]:
    """STEPS steps of SGD with momentum on a mean squared error; the loss of each step."""
    optimizer = torch.optim.SGD(parameters, lr=0.05, momentum=0.9)
    losses = []
    for inputs, target in batches(rank):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def save(rank: int, result_dir: str, **results) -> None:
    """Write this rank's results where run_on_two_processes reads them, then leave the group."""
    torch.save(results, Path(result_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()
