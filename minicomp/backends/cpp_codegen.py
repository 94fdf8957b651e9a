"""C++ source for one loop kernel (kernels/loop_form.py): an OpenMP loop nest.

A pointwise kernel is the domain's loops, the outer ones parallel (`collapse`d), the innermost
`#pragma omp simd`. A reduction kernel runs its outer axes in parallel and, inside, one loop over the
row per level of reductions (softmax's sum needs its max first): each accumulates in registers with
`#pragma omp simd reduction(...)`, then the row values computed from the results, then a last loop
storing the full-size outputs, then the row outputs. A row of a few thousand elements is in cache for
the later loops, so it is read from memory once. Float sums and products accumulate in double.
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.backends.checks import SLOTS_PER_CHECK, ZERO_DIVISION
from minicomp.backends.cpp_math import (STORAGE_TYPE, compute_type, extreme, literal, load_code, pointwise_code,
                                        rounded, store_code)
from minicomp.ir import DType, Op
from minicomp.ir.printer import format_node
from minicomp.kernels.indexing import FloorDiv, Mod
from minicomp.kernels.loop_form import LoopKernel, Statement

PARALLEL_MIN_ELEMENTS = 32768  # below this, starting threads costs more than it saves


@dataclasses.dataclass
class CppKernel:
    """A generated kernel: its C++ function, argument order and the size expressions it takes."""

    name: str
    source: str
    inputs: list
    outputs: list
    sizes: list          # sympy expressions passed after the pointers, in order
    size_types: list     # "int64_t" or "double" for each
    checks: list         # kinds of run-time check (checks.py), in slot order


class _Writer:
    def __init__(self, loops: LoopKernel):
        self.loops = loops
        self.sizes: dict[str, sympy.Expr] = {}
        self.size_types: dict[str, str] = {}
        self.printed: set = set()
        self.local_names = {str(v) for v in loops.variables} | {s.name for s in loops.statements}

    # -- expressions ---------------------------------------------------------------------
    def size(self, expr) -> str:
        """A size expression over the loop variables, as C++ (opaque size functions become arguments)."""
        return self.expression(sympy.sympify(expr))

    def expression(self, expr) -> str:
        if expr.is_Integer:
            number = int(expr)
            return f"INT64_C({number})" if abs(number) >= 2 ** 31 else str(number)
        if expr.is_Symbol:
            return str(expr) if str(expr) in self.local_names else self.argument(expr)
        if isinstance(expr, (FloorDiv, Mod)):
            numerator, denominator = (self.expression(a) for a in expr.args)
            if _may_be_negative(expr.args[0]):  # C's / and % truncate; the index arithmetic needs the floor
                helper = "mc::floordiv_int" if isinstance(expr, FloorDiv) else "mc::remainder_int"
                return f"{helper}<int64_t>({numerator}, {denominator})"
            return f"({numerator} {'/' if isinstance(expr, FloorDiv) else '%'} {denominator})"
        if expr.is_Add:
            return "(" + " + ".join(self.expression(a) for a in expr.args) + ")"
        if expr.is_Mul and all(a.is_integer for a in expr.args):
            return "(" + " * ".join(self.expression(a) for a in expr.args) + ")"
        if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
            return "(" + " * ".join([self.expression(expr.base)] * int(expr.exp)) + ")"
        if isinstance(expr, sympy.And):
            return "(" + " && ".join(self.expression(a) for a in expr.args) + ")"
        if isinstance(expr, sympy.Or):
            return "(" + " || ".join(self.expression(a) for a in expr.args) + ")"
        if isinstance(expr, sympy.Rel):
            return f"({self.expression(expr.lhs)} {expr.rel_op} {self.expression(expr.rhs)})"
        if expr is sympy.true:
            return "true"
        if expr is sympy.false:
            return "false"
        return self.argument(expr)

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
            return f"({compute_type(dtype)})(({wide}){start!r} + ({wide}){step!r} * ({wide}){self.size(statement.index)})"
        if kind == "guard":
            condition = self.expression(statement.condition)
            return condition if statement.guard is None else f"({statement.guard.name} && {condition})"
        if kind == "select":
            return f"({args[0]} ? {args[1]} : {args[2]})"
        raise AssertionError(kind)

    def line(self, statement: Statement) -> list[str]:
        if statement.kind == "check":
            return [self.check_line(statement)]
        return [f"{compute_type(statement.dtype)} {statement.name} = {self.code(statement)};"]

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
        along the row (the others are printed before the loop, see `need`)."""
        wanted: set = set()

        def visit(statement: Statement) -> None:
            if statement in wanted or statement in self.printed:
                return
            if varying and not statement.varies:
                return
            wanted.add(statement)
            for operand in self.operands(statement):
                visit(operand)

        for root in roots:
            visit(root)
        return [s for s in self.loops.statements if s in wanted]

    @staticmethod
    def operands(statement: Statement) -> list[Statement]:
        if statement.kind == "reduce":
            return []  # its argument belongs to the loop accumulating it
        return list(statement.args) + ([statement.guard] if statement.guard is not None else [])

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
        row_operands = [o for s in body_statements for o in self.operands(s) if not o.varies]
        self.need([r for r in roots if not r.varies] + row_operands, lines)
        body = []
        for statement in body_statements:
            body += self.line(statement)
        return body


