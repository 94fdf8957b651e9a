"""Dynamic sizes: a size passed twice, a smaller last batch, and sizes known only once an op has run."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import minicomp
from helpers import assert_same, fallback_ops

TARGETS = ["numpy", "cpp", "triton"]


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


DATA_DEPENDENT = {  # each makes a size only known once the op has run (an unbacked symbol, u0)
    "boolean_mask": lambda x: x[x > 0] * 2,
    "nonzero": lambda x: torch.nonzero(x > 0) + 1,
    "unique": lambda x: torch.unique(x.round()) * 2,
    "repeat_interleave": lambda x: torch.repeat_interleave(x.abs().round().long().clamp(max=3)) + 1,
    "arange_of_item": lambda x: torch.arange(x.sum().abs().round().long().item()) * 2,
    # the slice's kernel reads x * 3's kernel, but may only run once the .item() between them has
    "slice_by_item": lambda x: (lambda a: a[:a.sum().abs().round().long().item() % 5] * 2 + 1)(x * 3),
    "sum_of_slice_by_item": lambda x: (x * 3)[:x.sum().abs().round().long().item() % 5].sum() + x,
    "float_item": lambda x: x * x.sum().item() + 1,
    "negative_int_item": lambda x: x * (x.sum().round().long().item() - 100),
    "item_then_nonzero": lambda x: torch.nonzero(x > x.mean().item()).sum() * 2,
}


@pytest.fixture
def capture_data_dependent_ops():
    """Let Dynamo put data-dependent ops into the graph instead of breaking the graph before them."""
    config = torch._dynamo.config
    with config.patch(capture_dynamic_output_shape_ops=True, capture_scalar_outputs=True):
        yield


@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(DATA_DEPENDENT))
def test_data_dependent_sizes_match_eager_on_every_call(name, target, fusion, capture_data_dependent_ops):
    function = DATA_DEPENDENT[name]
    compiled = torch.compile(function, backend="minicomp", options={"target": target, "fusion": fusion})
    for seed in range(3):  # new data, so a new size, through the same compiled graph
        x = torch.randn(6, generator=torch.Generator().manual_seed(seed)) * 3
        assert_same(compiled(x), function(x), what=f"call {seed}")
    assert len(minicomp.reports()) == 1
    # only the data-dependent op itself (and Dynamo's checks of the size it gives) runs in torch
    assert "<whole graph>" not in fallback_ops(minicomp.reports())


def test_a_condition_read_off_a_tensor_runs_the_graph_in_torch(capture_data_dependent_ops):
    function = lambda x: x.sum() * (x[0] > 0).item()  # noqa: E731  (a bool: Eq(u0, 1), not a bare u0)
    compiled = torch.compile(function, backend="minicomp")
    for seed in range(2):
        x = torch.randn(6, generator=torch.Generator().manual_seed(seed))
        assert_same(compiled(x), function(x), what=f"call {seed}")
    assert fallback_ops(minicomp.reports()) == ["<whole graph>"]


def test_a_condition_read_off_a_tensor_without_fallback_names_the_op(capture_data_dependent_ops):
    function = lambda x: x.sum() * (x[0] > 0).item()  # noqa: E731
    compiled = torch.compile(function, backend="minicomp", options={"fallback": False})
    with pytest.raises(minicomp.UnsupportedOpError, match=r"_local_scalar_dense.*capture_scalar_outputs"):
        compiled(torch.randn(6))


@pytest.mark.parametrize("target", TARGETS)
def test_boolean_mask_gradient_matches_eager(target, capture_data_dependent_ops):
    function = lambda x: (x[x > 0] ** 2).sum() * x.mean()  # noqa: E731
    compiled = torch.compile(function, backend="minicomp", options={"target": target})
    x = torch.randn(6, generator=torch.Generator().manual_seed(0))
    eager_input, compiled_input = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected, actual = function(eager_input), compiled(compiled_input)
    expected.backward()
    actual.backward()
    assert_same((actual, compiled_input.grad), (expected, eager_input.grad))
    assert {"forward", "backward"} <= {report.kind for report in minicomp.reports()}
    assert "<whole graph>" not in fallback_ops(minicomp.reports())
