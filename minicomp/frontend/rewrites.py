"""Rewrites of the Dynamo FX graph before AOTAutograd: attention spelled out in differentiable torch ops.

torch's decompositions of scaled_dot_product_attention give wrong gradients, so our decomposition
table leaves them out, and an SDPA call would run as a fallback. Instead each call with no dropout
becomes the textbook formula (matmul, scale, mask, softmax, matmul) at the torch level, and
AOTAutograd derives its backward like any other code. Dynamo keeps
`F.multi_head_attention_forward` as one call (nn.MultiheadAttention, nn.TransformerEncoderLayer);
that call runs with the SDPA inside it replaced the same way (on torch >= 2.12; older torch has no
`redispatch_function`, and that SDPA stays a fallback). The fused inference fast path of
nn.TransformerEncoderLayer is spelled out as the layers it fuses.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

try:
    from torch.overrides import redispatch_function
except ImportError:  # torch < 2.12 cannot run a Python function's body with a torch function mode still active
    redispatch_function = None

SDPA = torch._C._nn.scaled_dot_product_attention  # F.scaled_dot_product_attention is the same object
LOW_PRECISION = (torch.float16, torch.bfloat16)


def math_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   attn_mask: Optional[torch.Tensor] = None, dropout_p: float = 0.0, is_causal: bool = False,
                   scale: Optional[float] = None, enable_gqa: bool = False) -> torch.Tensor:
    """scaled_dot_product_attention without dropout, as torch's math backend computes it.

    float16/bfloat16 inputs are computed in float32 and the result rounded once, like torch; rows that
    the mask hides entirely give zeros, like torch's safe softmax (and no NaN in the gradient).
    """
    if dropout_p != 0.0:
        raise ValueError("math_attention has no dropout; keep the scaled_dot_product_attention call")
    device_type = query.device.type
    low = autocast_dtype(device_type)
    if low is not None:  # as autocast runs SDPA: eligible inputs cast to its dtype, then the op without it
        query, key, value, attn_mask = (autocast_input(t, device_type, low) for t in (query, key, value, attn_mask))
        with torch.autocast(device_type, enabled=False):
            return math_attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    dtype = query.dtype
    if dtype in LOW_PRECISION:
        query, key, value = query.float(), key.float(), value.float()
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.float()
    if enable_gqa:
        key = repeat_heads(key, query.size(-3) // key.size(-3))
        value = repeat_heads(value, query.size(-3) // value.size(-3))
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = query @ key.transpose(-2, -1) * scale
    if is_causal:
        visible = torch.ones(query.size(-2), key.size(-2), dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(visible.logical_not(), float("-inf"))
    if attn_mask is None:
        weights = torch.softmax(scores, dim=-1)
    else:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask
        weights = safe_softmax(scores)
    return (weights @ value).to(dtype)


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast runs SDPA in on `device_type` ("cpu", "cuda", ...), or None where it is off:
    SDPA is on autocast's lower-precision list, so its result and both matmuls take that dtype."""
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def autocast_input(tensor: Optional[torch.Tensor], device_type: str, dtype: torch.dtype) -> Optional[torch.Tensor]:
    """`tensor` as autocast hands it to a lower-precision op: floating tensors of that device type, except
    float64 ones, cast to `dtype`; anything else unchanged."""
    eligible = (isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.dtype != torch.float64
                and tensor.device.type == device_type)
    return tensor.to(dtype) if eligible else tensor


def repeat_heads(x: torch.Tensor, times: int) -> torch.Tensor:
    """(..., heads, S, E) -> (..., heads * times, S, E), each head repeated `times` in a row (grouped-query)."""
    shape = x.shape
    return x.unsqueeze(-3).expand(*shape[:-2], times, *shape[-2:]).flatten(-4, -3)


