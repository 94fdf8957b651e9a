"""Whole models through torch.compile(backend="minicomp"): values, gradients, buffers and a training loop.

Each test records the ATen ops its model still runs through torch (user property "fallback_ops", also
printed) and asserts that list: none today, for every model. A whole-graph fallback never counts as
compiled (compiled_kinds ignores it), so a model handed back to torch whole cannot pass as compiled.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import minicomp
from helpers import assert_same, compiled_reports, fallback_ops


def seeded(model_factory, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return model_factory()


def record_fallbacks(record_property, name: str) -> list[str]:
    ops = fallback_ops(minicomp.reports())
    record_property("fallback_ops", ops)
    print(f"{name} fallback ops: {ops}")
    return ops


def compiled_kinds() -> list[str]:
    """The kinds of the graphs minicomp compiled itself (whole-graph fallbacks left out), sorted."""
    return sorted(report.kind for report in compiled_reports(minicomp.reports()))


def forward_backward(model: nn.Module, inputs: list) -> tuple:
    """Output, input grads and parameter grads of sum(output * fixed weights)."""
    inputs = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    output = model(*inputs)
    output = output[0] if isinstance(output, tuple) else output
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(1))
    (output * weights).sum().backward()
    grads = [x.grad for x in inputs if x.is_floating_point()]
    module = getattr(model, "_orig_mod", model)  # torch.compile wraps the module
    return output.detach(), grads, {name: p.grad for name, p in module.named_parameters()}


def compare_model(model: nn.Module, *inputs: torch.Tensor, rtol=None, atol=None) -> None:
    eager = copy.deepcopy(model)
    compiled = torch.compile(copy.deepcopy(model), backend="minicomp")
    expected = forward_backward(eager, list(inputs))
    actual = forward_backward(compiled, list(inputs))
    kinds = set(compiled_kinds())
    assert {"forward", "backward"} <= kinds, f"minicomp compiled only {kinds} (graph break or skipped frame?)"
    assert_same(actual, expected, rtol, atol, what="output, input grads, parameter grads")


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 4))


def test_mlp_matches_eager_and_needs_no_fallback(record_property):
    compare_model(seeded(mlp), torch.randn(8, 16))
    assert compiled_kinds() == ["backward", "forward"]  # no graph break
    assert record_fallbacks(record_property, "mlp") == []


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = nn.functional.max_pool2d(x, 2)
        return self.head(x.mean((2, 3)))


def test_cnn_with_batch_norm_training_updates_buffers_like_eager(record_property):
    eager = seeded(SmallCNN).train()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, backend="minicomp")
    for step in range(3):
        x = torch.randn(4, 3, 10, 10, generator=torch.Generator().manual_seed(step))
        expected = forward_backward(eager, [x])
        actual = forward_backward(compiled, [x])
        assert_same(actual, expected, what=f"step {step}: output, input grads, parameter grads")
    for name, buffer in eager.named_buffers():
        assert_same(dict(compiled_model.named_buffers())[name], buffer, what=f"buffer {name}")
    assert int(compiled_model.bn1.num_batches_tracked) == 3
    assert {"forward", "backward"} <= set(compiled_kinds())
    assert record_fallbacks(record_property, "cnn") == []


def test_cnn_in_eval_mode_uses_running_statistics(record_property):
    model = seeded(SmallCNN)
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 3, 10, 10)
    compiled = torch.compile(copy.deepcopy(model), backend="minicomp")
    with torch.no_grad():
        assert_same(compiled(x), model(x))
    assert compiled_kinds() == ["inference"]
    assert record_fallbacks(record_property, "cnn eval") == []


def test_transformer_encoder_layer_forward_and_backward(record_property):
    layer = seeded(lambda: nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                                      batch_first=True))
    compare_model(layer, torch.randn(2, 6, 32))
    assert record_fallbacks(record_property, "transformer") == []


@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM], ids=["gru", "lstm"])
def test_recurrent_forward_and_backward(record_property, cell):
    model = seeded(lambda: cell(input_size=8, hidden_size=12, num_layers=1, batch_first=True))
    with torch._dynamo.config.patch(allow_rnn=True):  # Dynamo skips RNN modules unless asked to trace them
        compare_model(model, torch.randn(3, 5, 8))
    assert record_fallbacks(record_property, cell.__name__) == []


def test_sgd_training_loop_matches_eager_loss_curve(record_property):
    eager = seeded(mlp)
    compiled_model = copy.deepcopy(eager)
    generator = torch.Generator().manual_seed(0)
    data = [(torch.randn(16, 16, generator=generator), torch.randint(0, 4, (16,), generator=generator))
            for _ in range(20)]

    def train(model, step_fn):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for x, target in data:
            optimizer.zero_grad()
            loss = step_fn(x, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    loss_fn = nn.functional.cross_entropy
    compiled = torch.compile(lambda x, target: loss_fn(compiled_model(x), target), backend="minicomp")
    expected = train(eager, lambda x, target: loss_fn(eager(x), target))
    actual = train(compiled_model, compiled)
    torch.testing.assert_close(torch.tensor(actual), torch.tensor(expected), rtol=1e-5, atol=0)
    assert expected[-1] < expected[0]  # the loop really trains
    assert {"forward", "backward"} <= set(compiled_kinds())
    assert record_fallbacks(record_property, "training loop") == []


class TinyLanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.norm = nn.LayerNorm(16)
        self.out = nn.Linear(16, 20)

    def forward(self, tokens, targets):
        logits = self.out(torch.nn.functional.silu(self.norm(self.embed(tokens))))
        return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def test_embedding_layer_norm_cross_entropy_forward_and_backward(record_property):
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 20, (3, 7), generator=generator)
    targets = torch.randint(0, 20, (3, 7), generator=generator)
    compare_model(seeded(TinyLanguageModel), tokens, targets)
    assert record_fallbacks(record_property, "language model") == []