def _may_be_negative(expr) -> bool:
    """An index with a negative term (a pad's shifted coordinate) may be below zero where a guard is off."""
    for term in sympy.Add.make_args(sympy.expand(expr)):
        if term.as_coeff_Mul()[0] < 0:
            return True
        if any(_may_be_negative(division.args[0]) for division in term.atoms(FloorDiv)):
            return True  # the floor of a negative index is negative too (a Mod never is)
    return False


def _loop_headers(loops: LoopKernel, axes: list[int], writer: _Writer) -> list[str]:
    return [f"for (int64_t i{a} = 0; i{a} < {writer.size(loops.shape[a])}; i{a}++)" for a in axes]


def _looping_axes(loops: LoopKernel, axes: list[int]) -> list[int]:
    """The axes that need a loop: those longer than one (a loop variable of extent 1 is 0)."""
    return [a for a in axes if loops.variables[a] != 0]


def _accumulator(statement: Statement, writer: _Writer):
    """(declarations, update lines, simd reduction clause or None (the loop runs in order), the row value)
    of a reduction."""
    node = statement.node
    source = statement.args[0]
    dtype, op = source.dtype, node.op
    acc = f"acc_{statement.name}"
    value = source.name
    ctype = compute_type(dtype)
    if op in (Op.ARGMAX, Op.ARGMIN):
        greater = ">" if op is Op.ARGMAX else "<"
        reduced = [a for a in writer.loops.reduced_axes]
        position = sympy.Integer(0)
        stride = sympy.Integer(1)
        for axis in reversed(reduced):
            position += writer.loops.variables[axis] * stride
            stride *= writer.loops.shape[axis]
        nan = f" || ({value} != {value} && {acc} == {acc})" if dtype.is_float else ""
        declarations = [f"{ctype} {acc} = {extreme(dtype, lowest=op is Op.ARGMAX)};", f"int64_t {acc}_index = 0;"]
        update = [f"if ({value} {greater} {acc}{nan}) {{ {acc} = {value}; {acc}_index = {writer.size(position)}; }}"]
        return declarations, update, None, f"{acc}_index"
    if dtype is DType.BOOL:
        any_of = op in (Op.SUM, Op.MAX)
        declarations = [f"int {acc} = {0 if any_of else 1};"]
        operator = "|" if any_of else "&"
        return declarations, [f"{acc} {operator}= (int){value};"], f"{operator}:{acc}", f"({acc} != 0)"
    if op in (Op.SUM, Op.PROD):
        wide = "double" if dtype.is_float else STORAGE_TYPE[node.output.dtype]
        operator = "+" if op is Op.SUM else "*"
        declarations = [f"{wide} {acc} = {0 if op is Op.SUM else 1};"]
        update = [f"{acc} = {acc} {operator} ({wide}){value};"]
        # a float64 sum has no wider accumulator: in order, so the same sum fused or not gives the same bits
        clause = None if dtype is DType.FLOAT64 else f"{operator}:{acc}"
        return declarations, update, clause, f"({compute_type(node.output.dtype)}){acc}"
    largest = op is Op.MAX
    declarations = [f"{ctype} {acc} = {extreme(dtype, lowest=largest)};"]
    update = [f"{acc} = {value} {'>' if largest else '<'} {acc} ? {value} : {acc};"]
    clause = f"{'max' if largest else 'min'}:{acc}"
    if not dtype.is_float:
        return declarations, update, clause, acc
    declarations.append(f"int {acc}_nan = 0;")
    update.append(f"{acc}_nan |= ({value} != {value});")
    return declarations, update, clause + f") reduction(|:{acc}_nan", f"({acc}_nan ? ({ctype})NAN : {acc})"


def _nest(headers: list[str], body: list[str], innermost_pragma: str | None) -> list[str]:
    """`headers` nested around `body`, the innermost loop with `innermost_pragma`."""
    lines = []
    for depth, header in enumerate(headers):
        if depth == len(headers) - 1 and innermost_pragma:
            lines.append(innermost_pragma)
        lines.append(header + " {")
    lines += body
    lines += ["}"] * len(headers)
    return lines


