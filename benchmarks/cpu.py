"""Speed of the standard blocks on the CPU: eager, Inductor, minicomp cpp and minicomp numpy, in one process.

    python benchmarks/cpu.py [--rows 2048] [--columns 768] [--dtypes float32,bfloat16] [--markdown]
    python benchmarks/cpu.py --smoke      # tiny sizes, one round: checks the script, not the speed
    python benchmarks/cpu.py --blocks softmax,row_sum --no-model --dtypes float32   # a few blocks

For each block: milliseconds per call, speedup over eager, ratio to Inductor (above 1: minicomp is
faster), GB/s (ideal bytes = inputs read once + outputs written once, over the time), and the first
call's time of each compiler (compile included), with empty caches for both: every compiler starts
cold. The contenders are interleaved: each round times every one of them in turn, and the figure is
the median over rounds, so a burst of load on the machine hits them all alike. Then a small GPT-style
model (4 layers, d=256, batch 8, sequence 128): forward and one training step.

Run it on a quiet machine: torch's threads spin when they share cores with anything else, and eager
times inflate several-fold (DEVELOPERS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import torch
from torch import nn

# both compilers start cold: their disk caches live in a folder of this run
_CACHE = tempfile.mkdtemp(prefix="minicomp_cpu_bench_")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(_CACHE, "inductor"))
os.environ.setdefault("MINICOMP_CACHE_DIR", os.path.join(_CACHE, "minicomp"))

import minicomp  # noqa: E402
from minicomp.backends import cpp_build  # noqa: E402
from minicomp.blocks import BLOCKS  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu import GPTBlock, gpt_step  # noqa: E402
from _table import print_table  # noqa: E402


def call_milliseconds(function, args, calls: int) -> float:
    """Median milliseconds of `calls` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def interleaved(contenders: dict, args, rounds: int, calls: int) -> dict:
    """Median over rounds of each contender's per-call time; every round runs every contender."""
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            samples[name].append(call_milliseconds(function, args, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def first_call_seconds(function, args) -> float:
    """The first call: compile and run."""
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def tensor_bytes(values) -> int:
    values = values if isinstance(values, (tuple, list)) else [values]
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def compilers(function) -> dict:
    torch._dynamo.reset()
    minicomp.reset()
    return {
        "inductor": torch.compile(function, dynamic=False),
        "cpp": torch.compile(function, backend="minicomp", options={"target": "cpp"}, dynamic=False),
        "numpy": torch.compile(function, backend="minicomp", options={"target": "numpy"}, dynamic=False),
    }


def block_rows(rows: int, columns: int, dtype: torch.dtype, rounds: int, calls: int, names: list) -> list[list]:
    table = []
    for block in BLOCKS:
        if names and block.name not in names:
            continue
        torch.manual_seed(0)
        inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in block.make_inputs(rows, columns, dtype))
        compiled = compilers(block.function)
        expected = block.function(*inputs)
        compile_seconds = {}
        for name, function in compiled.items():
            compile_seconds[name] = first_call_seconds(function, inputs)
            if name != "inductor":  # (the contender under test; Inductor does not round bfloat16 intermediates
                # as eager does, so it differs from eager by an ulp of the output here and there)
                torch.testing.assert_close(function(*inputs), expected, rtol=2e-2, atol=2e-2)  # bf16 tolerances
        times = interleaved({"eager": block.function, **compiled}, inputs, rounds, calls)
        ideal = tensor_bytes(inputs) + tensor_bytes(expected)
        table.append(_row(block.name, dtype, times, compile_seconds, ideal))
    return table


def _row(name: str, dtype: torch.dtype, times: dict, compile_seconds: dict, ideal) -> list:
    eager, inductor, cpp, numpy = times["eager"], times["inductor"], times["cpp"], times["numpy"]
    bandwidth = f"{ideal / cpp / 1e6:.1f}" if ideal else "-"
    return [name, str(dtype).replace("torch.", ""), f"{eager:.3f}", f"{inductor:.3f}", f"{cpp:.3f}", f"{numpy:.3f}",
            f"{eager / inductor:.2f}", f"{eager / cpp:.2f}", f"{inductor / cpp:.2f}", f"{eager / numpy:.2f}", bandwidth,
            f"{compile_seconds['inductor']:.2f}", f"{compile_seconds['cpp']:.2f}", f"{compile_seconds['numpy']:.2f}"]


def model_rows(dtype: torch.dtype, size: dict, rounds: int) -> list[list]:
    torch.manual_seed(0)
    model = nn.Sequential(*[GPTBlock(size["dim"], size["heads"]) for _ in range(size["layers"])]).to(dtype)
    x = torch.randn(size["batch"], size["length"], size["dim"], dtype=dtype)
    rows = []
    for name, training in (("gpt forward", False), ("gpt training step", True)):
        steps, compile_seconds = {}, {}
        for contender, compiled in {"eager": model, **compilers(model)}.items():
            step = steps[contender] = gpt_step(compiled, x, training)
            if contender != "eager":
                compile_seconds[contender] = first_call_seconds(step, ())
        times = interleaved(steps, (), rounds, 3)
        rows.append(_row(name, dtype, times, compile_seconds, 0))
    return rows


HEADER = ["block", "dtype", "eager ms", "inductor ms", "cpp ms", "numpy ms", "inductor vs eager", "cpp vs eager",
          "cpp vs inductor", "numpy vs eager", "cpp GB/s", "inductor compile s", "cpp compile s", "numpy compile s"]


def geomean(values: list[float]) -> float:
    return float(torch.tensor(values, dtype=torch.float64).log().mean().exp())


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--columns", type=int, default=768)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--blocks", default="", help="comma-separated block names (default: all)")
    parser.add_argument("--no-model", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks the script")
    args = parser.parse_args(argv)
    size = dict(layers=4, dim=256, heads=4, batch=8, length=128)
    calls = 10
    if args.smoke:
        args.rows, args.columns, args.rounds, calls = 8, 64, 1, 1
        size = dict(layers=1, dim=32, heads=2, batch=2, length=8)
    chain = cpp_build.require_toolchain()
    compiler = chain.version.splitlines()[0]
    print(f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{compiler}, flags {' '.join(chain.flags)}; {args.rows} x {args.columns}, median of {args.rounds} "
          f"interleaved rounds")
    table = []
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        blocks = block_rows(args.rows, args.columns, dtype, args.rounds, calls,
                            [b for b in args.blocks.split(",") if b])
        table += blocks
        ratios = {column: geomean([float(r[HEADER.index(column)]) for r in blocks])
                  for column in ("inductor vs eager", "cpp vs eager", "cpp vs inductor", "numpy vs eager")}
        table.append(["geomean (blocks)", name, "", "", "", ""] + [f"{ratios[c]:.2f}" for c in ratios] +
                     ["", "", "", ""])
        if not args.no_model:
            table += model_rows(dtype, size, args.rounds)
    print_table(HEADER, table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
