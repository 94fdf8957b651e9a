"""The loop-level form of one fused Kernel: what every compiled code generator prints.

A kernel runs over a domain, the shape of its reductions' input (or of its first output when it has
no reduction), with one loop variable per axis; the reduced axes are the inner loops. Each value the
kernel computes becomes a `Statement` at an index of the domain: loads of its inputs at index
expressions (views and broadcasts resolved to sympy, simplified once, see indexing.py), the pointwise
body, reductions (their accumulators are the printer's), guards (where a cat or pad reads one input
or another, or a gather's index is in range) and run-time checks. `stores` say what each output gets.

A statement either varies along the reduced axes (an element of the row) or not (a row value: a
reduction's result, what is computed from it, a load of a broadcast row). Reductions that read
other reductions' results need a later loop over the row: `depth` counts them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Optional

import sympy

from minicomp.backends.checks import INDEX, ZERO_DIVISION
from minicomp.ir import DType, Kernel, Node, Op, Value
from minicomp.ir.ops import BINARY, COMPARISON, REDUCTION, UNARY, VIEW
from minicomp.kernels.indexing import Ranges, delinearize, linearize, loop_variable, value_symbol
from minicomp.ir.shapes import sizes_equal
from minicomp.passes.fusion_rules import kernel_signature, may_divide_by_zero


@dataclasses.dataclass(eq=False)
class Statement:
    """One value of the kernel. `kind` says which fields matter:

    load      buffer[index], or 0 where `guard` is false (`args`: the statements the index reads)
    compute   `node`'s op on `args` (pointwise, where, cast)
    constant  `value` (a number, or a size expression the host evaluates)
    iota      start + step * index, `node`'s attributes
    guard     a bool: `condition` (sympy, over loop variables and picked positions) and `guard`
    select    args[0] ? args[1] : args[2]
    reduce    `node`'s reduction of args[0] over the reduced axes
    check     raise `check` after the kernel where the failed `condition` holds under `guard`
    """

    kind: str
    name: str
    dtype: DType
    args: list = dataclasses.field(default_factory=list)
    node: Optional[Node] = None
    buffer: Optional[Value] = None
    index: Any = None
    guard: Optional["Statement"] = None
    condition: Any = None
    value: Any = None
    check: str = ""
    varies: bool = True   # depends on a reduced loop variable (always True in a pointwise kernel)
    depth: int = 0        # reductions it reads through


@dataclasses.dataclass
class Store:
    """Output `position` gets `statement` at `index`: every element (`row` False) or once per row."""

    position: int
    value: Value
    statement: Statement
    index: Any
    row: bool


@dataclasses.dataclass
class LoopKernel:
    """A kernel as loops: the domain, its reduced axes, statements in dependency order, stores."""

    name: str
    kernel: Kernel
    shape: tuple
    reduced_axes: tuple
    variables: list
    statements: list
    stores: list
    checks: list          # kinds of run-time check, in slot order (checks.py)

    @property
    def inputs(self) -> list:
        return list(self.kernel.inputs)

    @property
    def outputs(self) -> list:
        return list(self.kernel.outputs)

    @property
    def outer_axes(self) -> list:
        return [axis for axis in range(len(self.shape)) if axis not in self.reduced_axes]

    @property
    def is_reduction(self) -> bool:
        return any(s.kind == "reduce" for s in self.statements)


def lower_kernel(kernel: Kernel, name: str) -> LoopKernel:
    """The loop form of `kernel`."""
    return _Builder(kernel, name).build()


class _Builder:
    def __init__(self, kernel: Kernel, name: str):
        self.kernel, self.name = kernel, name
        self.producer = {v: node for node in kernel.nodes for v in node.outputs}
        signature = kernel_signature(kernel)
        if signature is None:
            self.shape, self.axes = tuple(kernel.outputs[0].shape), ()
        else:
            self.shape, self.axes = tuple(signature.shape), tuple(signature.axes)
        self.variables = [sympy.Integer(0) if sizes_equal(extent, 1) else loop_variable(axis)
                          for axis, extent in enumerate(self.shape)]
        self.reduced_variables = {self.variables[axis] for axis in self.axes} - {sympy.Integer(0)}
        self.ranges = Ranges({v: n for v, n in zip(self.variables, self.shape) if v != 0})
        self.narrowing: dict = {}  # stand-in variable -> what it stands for (see `narrowed`)
        self.stand_ins = 0
        outer = [axis for axis in range(len(self.shape)) if axis not in self.axes]
        self.full_index = linearize(self.variables, self.shape)
        self.row_index = linearize([self.variables[a] for a in outer], [self.shape[a] for a in outer])
        self.full_size = sympy.Mul(*self.shape) if self.shape else sympy.Integer(1)
        self.statements: list[Statement] = []
        self.memo: dict = {}
        self.by_name: dict[str, Statement] = {}
        self.checks: list[str] = []
        self.after_reduction = self._after_reduction()

    def build(self) -> LoopKernel:
        stores = []
        for position, value in enumerate(self.kernel.outputs):
            row = bool(self.axes) and not sizes_equal(value.numel, self.full_size)
            index = self.row_index if row else self.full_index
            node = self.producer[value]
            statement = self.own(value) if node in self.after_reduction else self.emit(value, index, None)
            stores.append(Store(position, value, statement, index, row))
        return LoopKernel(self.name, self.kernel, self.shape, self.axes, self.variables, self.statements, stores,
                          self.checks)

    # -- statements ----------------------------------------------------------------------
    def add(self, kind: str, dtype: DType, **fields) -> Statement:
        """A new statement (or the same one made before: statements are keyed by what they compute)."""
        if self.narrowing and isinstance(fields.get("index"), sympy.Basic):
            fields["index"] = sympy.expand(fields["index"].subs(self.narrowing))
        if self.narrowing and isinstance(fields.get("condition"), sympy.Basic):
            fields["condition"] = fields["condition"].subs(self.narrowing)
        key = (kind, dtype, fields.get("node"), fields.get("buffer"), str(fields.get("index")),
               fields.get("guard"), str(fields.get("condition")), repr(fields.get("value")), fields.get("check"),
               tuple(fields.get("args", ())))
        if key in self.memo:
            return self.memo[key]
        statement = Statement(kind, f"t{len(self.statements)}", dtype, **fields)
        symbols = set()
        for expression in (statement.index, statement.condition):
            if isinstance(expression, sympy.Basic):
                symbols |= expression.free_symbols
        picked = [self.by_name[str(s)] for s in sorted(symbols, key=str) if str(s) in self.by_name]
        if kind != "check":  # an index or condition reading a computed position needs it computed first
            statement.args = list(statement.args) + [p for p in picked if p not in statement.args]
        operands = list(statement.args) + ([statement.guard] if statement.guard is not None else [])
        statement.varies = bool(self.axes) and kind != "reduce" and (
            bool(symbols & self.reduced_variables) or any(a.varies for a in operands))
        statement.depth = max((a.depth for a in operands), default=0) + (1 if kind == "reduce" else 0)
        self.statements.append(statement)
        self.by_name[statement.name] = statement
        self.memo[key] = statement
        return statement

    def constant(self, dtype: DType, value) -> Statement:
        """A number of `dtype` (a float one rounded to the type: printers hold float16 in float32 registers)."""
        if isinstance(value, float):
            value = dtype.nearest(value)
        return self.add("constant", dtype, value=value)

    def guard(self, condition, parent: Optional[Statement]) -> Statement:
        """A bool holding where `condition` and the enclosing guard do (a comparison the loop ranges
        already imply is left out: the last piece of a cat needs no `i < n`)."""
        parts = [c for c in sympy.And.make_args(condition) if not self.ranges.always(c)]
        return self.add("guard", DType.BOOL, condition=sympy.And(*parts), guard=parent)

    def emit(self, value: Value, index, guard: Optional[Statement]) -> Statement:
        """The statement holding `value` at linear `index` of its own shape (read only where `guard` holds)."""
        key = ("emit", value, str(index), guard)  # a value read by many is built once per index
        if key not in self.memo:
            self.memo[key] = self._emit(value, index, guard)
        return self.memo[key]

    def _emit(self, value: Value, index, guard: Optional[Statement]) -> Statement:
        node = self.producer.get(value)
        if node is not None and node in self.after_reduction:
            return self.own(value)
        if node is None:
            return self.add("load", value.dtype, buffer=value, index=index, guard=guard)
        if node.op in VIEW:
            return self.emit(node.inputs[0], self.view_index(node, index), guard)
        op = node.op
        if op in UNARY or op in BINARY or op in COMPARISON or op in (Op.WHERE, Op.CAST):
            args = [self.emit(v, index, guard) for v in node.inputs]
            self.check_divisor(node, args, guard)
            return self.add("compute", value.dtype, node=node, args=args)
        if op is Op.FULL:
            return self.constant(value.dtype, node.attrs["value"])
        if op is Op.IOTA:
            return self.add("iota", value.dtype, node=node, index=index)
        if op is Op.GATHER:
            return self.gather(node, index, guard)
        if op is Op.CAT:
            return self.cat(node, index, guard)
        if op is Op.PAD:
            return self.pad(node, index, guard)
        raise NotImplementedError(f"loop form: {op.value} cannot be computed at an arbitrary index")

    def view_index(self, node: Node, index):
        """Index into the view's input that holds the element at `index` of its output."""
        source, out = node.inputs[0], node.output
        if node.op is Op.RESHAPE:
            return index
        coordinates = delinearize(index, out.shape, self.ranges)
        if node.op is Op.PERMUTE:
            inner = [None] * len(coordinates)
            for position, axis in enumerate(node.attrs["dims"]):
                inner[axis] = coordinates[position]
        elif node.op is Op.EXPAND:
            inner = [sympy.Integer(0) if sizes_equal(source.shape[i], 1) and not sizes_equal(out.shape[i], 1) else c
                     for i, c in enumerate(coordinates)]
        else:  # slice
            axis = node.attrs["axis"]
            inner = list(coordinates)
            inner[axis] = sympy.sympify(node.attrs["start"]) + sympy.sympify(node.attrs["step"]) * coordinates[axis]
        return linearize(inner, source.shape)

    def gather(self, node: Node, index, guard) -> Statement:
        data, positions = node.inputs
        axis = node.attrs["axis"]
        coordinates = delinearize(index, positions.shape, self.ranges)
        picked = self.emit(positions, index, guard)
        symbol = value_symbol(picked.name)
        extent = sympy.sympify(data.shape[axis])
        self.checks.append(INDEX)
        self.add("check", DType.BOOL, check=INDEX, args=[picked], guard=guard,
                 condition=sympy.Or(symbol < 0, symbol >= extent), value=(len(self.checks) - 1, extent))
        inside = self.guard(sympy.And(symbol >= 0, symbol < extent), guard)
        inner = list(coordinates)
        inner[axis] = symbol
        return self.emit(data, linearize(inner, data.shape), inside)

    def cat(self, node: Node, index, guard) -> Statement:
        axis = node.attrs["axis"]
        coordinates = delinearize(index, node.output.shape, self.ranges)
        pieces, offset = [], sympy.Integer(0)
        for part in node.inputs:
            end = offset + part.shape[axis]
            inside = self.guard(sympy.And(coordinates[axis] >= offset, coordinates[axis] < end), guard)
            with self.narrowed(coordinates[axis], offset, part.shape[axis]) as shifted:
                inner = list(coordinates)
                inner[axis] = shifted
                pieces.append((inside, self.emit(part, linearize(inner, part.shape), inside)))
            offset = end
        result = pieces[-1][1]
        for inside, piece in reversed(pieces[:-1]):
            result = self.add("select", node.output.dtype, args=[inside, piece, result])
        return result

    def pad(self, node: Node, index, guard) -> Statement:
        source = node.inputs[0]
        coordinates = delinearize(index, node.output.shape, self.ranges)
        inner, conditions = [], []
        for position, (low, _) in enumerate(node.attrs["pads"]):
            shifted = coordinates[position] - sympy.sympify(low)
            inner.append(shifted)
            conditions += [shifted >= 0, shifted < source.shape[position]]
        inside = self.guard(sympy.And(*conditions), guard)
        with contextlib.ExitStack() as narrowings:
            for position, (low, _) in enumerate(node.attrs["pads"]):
                inner[position] = narrowings.enter_context(
                    self.narrowed(coordinates[position], sympy.sympify(low), source.shape[position]))
            loaded = self.emit(source, linearize(inner, source.shape), inside)
        fill = self.constant(node.output.dtype, node.attrs["value"])
        return self.add("select", node.output.dtype, args=[inside, loaded, fill])

    @contextlib.contextmanager
    def narrowed(self, coordinate, start, length):
        """Under a guard holding `coordinate` in [start, start + length), its offset from start, as an
        expression to build the guarded reads' indices from: when the coordinate is a loop variable, a
        stand-in variable ranging over [0, length), so the index arithmetic simplifies with that tighter
        range (rope's `x[..., :48]` piece reads at `i2`, not `(i2 // 48) ...`); statements made meanwhile
        get it replaced by `coordinate - start`."""
        if coordinate not in self.ranges.extents or not sympy.sympify(length).is_positive:
            yield coordinate - start
            return
        self.stand_ins += 1  # (a fresh name each time: emit's memo keys hold it)
        stand_in = sympy.Symbol(f"{coordinate}_from_{self.stand_ins}", integer=True, nonnegative=True)
        outer = self.ranges
        self.ranges = Ranges({**outer.extents, stand_in: sympy.sympify(length)})
        self.narrowing[stand_in] = sympy.expand((coordinate - start).subs(self.narrowing))  # (in loop variables)
        try:
            yield stand_in
        finally:
            self.ranges = outer
            del self.narrowing[stand_in]

    def check_divisor(self, node: Node, args: list, guard) -> None:
        """An integer floor division, remainder or fmod raises for a zero divisor, as in torch."""
        if not may_divide_by_zero(node, self.producer):
            return
        self.checks.append(ZERO_DIVISION)
        self.add("check", DType.BOOL, check=ZERO_DIVISION, args=[args[1]], guard=guard,
                 condition=sympy.Eq(value_symbol(args[1].name), 0), value=(len(self.checks) - 1, None))

    # -- after the reductions ------------------------------------------------------------
    def own(self, value: Value) -> Statement:
        """A value computed once at the kernel's own position (its row or its element)."""
        key = ("own", value)
        if key not in self.memo:
            self.memo[key] = self._own(value)
        return self.memo[key]

    def _own(self, value: Value) -> Statement:
        node = self.producer[value]
        if node.op in VIEW:
            return self.own(node.inputs[0])
        if node.op in REDUCTION:
            return self.add("reduce", value.dtype, node=node, args=[self.emit(node.inputs[0], self.full_index, None)])
        full = not self.axes or sizes_equal(value.numel, self.full_size)
        index = self.full_index if full else self.row_index
        args = [self.own(v) if self.producer.get(v) in self.after_reduction else self.emit(v, index, None)
                for v in node.inputs]
        self.check_divisor(node, args, None)
        return self.add("compute", value.dtype, node=node, args=args)

    def _after_reduction(self) -> set:
        result: set = set()
        for node in self.kernel.nodes:
            if node.op in REDUCTION or any(self.producer.get(v) in result for v in node.inputs):
                result.add(node)
        return result