def safe_softmax(scores: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis where rows that are entirely -inf give zeros instead of NaN."""
    hidden_rows = (scores == float("-inf")).all(dim=-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(hidden_rows, 0.0), dim=-1)
    return weights.masked_fill(hidden_rows, 0.0)


ATTENTION_PARAMETERS = inspect.signature(math_attention)


class MathAttention(TorchFunctionMode):
    """While active, dropout-free scaled_dot_product_attention calls run as `math_attention`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is SDPA and replaceable(args, kwargs):
            return math_attention(*args, **kwargs)
        if func is F.multi_head_attention_forward:  # run its body with this mode still active
            with self:
                return redispatch_function(func, types, args, kwargs)
        return func(*args, **kwargs)


def multi_head_attention_forward(*args: Any, **kwargs: Any):
    """F.multi_head_attention_forward with its inner attention computed by `math_attention`."""
    with MathAttention():
        return F.multi_head_attention_forward(*args, **kwargs)


def encoder_layer(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu, norm_first,
                  eps, norm1_weight, norm1_bias, norm2_weight, norm2_bias, ff1_weight, ff1_bias, ff2_weight, ff2_bias,
                  mask=None, mask_type=None) -> torch.Tensor:
    """torch._transformer_encoder_layer_fwd (nn.TransformerEncoderLayer's batch-first inference fast path,
    without a mask) as the layers it fuses."""

    def attention(x):
        query, key, value = (part.unflatten(-1, (num_heads, -1)).transpose(-3, -2)
                             for part in F.linear(x, qkv_weight, qkv_bias).chunk(3, dim=-1))
        heads = math_attention(query, key, value)
        return F.linear(heads.transpose(-3, -2).flatten(-2), proj_weight, proj_bias)

    def feed_forward(x):
        hidden = F.linear(x, ff1_weight, ff1_bias)
        return F.linear(F.gelu(hidden) if use_gelu else F.relu(hidden), ff2_weight, ff2_bias)

    def norm1(x):
        return F.layer_norm(x, (embed_dim,), norm1_weight, norm1_bias, eps)

    def norm2(x):
        return F.layer_norm(x, (embed_dim,), norm2_weight, norm2_bias, eps)

    if norm_first:
        x = src + attention(norm1(src))
        return x + feed_forward(norm2(x))
    x = norm1(src + attention(src))
    return norm2(x + feed_forward(x))


def replaceable(args: tuple, kwargs: dict) -> bool:
    """Whether an SDPA call with these arguments can become `math_attention` (constant, zero dropout;
    not both a mask and is_causal, which torch rejects with an error we keep)."""
    try:
        bound = ATTENTION_PARAMETERS.bind(*args, **kwargs).arguments
    except TypeError:
        return False
    dropout = bound.get("dropout_p", 0.0)
    is_causal = bound.get("is_causal", False)
    if not isinstance(dropout, (int, float)) or dropout != 0.0 or not isinstance(is_causal, bool):
        return False
    return not (is_causal and bound.get("attn_mask") is not None)


def unmasked_encoder_layer(node: torch.fx.Node) -> bool:
    """Whether a _transformer_encoder_layer_fwd call has no mask (the only case `encoder_layer` covers)."""
    try:
        bound = inspect.signature(encoder_layer).bind(*node.args, **node.kwargs).arguments
    except TypeError:
        return False
    return bound.get("mask") is None


def rewrite_attention(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Point SDPA and multi_head_attention_forward calls in `gm` (and its subgraphs) at the math versions."""
    for module in gm.modules():
        if not isinstance(module, torch.fx.GraphModule):
            continue
        changed = False
        for node in module.graph.nodes:
            if node.op != "call_function":
                continue
            if node.target is SDPA and replaceable(node.args, node.kwargs):
                node.target = math_attention
                changed = True
            elif node.target is F.multi_head_attention_forward and redispatch_function is not None:
                node.target = multi_head_attention_forward
                changed = True
            elif node.target is torch._transformer_encoder_layer_fwd and unmasked_encoder_layer(node):
                node.target = encoder_layer
                changed = True
        if changed:
            module.recompile()
    return gm
