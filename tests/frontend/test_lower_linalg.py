"""Matrix products and convolutions (forward and backward) lower to MATMUL/CONV plus layout primitives
without fallback and agree with eager torch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import minicomp
from helpers import assert_same, check_lowering as check, fallback_ops, random_tensor as make

FLOATS = [torch.float32, torch.float64, torch.bfloat16]


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64])
def test_mm_bmm_and_broadcast_matmul(lowered, dtype):
    def fn(a, b, c, d):
        return a @ b, torch.bmm(c, d), c @ d, c.unsqueeze(0) @ d, a[:, 0] @ b
    inputs = make((5, 1, 3), dtype), make((3, 4), dtype, 1), make((2, 5, 3), dtype, 2), make((2, 3, 7), dtype, 3)
    check(lowered, ["aten.mm.default", "aten.bmm.default"], fn, *inputs, grad=dtype.is_floating_point)


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_addmm_baddbmm_dot_mv(lowered, dtype):
    def fn(x, w, b, m):
        return (F.linear(x, w, b), F.linear(x[0], w), torch.addmm(b, x[0], w.t(), beta=0.5, alpha=2),
                torch.baddbmm(m, x, x.transpose(1, 2), alpha=0.5), w[0] @ w[1], w @ x[0, 0])
    inputs = make((2, 3, 4), dtype), make((5, 4), dtype, 1), make((5,), dtype, 2), make((2, 3, 3), dtype, 3)
    check(lowered, ["aten.addmm.default", "aten.mm.default", "aten.bmm.default"], fn, *inputs)


def test_a_bfloat16_linear_multiplies_in_bfloat16(tmp_path):
    # torch's addmm decomposition casts the activations and the weight to float32 at every call and
    # multiplies in float32; a Linear is one addmm in bfloat16, as eager's (the host program says so)
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 32).to(torch.bfloat16)
    twin = copy.deepcopy(model)
    x = torch.randn(4, 16, dtype=torch.bfloat16)
    compiled = torch.compile(model, backend="minicomp", options={"target": "cpp", "dump_dir": str(tmp_path)})
    with torch.no_grad():
        assert_same(compiled(x), model(x))
    (program,) = [p.read_text() for p in tmp_path.rglob("program.py")]
    assert "torch.addmm(" in program and "float32" not in program
    compiled(x).sum().backward()  # and a training step's gradients are eager's
    twin(x).sum().backward()
    for ours, eagers in zip(model.parameters(), twin.parameters()):
        assert_same(ours.grad, eagers.grad)


CONVS = [  # input shape, weight shape, bias, keyword arguments
    ((2, 3, 7, 6), (4, 3, 3, 3), True, dict(padding=1)),
    ((2, 3, 7, 6), (4, 3, 3, 2), True, dict(stride=2)),
    ((2, 3, 9, 8), (4, 3, 3, 2), False, dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1))),
    ((2, 6, 9), (4, 3, 3), True, dict(stride=2, groups=2, padding=4)),
    ((1, 6, 9), (6, 1, 2), False, dict(groups=6, dilation=3)),
    ((2, 2, 5, 4, 4), (3, 2, 2, 3, 1), True, dict(padding=(1, 0, 2))),
    ((1, 1, 1, 1), (1, 1, 1, 1), True, dict()),
    ((3, 2, 6, 5), (4, 2, 4, 2), True, dict(padding="same")),
]


# Every case in float32; in float64 and bfloat16 those with stride, dilation, groups and 3-d.
CONV_CASES = [case + (torch.float32,) for case in CONVS] + [
    CONVS[i] + (dtype,) for i in (2, 3, 4, 5) for dtype in (torch.float64, torch.bfloat16)]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("x_shape, w_shape, bias, kwargs, dtype", CONV_CASES)
def test_convolution_forward_and_backward(lowered, x_shape, w_shape, bias, kwargs, dtype):
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(x_shape)]

    def fn(x, w, b):
        return conv(x, w, b, **kwargs)
    b = make((w_shape[0],), dtype, 2) if bias else None
    check(lowered, ["aten.convolution.default", "aten.convolution_backward.default"],
          fn, make(x_shape, dtype), make(w_shape, dtype, 1), b)


def test_convolution_backward_for_the_input_only(lowered):
    weight = make((4, 3, 3, 3), seed=1)

    def fn(x):
        return F.conv2d(x, weight, stride=2, padding=1)
    check(lowered, ["aten.convolution_backward.default"], fn, make((2, 3, 8, 7)))


def train_and_compare(lowered: list, model: torch.nn.Module, x: torch.Tensor, **compile_kwargs) -> None:
    """Output, input grad and parameter grads of a compiled copy of `model` against an eager copy."""
    minicomp.reset()
    results = []
    for module in (copy.deepcopy(model), torch.compile(copy.deepcopy(model), backend="minicomp", **compile_kwargs)):
        tensor = x.clone().requires_grad_()
        output = module(tensor)
        (output * make(output.shape, seed=9)).sum().backward()
        results.append([output, tensor.grad] + [p.grad for p in module.parameters()])
    assert_same(results[1], results[0])
    assert fallback_ops(minicomp.reports()) == []
    assert "aten.convolution_backward.default" in lowered


def test_cnn_with_batch_norm_trains_without_fallback(lowered):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 3, stride=2, groups=4), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5))
    train_and_compare(lowered, model, make((2, 3, 8, 8)))
    assert "aten.mm.default" in lowered


@pytest.mark.parametrize("conv", [dict(padding=1), dict(padding=(2, 0), dilation=2, groups=3)])
def test_convolution_with_dynamic_input_sizes_trains(lowered, conv):
    torch.manual_seed(0)
    train_and_compare(lowered, torch.nn.Conv2d(3, 6, (3, 2), **conv), make((2, 3, 6, 5)), dynamic=True)


TRANSPOSED = [  # input shape, weight shape (in, out / groups, kernel), bias, keyword arguments
    ((2, 3, 5, 4), (3, 4, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 5, 4), (4, 3, 3, 2), False, dict(stride=(2, 3), padding=(2, 0), dilation=(1, 2), groups=2,
                                             output_padding=(1, 2))),
    ((2, 6, 7), (6, 1, 3), True, dict(stride=3, groups=3, padding=4, dilation=2, output_padding=2)),
    ((1, 2, 3, 4, 3), (2, 3, 2, 3, 2), True, dict(stride=(1, 2, 2), padding=(0, 1, 0))),
]


@pytest.mark.parametrize("x_shape, w_shape, bias, kwargs", TRANSPOSED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transposed_convolution_forward_and_backward(lowered, x_shape, w_shape, bias, kwargs, dtype):
    conv = {3: F.conv_transpose1d, 4: F.conv_transpose2d, 5: F.conv_transpose3d}[len(x_shape)]

    def fn(x, w, b):
        return conv(x, w, b, **kwargs)
    b = make((w_shape[1] * kwargs.get("groups", 1),), dtype, 2) if bias else None
    check(lowered, ["aten.convolution.default", "aten.convolution_backward.default"],
          fn, make(x_shape, dtype), make(w_shape, dtype, 1), b)

