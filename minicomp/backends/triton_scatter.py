"""The device part of scatter with reduce="sum": atomically add each source element at its flat target position."""

import torch
import triton
import triton.language as tl


@triton.jit
def _atomic_add_kernel(out_ptr, index_ptr, source_ptr, count, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < count
    target = tl.load(index_ptr + offsets, mask=mask, other=0)
    value = tl.load(source_ptr + offsets, mask=mask, other=0)
    tl.atomic_add(out_ptr + target, value, mask=mask)


def atomic_add(out: torch.Tensor, flat_index: torch.Tensor, values: torch.Tensor) -> None:
    """out.view(-1)[flat_index[i]] += values[i] for every i (duplicates accumulate)."""
    count = flat_index.numel()
    if count == 0:
        return
    block = 1024
    _atomic_add_kernel[((count + block - 1) // block,)](out, flat_index, values, count, BLOCK=block)
