"""The Triton spelling of the loop form's statements (kernels/loop_form.py): index expressions, masked
loads, pointwise code, guards, run-time checks and reductions. triton_codegen.py lays out the kernel.

Blocks: a pointwise kernel's values are [XBLOCK] (one element per lane); a reduction kernel's are
[XBLOCK, RBLOCK] where they vary along the row and [XBLOCK, 1] where they are row values. A load or
store whose index does not mention every variable of its block adds a zero block, so its pointer has
the mask's shape (the compiler folds the addition away).
"""

from __future__ import annotations

import sympy

from minicomp.backends.checks import SLOTS_PER_CHECK, ZERO_DIVISION
from minicomp.backends.triton_pointwise import (TRITON_TYPE, compute_type, extreme_literal, literal,
                                                pointwise_code, rounded)
from minicomp.ir import DType, Op
from minicomp.kernels.index_printer import IndexPrinter
from minicomp.kernels.indexing import linearize
from minicomp.kernels.loop_form import LoopKernel, Statement


class Writer(IndexPrinter):
    """Prints statements of one loop kernel; remembers the size arguments they read."""

    AND, OR, TRUE, FALSE, DIVIDE = "&", "|", "True", "False", "//"
    FLOOR_HELPERS = ("tm.floordiv_int", "tm.remainder_int")

    def __init__(self, loops: LoopKernel):
        super().__init__({str(v) for v in loops.variables} | {s.name for s in loops.statements})
        self.loops = loops
        self.reduction = loops.is_reduction
        self.sizes: dict[str, sympy.Expr] = {}
        self.reduced_variables = {loops.variables[a] for a in loops.reduced_axes} - {sympy.Integer(0)}
        self.outer_variables = {loops.variables[a] for a in loops.outer_axes} - {sympy.Integer(0)}
        self.zeros: set = set()  # the zero blocks used ("xzero", "lzero"), defined by the layout

    # -- expressions (the walk is IndexPrinter's) ------------------------------------------
    def argument(self, expr) -> str:
        """A kernel argument holding a size expression the host evaluates."""
        key = str(expr)
        if key not in self.sizes:
            self.sizes[key] = expr
        return f"ks{list(self.sizes).index(key)}"

    def block_index(self, index, varies: bool) -> str:
        """`index` as a block of the statement's shape (see the module docstring)."""
        code = self.size(index)
        symbols = sympy.sympify(index).free_symbols
        wanted = [self.outer_variables] + ([self.reduced_variables] if self.reduction and varies else [])
        if all(symbols & group for group in wanted):
            return code
        zero = "lzero" if self.reduction and varies else "xzero"
        self.zeros.add(zero)
        return f"{code} + {zero}"

    def mask(self, statement: Statement) -> str:
        """The lanes where `statement` is read: in range, and where its guard holds."""
        base = "lmask" if self.reduction and statement.varies else "xmask"
        return base if statement.guard is None else f"{base} & {statement.guard.name}"

    # -- statements ----------------------------------------------------------------------
    def code(self, statement: Statement) -> str:
        """The Triton expression computing `statement` from the variables of its operands."""
        kind, dtype = statement.kind, statement.dtype
        args = [a.name for a in statement.args]
        if kind == "load":
            pointer = f"in_ptr{self.loops.inputs.index(statement.buffer)}"
            load = f"tl.load({pointer} + ({self.block_index(statement.index, statement.varies)}), " \
                   f"mask={self.mask(statement)}, other=0)"
            return f"{load}.to(tl.float32)" if dtype.is_low_precision else load
        if kind == "compute":
            return rounded(statement.node, pointwise_code(statement.node, args))
        if kind == "constant":
            if isinstance(statement.value, sympy.Basic):  # a size known at run time: a kernel argument
                return f"(tl.zeros([1], {compute_type(dtype)}) + {self.argument(statement.value)})"
            return f"tl.full([1], {literal(statement.value)}, {compute_type(dtype)})"
        if kind == "iota":
            start, step = statement.node.attrs["start"], statement.node.attrs["step"]
            index = self.block_index(statement.index, statement.varies)
            return f"({literal(start)} + {literal(step)} * ({index})).to({compute_type(dtype)})"
        if kind == "guard":
            condition = self.expression(statement.condition)
            return condition if statement.guard is None else f"({statement.guard.name} & {condition})"
        if kind == "select":
            return f"tl.where({args[0]}, {args[1]}, {args[2]})"
        if kind == "reduce":
            return rounded(statement.node, self.whole_row_reduction(statement))
        raise AssertionError(kind)

    def lines(self, statement: Statement) -> list[str]:
        """The lines defining `statement` (a check's lines flag its failed lanes)."""
        if statement.kind == "check":
            return self.check_lines(statement)
        return [f"{statement.name} = {self.code(statement)}"]

    def check_lines(self, statement: Statement) -> list[str]:
        """Flag the lanes where the check fails in its slots of check_ptr, with the bad index and the size it
        missed (the launcher raises after the kernel, see checks.py)."""
        slot, extent = statement.value
        bad = f"bad{slot}"
        pointer = f"check_ptr + {SLOTS_PER_CHECK * slot} + 0 * {bad}.to(tl.int64)"
        lines = [f"{bad} = {self.mask(statement)} & {self.expression(statement.condition)}",
                 f"tl.store({pointer}, 1, mask={bad})"]
        if statement.check != ZERO_DIVISION:
            lines += [f"tl.store({pointer} + 1, ({statement.args[0].name} + 0 * {bad}).to(tl.int64), mask={bad})",
                      f"tl.store({pointer} + 2, {self.size(extent)}, mask={bad})"]
        return lines

    def store_line(self, store) -> str:
        """The store of an output: every element, or one per row."""
        varies = not store.row and self.reduction
        block = "[XBLOCK, RBLOCK]" if varies else ("[XBLOCK, 1]" if self.reduction else "[XBLOCK]")
        mask = "lmask" if varies else "xmask"
        index = self.block_index(store.index, varies)
        value = f"tl.broadcast_to({store.statement.name}, {block}).to({TRITON_TYPE[store.value.dtype]})"
        return f"tl.store(out_ptr{store.position} + ({index}), {value}, mask={mask})"

    # -- reductions ----------------------------------------------------------------------
    def row_position(self) -> str:
        """The position of an element in its row (what argmax returns)."""
        loops = self.loops
        position = linearize([loops.variables[a] for a in loops.reduced_axes],
                             [loops.shape[a] for a in loops.reduced_axes])
        return f"tl.broadcast_to({self.block_index(position, True)}, [XBLOCK, RBLOCK])"

    def whole_row_reduction(self, statement: Statement) -> str:
        """A reduction over a row held whole in the block: [XBLOCK, 1]."""
        node, source = statement.node, statement.args[0]
        op, dtype = node.op, source.dtype
        if op is Op.SUM and dtype is not DType.BOOL:
            return f"tl.sum(tl.where(lmask, {source.name}, 0), 1)[:, None]"
        if op is Op.PROD:
            return f"tl.reduce(tl.where(lmask, {source.name}, 1), 1, tm.product)[:, None]"
        if op in (Op.ARGMAX, Op.ARGMIN):
            low = op is Op.ARGMAX
            filled = f"tl.where(lmask, {source.name}, {extreme_literal(dtype, lowest=low)})"
            combine = "tm.argmax_combine" if low else "tm.argmin_combine"
            return f"tl.reduce(({filled}, {self.row_position()}), 1, {combine})[1][:, None].to(tl.int64)"
        largest = op is Op.MAX or (op is Op.SUM and dtype is DType.BOOL)  # a bool sum is "any"
        filled = f"tl.where(lmask, {source.name}, {extreme_literal(dtype, lowest=largest)})"
        return f"tl.reduce({filled}, 1, {'tm.maximum' if largest else 'tm.minimum'})[:, None]"

    def accumulator(self, statement: Statement) -> tuple[list[str], list[str], str]:
        """A looped reduction's [XBLOCK, RBLOCK] accumulator: its initial lines, the update folding in one
        chunk of the row, and the row value after the loop."""
        node, source = statement.node, statement.args[0]
        op, dtype = node.op, source.dtype
        accumulator_type = "tl.int32" if dtype is DType.BOOL else compute_type(dtype)
        acc, block = f"acc_{statement.name}", "[XBLOCK, RBLOCK]"
        if op in (Op.ARGMAX, Op.ARGMIN):
            extreme = extreme_literal(dtype, lowest=op is Op.ARGMAX)
            combine = "tm.argmax_combine" if op is Op.ARGMAX else "tm.argmin_combine"
            initial = [f"{acc} = tl.full({block}, {extreme}, {accumulator_type})",
                       f"{acc}_index = tl.full({block}, {2 ** 62}, tl.int64)"]  # loses every tie
            update = [f"{acc}, {acc}_index = {combine}({acc}, {acc}_index, tl.where(lmask, {source.name}, "
                      f"{extreme}).to({accumulator_type}), {self.row_position()})"]
            return initial, update, f"tl.reduce(({acc}, {acc}_index), 1, {combine})[1][:, None].to(tl.int64)"
        if op is Op.SUM and dtype is not DType.BOOL:
            identity, combine, final = "0", "{0} + {1}", f"tl.sum({acc}, 1)[:, None]"
        elif op is Op.PROD:
            identity, combine, final = "1", "{0} * {1}", f"tl.reduce({acc}, 1, tm.product)[:, None]"
        else:
            largest = op is Op.MAX or op is Op.SUM  # a bool sum is "any"
            function = "tm.maximum" if largest else "tm.minimum"
            identity = extreme_literal(dtype, lowest=largest)
            combine, final = function + "({0}, {1})", f"tl.reduce({acc}, 1, {function})[:, None]"
        chunk = f"tl.where(lmask, {source.name}, {identity}).to({accumulator_type})"
        return [f"{acc} = tl.full({block}, {identity}, {accumulator_type})"], \
            [f"{acc} = " + combine.format(acc, chunk)], final
