"""What the host programs both backends generate share: Python code for sizes, and run-time help (eager's
strides, torch fallbacks)."""

from __future__ import annotations

import hashlib
import linecache
from typing import Any, Callable, Optional

import sympy
import torch
from sympy.printing.pycode import PythonCodePrinter
from torch.utils._pytree import tree_flatten, tree_map

from minicomp.ir import Graph, Node, Value
from minicomp.ir.shapes import evaluate_size


class SizePrinter(PythonCodePrinter):
    """Python code for size expressions; floor and ceiling of a fraction use integer division, since
    math.floor((1/3)*s + 2/3) rounds wrongly for s = 7."""

    def _print_floor(self, expr) -> str:
        numerator, denominator = sympy.fraction(sympy.together(expr.args[0]))
        if not denominator.is_Integer:
            return super()._print_floor(expr)
        return f"(({self._print(numerator)}) // {denominator})"

    def _print_ceiling(self, expr) -> str:
        numerator, denominator = sympy.fraction(sympy.together(expr.args[0]))
        if not denominator.is_Integer:
            return super()._print_ceiling(expr)
        return f"(-((-({self._print(numerator)})) // {denominator}))"


def size(expr: Any) -> str:
    """A size expression as Python code over the bound size symbols (s0, s1, ...)."""
    expr = sympy.sympify(expr)
    if expr.is_Integer:
        return str(int(expr))
    return f"int({SizePrinter().doprint(expr)})"


def size_value(expr: Any) -> str:
    """A size expression that may be fractional (a mean's 1/n) as Python code."""
    expr = sympy.sympify(expr)
    return size(expr) if expr.is_integer else f"float({SizePrinter().doprint(expr)})"


def sizes(shape) -> str:
    return "(" + "".join(f"{size(s)}, " for s in shape) + ")"


def bind_sizes(graph: Graph, bound: set) -> list[str]:
    """Lines binding each size symbol from an input's shape, so size expressions can be evaluated; `bound`
    collects the names bound."""
    bound |= {str(v) for v in graph.inputs if not isinstance(v, Value)}
    lines = []
    for value in graph.tensor_inputs:
        for axis, dim in enumerate(value.shape):
            if isinstance(dim, sympy.Symbol) and str(dim) not in bound:
                bound.add(str(dim))
                lines.append(f"{dim} = {value.name}.shape[{axis}]")
    lines.append("SIZES = {" + ", ".join(f"{s!r}: {s}" for s in sorted(bound)) + "}")
    return lines


def bind_result_sizes(values, bound: set) -> list[str]:
    """Lines binding each size first seen in the result shape of an op that just ran (the frontend only lets
    such sizes appear as whole dimensions)."""
    lines = []
    for value in values:
        for axis, dim in enumerate(value.shape):
            if isinstance(dim, sympy.Symbol) and str(dim) not in bound:
                bound.add(str(dim))
                lines.append(f"{dim} = SIZES[{str(dim)!r}] = {value.name}.shape[{axis}]  # known once it ran")
    return lines


def bind_number(node: Node, bound: set) -> str:
    """The line running tensor.item() for a node binding a size symbol (u0), right where the graph runs it."""
    symbol = node.attrs["binds"]
    bound.add(symbol)
    return f"{symbol} = SIZES[{symbol!r}] = {node.inputs[0].name}.item()  # known once it ran"


def return_line(graph: Graph, as_tensor: str = "{}") -> str:
    """The program's last line: each output tensor (`as_tensor` makes one of a value) laid out with the
    strides eager gives it, each size output an int."""
    outputs = []
    layouts = graph.output_strides or [None] * len(graph.outputs)  # a graph built by hand says nothing
    for output, strides in zip(graph.outputs, layouts, strict=True):
        if output is None:
            outputs.append("None")
        elif isinstance(output, Value):
            layout = "None" if strides is None else sizes(strides)
            outputs.append(f"restride({as_tensor.format(output.name)}, {layout})")
        else:
            outputs.append(size(output))
    return f"return [{', '.join(outputs)}]"


def restride(tensor: torch.Tensor, strides: Any) -> torch.Tensor:
    """`tensor` with `strides`, eager's layout for this output: the backends compute row-major, and users and
    autograd see what eager would give, an expand's stride 0 included. A layout whose elements overlap
    otherwise, or an unknown one (None), comes back contiguous."""
    if strides is None:
        return tensor.contiguous()
    if tensor.stride() == strides:  # (the common case first: this runs on every call)
        return tensor
    if not _non_overlapping(tensor.shape, strides):
        return tensor.contiguous()
    laid_out = torch.empty_strided(tensor.shape, strides, dtype=tensor.dtype, device=tensor.device)
    # along a stride-0 dim every position is the one element (eager's result is an expand there)
    distinct = tuple(slice(0, 1) if stride == 0 else slice(None) for stride in strides)
    laid_out[distinct].copy_(tensor[distinct])
    return laid_out


def _non_overlapping(shape, strides) -> bool:
    """Apart from stride-0 dims, no two positions share an element: along dims sorted by stride, each steps
    past the previous one."""
    reach = 1
    for stride, length in sorted((s, n) for s, n in zip(strides, shape) if n > 1 and s != 0):
        if stride < reach:
            return False
        reach = stride * length
    return True


def torch_op(target: str) -> Any:
    """The torch callable a fallback node names: aten.add.Tensor, prims.iota.default, higher_order.with_effects."""
    function = torch.ops
    for part in target.split("."):
        function = getattr(function, part)
    return function


def call_torch(target: str, args: Any, kwargs: Any, values: dict, sizes: dict,
               to_tensor: Callable = torch.Tensor.contiguous, from_tensor: Callable = torch.Tensor.contiguous) -> list:
    """Run ATen op `target` with torch, the fallback for ops outside the primitive set: each Value in args and
    kwargs is `to_tensor` of its entry in `values` (contiguous by default: the ATen ops decompositions reach
    may assume it, as _embedding_bag_forward_only does for its indices), each size expression its number
    under `sizes`. Returns the tensor results through `from_tensor` (contiguous, as kernels read them)."""
    function = torch_op(target)

    def resolve(leaf: Any) -> Any:
        if isinstance(leaf, Value):
            return to_tensor(values[leaf.name])
        if isinstance(leaf, sympy.Basic):
            return evaluate_size(leaf, sizes)
        return leaf

    result = function(*tree_map(resolve, args), **tree_map(resolve, kwargs))
    return [from_tensor(t) for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]


def run_source(source: str, filename: Optional[str]) -> dict:
    """Execute generated code compiled under `filename` (its dump file) or, without one, a name linecache
    serves the source for: either way tracebacks through it show the generated lines. Returns its globals."""
    filename = filename or f"<minicomp program {hashlib.sha256(source.encode()).hexdigest()[:16]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace
