"""Speed of the standard blocks on a GPU: eager, Inductor and minicomp (Triton) timed in one process.

    python benchmarks/gpu.py [--rows 8192] [--columns 4096] [--dtypes bfloat16,float32] [--markdown]

For each block: milliseconds per call (triton.testing.do_bench), speedup over eager, ratio to
Inductor, achieved GB/s and MBU = ideal bytes / time / copy bandwidth, where ideal bytes = inputs read
once + outputs written once and the copy bandwidth is a device-to-device copy measured in the same
run (bytes read + written). Then a small GPT-style model: forward and one training step.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch import nn

import minicomp
from minicomp.blocks import BLOCKS


def bench(function, *args) -> float:
    from triton.testing import do_bench

    return do_bench(lambda: function(*args), warmup=25, rep=100)


def copy_bandwidth() -> float:
    """GB/s of a large device-to-device copy, counting bytes read and written."""
    source = torch.empty(1 << 28, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    milliseconds = bench(target.copy_, source)
    return 2 * source.numel() / milliseconds / 1e6


def tensor_bytes(values) -> int:
    values = values if isinstance(values, (tuple, list)) else [values]
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def block_rows(rows: int, columns: int, dtype: torch.dtype, bandwidth: float) -> list[list]:
    table = []
    for block in BLOCKS:
        torch.manual_seed(0)
        inputs = tuple(x.cuda() if isinstance(x, torch.Tensor) else x for x in block.make_inputs(rows, columns, dtype))
        if dtype != torch.float32:
            inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in inputs)
        torch._dynamo.reset()
        minicomp.reset()
        inductor = torch.compile(block.function, dynamic=False)
        ours = torch.compile(block.function, backend="minicomp", dynamic=False)
        expected = block.function(*inputs)
        torch.testing.assert_close(ours(*inputs), expected, rtol=2e-2, atol=2e-2)  # low-precision blocks
        eager_ms = bench(block.function, *inputs)
        inductor_ms = bench(inductor, *inputs)
        ours_ms = bench(ours, *inputs)
        ideal = tensor_bytes(inputs) + tensor_bytes(expected)
        achieved = ideal / ours_ms / 1e6
        table.append([block.name, str(dtype).replace("torch.", ""), f"{eager_ms:.3f}", f"{inductor_ms:.3f}",
                      f"{ours_ms:.3f}", f"{eager_ms / ours_ms:.2f}", f"{inductor_ms / ours_ms:.2f}",
                      f"{achieved:.0f}", f"{achieved / bandwidth:.2f}", f"{ideal / inductor_ms / 1e6 / bandwidth:.2f}"])
    return table


class GPTBlock(nn.Module):
    """Pre-norm GPT block: causal attention written with matmuls, GELU MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.up, self.down = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(dim, dim=-1)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
        mask = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        attention = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
        x = x + self.out(attention.transpose(1, 2).reshape(batch, length, dim))
        return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))


def model_rows(dtype: torch.dtype) -> list[list]:
    torch.manual_seed(0)
    model = nn.Sequential(*[GPTBlock(768, 12) for _ in range(6)]).cuda().to(dtype)
    x = torch.randn(8, 1024, 768, device="cuda", dtype=dtype)
    rows = []
    for name, training in (("gpt forward", False), ("gpt training step", True)):
        results = []
        for compiled in (model, torch.compile(model, dynamic=False),
                         torch.compile(model, backend="minicomp", dynamic=False)):
            torch._dynamo.reset()

            def step(compiled=compiled):
                if training:
                    compiled(x).float().pow(2).mean().backward()
                else:
                    with torch.no_grad():
                        compiled(x)

            results.append(bench(step))
        eager_ms, inductor_ms, ours_ms = results
        rows.append([name, str(dtype).replace("torch.", ""), f"{eager_ms:.3f}", f"{inductor_ms:.3f}", f"{ours_ms:.3f}",
                     f"{eager_ms / ours_ms:.2f}", f"{inductor_ms / ours_ms:.2f}", "-", "-", "-"])
    return rows


HEADER = ["block", "dtype", "eager ms", "inductor ms", "minicomp ms", "vs eager", "vs inductor",
          "GB/s", "MBU", "inductor MBU"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--columns", type=int, default=4096)
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--no-model", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("skipped: benchmarks/gpu.py needs a CUDA GPU; benchmarks/kernels.py gives the CPU-side figures")
        return 0
    import triton

    bandwidth = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}, "
          f"copy bandwidth {bandwidth:.0f} GB/s, {args.rows} x {args.columns}")
    table = []
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        table += block_rows(args.rows, args.columns, dtype, bandwidth)
        if not args.no_model:
            table += model_rows(dtype)
    if args.markdown:
        print("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in table + [HEADER]) for i in range(len(HEADER))]
        for row in [HEADER] + table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
