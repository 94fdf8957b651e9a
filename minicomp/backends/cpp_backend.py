"""The C++ backend: every Kernel region as an OpenMP loop nest, all of a graph's kernels one translation
unit, compiled by the system's C++ compiler (cpp_build.py) and called from the shared host program.

Each kernel goes through the shared loop form (kernels/loop_form.py), which cpp_codegen.py prints.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch

from minicomp.backends import cpp_build, cpp_runtime
from minicomp.backends.cpp_codegen import CppKernel, write_kernel
from minicomp.backends.cpp_math import PRELUDE
from minicomp.backends.cpp_reductions import SUM_LANES, WIDE_SUM_LANES
from minicomp.backends.host_code import run_source
from minicomp.backends.host_program import GraphData, build_host_program
from minicomp.ir import Graph
from minicomp.kernels.loop_form import lower_kernel
from minicomp.kernels.merge_axes import merge_axes
from minicomp.kernels.split_axes import split_axes

HEADER = ("import torch\nfrom minicomp.backends import cpp_runtime as rt\n"
          "from minicomp.backends.host_code import restride\nfrom minicomp.backends.host_program import slot\n"
          "from minicomp.backends.host_code import call_torch\n\n\n")


@dataclasses.dataclass
class CppProgram:
    """The generated host program, the C++ translation unit, its kernels, the host function and the graph's data."""

    source: str
    cpp_source: str
    kernels: list[CppKernel]
    function: Callable
    data: GraphData
    compiler_seconds: float = 0.0


def sum_lanes(graph: Graph) -> int:
    """The lanes of the graph's float sums: WIDE_SUM_LANES where it holds float16 or bfloat16 values
    (cpp_reductions.py says why). A property of the graph, so its kernels fused or not give one result."""
    low = any(v.dtype.is_low_precision for node in graph.all_nodes() for v in list(node.inputs) + list(node.outputs))
    return WIDE_SUM_LANES if low else SUM_LANES


def generate(graph: Graph, keep_source: Optional[Callable[[str, str], Optional[str]]] = None) -> CppProgram:
    """Host program and translation unit for `graph`, compiled and loaded; `keep_source(name, text)` gets
    each source before it is compiled (so it is kept even if compiling fails)."""
    lanes = sum_lanes(graph)
    host = build_host_program(graph, lambda kernel, name: write_kernel(
        merge_axes(split_axes(lower_kernel(kernel, name))), lanes))
    cpp_source = PRELUDE + "\n" + "\n".join(k.source for k in host.kernels)
    source = HEADER + host.source
    if keep_source:
        keep_source("program.cpp", cpp_source)
    filename = keep_source("program.py", source) if keep_source else None
    before = cpp_build.STATS["seconds"]
    library = cpp_build.load_library(cpp_source) if host.kernels else None
    compiler_seconds = cpp_build.STATS["seconds"] - before
    namespace = run_source(source, filename)
    launchers = [cpp_runtime.Launcher(getattr(library, k.name), k) for k in host.kernels]
    data = GraphData(launchers, host.fallbacks, host.constants)
    return CppProgram(source, cpp_source, host.kernels, namespace["program"], data, compiler_seconds)


def compile_cpp(graph: Graph, keep_source: Optional[Callable[[str, str], Optional[str]]] = None,
                ) -> tuple[CppProgram, Callable[[list], list]]:
    """The generated program and a runner taking CPU torch tensors (and ints), returning torch tensors."""
    cpp_build.require_toolchain()
    program = generate(graph, keep_source)
    cpu = torch.device("cpu")

    def run(args: list) -> list:
        return program.function(program.data, cpu, *args)

    return program, run
