"""Kernel counts, bytes moved and peak memory of the standard blocks, with Inductor's counts beside them.

    python benchmarks/kernels.py [--rows 256] [--columns 512] [--no-inductor] [--markdown]

Ideal bytes = every block input read once plus every output written once. Inductor's count is the
number of kernels in its generated code for the same function on the same device (on CPU these are
C++ kernels, on GPU Triton kernels); extern calls (matmul) are counted apart on both sides.
"""

from __future__ import annotations

import argparse
import re
import sys

import torch
import torch.nn.functional as F
from torch import nn

import minicomp
from minicomp.blocks import BLOCKS

from _table import print_table


def tensor_bytes(values) -> int:
    values = values if isinstance(values, (tuple, list)) else [values]
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def inductor_counts(function, inputs, training: bool = False) -> tuple[int, int]:
    """(kernels, extern calls) in the code Inductor generates for `function`."""
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()
    compiled = torch.compile(function)
    if training:
        _, codes = run_and_get_code(lambda: compiled(*inputs).backward())
    else:
        _, codes = run_and_get_code(compiled, *inputs)
    kernels = sum(len(re.findall(r"^\w+ = async_compile\.(?:cpp_pybinding|triton)\(", code, re.M)) for code in codes)
    extern = sum(len(re.findall(r"extern_kernels\.\w+\(", code)) for code in codes)
    return kernels, extern


def minicomp_reports(function, inputs, training: bool = False):
    minicomp.reset()
    compiled = torch.compile(function, backend="minicomp")
    if training:
        compiled(*inputs).backward()
    else:
        compiled(*inputs)
    return minicomp.reports()


def block_rows(rows: int, columns: int, with_inductor: bool) -> list[list]:
    table = []
    for block in BLOCKS:
        torch.manual_seed(0)
        inputs = block.make_inputs(rows, columns, torch.float32)
        (report,) = minicomp_reports(block.function, inputs)
        ideal = tensor_bytes(inputs) + tensor_bytes(block.function(*inputs))
        inductor = inductor_counts(block.function, inputs) if with_inductor else ("-", "-")
        table.append([block.name, report.num_kernels, report.num_extern, inductor[0], inductor[1],
                      f"{report.bytes_moved / ideal:.2f}", f"{report.peak_bytes}/{report.naive_peak_bytes}"])
    return table


class MLP(nn.Module):
    """Linear-GELU-Linear, the training-step comparison."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.up, self.down = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x, target):
        return F.mse_loss(self.down(F.gelu(self.up(x))), target)


def training_row(rows: int, columns: int, with_inductor: bool) -> list:
    torch.manual_seed(0)
    model = MLP(columns, 4 * columns)
    inputs = (torch.randn(rows, columns), torch.randn(rows, columns))
    reports = minicomp_reports(model, inputs, training=True)
    kernels = sum(r.num_kernels for r in reports)
    extern = sum(r.num_extern for r in reports)
    inductor = inductor_counts(model, inputs, training=True) if with_inductor else ("-", "-")
    peak = "+".join(f"{r.peak_bytes}/{r.naive_peak_bytes}" for r in reports)
    return ["mlp_training_step", kernels, extern, inductor[0], inductor[1], "-", peak]


HEADER = ["block", "kernels", "extern", "inductor kernels", "inductor extern", "bytes / ideal", "peak / naive peak"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--columns", type=int, default=512)
    parser.add_argument("--no-inductor", action="store_true", help="skip Inductor (it needs a C++ compiler on CPU)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    with_inductor = not args.no_inductor
    rows = block_rows(args.rows, args.columns, with_inductor)
    rows.append(training_row(args.rows, args.columns, with_inductor))
    print(f"torch {torch.__version__}, device cpu, float32, {args.rows} x {args.columns}")
    print_table(HEADER, rows, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
