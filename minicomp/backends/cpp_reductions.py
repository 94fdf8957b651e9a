"""How C++ kernels reduce: accumulators (float sums in lanes, products in double, NaN flags beside max
and min), the loops over a row, column reductions run in vector lanes, and row caches of
transcendental values (docs/cpp_codegen.md says why each)."""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.backends.cpp_math import STORAGE_TYPE, compute_type, extreme, rounded
from minicomp.backends.cpp_writer import Writer, loop_headers, nest, store_line
from minicomp.ir import DType, Op
from minicomp.kernels.indexing import linearize
from minicomp.kernels.loop_form import LoopKernel, Statement, contiguous_accesses, needed

LANES = 128           # columns one column-reduction program accumulates side by side (a vector's worth, times 8)
MIN_LANES = 16        # ... at least: one vector of floats
STACK_ARRAY_BYTES = 256 * 1024  # most bytes of a kernel's arrays of one kind (column-block lanes, row caches,
# hoisted values): they live on the thread's stack, and in its cache
# A float sum adds element k of its row into lane k % SUM_LANES, in float, and every SUM_BLOCK elements
# it adds the lanes into double lanes, summed in order at the end: the vector adds of a float sum, within
# a few roundings of the exact sum however long the row, and the same bits whatever loops run it (one
# merged loop, nested loops, a column reduction), so a fused kernel and the same ops unfused agree.
# A graph holding float16 or bfloat16 values uses WIDE_SUM_LANES: GCC gives every type of a loop one
# vector size, so a loop of 16 steps reading 16-bit values runs its floats 8 to a register; with 32 steps
# they fill a 512-bit one (a bfloat16 softmax 0.89 -> 0.61 ms). Fusion does not change a graph's lanes.
SUM_LANES = 16
WIDE_SUM_LANES = 32
SUM_BLOCK = 128
ROW_CACHE = 8192      # most elements of a row whose transcendental values a later loop reads back
WORTH_CACHING = frozenset({Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.ATAN, Op.ERF,
                           Op.POW, Op.ATAN2})


@dataclasses.dataclass
class _Accumulator:
    """How one reduction accumulates: its variables (C++ type, name, initial value), the update of each
    element `value`, the `#pragma omp simd` reduction clause (None: the loop must run in order), the row
    value."""

    variables: list
    update: list
    clause: str | None
    result: str
    lane_sum: str = ""  # a float sum in lanes (SUM_LANES): its name; `update` is then empty
    value: str = ""     # ... the variable it adds
    lanes: int = 0      # ... and how many lanes (the writer's sum_lanes)


def _in_lanes(statement: Statement) -> bool:
    """Whether a reduction is a float sum (float32, float16, bfloat16 values) that adds in lanes."""
    return statement.node.op is Op.SUM and compute_type(statement.args[0].dtype) == "float"


def make_accumulator(statement: Statement, writer: Writer, lane: str = "") -> _Accumulator:
    """The accumulator of a reduction; with `lane` ("[l]"), one per column of a column block."""
    node = statement.node
    source = statement.args[0]
    dtype, op = source.dtype, node.op
    name = f"acc_{statement.name}"
    acc = name + lane
    value = source.name
    ctype = compute_type(dtype)
    if _in_lanes(statement):
        return _Accumulator([], [], None, f"({compute_type(node.output.dtype)})total_{statement.name}",
                            lane_sum=statement.name, value=value, lanes=writer.sum_lanes)
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


