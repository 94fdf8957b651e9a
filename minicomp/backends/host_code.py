"""Python code for sizes, shared by the host programs both backends generate."""

from __future__ import annotations

import hashlib
import linecache
from typing import Any, Optional

import sympy
import torch
from sympy.printing.pycode import PythonCodePrinter

from minicomp.ir import Graph, Value


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


def bind_sizes(graph: Graph) -> list[str]:
    """Lines binding each size symbol from an input's shape, so size expressions can be evaluated."""
    bound = {str(v) for v in graph.inputs if not isinstance(v, Value)}
    lines = []
    for value in graph.tensor_inputs:
        for axis, dim in enumerate(value.shape):
            if isinstance(dim, sympy.Symbol) and str(dim) not in bound:
                bound.add(str(dim))
                lines.append(f"{dim} = {value.name}.shape[{axis}]")
    lines.append("SIZES = {" + ", ".join(f"{s!r}: {s}" for s in sorted(bound)) + "}")
    return lines


def torch_op(target: str) -> Any:
    """The torch callable a fallback node names: aten.add.Tensor, prims.iota.default, higher_order.with_effects."""
    function = torch.ops
    for part in target.split("."):
        function = getattr(function, part)
    return function


def run_source(source: str, filename: Optional[str]) -> dict:
    """Execute generated code compiled under `filename` (its dump file) or, without one, a name linecache
    serves the source for: either way tracebacks through it show the generated lines. Returns its globals."""
    filename = filename or f"<minicomp program {hashlib.sha256(source.encode()).hexdigest()[:16]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace
