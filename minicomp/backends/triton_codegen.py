"""Triton source for one loop kernel (kernels/loop_form.py); triton_writer.py spells its statements.

A pointwise kernel is one program per XBLOCK elements of its domain: `xindex` is the flat position and
each loop variable comes from it (`i0 = xindex // 768`, `i1 = xindex % 768`; after axis merging, a
contiguous kernel has the one variable `i0 = xindex`). A reduction kernel is one program per XBLOCK
rows: the outer loop variables come from `xindex`, the reduced ones from the position in the row
`rindex`. A row of at most MAX_PERSISTENT_ROW elements, known at compile time, is held whole in the
block (RBLOCK >= its length) and reduced with tl.sum / tl.reduce. A longer row, or one whose length is
known only at run time, is looped over in RBLOCK chunks, as in Inductor: one loop per level of
reductions (softmax's sum needs its max first), each folding its chunks into an [XBLOCK, RBLOCK]
accumulator reduced once after the loop (argmax carries the position beside the value), then a loop
storing the full-size outputs, then the row outputs.
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.backends.triton_pointwise import rounded
from minicomp.backends.triton_writer import Writer
from minicomp.ir.printer import format_node
from minicomp.kernels.loop_form import LoopKernel, needed, operands
from minicomp.passes.split_reductions import MAX_ROW as MAX_PERSISTENT_ROW


@dataclasses.dataclass
class KernelSource:
    """A generated kernel: source text, argument order, and how to launch it."""

    name: str
    source: str
    inputs: list            # Values read (pointer arguments, in order)
    outputs: list           # Values written (pointer arguments, in order)
    sizes: list             # sympy expressions passed as integer arguments
    outer: sympy.Expr       # elements (rows, for reductions) the grid covers
    reduced: sympy.Expr     # reduced elements per row (1 for pointwise kernels)
    is_reduction: bool      # takes an RBLOCK (a reduction over one element is still a reduction)
    looped: bool = False    # loops over the row in RBLOCK chunks instead of holding it whole
    checks: list = dataclasses.field(default_factory=list)  # kinds of run-time check (checks.py), in slot order


def needs_loop(reduced) -> bool:
    """Rows of unknown or large length are reduced in a loop; small known ones in one block."""
    reduced = sympy.sympify(reduced)
    return not reduced.is_Integer or int(reduced) > MAX_PERSISTENT_ROW


def write_kernel(loops: LoopKernel) -> KernelSource:
    """The @triton.jit function for `loops`, named loops.name."""
    writer = Writer(loops)
    outer = sympy.Mul(*[loops.shape[a] for a in loops.outer_axes])
    reduced = sympy.Mul(*[loops.shape[a] for a in loops.reduced_axes])
    looped = loops.is_reduction and needs_loop(reduced)
    if not loops.is_reduction:
        prologue = ["xindex = tl.program_id(0).to(tl.int64) * XBLOCK + tl.arange(0, XBLOCK)",
                    f"xmask = xindex < {writer.size(outer)}"]
        body = _whole(loops, writer)
    else:
        prologue = ["xindex = tl.program_id(0).to(tl.int64) * XBLOCK + tl.arange(0, XBLOCK)[:, None]",
                    f"xmask = xindex < {writer.size(outer)}"]
        body = _looped(loops, writer, reduced) if looped else _persistent_row(writer, reduced) + _whole(loops, writer)
    prologue += _variables(loops, writer, loops.outer_axes, "xindex")
    block = "[XBLOCK, 1]" if loops.is_reduction else "[XBLOCK]"
    prologue += [f"xzero = tl.zeros({block}, tl.int64)"] if "xzero" in writer.zeros else []
    prologue += ["lzero = tl.zeros([XBLOCK, RBLOCK], tl.int64)"] if "lzero" in writer.zeros else []
    arguments = [f"in_ptr{i}" for i in range(len(loops.inputs))]
    arguments += [f"out_ptr{i}" for i in range(len(loops.outputs))]
    arguments += ["check_ptr"] if loops.checks else []
    arguments += [f"ks{i}" for i in range(len(writer.sizes))]
    arguments += ["XBLOCK: tl.constexpr"] + (["RBLOCK: tl.constexpr"] if loops.is_reduction else [])
    lines = ["@triton.jit", f"def {loops.name}({', '.join(arguments)}):"]
    lines += ["    #" + format_node(node, indent=" ").split("  # ")[0] for node in loops.kernel.nodes]
    lines += ["    " + line for line in prologue + body]
    return KernelSource(loops.name, "\n".join(lines) + "\n", loops.inputs, loops.outputs, list(writer.sizes.values()),
                        outer, reduced, loops.is_reduction, looped, loops.checks)


def _variables(loops: LoopKernel, writer: Writer, axes: list, flat: str) -> list[str]:
    """The loop variable of each axis in `axes` longer than one, from the row-major position `flat`."""
    looping = [a for a in axes if loops.variables[a] != 0]
    lines, stride = [], sympy.Integer(1)
    for position in reversed(range(len(looping))):
        axis = looping[position]
        divided = flat if stride == 1 else f"({flat} // {writer.size(stride)})"
        code = divided if position == 0 else f"{divided} % {writer.size(loops.shape[axis])}"
        lines.append(f"{loops.variables[axis]} = {code}")
        stride = stride * loops.shape[axis]
    return list(reversed(lines))


def _row_lines(loops: LoopKernel, writer: Writer, reduced, rindex: str) -> list[str]:
    """The position in the row, its mask and the reduced loop variables."""
    return [f"rindex = {rindex}", f"rmask = rindex < {writer.size(reduced)}", "lmask = xmask & rmask"] + \
        _variables(loops, writer, list(loops.reduced_axes), "rindex")


def _persistent_row(writer: Writer, reduced) -> list[str]:
    return _row_lines(writer.loops, writer, reduced, "tl.arange(0, RBLOCK)[None, :].to(tl.int64)")


def _whole(loops: LoopKernel, writer: Writer) -> list[str]:
    """Every statement the stores and checks need, in order, then the stores: a pointwise kernel, or a
    reduction kernel holding its rows whole."""
    checks = [s for s in loops.statements if s.kind == "check"]
    roots = [s.statement for s in loops.stores] + checks
    lines = []
    for statement in needed(loops, roots, set(), varying=False, through_reductions=True):
        lines += writer.lines(statement)
    return lines + [writer.store_line(s) for s in loops.stores]


def _looped(loops: LoopKernel, writer: Writer, reduced) -> list[str]:
    """A loop over the row per level of reductions, a loop storing the full-size outputs, the row outputs."""
    lines: list[str] = []
    printed: set = set()

    def row_values(roots: list) -> None:
        for statement in needed(loops, roots, printed, varying=False):
            if not statement.varies:
                assert statement.kind != "reduce" or statement in printed, "a reduction is printed by its loop"
                printed.add(statement)
                lines.extend(writer.lines(statement))

    def loop(roots: list, after: list[str]) -> list[str]:
        """`for roffset ...:` computing `roots` on each chunk, then the lines `after`; the row values they
        read are printed before it."""
        body_statements = needed(loops, roots, printed, varying=True)
        row_values([r for r in roots if not r.varies] + [o for s in body_statements for o in operands(s)])
        body = _row_lines(loops, writer, reduced, "roffset + rbase")
        for statement in body_statements:
            body += writer.lines(statement)
        return [f"for roffset in range(0, {writer.size(reduced)}, RBLOCK):"] + ["    " + b for b in body + after]

    lines.append("rbase = tl.arange(0, RBLOCK)[None, :].to(tl.int64)")
    reductions = [s for s in loops.statements if s.kind == "reduce"]
    for depth in sorted({s.depth for s in reductions}):
        level = [s for s in reductions if s.depth == depth]
        accumulators = [writer.accumulator(s) for s in level]
        body = loop([s.args[0] for s in level], [u for _, update, _ in accumulators for u in update])
        lines += [i for initial, _, _ in accumulators for i in initial] + body
        for statement, (_, _, final) in zip(level, accumulators):
            lines.append(f"{statement.name} = {rounded(statement.node, final)}")
            printed.add(statement)
    checks = [s for s in loops.statements if s.kind == "check"]
    full_stores = [s for s in loops.stores if not s.row]
    element_checks = [c for c in checks if c.varies]
    if full_stores or element_checks:
        lines += loop([s.statement for s in full_stores] + element_checks,
                      [writer.store_line(s) for s in full_stores])
    row_stores = [s for s in loops.stores if s.row]
    row_values([s.statement for s in row_stores] + [c for c in checks if not c.varies])
    return lines + [writer.store_line(s) for s in row_stores]
