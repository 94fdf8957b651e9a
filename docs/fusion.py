"""Runnable companion to docs/fusion.md: layer_norm before and after the fusion pass, and why kernels end.

    python docs/fusion.py
"""

import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import minicomp


def layer_norm_then_column_sum(x, weight, bias):
    y = F.layer_norm(x, x.shape[-1:], weight, bias)
    return y, y.sum(dim=0)  # a reduction over the other axis: a second domain, so a second kernel


def main() -> None:
    torch.manual_seed(0)
    x, weight, bias = torch.randn(8, 16), torch.randn(16), torch.randn(16)
    with tempfile.TemporaryDirectory() as dump_dir:
        minicomp.reset()
        compiled = torch.compile(layer_norm_then_column_sum, backend="minicomp", options={"dump_dir": dump_dir})
        for ours, eager in zip(compiled(x, weight, bias), layer_norm_then_column_sum(x, weight, bias)):
            torch.testing.assert_close(ours, eager)
        (report,) = minicomp.reports()
        folder = Path(report.dump_dir)
        before = sorted(folder.glob("*_dce_after_views.txt"))[-1].read_text()
        after = sorted(folder.glob("*_fusion.txt"))[-1].read_text()
    minicomp.reset()
    torch.compile(layer_norm_then_column_sum, backend="minicomp", options={"fusion": False})(x, weight, bias)
    unfused = minicomp.reports()[0].num_kernels
    print(f"before fusion: {before.count(' = ')} nodes; unfused, the compute nodes run as {unfused} kernels "
          "(views are free)")
    print(before)
    print(f"after fusion: {report.num_kernels} kernels")
    print(after)
    for kernel in report.kernels:
        print(f"{kernel.name}: {len(kernel.ops)} ops, reads {kernel.bytes_read} bytes, writes {kernel.bytes_written}")
    print(f"bytes moved: {report.bytes_moved} fused vs {report.naive_bytes_moved} unfused "
          f"({report.naive_bytes_moved / report.bytes_moved:.1f}x less traffic)")


if __name__ == "__main__":
    main()
