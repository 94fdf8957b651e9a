"""What generated C++ programs need at run time: calling a compiled kernel with tensor pointers, and
scatters (torch's, on the CPU)."""

from __future__ import annotations

import ctypes

import torch

from minicomp.backends.checks import SLOTS_PER_CHECK, check_range, raise_failed


class Launcher:
    """Calls one compiled kernel: input, output and check pointers, then its size arguments."""

    def __init__(self, function, kernel):
        self.function = function
        self.kernel = kernel
        self.checks = kernel.checks
        pointers = len(kernel.inputs) + len(kernel.outputs) + 1
        function.restype = None
        function.argtypes = [ctypes.c_void_p] * pointers + [
            ctypes.c_int64 if kind == "int64_t" else ctypes.c_double for kind in kernel.size_types]

    def __call__(self, inputs: list, outputs: list, sizes: list, bound: dict) -> None:
        inputs = [x.contiguous() for x in inputs]  # a host-program view (or a strided input) is read row-major
        slots = torch.zeros(SLOTS_PER_CHECK * len(self.checks), dtype=torch.int64) if self.checks else None
        self.function(*[x.data_ptr() for x in inputs], *[o.data_ptr() for o in outputs],
                      slots.data_ptr() if slots is not None else None, *sizes)
        if slots is not None:
            raise_failed(self.checks, slots.tolist())


def scatter(base: torch.Tensor, axis: int, index: torch.Tensor, source: torch.Tensor, out: torch.Tensor,
            reduce: str) -> None:
    """out = base with source scattered at index along axis (torch's scatters, after a range check that
    names the bad index as eager does)."""
    if index.numel():
        check_range(int(index.min()), int(index.max()), base.shape[axis])
    window = source[tuple(slice(0, n) for n in index.shape)]
    if reduce == "assign":
        out.copy_(base.scatter(axis, index, window))
    elif reduce == "sum":
        out.copy_(base.scatter_add(axis, index, window))
    else:
        out.copy_(base.scatter_reduce(axis, index, window, reduce, include_self=True))