def plan_row_cache(loops: LoopKernel, writer: Writer, reduced: list[int], reductions: list,
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
            if statement in seen and statement not in writer.cache and _worth_caching(loops, writer, statement) \
                    and (len(declarations) + 1) * sympy.Mul(*extents) * 8 <= STACK_ARRAY_BYTES:
                writer.cache[statement] = f"cache_{statement.name}"
                declarations.append(f"{compute_type(statement.dtype)} cache_{statement.name}[{sympy.Mul(*extents)}];")
        seen |= set(needed)
    position = linearize([loops.variables[a] for a in loops.reduced_axes], [loops.shape[a] for a in loops.reduced_axes])
    writer.cache_index = writer.size(position)
    return declarations


def _worth_caching(loops: LoopKernel, writer: Writer, statement: Statement) -> bool:
    """Whether a value a later loop over the row needs again is cheaper read back than recomputed: a
    transcendental one, or one computed from two or more loads (a residual sum x + r a layer norm reads
    three times: one load instead of two, and no rounding of a 16-bit sum)."""
    if statement.kind != "compute":
        return False
    if statement.node.op in WORTH_CACHING:
        return True
    recomputed = needed(loops, [statement], set(), True, leaves=set(writer.cache))
    return sum(s.kind == "load" for s in recomputed) >= 2


def row_reduction(loops: LoopKernel, writer: Writer, reduced: list[int], body: list[str],
                  accumulators: list) -> list[str]:
    """The loops over the row running `body` and the accumulators' updates."""
    lines = [f"{ctype} {name} = {initial};" for a in accumulators for ctype, name, initial in a.variables]
    clauses = [a.clause for a in accumulators if not a.lane_sum]
    simd = None if None in clauses else " ".join(["#pragma omp simd"] + [f"reduction({c})" for c in clauses])
    body = body + [line for a in accumulators for line in a.update]
    sums = [a for a in accumulators if a.lane_sum]
    if not sums:
        return lines + nest(loop_headers(loops, reduced, writer), body, simd)
    lanes = sums[0].lanes
    lines += [f"double lanes_{a.lane_sum}[{lanes}] = {{}};" for a in sums]
    counter = f"count_{sums[0].lane_sum}"
    inner = reduced[-1] if reduced else None
    extent = sympy.sympify(loops.shape[inner]) if reduced else sympy.Integer(1)
    if len(reduced) == 1:
        lines += _blocks_of_lanes(loops, writer, reduced[0], body, sums, simd)
    elif extent.is_Integer and extent % lanes == 0:  # nested loops, the inner one `lanes` at a time
        variable = f"i{inner}"
        chunk = nest([f"for (int64_t l = 0; l < {lanes}; l++)"],
                     [f"int64_t {variable} = {variable}c + l;"] + body + [_add_part(a, "[l]") for a in sums], simd)
        chunk += _count(counter, f" += {lanes}", _flush(sums))
        headers = loop_headers(loops, reduced[:-1], writer)
        headers.append(f"for (int64_t {variable}c = 0; {variable}c < {extent}; {variable}c += {lanes})")
        lines += [f"int64_t {counter} = 0;"] + _parts(sums) + nest(headers, chunk, None) + _flush(sums)
    else:  # nested loops (or none): one element at a time, counting them
        lines += [f"int64_t {counter} = 0;"] + _parts(sums)
        step = [_add_part(a, f"[{counter} & {lanes - 1}]") for a in sums] + _count(counter, "++", _flush(sums))
        lines += nest(loop_headers(loops, reduced, writer), body + step, None) + _flush(sums)
    for a in sums:
        lines += _total(a, "l", "[l]")
    return lines


def _count(counter: str, step: str, flush: list[str]) -> list[str]:
    """Advance the count of elements added (`step`: "++" or " += 16") and flush every SUM_BLOCK."""
    return [f"{counter}{step};", f"if (({counter} & {SUM_BLOCK - 1}) == 0) {{"] + flush + ["}"]


def _total(accumulator: _Accumulator, lane: str, subscript: str) -> list[str]:
    """The double lanes summed pairwise, in one fixed order (the upper half of the lanes added into the
    lower half until one is left): a few vector adds where an in-order sum is a chain of `lanes` dependent
    adds. `lane` runs over the lanes, `subscript` picks one."""
    name = f"lanes_{accumulator.lane_sum}"
    upper = subscript.replace(f"[{lane}]", f"[{lane} + w]", 1)
    lines = nest([f"for (int w = {accumulator.lanes // 2}; w > 0; w /= 2)"],
                 nest([f"for (int {lane} = 0; {lane} < w; {lane}++)"],
                      [f"{name}{subscript} = {name}{subscript} + {name}{upper};"], None), None)
    first = subscript.replace(f"[{lane}]", "[0]", 1)
    return lines + [f"double total_{accumulator.lane_sum} = {name}{first};"]


def _parts(sums: list, columns: str = "") -> list[str]:
    return [f"float part_{a.lane_sum}[{a.lanes}]{columns} = {{}};" for a in sums]


def _add_part(accumulator: _Accumulator, subscript: str) -> str:
    part = f"part_{accumulator.lane_sum}{subscript}"
    return f"{part} = {part} + {accumulator.value};"


def _flush(sums: list) -> list[str]:
    """The float lanes added into the double ones, and cleared."""
    lines = []
    for a in sums:
        name = a.lane_sum
        lines += ["#pragma omp simd", f"for (int l = 0; l < {a.lanes}; l++) {{ lanes_{name}[l] = lanes_{name}[l] + "
                  f"(double)part_{name}[l]; part_{name}[l] = 0; }}"]
    return lines


def _flush_columns(sums: list) -> list[str]:
    """_flush for the lanes of each column of a column block."""
    lines = []
    for a in sums:
        name = a.lane_sum
        lines += [f"for (int j = 0; j < {a.lanes}; j++) {{", "#pragma omp simd",
                  f"for (int64_t l = 0; l < lanes; l++) {{ lanes_{name}[j][l] = lanes_{name}[j][l] + "
                  f"(double)part_{name}[j][l]; part_{name}[j][l] = 0; }}", "}"]
    return lines


def _blocks_of_lanes(loops: LoopKernel, writer: Writer, axis: int, body: list[str], sums: list,
                     simd: str | None) -> list[str]:
    """One loop over the row in blocks of SUM_BLOCK elements, each a sum's lanes at a time in the vector
    lanes, then the last block."""
    variable, extent, width = f"i{axis}", writer.size(loops.shape[axis]), sums[0].lanes
    lanes = [f"int64_t {variable} = {variable}c + l;"] + body + [_add_part(a, "[l]") for a in sums]
    # (a block's steps counted from 0 to a constant: GCC unrolls them and keeps the lanes in registers)
    full = nest([f"for (int64_t k = 0; k < {SUM_BLOCK}; k += {width})", f"for (int64_t l = 0; l < {width}; l++)"],
                [f"int64_t {variable}c = {variable}b + k;"] + lanes, simd)
    last = [f"int64_t count = {extent} - {variable}c < {width} ? {extent} - {variable}c : {width};"]
    last += nest(["for (int64_t l = 0; l < count; l++)"], lanes, simd)
    lines = [f"int64_t {variable}b = 0;"]
    lines += nest([f"for (; {variable}b + {SUM_BLOCK} <= {extent}; {variable}b += {SUM_BLOCK})"],
                  _parts(sums) + full + _flush(sums), None)
    static = sympy.sympify(loops.shape[axis])
    if not (static.is_Integer and static % SUM_BLOCK == 0):  # the last, partial block
        lines += _parts(sums) + nest([f"for (int64_t {variable}c = {variable}b; {variable}c < {extent}; "
                                      f"{variable}c += {width})"], last, None) + _flush(sums)
    return ["{"] + lines + ["}"]


def column_axis(loops: LoopKernel, outer: list[int], reduced: list[int], reductions: list,
                 checks: list) -> int | None:
    """The outer axis a column reduction runs in blocks of LANES, or None. A sum over rows of a row-major
    matrix reads along the row in no loop: looping over rows inside, with a block of columns side by
    side in the vector lanes, reads consecutive elements. Where more of the kernel's matrix accesses
    step along the columns than along the row; only for one level of reductions."""
    if not reductions or not outer or not reduced or checks:
        return None
    if any(s.depth != 1 or s.node.op in (Op.ARGMAX, Op.ARGMIN) for s in reductions):
        return None
    lane, row = outer[-1], reduced[-1]
    if contiguous_accesses(loops, lane, moving_along=row) <= contiguous_accesses(loops, row, moving_along=lane):
        return None
    return lane


def column_width(sum_lanes: int) -> int:
    """Columns in one block of a column reduction whose float sums have `sum_lanes` lanes in all: LANES,
    halved while their float and double lanes (12 bytes a lane and column) pass STACK_ARRAY_BYTES, so
    a backward summing many gradients at once stays on the thread's stack (and in its cache)."""
    width = LANES
    while width > MIN_LANES and sum_lanes * width * 12 > STACK_ARRAY_BYTES:
        width //= 2
    return width


def column_reduction(loops: LoopKernel, writer: Writer, outer: list[int], reduced: list[int],
                      reductions: list, lane: int) -> tuple[list[str], list[str]]:
    """(outer loop headers, body) of a column reduction: accumulator arrays for a block of columns,
    the loops over the row outside, the columns in the `#pragma omp simd` loop inside, then per column the
    row values and stores. Full-size stores that need no reduction are written in the same loop (a bias
    gradient beside the gradient it sums); those that need one, in a second loop over the block."""
    variable, extent = f"i{lane}", writer.size(loops.shape[lane])
    accumulators = [make_accumulator(s, writer, lane="[l]") for s in reductions]
    width = column_width(sum(a.lanes for a in accumulators))
    headers = loop_headers(loops, outer[:-1], writer)
    headers.append(f"for (int64_t {variable}b = 0; {variable}b < {extent}; {variable}b += {width})")
    columns = "for (int64_t l = 0; l < lanes; l++)"
    column = f"int64_t {variable} = {variable}b + l;"
    variables = [v for a in accumulators for v in a.variables]
    static = sympy.sympify(loops.shape[lane])
    if static.is_Integer and static % width == 0:  # every block whole: GCC unrolls the column loops
        row = [f"const int64_t lanes = {width};"]
    else:
        row = [f"int64_t lanes = {extent} - {variable}b < {width} ? {extent} - {variable}b : {width};"]
    row += [f"{ctype} {name}[{width}];" for ctype, name, _ in variables]
    if variables:
        row += nest([columns], [f"{name}[l] = {initial};" for _, name, initial in variables], None)
    full_stores = [s for s in loops.stores if not s.row]
    full_closure = writer.closure([s.statement for s in full_stores], varying=False)
    after_reductions = any(s.kind == "reduce" for s in full_closure)
    stored_inside = [] if after_reductions else full_stores
    body = [column]
    roots = [s.args[0] for s in reductions] + [s.statement for s in stored_inside]
    for statement in writer.closure(roots, varying=False):
        body += writer.line(statement)  # (not `printed`: each column loop computes what it needs)
    body += [store_line(s, writer) for s in stored_inside]
    body += [line for a in accumulators for line in a.update]
    sums = [a for a in accumulators if a.lane_sum]
    body += [_add_part(a, "[sum_lane][l]") for a in sums]
    before, after = [], []
    if sums:  # the lanes of a float sum in a row (SUM_LANES), for each column of the block
        counter = f"count_{sums[0].lane_sum}"
        row += [f"int64_t {counter} = 0;"] + _parts(sums, f"[{width}]")
        row += [f"double lanes_{a.lane_sum}[{a.lanes}][{width}] = {{}};" for a in sums]
        before = [f"int64_t sum_lane = {counter} & {sums[0].lanes - 1};"]
        after = _count(counter, "++", _flush_columns(sums))
    row += nest(loop_headers(loops, reduced, writer), before + nest([columns], body, "#pragma omp simd") + after,
                None)
    row += _flush_columns(sums)
    results = [column]
    for a in sums:
        results += _total(a, "j", "[j][l]")
    for statement, accumulator in zip(reductions, accumulators):
        writer.printed.add(statement)
        results.append(f"{compute_type(statement.dtype)} {statement.name} = "
                       f"{rounded(statement.node, accumulator.result)};")
    row_stores = [s for s in loops.stores if s.row]
    writer.need([s.statement for s in row_stores], results)
    results += [store_line(s, writer) for s in row_stores]
    if not after_reductions:
        return headers, row + nest([columns], results, None)
    kept = [s for s in full_closure if s.kind == "reduce"]
    row += [f"{compute_type(s.dtype)} column_{s.name}[{width}];" for s in kept]
    results += [f"column_{s.name}[l] = {s.name};" for s in kept]
    second = [column] + [f"{compute_type(s.dtype)} {s.name} = column_{s.name}[l];" for s in kept]
    for statement in full_closure:
        if statement.kind != "reduce":
            second += writer.line(statement)
    second += [store_line(s, writer) for s in full_stores]
    row += nest([columns], results, None)
    return headers, row + nest(loop_headers(loops, reduced, writer), nest([columns], second, "#pragma omp simd"), None)
