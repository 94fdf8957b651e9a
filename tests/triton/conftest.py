"""Triton tests run on CPU through Triton's interpreter unless a GPU is present."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

triton = pytest.importorskip("triton", reason="the triton extra is not installed (pip install 'minicomp[triton]')")
