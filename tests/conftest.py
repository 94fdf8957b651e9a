"""Shared pytest setup: hypothesis profiles, `helpers` importable, a fresh minicomp state per test."""

from __future__ import annotations

import os
import sys

import torch

# Triton reads TRITON_INTERPRET when triton.language is imported (its library functions become
# interpreter functions then), and some conftest files import minicomp's Triton backend: so set it
# here, in the conftest pytest always loads first. Without a GPU, kernels run in the interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Every pass's output is verified in the tests (a user's compile skips it unless MINICOMP_VERIFY=1).
os.environ.setdefault("MINICOMP_VERIFY", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))  # so test files can `import helpers`

# Compiling is slow next to hypothesis' expectations, so no deadline and no too_slow check.
settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Runs are reproducible by default (`make test` on a new machine, CI): the same examples every run and
# no example database to drift. MINICOMP_EXPLORE=1 draws new examples each run, to hunt for bugs.
settings.register_profile(
    "reproducible", parent=settings.get_profile("dev"), derandomize=True, database=None, print_blob=True,
)
settings.load_profile("dev" if os.environ.get("MINICOMP_EXPLORE", "") == "1" else "reproducible")


@pytest.fixture(autouse=True)
def fresh_minicomp():
    """Each test starts with no reports and no cached Dynamo code (so nothing leaks between tests)."""
    import minicomp

    minicomp.reset()
    yield
    minicomp.reset()
