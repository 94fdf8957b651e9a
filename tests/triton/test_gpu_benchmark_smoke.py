"""benchmarks/gpu.py runs end to end (CPU, Triton interpreter, tiny sizes), so a GPU run finds no script bug."""

import importlib
import pathlib
import sys

import torch

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def test_gpu_benchmark_smoke_run_prints_every_block_and_the_model(capsys):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    gpu = importlib.import_module("gpu")
    assert gpu.main(["--smoke", "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "smoke run" in lines[0]
    rows = [line.split(" | ")[0].strip("| ") for line in lines if line.startswith("| ") and "---" not in line]
    expected = [block.name for block in gpu.BLOCKS] + ["gpt forward", "gpt training step"]
    assert rows == ["block"] + expected * 2  # bfloat16, then float32
    torch._dynamo.reset()
