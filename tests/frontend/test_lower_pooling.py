"""Average, max and adaptive pooling (forward and backward, 1-d to 3-d) lower without fallback and
agree with eager torch, including ties, NaN and -inf for the max indices and dynamic sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import compile_and_compare, fallback_ops


def make(shape, dtype=torch.float32, seed=0):
    """Random normal floats."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)


def ties_and_nans(shape, seed=0):
    """Small integers (many ties) with a few NaNs and a block of -inf."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, shape, generator=generator).float()
    x.view(-1)[[3, 5, 17]] = float("nan")
    x[-1, -1, :3, :3] = float("-inf")
    return x


def check(fn, *inputs, grad=True, dynamic=None):
    reports = compile_and_compare(fn, *inputs, grad=grad, dynamic=dynamic)
    assert fallback_ops(reports) == []


POOLS = {
    "avg2d": lambda x: F.avg_pool2d(x, 3, 2, 1),
    "avg2d_ceil_exclude_pad": lambda x: F.avg_pool2d(x, (3, 2), (2, 1), 1, ceil_mode=True, count_include_pad=False),
    "avg2d_ceil": lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "avg2d_divisor": lambda x: F.avg_pool2d(x, 2, divisor_override=3),
    "avg1d": lambda x: F.avg_pool1d(x[0], 3, 2, 1),
    "max2d": lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True),
    "max2d_dilated_ceil": lambda x: F.max_pool2d(x, 2, 1, 1, dilation=2, ceil_mode=True, return_indices=True),
    "max1d": lambda x: F.max_pool1d(x[0], 3, 2, 1, return_indices=True),
    "adaptive_avg2d_even": lambda x: F.adaptive_avg_pool2d(x, (7, 3)),
    "adaptive_avg2d_uneven": lambda x: F.adaptive_avg_pool2d(x, (3, 4)),
    "adaptive_avg1d": lambda x: F.adaptive_avg_pool1d(x[0], 4),
    "adaptive_max2d_even": lambda x: F.adaptive_max_pool2d(x, (7, 2), return_indices=True),
    "adaptive_max2d_uneven": lambda x: F.adaptive_max_pool2d(x, (4, 5), return_indices=True),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pool_2d_forward_and_backward(name):
    check(POOLS[name], make((2, 3, 7, 6)))


@pytest.mark.parametrize("name", [name for name in sorted(POOLS) if "max" in name])
def test_max_pool_indices_with_ties_nan_and_minus_infinity(name):
    check(POOLS[name], ties_and_nans((2, 3, 7, 6)), grad=False)


POOLS_3D = {
    "avg3d": lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    "avg3d_divisor": lambda x: F.avg_pool3d(x, (2, 3, 2), divisor_override=5),
    "max3d": lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 3), (1, 0, 1), dilation=(1, 2, 1), ceil_mode=True,
                                    return_indices=True),
    "adaptive_avg3d": lambda x: F.adaptive_avg_pool3d(x, (2, 4, 3)),
    "adaptive_max3d": lambda x: F.adaptive_max_pool3d(x, (2, 4, 3), return_indices=True),
}


@pytest.mark.parametrize("name", sorted(POOLS_3D))
def test_pool_3d_forward_and_backward(name):
    check(POOLS_3D[name], make((1, 2, 5, 6, 7)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("name", ["avg2d", "max2d", "adaptive_avg2d_uneven"])
def test_pool_low_and_double_precision(name, dtype):
    check(POOLS[name], make((2, 3, 7, 6), dtype))


@pytest.mark.parametrize("name", ["avg2d_ceil", "max2d_dilated_ceil", "max1d"])
def test_pool_with_dynamic_sizes(name):
    """torch writes these output sizes with FloorDiv; they must compare equal to ours and print exactly."""
    check(POOLS[name], make((2, 3, 7, 6)), dynamic=True)


def test_strided_slice_and_pool_with_dynamic_sizes():
    def fn(x):
        return x[:, :, ::2] * 2, x[..., 1::3].exp(), F.max_pool3d(x.unsqueeze(0), 2, 2, ceil_mode=True)
    check(fn, make((2, 3, 7, 8)), dynamic=True)
