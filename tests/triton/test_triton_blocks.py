"""The standard blocks and small models on the Triton backend agree with eager torch (the shared tests
of e2e/target_blocks.py; on CPU through Triton's interpreter)."""

import pytest
import torch

from e2e.target_blocks import *  # noqa: F401,F403  (the shared tests, collected here for target triton)


@pytest.fixture
def target():
    return "triton"


@pytest.fixture
def device():
    return "cuda" if torch.cuda.is_available() else "cpu"
