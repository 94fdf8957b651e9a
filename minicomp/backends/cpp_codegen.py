"""C++ source for one loop kernel (kernels/loop_form.py): an OpenMP loop nest.

A pointwise kernel is the domain's loops, the outer ones parallel (`collapse`d), the innermost
`#pragma omp simd`. A reduction kernel runs its outer axes in parallel and, inside, one loop over the
row per level of reductions (softmax's sum needs its max first): each accumulates in registers with
`#pragma omp simd reduction(...)`, then the row values computed from the results, then a last loop
storing the full-size outputs, then the row outputs. A row of a few thousand elements is in cache for
the later loops, so it is read from memory once. Float sums add float partials of a block into a
double; products accumulate in double. A column reduction (the row is strided, the columns are not)
runs a block of columns side by side in the vector lanes; a transcendental value two loops over the
row need is kept in a row cache (docs/cpp_codegen.md).
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.backends.checks import SLOTS_PER_CHECK, ZERO_DIVISION
from minicomp.backends.cpp_math import (STORAGE_TYPE, compute_type, extreme, literal, load_code, pointwise_code,
                                        rounded, store_code)
from minicomp.ir import DType, Op
from minicomp.ir.printer import format_node
from minicomp.kernels.indexing import FloorDiv, Mod, linearize
from minicomp.kernels.loop_form import LoopKernel, Statement, reads_contiguous

PARALLEL_MIN_ELEMENTS = 32768  # below this, starting threads costs more than it saves
LANES = 128           # columns one column-reduction program accumulates side by side (a vector's worth, times 8)
SUM_BLOCK = 1024      # float sums add a float partial per block of this many elements into a double
COLUMN_SUM_BLOCK = 8  # the same for each column of a column reduction (its rows add in order: kept short)
ROW_CACHE = 8192      # most elements of a row whose transcendental values a later loop reads back
WORTH_CACHING = frozenset({Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.ATAN, Op.ERF,
                           Op.POW, Op.ATAN2})


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
        self.cache: dict = {}     # statement -> its row cache array (see _plan_row_cache)
        self.cached: set = set()  # the statements whose row cache holds the whole row
        self.cache_index = ""
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
        declaration = f"{compute_type(statement.dtype)} {statement.name}"
        if statement in self.cached:
            return [f"{declaration} = {self.cache[statement]}[{self.cache_index}];"]
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
        along the row (the others are printed before the loop, see `need`)."""
        wanted: set = set()

        def visit(statement: Statement) -> None:
            if statement in wanted or statement in self.printed:
                return
            if varying and not statement.varies:
                return
            wanted.add(statement)
            if statement in self.cached:
                return  # read back from the row cache
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
        self.cached |= {s for s in body_statements if s in self.cache}
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


@dataclasses.dataclass
class _Accumulator:
    """How one reduction accumulates: its variables (C++ type, name, initial value), the update of each
    element `value`, the `#pragma omp simd` reduction clause (None: the loop must run in order), the row
    value, and the float partial of a blocked sum (see SUM_BLOCK)."""

    variables: list
    update: list
    clause: str | None
    result: str
    partial: str | None = None


