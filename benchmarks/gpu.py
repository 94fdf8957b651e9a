"""Speed of the standard blocks on a GPU: eager, Inductor and minicomp (Triton) timed in one process.

    python benchmarks/gpu.py [--rows 8192] [--columns 4096] [--dtypes bfloat16,float32] [--markdown]
    TRITON_INTERPRET=1 python benchmarks/gpu.py --smoke      # the same code on CPU, tiny sizes

For each block: milliseconds per call (triton.testing.do_bench), speedup over eager, ratio to
Inductor, achieved GB/s and MBU = ideal bytes / time / copy bandwidth, where ideal bytes = inputs read
once + outputs written once and the copy bandwidth is a device-to-device copy measured in the same
run (bytes read + written). Then a small GPT-style model: forward and one training step.

--smoke runs every step on CPU through Triton's interpreter, with aot_eager standing in for Inductor
(which needs a C++ compiler on CPU) and a wall-clock timer: it checks the script, not the speed, so
that GPU time is not spent finding a bug in it. tests/triton/test_gpu_benchmark_smoke.py runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import minicomp
from minicomp.blocks import BLOCKS

from _table import print_table


def gpu_milliseconds(function, *args) -> float:
    from triton.testing import do_bench

    return do_bench(lambda: function(*args), warmup=25, rep=100)


def wall_clock_milliseconds(function, *args) -> float:
    function(*args)
    start = time.perf_counter()
    for _ in range(3):
        function(*args)
    return (time.perf_counter() - start) / 3 * 1e3


@dataclasses.dataclass
class Setup:
    """Where and how to measure: the real run on a GPU, or the smoke run on CPU."""

    device: str
    bench: Callable
    baseline: str  # the torch.compile backend in the "inductor" columns
    copy_bytes: int
    model: dict  # GPT size: layers, dim, heads, batch, length


GPU = Setup("cuda", gpu_milliseconds, "inductor", 1 << 28, dict(layers=6, dim=768, heads=12, batch=8, length=1024))
SMOKE = Setup("cpu", wall_clock_milliseconds, "aot_eager", 1 << 20, dict(layers=1, dim=32, heads=2, batch=2, length=8))
MINICOMP = {"target": "triton"}


def copy_bandwidth(setup: Setup) -> float:
    """GB/s of a large device-to-device copy, counting bytes read and written."""
    source = torch.empty(setup.copy_bytes, dtype=torch.uint8, device=setup.device)
    target = torch.empty_like(source)
    milliseconds = setup.bench(target.copy_, source)
    return 2 * source.numel() / milliseconds / 1e6


def tensor_bytes(values) -> int:
    values = values if isinstance(values, (tuple, list)) else [values]
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def block_rows(setup: Setup, rows: int, columns: int, dtype: torch.dtype, bandwidth: float) -> list[list]:
    table = []
    for block in BLOCKS:
        torch.manual_seed(0)
        inputs = tuple(x.to(setup.device) if isinstance(x, torch.Tensor) else x
                       for x in block.make_inputs(rows, columns, dtype))
        if dtype != torch.float32:
            inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in inputs)
        torch._dynamo.reset()
        minicomp.reset()
        inductor = torch.compile(block.function, backend=setup.baseline, dynamic=False)
        ours = torch.compile(block.function, backend="minicomp", options=MINICOMP, dynamic=False)
        expected = block.function(*inputs)
        torch.testing.assert_close(ours(*inputs), expected, rtol=2e-2, atol=2e-2)  # low-precision blocks
        eager_ms = setup.bench(block.function, *inputs)
        inductor_ms = setup.bench(inductor, *inputs)
        ours_ms = setup.bench(ours, *inputs)
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


def gpt_step(model, x: torch.Tensor, training: bool) -> Callable[[], None]:
    """One forward (without autograd) or one forward and backward of `model` on `x`, as a timed step."""
    def step():
        if training:
            model(x).float().pow(2).mean().backward()
        else:
            with torch.no_grad():
                model(x)
    return step


def model_rows(setup: Setup, dtype: torch.dtype) -> list[list]:
    torch.manual_seed(0)
    size = setup.model
    model = nn.Sequential(*[GPTBlock(size["dim"], size["heads"]) for _ in range(size["layers"])])
    model = model.to(setup.device).to(dtype)
    x = torch.randn(size["batch"], size["length"], size["dim"], device=setup.device, dtype=dtype)
    rows = []
    for name, training in (("gpt forward", False), ("gpt training step", True)):
        results = []
        for compiled in (model, torch.compile(model, backend=setup.baseline, dynamic=False),
                         torch.compile(model, backend="minicomp", options=MINICOMP, dynamic=False)):
            torch._dynamo.reset()
            step = gpt_step(compiled, x, training)

            results.append(setup.bench(step))
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
    parser.add_argument("--smoke", action="store_true", help="CPU, Triton interpreter, tiny sizes: checks the script")
    args = parser.parse_args(argv)
    if args.smoke:
        setup, args.rows, args.columns = SMOKE, min(args.rows, 8), min(args.columns, 64)
    elif torch.cuda.is_available():
        setup = GPU
    else:
        print("skipped: benchmarks/gpu.py needs a CUDA GPU; benchmarks/kernels.py gives the CPU-side figures")
        return 0
    import triton

    bandwidth = copy_bandwidth(setup)
    device = torch.cuda.get_device_name() if setup.device == "cuda" else "CPU (smoke run: the figures mean nothing)"
    print(f"{device}, torch {torch.__version__}, triton {triton.__version__}, "
          f"copy bandwidth {bandwidth:.0f} GB/s, {args.rows} x {args.columns}")
    table = []
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        table += block_rows(setup, args.rows, args.columns, dtype, bandwidth)
        if not args.no_model:
            table += model_rows(setup, dtype)
    print_table(HEADER, table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
