"""The prelude's vectorizable exp, tanh and log of a float are within 1.5 ulp of the exact result (torch's
own vectorized versions are within 1), with eager's NaN, infinities, zeros and subnormals."""

import ctypes

import numpy as np
import pytest
import torch

from minicomp.backends import cpp_build
from minicomp.backends.cpp_math import PRELUDE

KERNEL = PRELUDE + """
extern "C" void apply(const float* x, float* exp_out, float* tanh_out, float* log_out, long n) {
  #pragma omp simd
  for (long i = 0; i < n; i++) {
    exp_out[i] = mc::exp_float(x[i]); tanh_out[i] = mc::tanh_float(x[i]); log_out[i] = mc::log_float(x[i]);
  }
}
"""
SPECIAL = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, -1e-40, 1.4e-45, 88.7, 88.73, -87.5,
           -103.9, -104.5, 1e38, 3.4e38, 0.625, -0.625, 9.1, -9.1, 1.0, 2.0]


def ulp_error(ours: torch.Tensor, exact: torch.Tensor) -> float:
    """The largest distance from float64's answer, in float32 units in the last place of that answer."""
    rounded = exact.float()
    same = (ours == rounded) | (torch.isnan(ours) & torch.isnan(rounded))
    spacing = torch.from_numpy(np.spacing(np.abs(rounded.numpy()))).double()
    error = (ours.double() - exact).abs() / spacing
    error[same] = 0
    return error.max().item()


@pytest.fixture(scope="module")
def results():
    generator = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200_000, generator=generator) * scale for scale in (1e-3, 1.0, 10.0, 100.0)]
                  + [torch.tensor(SPECIAL)])
    outputs = [torch.empty_like(x) for _ in range(3)]
    library = cpp_build.load_library(KERNEL)
    library.apply.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_long]
    library.apply(x.data_ptr(), *[o.data_ptr() for o in outputs], x.numel())
    return x, dict(zip(("exp", "tanh", "log"), outputs))


@pytest.mark.parametrize("name", ["exp", "tanh", "log"])
def test_within_one_and_a_half_ulp_with_eager_special_values(results, name):
    x, outputs = results
    exact = getattr(x.double(), name)()
    ours = outputs[name]
    assert ulp_error(ours, exact) <= 1.5
    special = x.numel() - len(SPECIAL)
    torch.testing.assert_close(ours[special:], getattr(x[special:], name)(), equal_nan=True)  # NaN, inf, 0 exact


ROUNDING = PRELUDE + """
extern "C" void round_all(const float* x, float* out, long n) {
  #pragma omp simd
  for (long i = 0; i < n; i++) out[i] = mc::round_bf16(x[i]);
}
"""


def test_rounding_to_bfloat16_is_torchs_on_every_kind_of_float():
    # random bit patterns cover every exponent (subnormals, infinities, NaNs with any payload) and ties
    generator = torch.Generator().manual_seed(0)
    bits = torch.randint(-2 ** 31, 2 ** 31, (1_000_000,), generator=generator, dtype=torch.int64).to(torch.int32)
    ties = (torch.randint(0, 2 ** 16, (10_000,), generator=generator, dtype=torch.int32) << 16) | 0x8000
    x = torch.cat([bits, ties]).view(torch.float32)
    x = torch.cat([x, torch.tensor(SPECIAL), torch.tensor([3.3961e38, -3.3961e38, 3.4e38])])
    out = torch.empty_like(x)
    function = cpp_build.load_library(ROUNDING).round_all
    function.restype, function.argtypes = None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    function(x.data_ptr(), out.data_ptr(), x.numel())
    expected = x.to(torch.bfloat16).float()
    nan = torch.isnan(expected)
    assert torch.isnan(out[nan]).all()
    assert torch.equal(out[~nan].view(torch.int32), expected[~nan].view(torch.int32))  # -0.0 and all
