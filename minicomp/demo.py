"""The demo: a small pre-norm transformer block compiled with minicomp, checked against eager torch.

`minicomp demo` runs `run_demo()`: it compiles the block forward and backward, prints what each
compiled graph became (node counts after each pass, kernels, extern calls, fallbacks) and checks that
outputs and gradients match eager PyTorch.
"""

from __future__ import annotations

import copy
import math
import textwrap
import time
from typing import Optional, TextIO

import torch
from torch import nn

import minicomp
from minicomp.report import COMPILE_STAGES


class Attention(nn.Module):
    """Multi-head self-attention written with matmuls and a softmax, so every step is visible."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, dim = x.shape
        head_dim = dim // self.heads
        q, k, v = self.qkv(x).split(dim, dim=-1)
        q, k, v = (t.reshape(batch, seq, self.heads, head_dim).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
        weights = torch.softmax(scores, dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(batch, seq, dim)
        return self.out(mixed)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(layer_norm(x)), then x + mlp(layer_norm(x)) with a GELU MLP."""

    def __init__(self, dim: int = 32, heads: int = 4, hidden: int = 64):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# how the demo names the parts of a compile (report.COMPILE_STAGES) other than the passes
STAGE_LABELS = {"target": "choosing the target", "verify": "verification", "dump": "dumps",
                "codegen": "code generation", "cpp_compiler": "C++ compiler"}


def describe(report: minicomp.CompileReport) -> str:
    """A few lines for one compiled graph: node counts after each pass, kernels, traffic, memory, fallbacks."""
    counts = " -> ".join(f"{stage} {count}" for stage, count in report.pass_node_counts.items())
    fallback = ", ".join(sorted(set(report.fallback_ops))) or "none"
    seconds = report.pass_seconds
    parts = [(STAGE_LABELS.get(key, key), seconds[key]) for key in COMPILE_STAGES if key in seconds]
    parts.insert(2, ("passes", sum(report.passes_seconds().values())))  # (after the target and lowering)
    split = ", ".join(f"{label} {value:.2f} s" for label, value in parts)
    return "\n".join([
        f"graph {report.graph_id} ({report.kind}, target {report.target})",
        f"  nodes after each pass: {counts or '(not lowered)'}",
        f"  kernels: {report.num_kernels}   extern calls: {report.num_extern} "
        f"(of them {len(report.fallback_ops)} fallback calls)   compile: {report.compile_seconds:.2f} s",
        textwrap.fill(f"compile time: {split}", width=100, initial_indent="  ", subsequent_indent="    "),
        f"  bytes moved: {report.bytes_moved} (unfused {report.naive_bytes_moved})   "
        f"peak memory: {report.peak_bytes} bytes (without buffer reuse {report.naive_peak_bytes})",
        textwrap.fill(f"fallback ops (run by torch): {fallback}", width=100,
                      initial_indent="  ", subsequent_indent="    "),
    ])


def run_demo(dump_dir: Optional[str] = None, target: str = "auto", device: str = "cpu",
             out: Optional[TextIO] = None, seed: int = 0) -> bool:
    """Compile the block, print its reports, compare with eager; True when outputs and gradients match.

    target="auto" gives numpy for CPU tensors and Triton for CUDA tensors (see README, options).
    """
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    torch.manual_seed(seed)
    eager = TransformerBlock().to(device)
    compiled_model = copy.deepcopy(eager)
    x = torch.randn(2, 8, 32, device=device)
    x_eager = x.clone().requires_grad_(True)
    x_compiled = x.clone().requires_grad_(True)

    minicomp.reset()
    options = {"target": target}
    if dump_dir:
        options["dump_dir"] = dump_dir
    compiled = torch.compile(compiled_model, backend="minicomp", options=options)
    say("minicomp demo: a pre-norm transformer block (LayerNorm, attention, GELU MLP), "
        f"batch 2 x seq 8 x dim 32, on {device}")
    start = time.perf_counter()
    y_compiled = compiled(x_compiled)
    y_compiled.sum().backward()
    seconds = time.perf_counter() - start
    y_eager = eager(x_eager)
    y_eager.sum().backward()

    say()
    for report in minicomp.reports():
        say(describe(report))
    say()
    say(f"compiled forward + backward (compile included) in {seconds:.1f} s")
    if dump_dir:
        say(f"dumps written to {dump_dir}/ (one folder per graph)")

    checks = [("output", y_compiled, y_eager), ("grad of input", x_compiled.grad, x_eager.grad)]
    for (name, parameter), eager_parameter in zip(compiled_model.named_parameters(), eager.parameters()):
        checks.append((f"grad of {name}", parameter.grad, eager_parameter.grad))
    failures = []
    for name, actual, expected in checks:
        try:
            # our kernels sum in another order than torch's: the last bits may differ.
            torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
        except AssertionError as error:
            failures.append(f"{name}: {str(error).splitlines()[0]}")
    if failures:
        say("MISMATCH against eager PyTorch:")
        for failure in failures:
            say(f"  {failure}")
        return False
    say(f"outputs and gradients match eager PyTorch ({len(checks)} tensors checked with torch.testing.assert_close)")
    return True
