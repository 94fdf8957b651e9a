"""Triton tests run on CPU through Triton's interpreter unless a GPU is present (tests/conftest.py sets
TRITON_INTERPRET=1 then). Without triton installed, each one is reported as skipped, one by one: a
skip at import time here would stop the collection of the whole suite instead."""

import pytest


@pytest.fixture(autouse=True)
def triton_installed():
    """Skip the test, saying why, when the triton extra is not installed."""
    pytest.importorskip("triton", reason="the triton extra is not installed (pip install 'minicomp[triton]')")
