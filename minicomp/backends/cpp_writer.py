"""The pieces every C++ loop nest is printed with: statements as C++ expressions and lines (`Writer`),
loop headers and nesting. cpp_codegen.py lays out a kernel's loops; cpp_reductions.py its reductions."""

from __future__ import annotations

import sympy

from minicomp.backends.checks import SLOTS_PER_CHECK, ZERO_DIVISION
from minicomp.backends.cpp_math import (compute_type, literal, load_code, pointwise_code, round_to, rounded,
                                        store_code)
from minicomp.kernels.index_printer import IndexPrinter
from minicomp.kernels.loop_form import LoopKernel, Statement, needed, operands


class Writer(IndexPrinter):
    """Prints one loop kernel's statements as C++ lines; remembers the size arguments they read."""

    def __init__(self, loops: LoopKernel, sum_lanes: int):
        super().__init__({str(v) for v in loops.variables} | {s.name for s in loops.statements})
        self.loops = loops
        self.sum_lanes = sum_lanes  # the lanes of a float sum (cpp_reductions.py)
        self.sizes: dict[str, sympy.Expr] = {}
        self.size_types: dict[str, str] = {}
        self.printed: set = set()
        self.cache: dict = {}     # statement -> its row cache array (see _plan_row_cache)
        self.cached: set = set()  # the statements whose row cache holds the whole row
        self.cache_index = ""
        self.cache_indices: dict = {}  # statement -> the index of its own cache (a hoisted value's)

    # -- expressions (the walk is IndexPrinter's) ------------------------------------------
    def integer(self, number: int) -> str:
        return f"INT64_C({number})" if abs(number) >= 2 ** 31 else str(number)

    def argument(self, expr, fraction: bool = False) -> str:
        """A kernel argument holding a size expression the host evaluates (a floor; with `fraction`, a value
        such as a mean's 1/n, passed as a double unless it is known to be an integer)."""
        key = str(expr)
        if key not in self.sizes:
            self.sizes[key] = expr
            self.size_types[key] = "double" if fraction and not expr.is_integer else "int64_t"
        return f"ks{list(self.sizes).index(key)}"

    # -- statements ----------------------------------------------------------------------
    def code(self, statement: Statement) -> str:
        """The C++ expression computing `statement` from the variables of its operands."""
        kind, dtype = statement.kind, statement.dtype
        args = [a.name for a in statement.args]
        if kind == "load":
            position = self.loops.inputs.index(statement.buffer)
            element = load_code(dtype, f"in{position}[{self.size(statement.index)}]")
            if statement.guard is None:
                return element
            return f"({statement.guard.name} ? {element} : ({compute_type(dtype)})0)"
        if kind == "compute":
            return rounded(statement.node, pointwise_code(statement.node, args))
        if kind == "constant":
            if isinstance(statement.value, sympy.Basic):
                return f"({compute_type(dtype)}){self.argument(statement.value, fraction=True)}"
            return literal(statement.value, dtype)
        if kind == "iota":
            start, step = statement.node.attrs["start"], statement.node.attrs["step"]
            wide = "double" if dtype.is_float else "int64_t"
            value = f"({compute_type(dtype)})(({wide}){start!r} + ({wide}){step!r} * ({wide}){self.size(statement.index)})"
            return round_to(dtype, value) if dtype.is_low_precision else value  # (a stored one is rounded)
        if kind == "guard":
            condition = self.expression(statement.condition)
            return condition if statement.guard is None else f"({statement.guard.name} && {condition})"
        if kind == "select":
            return f"({args[0]} ? {args[1]} : {args[2]})"
        raise AssertionError(kind)

    def line(self, statement: Statement) -> list[str]:
        if statement.kind == "check":
            return [self.check_line(statement)]
        declaration = f"{compute_type(statement.dtype)} {statement.name}"
        if statement in self.cached:
            index = self.cache_indices.get(statement, self.cache_index)
            return [f"{declaration} = {self.cache[statement]}[{index}];"]
        lines = [f"{declaration} = {self.code(statement)};"]
        if statement in self.cache:
            lines.append(f"{self.cache[statement]}[{self.cache_index}] = {statement.name};")
        return lines

    def check_line(self, statement: Statement) -> str:
        slot, extent = statement.value
        failed = self.expression(statement.condition)
        if statement.guard is not None:
            failed = f"{statement.guard.name} && {failed}"
        base = SLOTS_PER_CHECK * slot
        record = f"check[{base}] = 1;"
        if statement.check != ZERO_DIVISION:
            record += f" check[{base + 1}] = (int64_t){statement.args[0].name}; check[{base + 2}] = {self.size(extent)};"
        return f"if ({failed}) {{ {record} }}"

    def closure(self, roots: list[Statement], varying: bool) -> list[Statement]:
        """Statements `roots` need that are not printed yet, in order; with `varying`, only those that vary
        along the row (the others are printed before the loop, see `need`); a cached one is read back."""
        return needed(self.loops, roots, self.printed, varying, leaves=self.cached)

    def need(self, roots: list[Statement], lines: list[str]) -> None:
        """Print (into `lines`) the row-level statements `roots` need, and the roots if row-level."""
        for statement in self.closure(roots, varying=False):
            if statement.varies:
                continue
            assert statement.kind != "reduce" or statement in self.printed, "a reduction is printed by its loop"
            self.printed.add(statement)
            lines += self.line(statement)

    def element_body(self, roots: list[Statement], lines: list[str]) -> list[str]:
        """Row values the roots need (into `lines`, before the loop) and the loop body computing the roots."""
        body_statements = self.closure(roots, varying=True)
        row_operands = [o for s in body_statements for o in operands(s) if not o.varies]
        self.need([r for r in roots if not r.varies] + row_operands, lines)
        body = []
        for statement in body_statements:
            body += self.line(statement)
        self.cached |= {s for s in body_statements if s in self.cache}
        return body


def loop_headers(loops: LoopKernel, axes: list[int], writer: Writer) -> list[str]:
    """One `for` header per axis, over its whole extent."""
    return [f"for (int64_t i{a} = 0; i{a} < {writer.size(loops.shape[a])}; i{a}++)" for a in axes]


def looping_axes(loops: LoopKernel, axes: list[int]) -> list[int]:
    """The axes that need a loop: those longer than one (a loop variable of extent 1 is 0)."""
    return [a for a in axes if loops.variables[a] != 0]


def nest(headers: list[str], body: list[str], innermost_pragma: str | None) -> list[str]:
    """`headers` nested around `body`, the innermost loop with `innermost_pragma`."""
    lines = []
    for depth, header in enumerate(headers):
        if depth == len(headers) - 1 and innermost_pragma:
            lines.append(innermost_pragma)
        lines.append(header + " {")
    lines += body
    lines += ["}"] * len(headers)
    return lines


def store_line(store, writer: Writer) -> str:
    """The assignment of a store's statement to its output element."""
    value = writer.size(store.index)
    return f"out{store.position}[{value}] = {store_code(store.value.dtype, store.statement.name)};"
