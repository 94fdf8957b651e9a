"""Triton tests run on CPU through Triton's interpreter unless a GPU is present (tests/conftest.py sets
TRITON_INTERPRET=1 then); they are skipped when triton is not installed."""

import pytest

triton = pytest.importorskip("triton", reason="the triton extra is not installed (pip install 'minicomp[triton]')")
