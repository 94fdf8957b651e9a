"""The host program of the compiled targets that run on torch tensors (C++ and Triton).

Generated Python like the numpy backend's: it binds sizes, allocates the planned arena once per call
(one torch.empty), makes views with torch, calls torch for extern ops (matmul, conv, fallbacks) and
calls each kernel through `KERNELS[i](inputs, outputs, sizes, SIZES)`. What differs between graphs of
the same source (constants, fallback arguments, the kernels' launchers) is the host function's
`graph_data` argument, so two graphs can share one generated module.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

from minicomp.backends.host_code import (bind_number, bind_result_sizes, bind_sizes, return_line, size, size_value)
from minicomp.ir import Graph, Kernel, Node, Op, Value
from minicomp.ir.ops import VIEW


@dataclasses.dataclass
class HostProgram:
    """The host function's source and what it needs: the kernels it calls (written by the target),
    the fallbacks' arguments and the graph's constants."""

    source: str
    kernels: list
    fallbacks: list
    constants: list


@dataclasses.dataclass
class GraphData:
    """What one compiled graph's host program reads besides its arguments. Two graphs with the same
    generated source share one module, so their launchers, fallback arguments and constants live here."""

    kernels: list
    fallbacks: list
    constants: list
    on_device: dict = dataclasses.field(default_factory=dict)

    def constant(self, index: int, device: torch.device) -> torch.Tensor:
        """Graph constant `index` on `device`, copied there once."""
        key = (index, str(device))
        if key not in self.on_device:
            self.on_device[key] = self.constants[index].to(device)
        return self.on_device[key]


def slot(arena: torch.Tensor, offset: int, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    """A tensor view of `shape` and `dtype` at byte `offset` of the arena."""
    count = 1
    for extent in shape:
        count *= extent
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    return arena[offset:offset + nbytes].view(dtype).view(shape)


def build_host_program(graph: Graph, write_kernel: Callable[[Kernel, str], Any]) -> HostProgram:
    """`def program(graph_data, DEVICE, *inputs)` for `graph`; `write_kernel(kernel, name)` returns the
    target's kernel (with `inputs`, `outputs` and `sizes`), called in order as KERNELS[i]."""
    kernels: list = []
    bound: set = set()
    body = bind_sizes(graph, bound)
    plan = graph.plan
    if plan is not None and plan.offsets:  # (none when every buffer is an input or an output)
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
        if not item.is_kernel and item.op is Op.FALLBACK:
            body.append(_fallback_line(item, fallbacks))
            body += bind_result_sizes(item.outputs, bound)  # (sizes known once it ran, as nonzero's)
            continue
        body += [f"{v.name} = {_allocate(v, plan)}" for v in item.outputs]
        if item.is_kernel or item.op not in (Op.MATMUL, Op.CONV, Op.SCATTER):
            kernel = item if item.is_kernel else _lone_kernel(item)
            written = write_kernel(kernel, f"kernel{len(kernels)}_{kernel.name}")
            kernels.append(written)
            body.append(_launch_line(len(kernels) - 1, written))
        else:
            body.append(_extern_line(item, fallbacks))
    body.append(return_line(graph))
    body.insert(0, "KERNELS, FALLBACKS = graph_data.kernels, graph_data.fallbacks")
    params = "".join(f", {v.name if isinstance(v, Value) else v}" for v in graph.inputs)
    source = f"def program(graph_data, DEVICE{params}):\n" + "\n".join("    " + line for line in body) + "\n"
    return HostProgram(source, kernels, fallbacks, constants)


def _torch_dtype(value: Value) -> str:
    return f"torch.{value.dtype.full_name}"


def _shape(value: Value) -> str:
    return "(" + "".join(f"{size(s)}, " for s in value.shape) + ")"


def _allocate(value: Value, plan) -> str:
    if plan is not None and value.name in plan.offsets:
        return f"slot(arena, {size(plan.offsets[value.name])}, {_shape(value)}, {_torch_dtype(value)})"
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


def _launch_line(index: int, kernel: Any) -> str:
    ins = ", ".join(v.name for v in kernel.inputs)
    outs = ", ".join(v.name for v in kernel.outputs)
    sizes = ", ".join(size_value(s) for s in kernel.sizes)
    return f"KERNELS[{index}]([{ins}], [{outs}], [{sizes}], SIZES)"


def _extern_line(node: Node, fallbacks: list) -> str:
    args = [v.name for v in node.inputs]
    out = node.outputs[0].name
    if node.op is Op.MATMUL:
        if len(args) == 3:
            return f"torch.addmm({args[2]}, {args[0]}, {args[1]}, out={out})"
        return f"torch.matmul({args[0]}, {args[1]}, out={out})"
    if node.op is Op.CONV:
        a = node.attrs
        bias = args[2] if len(args) > 2 else "None"
        spatial = len(a["stride"])
        return (f"{out}.copy_(torch.ops.aten.convolution({args[0]}, {args[1]}, {bias}, {list(a['stride'])}, "
                f"{list(a['padding'])}, {list(a['dilation'])}, False, {[0] * spatial}, {a['groups']}))")
    if node.op is Op.SCATTER:
        return f"rt.scatter({args[0]}, {node.attrs['axis']}, {args[1]}, {args[2]}, {out}, {node.attrs['reduce']!r})"
    raise AssertionError(f"not an extern op: {node.op}")


def _fallback_line(node: Node, fallbacks: list) -> str:
    """A torch call returning its own outputs, as the numpy backend's: torch's kernel may return another
    shape than its meta function promised (embedding_bag's offset2bag is empty in sum mode), and what
    reads the output (its backward) expects what eager gives."""
    index = len(fallbacks)
    fallbacks.append((node.attrs["args"], node.attrs["kwargs"]))
    values = "{" + ", ".join(f"{v.name!r}: {v.name}" for v in dict.fromkeys(node.inputs)) + "}"
    outs = ", ".join(v.name for v in node.outputs)
    return f"{outs}, = call_torch({node.attrs['target']!r}, *FALLBACKS[{index}], {values}, SIZES)  # fallback"
