"""The decomposition table AOTAutograd applies while tracing: ATen -> the core ATen ops we lower.

It is torch's core-ATen table without its scaled-dot-product-attention entries (their gradients are
wrong for us), plus composite ops torch keeps whole but that are only a few primitives (softmax,
layer_norm, batch_norm, ...), so fusion sees their insides.
"""

from __future__ import annotations

import torch
from torch._decomp import core_aten_decompositions, get_decompositions

aten = torch.ops.aten

# Composite ops kept whole by core ATen that we would rather see as primitives.
EXTRA = [
    aten._softmax, aten._log_softmax, aten._softmax_backward_data, aten._log_softmax_backward_data,
    aten.native_layer_norm, aten.native_layer_norm_backward,
    aten._native_batch_norm_legit, aten._native_batch_norm_legit_functional,
    aten._native_batch_norm_legit_no_training, aten.native_batch_norm, aten.native_batch_norm_backward,
    aten.native_group_norm, aten.native_group_norm_backward,
    aten.gelu, aten.gelu_backward, aten.silu, aten.silu_backward, aten.mish, aten.hardswish,
    aten.hardsigmoid, aten.hardtanh, aten.leaky_relu, aten.elu, aten.softplus,
    aten.sigmoid_backward, aten.tanh_backward, aten.threshold_backward, aten.leaky_relu_backward,
    aten.embedding_dense_backward, aten.nll_loss_forward, aten.nll_loss_backward,
    aten.mse_loss, aten.mse_loss_backward, aten.var_mean, aten.var, aten.std,
    aten.logsumexp, aten.squeeze, aten.t, aten.transpose, aten.select_backward, aten.slice_backward,
    aten.linalg_vector_norm, aten.addmv, aten.dist, aten.narrow_copy, aten.unbind_copy,
    aten.as_strided_copy, aten.bucketize, aten._batch_norm_with_update_functional, aten.batch_norm_backward,
]


def addmm(bias, mat1, mat2, *, beta=1, alpha=1):
    """A plain addmm (a Linear layer) stays whole: one product in the inputs' dtype with the bias added
    before its one rounding, as eager's. torch's decomposition casts float16/bfloat16 operands to
    float32 first (the weights, at every call) and multiplies in float32; it still handles the rest."""
    if beta == 1 and alpha == 1 and bias.dtype == mat1.dtype == mat2.dtype:
        return NotImplemented
    return TORCH_ADDMM(bias, mat1, mat2, beta=beta, alpha=alpha)


TORCH_ADDMM = get_decompositions([aten.addmm.default])[aten.addmm.default]


def is_sdpa(op) -> bool:
    return "scaled_dot_product" in str(op)


def decomposition_table() -> dict:
    """The table handed to AOTAutograd (built once per compile; torch caches the pieces)."""
    table = {op: fn for op, fn in core_aten_decompositions().items() if not is_sdpa(op)}
    table.update(get_decompositions(EXTRA))
    table[aten.addmm.default] = addmm
    return table
