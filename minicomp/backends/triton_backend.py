"""The Triton backend: one @triton.jit kernel per Kernel region, a host program that launches them.

The host program is generated Python like the numpy backend's: it binds sizes, allocates the planned
arena once per call (one torch.empty), makes views with torch, calls torch for extern ops (matmul,
conv, fallbacks) and launches the kernels. Modules are cached by source text, block sizes by
(source, sizes) on disk (triton_cache.py); what differs between graphs of the same source (constants,
fallback arguments) is passed to the host function as its `graph_data`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch

from minicomp.backends import triton_runtime as rt
from minicomp.backends.triton_cache import load_module
from minicomp.backends.host_program import GraphData, build_host_program
from minicomp.backends.triton_codegen import KernelSource, write_kernel
from minicomp.ir import Graph, Kernel
from minicomp.kernels.loop_form import lower_kernel
from minicomp.kernels.merge_axes import merge_axes
from minicomp.kernels.split_axes import split_axes


@dataclasses.dataclass
class TritonProgram:
    """Generated module source, its kernels, the host function running them and this graph's own data
    (another graph with the same source shares the module and the function, never the data)."""

    source: str
    kernels: list[KernelSource]
    function: Callable
    data: GraphData


def _write(kernel: Kernel, name: str) -> KernelSource:
    return write_kernel(merge_axes(split_axes(lower_kernel(kernel, name))))


def generate(graph: Graph, keep_source: Optional[Callable[[str], Optional[str]]] = None) -> TritonProgram:
    """Source of a module with every kernel of `graph` and a `program` function launching them; `keep_source`
    gets the source before it is loaded (so it is kept even if loading it fails)."""
    host = build_host_program(graph, _write)
    kernels: list[KernelSource] = host.kernels
    header = ("import torch\nimport triton\nimport triton.language as tl\n"
              "from minicomp.backends import triton_math as tm\nfrom minicomp.backends import triton_runtime as rt\n"
              "from minicomp.backends.host_code import restride\n"
              "from minicomp.backends.host_program import slot\nfrom minicomp.backends.host_code import call_torch\n")
    module_source = header + "\n\n" + "\n\n".join(k.source for k in kernels) + "\n\n" + host.source
    if keep_source:
        keep_source(module_source)
    module = load_module(module_source)
    data = GraphData([rt.Launcher(getattr(module, k.name), k) for k in kernels], host.fallbacks, host.constants)
    return TritonProgram(module_source, kernels, module.program, data)


def compile_triton(graph: Graph, keep_source: Optional[Callable[[str], Optional[str]]] = None,
                   ) -> tuple[TritonProgram, Callable[[list], list]]:
    """The generated program and a runner taking torch tensors (and ints), returning torch tensors."""
    rt.require_triton()
    program = generate(graph, keep_source)

    def run(args: list) -> list:
        devices = [a.device for a in args if isinstance(a, torch.Tensor)]
        device = devices[0] if devices else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return program.function(program.data, device, *args)  # output tensors come with eager's strides

    return program, run
