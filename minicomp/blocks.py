"""The standard blocks that tests, benchmarks and docs measure: the memory-bound pieces of a transformer.

Each block is a plain torch function plus an input maker, so eager, Inductor and minicomp run the
same code. `kernels` is the most fused kernels minicomp may launch for the forward pass.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
import torch.nn.functional as F


@dataclasses.dataclass(frozen=True)
class Block:
    """A named function, how to make its inputs for (rows, columns, dtype), and its kernel budget."""

    name: str
    function: Callable
    make_inputs: Callable[[int, int, torch.dtype], tuple]
    kernels: int
    extern: int = 0


def _rows(rows: int, columns: int, dtype: torch.dtype, count: int = 1) -> tuple:
    return tuple(torch.randn(rows, columns, dtype=dtype) for _ in range(count))


def _with_vectors(rows: int, columns: int, dtype: torch.dtype, vectors: int) -> tuple:
    return _rows(rows, columns, dtype) + tuple(torch.randn(columns, dtype=dtype) for _ in range(vectors))


def softmax(x):
    return torch.softmax(x, dim=-1)


def log_softmax(x):
    return torch.log_softmax(x, dim=-1)


def layer_norm(x, weight, bias):
    return F.layer_norm(x, x.shape[-1:], weight, bias)


def rms_norm(x, weight):
    """Written by hand, as most LLM code does."""
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(x.dtype) * weight


def bias_gelu(x, bias):
    return F.gelu(x + bias, approximate="tanh")


def swiglu(a, b):
    return F.silu(a) * b


def residual_layer_norm(x, residual, weight, bias):
    return F.layer_norm(x + residual, x.shape[-1:], weight, bias)


def pointwise_chain(x):
    """Ten pointwise torch ops in a row."""
    x = torch.tanh(x * 1.5)
    x = torch.sigmoid(x) - 0.25
    x = torch.exp(x) * x
    x = torch.relu(x - 0.5)
    return torch.sqrt(x + 1.0)


def batch_norm_relu(x, mean, var, weight, bias):
    return F.relu(F.batch_norm(x, mean, var, weight, bias, training=False))


def _batch_norm_inputs(rows, columns, dtype):
    x = torch.randn(rows, columns, 4, 4, dtype=dtype)
    stats = [torch.randn(columns, dtype=dtype), torch.rand(columns, dtype=dtype) + 0.5]
    return (x, *stats, torch.randn(columns, dtype=dtype), torch.randn(columns, dtype=dtype))


def rope(q, cos, sin):
    """Rotary embedding applied to q: q * cos + rotate_half(q) * sin."""
    half = q.shape[-1] // 2
    rotated = torch.cat([-q[..., half:], q[..., :half]], dim=-1)
    return q * cos + rotated * sin


def _rope_inputs(rows, columns, dtype):
    q = torch.randn(2, rows, columns, dtype=dtype)
    return q, torch.randn(rows, columns, dtype=dtype), torch.randn(rows, columns, dtype=dtype)


def causal_attention(q, k, v):
    """Attention written with two matmuls: scale, causal mask and softmax in between."""
    scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(q.shape[-1]))
    length = q.shape[-2]
    mask = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _attention_inputs(rows, columns, dtype):
    return tuple(torch.randn(2, 4, rows, columns, dtype=dtype) for _ in range(3))


def cross_entropy(logits, target):
    return F.cross_entropy(logits, target)


def _cross_entropy_inputs(rows, columns, dtype):
    return torch.randn(rows, columns, dtype=dtype), torch.randint(0, columns, (rows,))


def row_sum(x):
    return x.sum(dim=-1)


def column_sum(x):
    return x.sum(dim=0)


BLOCKS = [
    Block("softmax", softmax, _rows, 1),
    Block("log_softmax", log_softmax, _rows, 1),
    Block("layer_norm", layer_norm, lambda r, c, d: _with_vectors(r, c, d, 2), 1),
    Block("rms_norm", rms_norm, lambda r, c, d: _with_vectors(r, c, d, 1), 1),
    Block("bias_gelu_tanh", bias_gelu, lambda r, c, d: _with_vectors(r, c, d, 1), 1),
    Block("swiglu", swiglu, lambda r, c, d: _rows(r, c, d, 2), 1),
    Block("residual_layer_norm", residual_layer_norm, lambda r, c, d: _rows(r, c, d, 2) + _with_vectors(r, c, d, 2)[1:], 1),
    Block("pointwise_chain_10", pointwise_chain, _rows, 1),
    Block("batch_norm_relu", batch_norm_relu, _batch_norm_inputs, 1),
    Block("rope", rope, _rope_inputs, 1),
    Block("causal_attention", causal_attention, _attention_inputs, 1, extern=2),
    Block("cross_entropy", cross_entropy, _cross_entropy_inputs, 2),
    Block("row_sum", row_sum, _rows, 1),
    Block("column_sum", column_sum, _rows, 1),
]