def _accumulator(statement: Statement, writer: _Writer, lane: str = "") -> _Accumulator:
    """The accumulator of a reduction; with `lane` ("[l]"), one per column of a column block."""
    node = statement.node
    source = statement.args[0]
    dtype, op = source.dtype, node.op
    name = f"acc_{statement.name}"
    acc = name + lane
    value = source.name
    ctype = compute_type(dtype)
    if op in (Op.ARGMAX, Op.ARGMIN):
        greater = ">" if op is Op.ARGMAX else "<"
        position = linearize([writer.loops.variables[a] for a in writer.loops.reduced_axes],
                             [writer.loops.shape[a] for a in writer.loops.reduced_axes])
        nan = f" || ({value} != {value} && {acc} == {acc})" if dtype.is_float else ""
        variables = [(ctype, name, extreme(dtype, lowest=op is Op.ARGMAX)), ("int64_t", f"{name}_index", "0")]
        index = f"{name}_index{lane}"
        update = [f"if ({value} {greater} {acc}{nan}) {{ {acc} = {value}; {index} = {writer.size(position)}; }}"]
        return _Accumulator(variables, update, None, index)
    if dtype is DType.BOOL:
        any_of = op in (Op.SUM, Op.MAX)
        operator = "|" if any_of else "&"
        return _Accumulator([("int", name, "0" if any_of else "1")], [f"{acc} {operator}= (int){value};"],
                            f"{operator}:{acc}", f"({acc} != 0)")
    if op in (Op.SUM, Op.PROD):
        wide = "double" if dtype.is_float else STORAGE_TYPE[node.output.dtype]
        operator = "+" if op is Op.SUM else "*"
        result = f"({compute_type(node.output.dtype)}){acc}"
        variables = [(wide, name, "0" if op is Op.SUM else "1")]
        if op is Op.SUM and dtype.is_float and dtype is not DType.FLOAT64:
            partial = f"part_{statement.name}"  # vectorizes at float width; the double keeps long rows exact
            return _Accumulator(variables, [f"{partial}{lane} = {partial}{lane} + {value};"], f"+:{partial}",
                                result, partial)
        # a float64 sum has no wider accumulator: in order, so the same sum fused or not gives the same bits
        clause = None if dtype is DType.FLOAT64 else f"{operator}:{acc}"
        return _Accumulator(variables, [f"{acc} = {acc} {operator} ({wide}){value};"], clause, result)
    largest = op is Op.MAX
    variables = [(ctype, name, extreme(dtype, lowest=largest))]
    update = [f"{acc} = {value} {'>' if largest else '<'} {acc} ? {value} : {acc};"]
    clause = f"{'max' if largest else 'min'}:{acc}"
    if not dtype.is_float:
        return _Accumulator(variables, update, clause, acc)
    variables.append(("int", f"{name}_nan", "0"))
    update.append(f"{name}_nan{lane} |= ({value} != {value});")
    return _Accumulator(variables, update, clause + f") reduction(|:{name}_nan",
                        f"({name}_nan{lane} ? ({ctype})NAN : {acc})")


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
    reductions = [s for s in loops.statements if s.kind == "reduce"]
    lane = _column_axis(loops, outer, reduced, reductions, checks)
    if lane is not None:
        headers, row = _column_reduction(loops, writer, outer, reduced, reductions, lane)
    else:
        headers, row = _loop_headers(loops, outer, writer), _row_body(loops, writer, reduced, reductions, checks)
    lines = _function(loops, writer, headers, row, pointwise=not loops.reduced_axes, checked=bool(checks))
    return CppKernel(loops.name, "\n".join(lines) + "\n", loops.inputs, loops.outputs, list(writer.sizes.values()),
                     list(writer.size_types.values()), loops.checks)


def _row_body(loops: LoopKernel, writer: _Writer, reduced: list[int], reductions: list, checks: list) -> list[str]:
    """The body of the outer loops: the loops over the row for each level of reductions, the full-size
    stores, the row stores."""
    row = _plan_row_cache(loops, writer, reduced, reductions, checks)
    for depth in sorted({s.depth for s in reductions}):  # (a reduction over no axes, or over axes of one
        level = [s for s in reductions if s.depth == depth]  # element, loops over nothing)
        accumulators = [_accumulator(s, writer) for s in level]
        body = writer.element_body([s.args[0] for s in level], row)
        row += _row_reduction(loops, writer, reduced, body, accumulators)
        for statement, accumulator in zip(level, accumulators):
            writer.printed.add(statement)
            final = rounded(statement.node, accumulator.result)
            row.append(f"{compute_type(statement.dtype)} {statement.name} = {final};")
    full_stores = [s for s in loops.stores if not s.row]
    element_checks = [c for c in checks if c.varies]
    if full_stores or element_checks:
        roots = [s.statement for s in full_stores] + element_checks
        if reductions or loops.reduced_axes:
            body = writer.element_body(roots, row)
            body += [_store_line(s, writer) for s in full_stores]
            simd = None if element_checks else "#pragma omp simd"
            row += _nest(_loop_headers(loops, reduced, writer), body, simd)
        else:
            writer.need(roots, row)
            row += [_store_line(s, writer) for s in full_stores]
    row_stores = [s for s in loops.stores if s.row]
    writer.need([s.statement for s in row_stores] + [c for c in checks if not c.varies], row)
    return row + [_store_line(s, writer) for s in row_stores]


