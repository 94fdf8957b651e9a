"""Triton source for one Kernel region: pointwise over a flat index, or a row reduction.

Every value is produced by `emit(value, index, mask)`: the Triton expression for that value at the
given linear index (row-major in the value's own shape). Views turn an index into another index
(reshape keeps it, permute/expand/slice re-linearise coordinates); inputs become masked loads;
pointwise ops recurse into their inputs at the same index. Values computed after a reduction are
kept in registers at the kernel's own position, which fusion_rules guarantees is where they are read.
Low-precision floats are computed in float32 registers and rounded back to their type after every op.

A reduction is persistent (the whole row in one block) when its row has at most MAX_PERSISTENT_ROW
elements, known at compile time; otherwise triton_loops.LoopedKernelWriter loops over the row
(triton_loops.write_kernel picks the writer).
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.backends.checks import INDEX, SLOTS_PER_CHECK, ZERO_DIVISION
from minicomp.backends.triton_pointwise import (TRITON_TYPE, compute_type, extreme_literal, literal,
                                                pointwise_code, rounded)
from minicomp.ir import DType, Kernel, Node, Op, Value
from minicomp.ir.ops import BINARY, COMPARISON, REDUCTION, UNARY, VIEW
from minicomp.ir.printer import format_node
from minicomp.ir.shapes import sizes_equal
from minicomp.passes.fusion_rules import kernel_signature, may_divide_by_zero
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


class KernelWriter:
    """Generates the source for one kernel; see the module docstring for the scheme."""

    looped = False  # reductions hold the whole row (LoopedKernelWriter overrides `body`)

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.lines: list[str] = []
        self.memo: dict = {}
        self.sizes: dict[str, sympy.Expr] = {}
        self.producer = {v: node for node in kernel.nodes for v in node.outputs}
        self.inputs = list(kernel.inputs)
        self.signature = kernel_signature(kernel)
        self.after_reduction = self._after_reduction()
        self.names = 0
        self.checks: list[str] = []

    # -- sizes and indices ----------------------------------------------------------------
    def size(self, expr) -> str:
        """An integer literal, or a kernel argument holding the size expression."""
        expr = sympy.sympify(expr)
        if expr.is_Integer:
            return str(int(expr))
        key = str(expr)
        if key not in self.sizes:
            self.sizes[key] = expr
        return f"ks{list(self.sizes).index(key)}"

    def define(self, code: str, prefix: str = "tmp") -> str:
        key = ("define", code)
        if key not in self.memo:
            name = f"{prefix}{self.names}"
            self.names += 1
            self.lines.append(f"{name} = {code}")
            self.memo[key] = name
        return self.memo[key]

    def coordinates(self, index: str, shape) -> list[str]:
        """Row-major coordinates of a linear index."""
        coordinates, stride = [], sympy.Integer(1)
        for position in reversed(range(len(shape))):
            stride_code = self.size(stride)
            size_code = self.size(shape[position])
            divided = index if stride == 1 else f"({index} // {stride_code})"
            coordinates.append(divided if position == 0 else f"({divided} % {size_code})")
            stride = stride * shape[position]
        return [self.define(c, "c") for c in reversed(coordinates)]

    def linearize(self, coordinates: list[str], shape, like: str) -> str:
        """The linear index of `coordinates` in `shape`, a block shaped like the index `like`."""
        terms, stride = [], sympy.Integer(1)
        for position in reversed(range(len(shape))):
            terms.append(coordinates[position] if stride == 1 else f"{coordinates[position]} * {self.size(stride)}")
            stride = stride * shape[position]
        code = " + ".join(reversed(terms)) if terms else "0"
        if all(c.isdigit() for c in coordinates):
            code = f"{like} * 0 + {code}"  # a broadcast scalar: still a block, so masks and pointers agree
        return self.define(code, "i")

    # -- values ---------------------------------------------------------------------------
    def emit(self, value: Value, index: str, mask: str) -> str:
        """The name of a Triton variable holding `value` at linear `index` (masked by `mask`)."""
        node = self.producer.get(value)
        if node is not None and node in self.after_reduction:
            return self.own(value)
        if node is not None and node.op in VIEW:
            return self.emit(node.inputs[0], self.view_index(node, index), mask)
        key = (value, index, mask)
        if key not in self.memo:
            self.memo[key] = self.define(self.compute(value, node, index, mask), "v")
        return self.memo[key]

    def compute(self, value: Value, node, index: str, mask: str) -> str:
        code = self.compute_unrounded(value, node, index, mask)
        return code if node is None else rounded(node, code)

    def compute_unrounded(self, value: Value, node, index: str, mask: str) -> str:
        if node is None:
            pointer = f"in_ptr{self.inputs.index(value)}"
            load = f"tl.load({pointer} + ({index}), mask={mask}, other=0)"
            return f"{load}.to(tl.float32)" if value.dtype.is_low_precision else load
        op = node.op
        if op in UNARY or op in BINARY or op in COMPARISON or op in (Op.WHERE, Op.CAST):
            args = [self.emit(v, index, mask) for v in node.inputs]
            self.check_divisor(node, args, mask)
            return pointwise_code(node, args)
        if op is Op.FULL:
            fill = node.attrs["value"]
            if isinstance(fill, sympy.Basic):  # a size known at run time: a kernel argument
                return f"(tl.zeros([1], {compute_type(value.dtype)}) + {self.size(fill)})"
            return f"tl.full([1], {literal(fill)}, {compute_type(value.dtype)})"
        if op is Op.IOTA:
            start, step = node.attrs["start"], node.attrs["step"]
            return f"({literal(start)} + {literal(step)} * ({index})).to({compute_type(value.dtype)})"
        if op is Op.GATHER:
            return self.gather(node, index, mask)
        if op is Op.CAT:
            return self.cat(node, index, mask)
        if op is Op.PAD:
            return self.pad(node, index, mask)
        raise NotImplementedError(f"triton backend: {op.value} cannot be computed at an arbitrary index")

    def view_index(self, node: Node, index: str) -> str:
        """Index into the view's input that holds the element at `index` of its output."""
        source, out = node.inputs[0], node.output
        if node.op is Op.RESHAPE:
            return index
        coordinates = self.coordinates(index, out.shape)
        if node.op is Op.PERMUTE:
            inner = [None] * len(coordinates)
            for position, axis in enumerate(node.attrs["dims"]):
                inner[axis] = coordinates[position]
        elif node.op is Op.EXPAND:
            inner = ["0" if source.shape[i] == 1 and out.shape[i] != 1 else c for i, c in enumerate(coordinates)]
        else:  # slice
            axis = node.attrs["axis"]
            inner = list(coordinates)
            inner[axis] = f"({self.size(node.attrs['start'])} + {self.size(node.attrs['step'])} * {coordinates[axis]})"
        return self.linearize(inner, source.shape, index)

    def gather(self, node: Node, index: str, mask: str) -> str:
        data, positions = node.inputs
        axis = node.attrs["axis"]
        coordinates = self.coordinates(index, positions.shape)
        picked = self.emit(positions, index, mask)
        size = self.size(data.shape[axis])
        outside = self.check(INDEX, f"({picked} < 0) | ({picked} >= {size})", mask, picked, size)
        inner = list(coordinates)
        inner[axis] = picked
        return self.emit(data, self.linearize(inner, data.shape, index), f"{mask} & ~{outside}")

    # -- run-time checks -------------------------------------------------------------------
    def check(self, kind: str, failed: str, mask: str, index: str | None = None, size: str | None = None) -> str:
        """Lines flagging the lanes where `failed` holds in this check's slots of check_ptr, with the bad
        index and the size it missed (the launcher raises after the kernel, see checks.py); returns the
        name of the failed-lanes block."""
        bad = self.define(f"({mask}) & ({failed})", "bad")
        pointer = f"check_ptr + {SLOTS_PER_CHECK * len(self.checks)} + 0 * {bad}.to(tl.int64)"
        self.checks.append(kind)
        self.lines.append(f"tl.store({pointer}, 1, mask={bad})")
        if index is not None:
            self.lines += [f"tl.store({pointer} + 1, ({index} + 0 * {bad}).to(tl.int64), mask={bad})",
                           f"tl.store({pointer} + 2, {size}, mask={bad})"]
        return bad

    def check_divisor(self, node: Node, args: list[str], mask: str) -> None:
        """An integer floor division, remainder or fmod raises for a zero divisor, as in torch; a constant
        non-zero divisor (the `// 2` of index arithmetic) needs no check."""
        if not may_divide_by_zero(node, self.producer):
            return
        self.check(ZERO_DIVISION, f"{args[1]} == 0", mask)

    def cat(self, node: Node, index: str, mask: str) -> str:
        axis = node.attrs["axis"]
        coordinates = self.coordinates(index, node.output.shape)
        result, offset = None, sympy.Integer(0)
        pieces = []
        for part in node.inputs:
            inner = list(coordinates)
            inner[axis] = f"({coordinates[axis]} - {self.size(offset)})"
            inside = self.define(f"({coordinates[axis]} >= {self.size(offset)}) & "
                                 f"({coordinates[axis]} < {self.size(offset + part.shape[axis])})", "m")
            pieces.append((inside, self.emit(part, self.linearize(inner, part.shape, index), f"{mask} & {inside}")))
            offset = offset + part.shape[axis]
        result = pieces[-1][1]
        for inside, piece in reversed(pieces[:-1]):
            result = f"tl.where({inside}, {piece}, {result})"
        return result

    def pad(self, node: Node, index: str, mask: str) -> str:
        source = node.inputs[0]
        coordinates = self.coordinates(index, node.output.shape)
        inner, conditions = [], []
        for position, (low, _) in enumerate(node.attrs["pads"]):
            shifted = self.define(f"({coordinates[position]} - {self.size(low)})", "c")
            inner.append(shifted)
            conditions.append(f"({shifted} >= 0) & ({shifted} < {self.size(source.shape[position])})")
        inside = self.define(" & ".join(conditions) or "True", "m")
        loaded = self.emit(source, self.linearize(inner, source.shape, index), f"{mask} & {inside}")
        padded = f"tl.where({inside}, {loaded}, {literal(node.attrs['value'])})"
        return f"{padded}.to(tl.int1)" if node.output.dtype is DType.BOOL else padded  # the 0/1 fill is an int

    # -- reductions ----------------------------------------------------------------------
    def own(self, value: Value) -> str:
        """A value computed once at the kernel's own position (its row or its element)."""
        key = ("own", value)
        if key in self.memo:
            return self.memo[key]
        node = self.producer[value]
        if node.op in VIEW:
            self.memo[key] = self.own(node.inputs[0])
            return self.memo[key]
        if node.op in REDUCTION:
            assert not self.looped, "a looped kernel computes its reductions before anything reads them"
            code = self.reduction(node)
        else:
            index, mask = self.position(value)
            args = [self.own(v) if self.producer.get(v) in self.after_reduction else self.emit(v, index, mask)
                    for v in node.inputs]
            self.check_divisor(node, args, mask)
            code = pointwise_code(node, args)
        self.memo[key] = self.define(rounded(node, code), "r")
        return self.memo[key]

    def position(self, value: Value) -> tuple[str, str]:
        """(index, mask) of a value at the kernel's own position: full-size element or row."""
        if self.signature is None or sizes_equal(value.numel, self.full_size):
            return "lindex", "lmask"
        return "xindex", "xmask"

    def reduction(self, node: Node) -> str:
        source = node.inputs[0]
        loaded = self.emit(source, "lindex", "lmask")
        op, dtype = node.op, source.dtype
        if op is Op.SUM and dtype is not DType.BOOL:
            return f"tl.sum(tl.where(lmask, {loaded}, 0), 1)[:, None]"
        if op is Op.PROD:
            return f"tl.reduce(tl.where(lmask, {loaded}, 1), 1, tm.product)[:, None]"
        if op in (Op.ARGMAX, Op.ARGMIN):
            low = op is Op.ARGMAX
            filled = f"tl.where(lmask, {loaded}, {extreme_literal(dtype, lowest=low)})"
            positions = "tl.broadcast_to(rindex, [XBLOCK, RBLOCK])"
            combine = "tm.argmax_combine" if low else "tm.argmin_combine"
            return f"tl.reduce(({filled}, {positions}), 1, {combine})[1][:, None].to(tl.int64)"
        largest = op is Op.MAX or (op is Op.SUM and dtype is DType.BOOL)
        filled = f"tl.where(lmask, {loaded}, {extreme_literal(dtype, lowest=largest)})"
        return f"tl.reduce({filled}, 1, {'tm.maximum' if largest else 'tm.minimum'})[:, None]"

    @property
    def full_size(self):
        return self.signature.outer * self.signature.reduced

    def _after_reduction(self) -> set:
        result: set[Node] = set()
        for node in self.kernel.nodes:
            upstream = [self.producer.get(v) for v in node.inputs]
            if node.op in REDUCTION or any(p is not None and p in result for p in upstream):
                result.add(node)
        return result

    # -- the whole kernel ----------------------------------------------------------------
    def store(self, position: int, value: Value) -> str:
        index, mask = self.position(value)
        stored = self.own(value) if self.producer[value] in self.after_reduction \
            else self.emit(value, index, mask)
        block = "[XBLOCK]" if self.signature is None else ("[XBLOCK, RBLOCK]" if index == "lindex" else "[XBLOCK, 1]")
        return (f"tl.store(out_ptr{position} + ({index}), tl.broadcast_to({stored}, {block})"
                f".to({TRITON_TYPE[value.dtype]}), mask={mask})")

    def write(self, name: str) -> KernelSource:
        if self.signature is None:
            outer, reduced = self.kernel.outputs[0].numel, sympy.Integer(1)
            prologue = [
                "xindex = (tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)).to(tl.int64)",
                f"xmask = xindex < {self.size(outer)}",
                "lindex = xindex",
                "lmask = xmask",
            ]
        else:
            outer, reduced = self.signature.outer, self.signature.reduced
            prologue = None
        body = self.body(prologue)
        arguments = [f"in_ptr{i}" for i in range(len(self.inputs))]
        arguments += [f"out_ptr{i}" for i in range(len(self.kernel.outputs))]
        arguments += ["check_ptr"] if self.checks else []
        arguments += [f"ks{i}" for i in range(len(self.sizes))]
        arguments += ["XBLOCK: tl.constexpr"] + (["RBLOCK: tl.constexpr"] if self.signature else [])
        lines = ["@triton.jit", f"def {name}({', '.join(arguments)}):"]
        lines += ["    #" + format_node(node, indent=" ").split("  # ")[0] for node in self.kernel.nodes]
        lines += ["    " + line for line in body]
        return KernelSource(name, "\n".join(lines) + "\n", self.inputs, list(self.kernel.outputs),
                            list(self.sizes.values()), outer, reduced, self.signature is not None, self.looped,
                            self.checks)

    def body(self, prologue: list[str] | None) -> list[str]:
        """The kernel's statements: index setup (a pointwise kernel's `prologue`), computation, stores."""
        if prologue is None:
            prologue = self._reduction_prologue()
        stores = [self.store(position, value) for position, value in enumerate(self.kernel.outputs)]
        return prologue + self.lines + stores

    def _row_index_lines(self) -> list[str]:
        """lindex of every element of the reduction domain from xindex and rindex (defined in self.lines)."""
        shape, axes = self.signature.shape, self.signature.axes
        outer_axes = [i for i in range(len(shape)) if i not in axes]
        outer_coordinates = self.coordinates("xindex", [shape[i] for i in outer_axes])
        reduced_coordinates = self.coordinates("rindex", [shape[i] for i in axes])
        coordinates = [None] * len(shape)
        for axis, code in zip(outer_axes, outer_coordinates):
            coordinates[axis] = code
        for axis, code in zip(axes, reduced_coordinates):
            coordinates[axis] = code
        return [f"lindex = {self.linearize(coordinates, shape, 'xindex + rindex')}"]

    def _reduction_prologue(self) -> list[str]:
        lines = [
            "xindex = (tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]).to(tl.int64)",
            "rindex = tl.arange(0, RBLOCK)[None, :].to(tl.int64)",
            f"xmask = xindex < {self.size(self.signature.outer)}",
            f"rmask = rindex < {self.size(self.signature.reduced)}",
            "lmask = xmask & rmask",
        ]
        lindex = self._row_index_lines()
        lines += self.lines + lindex
        self.lines = []
        return lines


def needs_loop(reduced) -> bool:
    """Rows of unknown or large length are reduced in a loop; small known ones in one block."""
    reduced = sympy.sympify(reduced)
    return not reduced.is_Integer or int(reduced) > MAX_PERSISTENT_ROW
