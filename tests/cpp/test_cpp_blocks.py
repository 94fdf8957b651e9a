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
        torch.testing.assert_close(result, block.function(*inputs), msg=block.name)
