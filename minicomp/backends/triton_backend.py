"""The Triton backend: one @triton.jit kernel per Kernel region, a host program that launches them.

The host program is generated Python like the numpy backend's: it binds sizes, allocates the planned
arena once per call (one torch.empty), makes views with torch, calls torch for extern ops (matmul,
conv, fallbacks) and launches the kernels. Modules are cached by source text, block sizes by
(source, sizes) on disk (triton_cache.py); what differs between graphs of the same source (constants,
fallback arguments) is passed to the host function as its `graph_data`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import torch

from minicomp.backends import triton_runtime as rt
from minicomp.backends.triton_cache import load_module
from minicomp.backends.host_code import (bind_number, bind_result_sizes, bind_sizes, return_line, size, size_value,
                                         unbound_sizes)
from minicomp.backends.triton_codegen import KernelSource
from minicomp.backends.triton_loops import write_kernel
from minicomp.ir import Graph, Kernel, Node, Op, Value
from minicomp.ir.ops import VIEW

TORCH_DTYPE = "torch.{}"


@dataclasses.dataclass
class TritonProgram:
    """Generated module source, its kernels, the host function running them and this graph's own data
    (another graph with the same source shares the module and the function, never the data)."""

    source: str
    kernels: list[KernelSource]
    function: Callable
    data: rt.GraphData


def generate(graph: Graph, keep_source: Optional[Callable[[str], Optional[str]]] = None) -> TritonProgram:
    """Source of a module with every kernel of `graph` and a `program` function launching them; `keep_source`
    gets the source before it is loaded (so it is kept even if loading it fails)."""
    kernels: list[KernelSource] = []
    bound: set = set()
    body = bind_sizes(graph, bound)
    plan = graph.plan
    if plan is not None:
        body.append(f"arena = torch.empty({size(plan.arena_bytes)}, dtype=torch.uint8, device=DEVICE)")
    fallbacks: list[tuple] = []
    constants: list = []
    for item in graph.nodes:
        if not item.is_kernel and item.op is Op.CONSTANT:
            constants.append(item.attrs["data"].payload)
            body.append(f"{item.output.name} = graph_data.constant({len(constants) - 1}, DEVICE)")
            continue
        if not item.is_kernel and item.op in VIEW:
            body.append(f"{item.output.name} = {_view_code(item)}")
            continue
        if not item.is_kernel and "binds" in item.attrs:
            body.append(bind_number(item, bound))
            continue
        if not item.is_kernel and item.op is Op.FALLBACK and unbound_sizes(item.outputs, bound):
            body.append(_fallback_line(item, fallbacks, preallocated=False))  # its sizes are known once it ran
            body += bind_result_sizes(item.outputs, bound)
            continue
        body += [f"{v.name} = {_allocate(v, plan)}" for v in item.outputs]
        if item.is_kernel or item.op not in (Op.MATMUL, Op.CONV, Op.FALLBACK, Op.SCATTER):
            kernel = item if item.is_kernel else _lone_kernel(item)
            source = write_kernel(kernel, f"kernel{len(kernels)}_{kernel.name}")
            kernels.append(source)
            body.append(_launch_line(len(kernels) - 1, source))
        else:
            body.append(_extern_line(item, fallbacks))
    body.append(return_line(graph))
    body.insert(0, "KERNELS, FALLBACKS = graph_data.kernels, graph_data.fallbacks")
    params = "".join(f", {v.name if isinstance(v, Value) else v}" for v in graph.inputs)
    host = f"def program(graph_data, DEVICE{params}):\n" + "\n".join("    " + line for line in body) + "\n"
    header = ("import torch\nimport triton\nimport triton.language as tl\n"
              "from minicomp.backends import triton_math as tm\nfrom minicomp.backends import triton_runtime as rt\n"
              "from minicomp.backends.host_code import restride\n")
    module_source = header + "\n\n" + "\n\n".join(k.source for k in kernels) + "\n\n" + host
    if keep_source:
        keep_source(module_source)
    module = load_module(module_source)
    data = rt.GraphData([rt.Launcher(getattr(module, k.name), k) for k in kernels], fallbacks, constants)
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


def _torch_dtype(value: Value) -> str:
    return f"torch.{value.dtype.full_name}"


def _shape(value: Value) -> str:
    return "(" + "".join(f"{size(s)}, " for s in value.shape) + ")"


def _allocate(value: Value, plan) -> str:
    if plan is not None and value.name in plan.offsets:
        return f"rt.slot(arena, {size(plan.offsets[value.name])}, {_shape(value)}, {_torch_dtype(value)})"
    return f"torch.empty({_shape(value)}, dtype={_torch_dtype(value)}, device=DEVICE)"


def _view_code(node: Node) -> str:
    x, attrs = node.inputs[0].name, node.attrs
    if node.op is Op.RESHAPE:
        return f"{x}.reshape({_shape(node.output)})"
    if node.op is Op.PERMUTE:
        return f"{x}.permute({tuple(attrs['dims'])})"
    if node.op is Op.EXPAND:
        return f"{x}.expand({_shape(node.output)})"
    index = ":, " * attrs["axis"]
    return f"{x}[{index}{size(attrs['start'])}:{size(attrs['stop'])}:{size(attrs['step'])}]"


def _lone_kernel(node: Node) -> Kernel:
    inputs = list(dict.fromkeys(node.inputs))
    return Kernel(node.outputs[0].name, [node], inputs, list(node.outputs))


def _launch_line(index: int, source: KernelSource) -> str:
    ins = ", ".join(v.name for v in source.inputs)
    outs = ", ".join(v.name for v in source.outputs)
    sizes = ", ".join(_size_value(s) for s in source.sizes)
    return f"KERNELS[{index}]([{ins}], [{outs}], [{sizes}], SIZES)"


def _size_value(expr: Any) -> str:
    return size_value(expr)


def _extern_line(node: Node, fallbacks: list) -> str:
    args = [v.name for v in node.inputs]
    out = node.outputs[0].name
    if node.op is Op.MATMUL:
        return f"torch.matmul({args[0]}, {args[1]}, out={out})"
    if node.op is Op.CONV:
        a = node.attrs
        bias = args[2] if len(args) > 2 else "None"
        spatial = len(a["stride"])
        return (f"{out}.copy_(torch.ops.aten.convolution({args[0]}, {args[1]}, {bias}, {list(a['stride'])}, "
                f"{list(a['padding'])}, {list(a['dilation'])}, False, {[0] * spatial}, {a['groups']}))")
    if node.op is Op.SCATTER:
        return f"rt.scatter({args[0]}, {node.attrs['axis']}, {args[1]}, {args[2]}, {out}, {node.attrs['reduce']!r})"
    return _fallback_line(node, fallbacks, preallocated=True)


def _fallback_line(node: Node, fallbacks: list, preallocated: bool) -> str:
    """A torch call writing into the preallocated outputs, or returning its own when their sizes are unknown."""
    index = len(fallbacks)
    fallbacks.append((node.attrs["args"], node.attrs["kwargs"]))
    values = "{" + ", ".join(f"{v.name!r}: {v.name}" for v in dict.fromkeys(node.inputs)) + "}"
    outs = ", ".join(v.name for v in node.outputs)
    call = f"rt.call_torch({node.attrs['target']!r}, *FALLBACKS[{index}], {values}, SIZES"
    if preallocated:
        return f"{call}, [{outs}])  # fallback"
    return f"{outs}, = {call}, None)  # fallback"
