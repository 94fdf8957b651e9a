"""Runnable companion to docs/memory_planning.md: the arena plan of a transformer stack.

    python docs/memory_planning.py
"""

import tempfile
from pathlib import Path

import torch
from torch import nn

import minicomp
from minicomp.demo import TransformerBlock


def main() -> None:
    torch.manual_seed(0)
    for depth in (1, 2, 6):
        model = nn.Sequential(*[TransformerBlock(dim=32, heads=4, hidden=64) for _ in range(depth)]).eval()
        x = torch.randn(2, 16, 32)
        with tempfile.TemporaryDirectory() as dump_dir, torch.no_grad():
            minicomp.reset()
            result = torch.compile(model, backend="minicomp", options={"dump_dir": dump_dir})(x)
            torch.testing.assert_close(result, model(x))
            (report,) = minicomp.reports()
            dump = sorted(Path(report.dump_dir).glob("*_memory.txt"))[-1].read_text()
        plan = dump[dump.index("arena:"):]
        in_place = plan.count("in place of")
        print(f"{depth} block(s): {report.num_kernels} kernels, {report.num_extern} matmuls, "
              f"peak {report.peak_bytes} bytes vs {report.naive_peak_bytes} without reuse "
              f"({report.peak_bytes / report.naive_peak_bytes:.2f}), {in_place} buffers written in place")
        if depth == 1:
            print(plan)


if __name__ == "__main__":
    main()
