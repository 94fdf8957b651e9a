"""Dynamic sizes: a size passed twice, a smaller last batch, and sizes known only once an op has run."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import minicomp
from helpers import assert_same, fallback_ops

TARGETS = ["numpy", "triton"]


def batch_view(x, t):
    batch, channels = x.shape
    return x.view(batch, channels) * 2 + t


@pytest.mark.parametrize("target", TARGETS)
def test_a_size_passed_twice_binds_from_its_first_occurrence(target):
    # the second compile (batch 3 after batch 2) gets the batch size as two graph inputs of one symbol
    compiled = torch.compile(batch_view, backend="minicomp", options={"target": target})
    for batch in (2, 3, 5):
        generator = torch.Generator().manual_seed(batch)
        x, t = torch.randn(batch, 4, generator=generator), torch.randn(batch, 4, generator=generator)
        assert_same(compiled(x, t), batch_view(x, t), what=f"batch {batch}")
    assert len(minicomp.reports()) == 2  # one static graph, then one dynamic graph for every later batch


class TinyGPT(nn.Module):
    """Token and position embeddings, one pre-norm causal attention block with an MLP, a language head."""

    def __init__(self, vocabulary: int = 17, width: int = 16, heads: int = 2, context: int = 8):
        super().__init__()
        self.heads = heads
        self.tokens = nn.Embedding(vocabulary, width)
        self.positions = nn.Embedding(context, width)
        self.norm1, self.norm2, self.norm_out = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.project = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.head = nn.Linear(width, vocabulary)

    def forward(self, tokens, targets):
        batch, length = tokens.shape
        x = self.tokens(tokens) + self.positions(torch.arange(length))
        q, k, v = self.qkv(self.norm1(x)).split(x.shape[-1], dim=-1)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.project(attended.transpose(1, 2).reshape(batch, length, -1))
        x = x + self.mlp(self.norm2(x))
        logits = self.head(self.norm_out(x))
        return nn.functional.cross_entropy(logits.view(batch * length, -1), targets.view(-1))


@pytest.mark.parametrize("target", TARGETS)
def test_gpt_training_step_with_a_smaller_last_batch_matches_eager(target):
    torch.manual_seed(0)
    eager = TinyGPT()
    compiled = torch.compile(copy.deepcopy(eager), backend="minicomp", options={"target": target})
    for batch in (3, 2):  # the last batch of an epoch is smaller
        generator = torch.Generator().manual_seed(batch)
        tokens = torch.randint(0, 17, (batch, 8), generator=generator)
        targets = torch.randint(0, 17, (batch, 8), generator=generator)
        for model in (eager, compiled):
            model.zero_grad()
        expected, actual = eager(tokens, targets), compiled(tokens, targets)
        expected.backward()
        actual.backward()
        assert_same(actual, expected, what=f"loss at batch {batch}")
        grads = {name: p.grad for name, p in compiled._orig_mod.named_parameters()}
        assert_same(grads, {name: p.grad for name, p in eager.named_parameters()}, what=f"grads at batch {batch}")
    assert {"forward", "backward"} <= {report.kind for report in minicomp.reports()}
    assert "<whole graph>" not in fallback_ops(minicomp.reports())
