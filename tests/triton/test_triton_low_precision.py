"""float16/bfloat16 on the Triton backend: values live in float32 registers but are rounded after every
op, as eager rounds them, so widening a low-precision result shows eager's value, bit for bit."""

import pytest
import torch
import torch.nn.functional as F

import minicomp

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
LOW = [torch.float16, torch.bfloat16]


def compiled(function):
    minicomp.reset()
    return torch.compile(function, backend="minicomp", options={"target": "triton"})


@pytest.mark.parametrize("dtype", LOW, ids=str)
def test_low_precision_results_widened_equal_eager_exactly(dtype):
    # only correctly rounded ops (+ - * / sqrt): eager's transcendental functions are not the same to the
    # last bit on every path (its vectorized loop and its scalar tail can round exp or rsqrt differently)
    def function(x, y):
        return (torch.sqrt(1 + x * x) / 3 + y,                # an f16 op chain, then float64
                F.pad(x, (1, 1), value=0.1).double(),        # a constant rounded to the type
                (x * x - x).sum().float(),                   # a reduction of rounded values
                x * 3 > 1.5,                                 # a comparison of a rounded value
                (y * 3).to(dtype))                           # a cast down, ties to even
    torch.manual_seed(0)
    x = torch.randn(257, dtype=dtype, device=DEVICE)
    y = torch.randn(257, dtype=torch.float64, device=DEVICE)
    torch.testing.assert_close(compiled(function)(x, y), function(x, y), rtol=0, atol=0)


def test_rounding_to_bfloat16_matches_torch_on_edge_values():
    tiny, largest = torch.finfo(torch.float32).tiny, torch.finfo(torch.float32).max
    x = torch.tensor([0.1, -0.1, 1 / 3, 1.00390625, 1.01171875, 1.0078125 + 2 ** -9, largest, -largest, 3.39e38,
                      tiny, -0.0, float("inf"), float("-inf"), float("nan")], device=DEVICE)
    # no subnormals: Triton's interpreter stores float32 subnormals to bfloat16 wrongly (GPUs convert them)

    def function(x):
        return (x * 1.0).to(torch.bfloat16)  # the multiply keeps the cast inside a kernel
    torch.testing.assert_close(compiled(function)(x), function(x), rtol=0, atol=0, equal_nan=True)
