"""Attention rewritten before AOTAutograd: scaled_dot_product_attention, nn.MultiheadAttention and
nn.TransformerEncoderLayer compile without fallback and agree with eager, values and gradients.

On torch < 2.12 the SDPA inside `F.multi_head_attention_forward` cannot be rewritten (no
`redispatch_function`) and is expected to fall back, alone."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import minicomp
import minicomp.entry
from helpers import assert_same, compile_and_compare, fallback_ops
from minicomp.frontend.rewrites import (autocast_dtype, autocast_input, math_attention, redispatch_function,
                                        rewrite_attention)

FLOATS = [torch.float32, torch.float64, torch.bfloat16]


def make(shape, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)


@pytest.fixture
def dynamo_calls(monkeypatch):
    """The functions called by every Dynamo graph minicomp received in this test, before the rewrite."""
    seen: list = []
    original = minicomp.entry.rewrite_attention

    def recording(gm):
        seen.extend(node.target for node in gm.graph.nodes if node.op == "call_function")
        return original(gm)

    monkeypatch.setattr(minicomp.entry, "rewrite_attention", recording)
    return seen


def check(fn, *inputs, inside_multi_head_attention=False, **kwargs):
    reports = compile_and_compare(fn, *inputs, **kwargs)
    assert_no_fallback(reports, inside_multi_head_attention)


def assert_no_fallback(reports, inside_multi_head_attention=False) -> None:
    """Nothing fell back, except on old torch the attention inside multi_head_attention_forward."""
    fallbacks = fallback_ops(reports)
    if inside_multi_head_attention and redispatch_function is None:
        assert fallbacks and all(op.startswith("aten._scaled_dot_product") for op in fallbacks), fallbacks
    else:
        assert fallbacks == []


def random_mask(shape, seed=0):
    """A bool mask that keeps each row's first key visible."""
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) > 0.4
    mask[..., 0] = True
    return mask


@pytest.mark.parametrize("dtype", FLOATS)
def test_sdpa_plain_causal_and_scaled(dtype):
    def fn(q, k, v):
        return (F.scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True),
                F.scaled_dot_product_attention(q, q, q, is_causal=True, scale=0.3))
    check(fn, make((2, 3, 5, 8), dtype), make((2, 3, 7, 8), dtype, 1), make((2, 3, 7, 3), dtype, 2))


@pytest.mark.parametrize("dtype", FLOATS)
def test_sdpa_with_bool_and_additive_masks(dtype):
    def fn(q, k, v, keep, bias):
        return (F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
                F.scaled_dot_product_attention(q, k, v, attn_mask=bias))
    check(fn, make((2, 3, 5, 8), dtype), make((2, 3, 7, 8), dtype, 1), make((2, 3, 7, 3), dtype, 2),
          random_mask((5, 7)), make((2, 1, 5, 7), dtype, 3))


def test_sdpa_rows_hidden_entirely_give_zeros_and_finite_grads():
    keep = random_mask((5, 7))
    keep[2] = False
    bias = torch.zeros(5, 7)
    bias[1] = float("-inf")
    bias[3, 2:] = float("-inf")

    def fn(q, k, v):
        return (F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
                F.scaled_dot_product_attention(q, k, v, attn_mask=bias))
    check(fn, make((1, 2, 5, 4)), make((1, 2, 7, 4), seed=1), make((1, 2, 7, 3), seed=2))
    q = make((1, 2, 5, 4)).requires_grad_()
    out = math_attention(q, make((1, 2, 7, 4), seed=1), make((1, 2, 7, 3), seed=2), attn_mask=bias)
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and (out[:, :, 1] == 0).all()


def test_sdpa_grouped_query_and_unbatched():
    def fn(q, k, v):
        grouped = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        return grouped, F.scaled_dot_product_attention(q[0], q[0], v[0, :1])
    check(fn, make((2, 4, 5, 8)), make((2, 2, 5, 8), seed=1), make((2, 2, 5, 3), seed=2))


def test_sdpa_with_dropout_is_left_to_torch():
    def fn(q, p: float):
        return F.scaled_dot_product_attention(q, q, q, dropout_p=p)
    kept = rewrite_attention(torch.fx.symbolic_trace(lambda q: fn(q, 0.5)))
    rewritten = rewrite_attention(torch.fx.symbolic_trace(lambda q: fn(q, 0.0)))
    targets = [node.target for node in kept.graph.nodes if node.op == "call_function"]
    assert targets == [torch._C._nn.scaled_dot_product_attention]
    assert [node.target for node in rewritten.graph.nodes if node.op == "call_function"] == [math_attention]


def attentions(q, k, v, bias, doubles):
    return (F.scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, attn_mask=bias),
            F.scaled_dot_product_attention(q, q, q, is_causal=True) @ v.transpose(-2, -1),
            F.scaled_dot_product_attention(doubles, doubles, doubles))  # autocast leaves float64 alone


def attention_under_autocast(*inputs):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return attentions(*inputs)