def _plan_row_cache(loops: LoopKernel, writer: _Writer, reduced: list[int], reductions: list,
                    checks: list) -> list[str]:
    """Declare the row caches (into `writer`) and return their arrays' declarations. Where a loop over the
    row computes a transcendental value a later loop needs too (softmax's exp(x - max): its sum, then
    the output), the first loop stores it in an array of one row and the later ones read it back,
    when the row is a static size of at most ROW_CACHE elements."""
    extents = [sympy.sympify(loops.shape[a]) for a in loops.reduced_axes]
    if not reduced or not all(e.is_Integer for e in extents) or sympy.Mul(*extents) > ROW_CACHE:
        return []
    depths = sorted({s.depth for s in reductions})
    roots = [[s.args[0] for s in reductions if s.depth == depth] for depth in depths]
    roots.append([s.statement for s in loops.stores if not s.row] + [c for c in checks if c.varies])
    seen: set = set()
    declarations = []
    for loop_roots in roots:
        needed = writer.closure(loop_roots, varying=True)
        for statement in needed:
            if statement in seen and statement not in writer.cache and statement.kind == "compute" and \
                    statement.node.op in WORTH_CACHING:
                writer.cache[statement] = f"cache_{statement.name}"
                declarations.append(f"{compute_type(statement.dtype)} cache_{statement.name}[{sympy.Mul(*extents)}];")
        seen |= set(needed)
    position = linearize([loops.variables[a] for a in loops.reduced_axes], [loops.shape[a] for a in loops.reduced_axes])
    writer.cache_index = writer.size(position)
    return declarations


def _row_reduction(loops: LoopKernel, writer: _Writer, reduced: list[int], body: list[str],
                   accumulators: list) -> list[str]:
    """The loops over the row running `body` and the accumulators' updates. Float sums add into a float
    partial per block of the innermost loop (SUM_BLOCK elements at most), then into their double."""
    lines = [f"{ctype} {name} = {initial};" for a in accumulators for ctype, name, initial in a.variables]
    clauses = [a.clause for a in accumulators]
    simd = None if None in clauses else "#pragma omp simd " + " ".join(f"reduction({c})" for c in clauses)
    body = body + [line for a in accumulators for line in a.update]
    partials = [a for a in accumulators if a.partial]
    start = [f"float {a.partial} = 0;" for a in partials]
    finish = [f"{a.variables[0][1]} += (double){a.partial};" for a in partials]
    return lines + _blocked_loops(loops, writer, reduced, lambda header: _nest([header] if header else [], body, simd), start,
                                  finish, SUM_BLOCK)


def _blocked_loops(loops: LoopKernel, writer: _Writer, reduced: list[int], innermost, start: list[str],
                   finish: list[str], block: int) -> list[str]:
    """The loops over `reduced`, the innermost (`innermost(header)` gives it, with its body) in blocks of
    `block` elements, `start` before each block and `finish` after (no blocks when `start` is empty)."""
    if not reduced:  # a reduction over axes of one element
        return start + innermost(None) + finish
    if not start:
        headers = _loop_headers(loops, reduced, writer)
        return _nest(headers[:-1], innermost(headers[-1]), None)
    inner = reduced[-1]
    extent = sympy.sympify(loops.shape[inner])
    if extent.is_Integer and int(extent) <= block:
        blocks = start + innermost(_loop_headers(loops, [inner], writer)[0]) + finish
    else:
        variable, size = f"i{inner}", writer.size(extent)
        end = f"({variable}b + {block} < {size} ? {variable}b + {block} : {size})"
        header = f"for (int64_t {variable} = {variable}b; {variable} < {end}; {variable}++)"
        blocks = _nest([f"for (int64_t {variable}b = 0; {variable}b < {size}; {variable}b += {block})"],
                       start + innermost(header) + finish, None)
    return _nest(_loop_headers(loops, reduced[:-1], writer), blocks, None)


