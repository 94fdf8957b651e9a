"""The standard blocks and small models on the C++ backend agree with eager torch (the shared tests of
e2e/target_blocks.py), and the blocks at a size where the loops run on several threads."""

import pytest
import torch

import minicomp
from minicomp.blocks import BLOCKS
from e2e.target_blocks import *  # noqa: F401,F403  (the shared tests, collected here for target cpp)


@pytest.fixture
def target():
    return "cpp"


@pytest.fixture
def device():
    return "cpu"


def test_blocks_at_a_size_that_runs_in_parallel():
    # 2048 x 96 is above the size where the loops start threads, so the OpenMP path is the one tested
    for block in BLOCKS:
        torch.manual_seed(0)
        inputs = block.make_inputs(2048, 96, torch.float32)
        minicomp.reset()
        result = torch.compile(block.function, backend="minicomp", options={"target": "cpp"})(*inputs)
        # against eager in float64, rounded: float32 eager's own sums over 2048 rows are up to ~1e-5 off,
        # the default tolerance, so two accurate float32 sums can differ by more than it allows
        exact = block.function(*[x.double() if x.is_floating_point() else x for x in inputs])
        torch.testing.assert_close(result, exact.to(result.dtype), msg=block.name)
