"""C++ source for one loop kernel (kernels/loop_form.py): an OpenMP loop nest.

A pointwise kernel is the domain's loops, the outer ones parallel (`collapse`d), the innermost
`#pragma omp simd`. A reduction kernel runs its outer axes in parallel and, inside, one loop over the
row per level of reductions (softmax's sum needs its max first): each accumulates in registers with
`#pragma omp simd reduction(...)`, then the row values computed from the results, then a last loop
storing the full-size outputs, then the row outputs. A row of a few thousand elements is in cache for
the later loops, so it is read from memory once. Float sums add in float lanes flushed into double
ones (cpp_reductions.py), products in double. A column reduction (the row is strided, the columns are
not) runs a block of columns side by side in the vector lanes; a transcendental value two loops over
the row need is kept in a row cache (docs/cpp_codegen.md).
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.backends.cpp_math import STORAGE_TYPE, compute_type, rounded
from minicomp.backends.cpp_reductions import (STACK_ARRAY_BYTES, SUM_LANES, column_axis, column_reduction,
                                               make_accumulator, plan_row_cache, row_reduction)
from minicomp.backends.cpp_writer import Writer, loop_headers, looping_axes, nest, store_line
from minicomp.ir import Op
from minicomp.ir.printer import format_node
from minicomp.kernels.indexing import linearize
from minicomp.kernels.loop_form import LoopKernel, operands

PARALLEL_MIN_ELEMENTS = 32768  # below this, starting threads costs more than it saves
HOIST_MAX_ELEMENTS = 8192      # most values of one hoisted array (hoist_invariants)
COSTLY = frozenset({Op.SQRT, Op.RSQRT, Op.DIV, Op.EXP, Op.LOG, Op.POW, Op.TANH, Op.ERF, Op.SIN, Op.COS})


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


def write_kernel(loops: LoopKernel, sum_lanes: int = SUM_LANES) -> CppKernel:
    """The C++ function for `loops`, named loops.name; its float sums add in `sum_lanes` lanes (the
    graph's: cpp_backend.sum_lanes)."""
    writer = Writer(loops, sum_lanes)
    outer = looping_axes(loops, loops.outer_axes)
    reduced = looping_axes(loops, list(loops.reduced_axes))
    checks = [s for s in loops.statements if s.kind == "check"]
    reductions = [s for s in loops.statements if s.kind == "reduce"]
    prologue = [] if loops.reduced_axes or checks else hoist_invariants(loops, writer, outer)
    lane = column_axis(loops, outer, reduced, reductions, checks)
    if lane is not None:
        headers, row = column_reduction(loops, writer, outer, reduced, reductions, lane)
    else:
        headers, row = loop_headers(loops, outer, writer), _row_body(loops, writer, reduced, reductions, checks)
    lines = _function(loops, writer, headers, prologue, row, pointwise=not loops.reduced_axes, checked=bool(checks))
    return CppKernel(loops.name, "\n".join(lines) + "\n", loops.inputs, loops.outputs, list(writer.sizes.values()),
                     list(writer.size_types.values()), loops.checks)


def _row_body(loops: LoopKernel, writer: Writer, reduced: list[int], reductions: list, checks: list) -> list[str]:
    """The body of the outer loops: the loops over the row for each level of reductions, the full-size
    stores, the row stores."""
    row = plan_row_cache(loops, writer, reduced, reductions, checks)
    for depth in sorted({s.depth for s in reductions}):  # (a reduction over no axes, or over axes of one
        level = [s for s in reductions if s.depth == depth]  # element, loops over nothing)
        accumulators = [make_accumulator(s, writer) for s in level]
        body = writer.element_body([s.args[0] for s in level], row)
        row += row_reduction(loops, writer, reduced, body, accumulators)
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
            body += [store_line(s, writer) for s in full_stores]
            simd = None if element_checks else "#pragma omp simd"
            row += nest(loop_headers(loops, reduced, writer), body, simd)
        else:
            writer.need(roots, row)
            row += [store_line(s, writer) for s in full_stores]
    row_stores = [s for s in loops.stores if s.row]
    writer.need([s.statement for s in row_stores] + [c for c in checks if not c.varies], row)
    return row + [store_line(s, writer) for s in row_stores]


def hoist_invariants(loops: LoopKernel, writer: Writer, looping: list[int]) -> list[str]:
    """Lines computing, before the loops, the costly values of a pointwise kernel that do not depend on
    its outermost loop (a batch norm's 1 / sqrt(var + eps) per channel, computed once per channel instead
    of once per image and channel), into arrays the loop body reads (through the writer's caches)."""
    if len(looping) < 2:
        return []
    variables = {loops.variables[a] for a in looping}
    used: dict = {}
    for statement in loops.statements:
        own = set()
        for expression in (statement.index, statement.condition):
            if isinstance(expression, sympy.Basic):
                own |= expression.free_symbols & variables
        used[statement] = frozenset(own.union(*(used[o] for o in operands(statement))))
    outermost = loops.variables[looping[0]]

    def hoistable(statement) -> bool:
        axes = [a for a in looping if loops.variables[a] in used[statement]]
        size = sympy.Mul(*[sympy.sympify(loops.shape[a]) for a in axes])
        return statement.kind == "compute" and bool(axes) and outermost not in used[statement] and \
            size.is_Integer and size <= HOIST_MAX_ELEMENTS

    readers: dict = {s: [] for s in loops.statements}
    for statement in loops.statements:
        for operand in operands(statement):
            readers[operand].append(statement)
    stored = {store.statement for store in loops.stores}
    declarations, lines, hoisted = [], [], 0
    for statement in loops.statements:
        if not hoistable(statement) or (all(hoistable(r) for r in readers[statement]) and statement not in stored):
            continue  # (only the last hoistable value before the loop body reads it)
        closure = writer.closure([statement], varying=False)
        if not any(s.kind == "compute" and s.node.op in COSTLY for s in closure):
            continue
        axes = [a for a in looping if loops.variables[a] in used[statement]]
        size = sympy.Mul(*[sympy.sympify(loops.shape[a]) for a in axes])
        if (hoisted + size) * 8 > STACK_ARRAY_BYTES:
            continue
        hoisted += size
        index = writer.size(linearize([loops.variables[a] for a in axes], [loops.shape[a] for a in axes]))
        array = f"hoisted_{statement.name}"
        body = [line for s in closure for line in writer.line(s)] + [f"{array}[{index}] = {statement.name};"]
        declarations.append(f"{compute_type(statement.dtype)} {array}[{size}];")
        lines += nest(loop_headers(loops, axes, writer), body, "#pragma omp simd")
        writer.cache[statement], writer.cache_indices[statement] = array, index
        writer.cached.add(statement)
    if not lines:
        return []
    # (a domain with no elements may have empty inputs: nothing may be read from them)
    elements = " * ".join(writer.size(loops.shape[a]) for a in looping)
    return declarations + [f"if ({elements} > 0) {{"] + lines + ["}"]


def _function(loops: LoopKernel, writer: Writer, headers: list[str], prologue: list[str], row: list[str],
              pointwise: bool, checked: bool) -> list[str]:
    elements = " * ".join(writer.size(n) for n in loops.shape if n != 1) or "1"
    parallel = f"#pragma omp parallel for{{}} if({elements} > {PARALLEL_MIN_ELEMENTS})"
    simd = None if checked else "#pragma omp simd"  # a check writes its slots: the lanes would race
    if not headers:
        lines = row
    elif pointwise and len(headers) == 1:
        lines = [parallel.format("" if checked else " simd")] + nest(headers, row, None)
    elif pointwise:
        inner = nest(headers[-1:], row, simd)
        lines = [parallel.format(f" collapse({len(headers) - 1})" if len(headers) > 2 else "")]
        lines += nest(headers[:-1], inner, None)
    else:
        lines = [parallel.format(f" collapse({len(headers)})" if len(headers) > 1 else "")]
        lines += nest(headers, row, None)
    lines = prologue + lines
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