def _column_axis(loops: LoopKernel, outer: list[int], reduced: list[int], reductions: list,
                 checks: list) -> int | None:
    """The outer axis a column reduction runs in blocks of LANES, or None. A sum over rows of a row-major
    matrix reads along the row in no loop: looping over rows inside, with a block of columns side by
    side in the vector lanes, reads consecutive elements. Only for one level of reductions storing row
    values alone."""
    if not reductions or not outer or not reduced or checks or any(not s.row for s in loops.stores):
        return None
    if any(s.depth != 1 or s.node.op in (Op.ARGMAX, Op.ARGMIN) for s in reductions):
        return None
    if reads_contiguous(loops, reduced[-1]) or not reads_contiguous(loops, outer[-1]):
        return None
    return outer[-1]


def _column_reduction(loops: LoopKernel, writer: _Writer, outer: list[int], reduced: list[int],
                      reductions: list, lane: int) -> tuple[list[str], list[str]]:
    """(outer loop headers, body) of a column reduction: accumulator arrays for a block of LANES columns,
    the loops over the row outside, the columns in the `#pragma omp simd` loop inside, then per column the
    row values and stores."""
    variable, extent = f"i{lane}", writer.size(loops.shape[lane])
    headers = _loop_headers(loops, outer[:-1], writer)
    headers.append(f"for (int64_t {variable}b = 0; {variable}b < {extent}; {variable}b += {LANES})")
    columns = "for (int64_t l = 0; l < lanes; l++)"
    column = f"int64_t {variable} = {variable}b + l;"
    accumulators = [_accumulator(s, writer, lane="[l]") for s in reductions]
    variables = [v for a in accumulators for v in a.variables]
    partials = [a.partial for a in accumulators if a.partial]
    row = [f"int64_t lanes = {extent} - {variable}b < {LANES} ? {extent} - {variable}b : {LANES};"]
    row += [f"{ctype} {name}[{LANES}];" for ctype, name, _ in variables]
    row += [f"float {partial}[{LANES}];" for partial in partials]
    row += _nest([columns], [f"{name}[l] = {initial};" for _, name, initial in variables], None)
    body = [column]
    for statement in writer.closure([s.args[0] for s in reductions], varying=False):
        body += writer.line(statement)  # (not `printed`: each column loop computes what it needs)
    body += [line for a in accumulators for line in a.update]
    start = _nest([columns], [f"{partial}[l] = 0;" for partial in partials], None) if partials else []
    finish = _nest([columns], [f"{a.variables[0][1]}[l] += (double){a.partial}[l];" for a in accumulators
                               if a.partial], None) if partials else []
    row += _blocked_loops(loops, writer, reduced, lambda header: _nest([header, columns] if header else [columns],
                                                                        body, "#pragma omp simd"),
                          start, finish, COLUMN_SUM_BLOCK)
    results = [column]
    for statement, accumulator in zip(reductions, accumulators):
        writer.printed.add(statement)
        results.append(f"{compute_type(statement.dtype)} {statement.name} = "
                       f"{rounded(statement.node, accumulator.result)};")
    writer.need([s.statement for s in loops.stores], results)
    results += [_store_line(s, writer) for s in loops.stores]
    return headers, row + _nest([columns], results, None)


def _store_line(store, writer: _Writer) -> str:
    value = writer.size(store.index)
    return f"out{store.position}[{value}] = {store_code(store.value.dtype, store.statement.name)};"


def _function(loops: LoopKernel, writer: _Writer, headers: list[str], row: list[str], pointwise: bool,
              checked: bool) -> list[str]:
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