def write_kernel(loops: LoopKernel) -> CppKernel:
    """The C++ function for `loops`, named loops.name."""
    writer = _Writer(loops)
    outer = _looping_axes(loops, loops.outer_axes)
    reduced = _looping_axes(loops, list(loops.reduced_axes))
    checks = [s for s in loops.statements if s.kind == "check"]
    row: list[str] = []  # the body of the outer loops
    reductions = [s for s in loops.statements if s.kind == "reduce"]
    if reductions:  # (a reduction over no axes, or over axes of one element, loops over nothing)
        for depth in sorted({s.depth for s in reductions}):
            level = [s for s in reductions if s.depth == depth]
            declarations, updates, clauses, results = [], [], [], []
            for statement in level:
                declaration, update, clause, result = _accumulator(statement, writer)
                declarations += declaration
                updates += update
                clauses.append(clause)
                results.append((statement, result))
            body = writer.element_body([s.args[0] for s in level], row)
            simd = None if None in clauses else "#pragma omp simd " + " ".join(f"reduction({c})" for c in clauses)
            row += declarations + _nest(_loop_headers(loops, reduced, writer), body + updates, simd)
            for statement, result in results:
                writer.printed.add(statement)
                final = rounded(statement.node, result)
                row.append(f"{compute_type(statement.dtype)} {statement.name} = {final};")
    full_stores = [s for s in loops.stores if not s.row]
    element_checks = [c for c in checks if c.varies]
    if full_stores or element_checks:
        roots = [s.statement for s in full_stores] + element_checks
        if reductions or loops.reduced_axes:
            body = writer.element_body(roots, row)
            body += [_store_line(loops, s, writer) for s in full_stores]
            simd = None if element_checks else "#pragma omp simd"
            row += _nest(_loop_headers(loops, reduced, writer), body, simd)
        else:
            writer.need(roots, row)
            row += [_store_line(loops, s, writer) for s in full_stores]
    row_stores = [s for s in loops.stores if s.row]
    writer.need([s.statement for s in row_stores] + [c for c in checks if not c.varies], row)
    row += [_store_line(loops, s, writer) for s in row_stores]
    lines = _function(loops, writer, outer, row, pointwise=not loops.reduced_axes, checked=bool(checks))
    return CppKernel(loops.name, "\n".join(lines) + "\n", loops.inputs, loops.outputs, list(writer.sizes.values()),
                     list(writer.size_types.values()), loops.checks)


def _store_line(loops: LoopKernel, store, writer: _Writer) -> str:
    value = writer.size(store.index)
    return f"out{store.position}[{value}] = {store_code(store.value.dtype, store.statement.name)};"


def _function(loops: LoopKernel, writer: _Writer, outer: list[int], row: list[str], pointwise: bool,
              checked: bool) -> list[str]:
    headers = _loop_headers(loops, outer, writer)
    elements = " * ".join(writer.size(n) for n in loops.shape) or "1"
    parallel = f"#pragma omp parallel for{{}} if({elements} > {PARALLEL_MIN_ELEMENTS})"
    simd = None if checked else "#pragma omp simd"  # a check writes its slots: the lanes would race
    if not headers:
        lines = row
    elif pointwise and len(headers) == 1:
        lines = [parallel.format("" if checked else " simd")] + _nest(headers, row, None)
    elif pointwise:
        inner = _nest(headers[-1:], row, simd)
        lines = [parallel.format(f" collapse({len(headers) - 1})" if len(headers) > 2 else "")]
        lines += _nest(headers[:-1], inner, None)
    else:
        lines = [parallel.format(f" collapse({len(headers)})" if len(headers) > 1 else "")]
        lines += _nest(headers, row, None)
    parameters = [f"const {STORAGE_TYPE[v.dtype]}* in{i}" for i, v in enumerate(loops.inputs)]
    parameters += [f"{STORAGE_TYPE[v.dtype]}* out{i}" for i, v in enumerate(loops.outputs)]
    parameters += ["int64_t* check"]
    parameters += [f"{kind} ks{i}" for i, kind in enumerate(writer.size_types.values())]
    comment = ["//" + format_node(node, indent=" ").split("  # ")[0] for node in loops.kernel.nodes]
    return comment + [f'extern "C" void {loops.name}({", ".join(parameters)}) {{'] + \
        ["  " + line for line in _indent(lines)] + ["}"]


def _indent(lines: list[str]) -> list[str]:
    depth, result = 0, []
    for line in lines:
        if line == "}":
            depth -= 1
        result.append("  " * depth + line)
        if line.endswith("{"):
            depth += 1
    return result
