"""Helpers the generated numpy programs call: torch <-> numpy, and the ops numpy lacks as one call."""

from __future__ import annotations

import functools
from typing import Any

import ml_dtypes
import numpy as np
import scipy.special
import torch

from minicomp.backends import host_code
from minicomp.backends.checks import check_range, zero_division_error

bfloat16 = np.dtype(ml_dtypes.bfloat16)
erf = scipy.special.erf


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (a copy for other devices, zeros for a ZeroTensor); bfloat16 through
    ml_dtypes. The view goes through DLPack: `Tensor.numpy()` marks the tensor's storage as never
    resizable again, and FSDP2 frees and reallocates its unsharded parameters by resizing their storage.
    `numpy(force=True)` copies (to CPU, materialized ZeroTensors) where no view can be taken."""
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        return to_numpy(tensor.view(torch.int16)).view(bfloat16)
    if tensor.device.type == "cpu" and not (tensor._is_zerotensor() or tensor.is_conj() or tensor.is_neg()):
        return np.from_dlpack(tensor)
    return tensor.numpy(force=True)


def to_torch(array: Any, device: torch.device) -> torch.Tensor:
    """A fresh contiguous tensor holding `array`."""
    array = np.asarray(array)
    if not array.flags.c_contiguous:  # np.ascontiguousarray would turn a 0-d array into a 1-d one
        array = np.ascontiguousarray(array)
    if not array.flags.writeable or array.base is not None:
        array = array.copy()
    if array.dtype == bfloat16:
        tensor = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    else:
        tensor = torch.from_numpy(array)
    return tensor if device.type == "cpu" else tensor.to(device)


def store(arena: np.ndarray, offset: int, array: Any) -> np.ndarray:
    """Copy a kernel's result into its planned slot of the arena and return that slot as an array."""
    array = np.asarray(array)
    slot = arena[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape)
    slot[...] = array
    return slot


def up(array: np.ndarray) -> np.ndarray:
    """float16/bfloat16 -> float32: torch computes low-precision ops in float32 and rounds the result."""
    return array.astype(np.float32)


def sign(array: np.ndarray) -> np.ndarray:
    """torch.sign: like numpy's, except that sign(nan) is 0 and sign of a bool is itself."""
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind != "f":
        return np.sign(array)
    return (array > 0).astype(array.dtype) - (array < 0).astype(array.dtype)


def check_index(index: np.ndarray, size: int) -> None:
    """Raise like torch for an index outside [0, size); numpy would wrap negative ones silently."""
    if index.size:
        check_range(int(index.min()), int(index.max()), size)


def integer_division(function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An integer floor_divide, remainder or fmod that raises like torch for a zero divisor (numpy gives 0)."""
    if np.any(np.asarray(b) == 0):
        raise zero_division_error()
    return function(a, b)


def gather(array: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
    """torch.gather: index may be smaller than the input along the other axes."""
    check_index(index, array.shape[axis])
    window = tuple(slice(0, n) if d != axis else slice(None) for d, n in enumerate(index.shape))
    return np.take_along_axis(array[window], index, axis)


SCATTER_UFUNCS = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def scatter(array: np.ndarray, axis: int, index: np.ndarray, source: np.ndarray, reduce: str) -> np.ndarray:
    """torch.scatter_reduce (include_self, out of place) along `axis`; "assign" is torch.scatter, last write wins."""
    check_index(index, array.shape[axis])
    result = array.copy()
    positions = list(np.indices(index.shape, sparse=True))
    positions[axis] = index
    if reduce == "assign":
        result[tuple(positions)] = source
    else:  # ufunc.at applies the updates one by one in index order, NaN-propagating for amax/amin like torch
        SCATTER_UFUNCS[reduce].at(result, tuple(positions), source)
    return result


def conv(x: np.ndarray, weight: np.ndarray, bias: Any, stride, padding, dilation, groups: int) -> np.ndarray:
    """N-d cross-correlation with torch's conv semantics (groups, stride, padding, dilation)."""
    spatial = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    batch, in_channels = x.shape[:2]
    out_channels, group_in = weight.shape[:2]
    kernel = weight.shape[2:]
    out_sizes = [(x.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(spatial)]
    window = [dilation[i] * (kernel[i] - 1) + 1 for i in range(spatial)]
    patches = np.lib.stride_tricks.sliding_window_view(x, window, axis=tuple(range(2, 2 + spatial)))
    select = tuple(slice(None, None) for _ in range(2))
    select += tuple(slice(0, out_sizes[i] * stride[i], stride[i]) for i in range(spatial))
    select += tuple(slice(None, None, dilation[i]) for i in range(spatial))
    patches = patches[select]  # batch, in, out..., kernel...
    patches = patches.reshape(batch, groups, group_in, *out_sizes, *kernel)
    weight = weight.reshape(groups, out_channels // groups, group_in, *kernel)
    letters = "hijk"[:spatial]
    kernel_letters = "uvwx"[:spatial]
    spec = f"ngc{letters}{kernel_letters},goc{kernel_letters}->ngo{letters}"
    out = np.einsum(spec, patches, weight, optimize=True)
    out = out.reshape(batch, out_channels, *out_sizes)
    if bias is not None:
        out = out + bias.reshape((1, out_channels) + (1,) * spatial)
    return out


CPU = torch.device("cpu")


def cpu_tensor(array: Any) -> torch.Tensor:
    """A fresh CPU tensor holding `array`: what torch fallbacks read."""
    return to_torch(array, CPU)


# The fallback for ops outside the primitive set: torch on CPU tensors made from the arrays, numpy results.
call_torch = functools.partial(host_code.call_torch, to_tensor=cpu_tensor, from_tensor=to_numpy)
