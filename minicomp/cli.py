"""The `minicomp` command: `minicomp demo` and `minicomp bench`."""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from typing import Optional, Sequence

BENCHMARK_SCRIPT = os.path.join("benchmarks", "kernels.py")


def demo(args: argparse.Namespace) -> int:
    """Compile the demo transformer block; exit code 1 when it fails or does not match eager PyTorch."""
    from minicomp.demo import run_demo
    from minicomp.errors import MinicompError

    try:
        return 0 if run_demo(dump_dir=args.dump_dir, target=args.target, device=args.device) else 1
    except MinicompError as error:
        print(f"minicomp demo: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def bench(args: argparse.Namespace) -> int:
    """Run benchmarks/kernels.py from the repository when it exists."""
    script = os.path.join(args.root, BENCHMARK_SCRIPT)
    if not os.path.exists(script):
        print(f"no benchmarks yet ({script} does not exist)")
        return 0
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python script` would: its helpers import
    runpy.run_path(script, run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subcommand per action."""
    parser = argparse.ArgumentParser(prog="minicomp", description="minicomp: a small torch.compile backend")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="compile a transformer block and check it against eager torch")
    demo_parser.add_argument("--dump-dir", default=os.environ.get("MINICOMP_DUMP_DIR"),
                             help="write the ATen graph, the IR after each pass and the generated code here")
    demo_parser.add_argument("--target", choices=["auto", "numpy", "triton"], default="auto",
                             help="code generator (auto: numpy on CPU, Triton on CUDA); triton on CPU needs "
                                  "TRITON_INTERPRET=1")
    demo_parser.add_argument("--device", default="cpu", help="where the model and inputs live (cpu, cuda)")
    demo_parser.set_defaults(run=demo)
    bench_parser = commands.add_parser("bench", help="run benchmarks/kernels.py")
    bench_parser.add_argument("--root", default=".", help="the repository root (default: the current folder)")
    bench_parser.set_defaults(run=bench)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `minicomp` console script."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