def test_sdpa_under_autocast_runs_in_the_autocast_dtype_like_eager():
    inputs = (make((2, 3, 5, 8)), make((2, 3, 7, 8), seed=1), make((2, 3, 7, 8), seed=2), make((2, 1, 5, 7), seed=3),
              make((2, 5, 4), torch.float64, seed=4))
    expected = attention_under_autocast(*inputs)
    assert [t.dtype for t in expected] == [torch.bfloat16] * 3 + [torch.float64]
    check(attention_under_autocast, *inputs, grad=False)  # dtypes and values like eager
    # gradients: float32 tensors computed from bfloat16 roundings, which eager's fused backward makes at other
    # points; so, as for whole layers below, both are measured against float64 without autocast
    functions = {"eager": attention_under_autocast, "minicomp": torch.compile(attention_under_autocast,
                                                                              backend="minicomp")}
    grads = {}
    for name, function in functions.items():
        leaves = [x.clone().requires_grad_() for x in inputs[:4]]
        outputs = function(*leaves, inputs[4])[:3]
        grads[name] = torch.autograd.grad([o.float().sum() for o in outputs], leaves)
    exact_leaves = [x.double().requires_grad_() for x in inputs[:4]]
    exact_outputs = attentions(*exact_leaves, inputs[4])[:3]
    exact = torch.autograd.grad([o.sum() for o in exact_outputs], exact_leaves)
    for index, (got, want, truth) in enumerate(zip(grads["minicomp"], grads["eager"], exact)):
        our_error, eager_error = ((t.double() - truth).abs().max() for t in (got, want))
        assert our_error <= 2 * eager_error + 0.005 * truth.abs().max(), f"grad {index}: {our_error} vs {eager_error}"
    # the same numbers as the attention of bfloat16 inputs: autocast rounds q, k, v and the mask first
    q, k, v, bias, doubles = (x if x.dtype == torch.float64 else x.bfloat16() for x in inputs)
    rounded = torch.compile(lambda *xs: attention_under_autocast(*xs), backend="minicomp")(q, k, v, bias, doubles)
    unrounded = torch.compile(attention_under_autocast, backend="minicomp")(*inputs)
    for got, want in zip(unrounded, rounded):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_the_autocast_state_is_read_for_the_input_device_type():
    # autocast on CUDA cannot run here, but its state can be set: it must not touch CPU inputs
    x, doubles = make((2, 3)), make((2, 3), torch.float64)
    previous = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
    try:
        torch.set_autocast_enabled("cuda", True)
        torch.set_autocast_dtype("cuda", torch.float16)
        assert autocast_dtype("cuda") == torch.float16 and autocast_dtype("cpu") is None
        assert autocast_input(x, "cuda", torch.float16) is x
        assert math_attention(x, x, x).dtype == torch.float32
    finally:
        torch.set_autocast_enabled("cuda", previous[0])
        torch.set_autocast_dtype("cuda", previous[1])
    assert autocast_input(x, "cpu", torch.bfloat16).dtype == torch.bfloat16
    assert autocast_input(doubles, "cpu", torch.bfloat16) is doubles
    assert autocast_input(None, "cpu", torch.bfloat16) is None


def train(model: torch.nn.Module, inputs, dtype, compiled: bool) -> list:
    """The output and parameter gradients of a copy of `model` in `dtype`, eager or compiled."""
    model = copy.deepcopy(model).to(dtype)
    inputs = [x.to(dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
    output = (torch.compile(model, backend="minicomp") if compiled else model)(*inputs)
    (output * make(output.shape, dtype, seed=9)).sum().backward()
    return [output] + [p.grad for p in model.parameters()]


def train_and_compare(model: torch.nn.Module, *inputs, dtype=torch.float32) -> None:
    """Forward and parameter gradients of a compiled copy of a model built on nn.MultiheadAttention
    against an eager copy; nothing may fall back."""
    expected = train(model, inputs, dtype, compiled=False)
    actual = train(model, inputs, dtype, compiled=True)
    assert [r.kind for r in minicomp.reports()] == ["forward", "backward"]
    assert_no_fallback(minicomp.reports(), inside_multi_head_attention=True)
    if dtype is not torch.bfloat16:
        assert_same(actual, expected)
        return
    # A whole layer in bfloat16 rounds at many points, and eager (a fused attention kernel) rounds at
    # other ones, so both are measured against float64: minicomp must be about as close as eager is.
    exact = train(model, inputs, torch.float64, compiled=False)
    for index, (got, want, truth) in enumerate(zip(actual, expected, exact)):
        our_error, eager_error = ((t.double() - truth).abs().max() for t in (got, want))
        assert our_error <= 2 * eager_error + 0.005 * truth.abs().max(), f"result {index}: {our_error} vs {eager_error}"


class EncoderLayer(torch.nn.Module):
    """nn.TransformerEncoderLayer called with the masks as inputs."""

    def __init__(self, **kwargs):
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, **kwargs)

    def forward(self, x, padding=None, causal=False):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1]) if causal else None
        return self.layer(x, src_mask=mask, src_key_padding_mask=padding, is_causal=causal)


@pytest.mark.parametrize("dtype", FLOATS)
def test_transformer_encoder_layer_trains(dtype):
    train_and_compare(EncoderLayer(), make((2, 5, 8)), dtype=dtype)


def test_transformer_encoder_layer_with_padding_and_causal_masks():
    padding = torch.zeros(2, 5, dtype=torch.bool)
    padding[0, 3:] = True
    train_and_compare(EncoderLayer(norm_first=True), make((2, 5, 8)), padding)
    minicomp.reset()
    train_and_compare(EncoderLayer(activation="gelu"), make((2, 5, 8)), None, True)


def test_multihead_attention_with_and_without_weights(dynamo_calls):
    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def fn(x):
        return attention(x, x, x, need_weights=False)[0] + attention(x, x, x)[0]
    check(fn, make((2, 5, 8)), inside_multi_head_attention=True)
    assert F.multi_head_attention_forward in dynamo_calls


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_inference_fast_path(dynamo_calls, norm_first):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=norm_first).eval()
    encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x = make((2, 5, 8))
    with torch.no_grad():
        check(encoder, x, grad=False)
    assert torch._transformer_encoder_layer_fwd in dynamo_calls