def contiguous_accesses(loops: LoopKernel, axis: int, moving_along: int | None = None) -> int:
    """How many loads and full-size stores step by one element as `axis`'s loop variable steps (their
    index is `... + i{axis}`): the axis a printer wants innermost, in the vector lanes, is the one most
    of them step along. With `moving_along`, only the accesses whose index also has that axis's variable
    count (a row's mean, read once per row, does not make the row the contiguous axis of a matrix)."""
    variable = loops.variables[axis]
    if variable == 0:
        return 0
    other = None if moving_along is None else loops.variables[moving_along]
    indices = [s.index for s in loops.statements if s.kind == "load"]
    indices += [s.index for s in loops.stores if not s.row]
    count = 0
    for index in indices:
        if not isinstance(index, sympy.Basic) or (other is not None and not index.has(other)):
            continue
        terms = [t for t in sympy.Add.make_args(sympy.expand(index)) if t.has(variable)]
        count += terms == [variable]
    return count


def operands(statement: Statement, through_reductions: bool = False) -> list[Statement]:
    """The statements `statement` reads. A reduction's argument belongs to the loop accumulating it, so it
    is not an operand of the row value, unless `through_reductions` (a printer holding the whole row)."""
    if statement.kind == "reduce" and not through_reductions:
        return []
    return list(statement.args) + ([statement.guard] if statement.guard is not None else [])


def needed(loops: LoopKernel, roots: list, done, varying: bool, leaves=(), through_reductions: bool = False,
           ) -> list[Statement]:
    """The statements `roots` need that are not in `done`, in dependency order: what a printer prints next.
    With `varying`, only those that vary along the row (the row values come before the loop over it);
    the operands of `leaves` are not followed (a value read back from a cache)."""
    wanted: set = set()

    def visit(statement: Statement) -> None:
        if statement in wanted or statement in done or (varying and not statement.varies):
            return
        wanted.add(statement)
        if statement not in leaves:
            for operand in operands(statement, through_reductions):
                visit(operand)

    for root in roots:
        visit(root)
    return [s for s in loops.statements if s in wanted]
