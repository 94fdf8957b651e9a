"""Tensor-level SSA: Values produced by Nodes, grouped into Kernels after fusion, held by a Graph."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Sequence, Union

import sympy

from minicomp.ir.dtypes import DType
from minicomp.ir.ops import EXTERN, Op, infer


@dataclasses.dataclass(eq=False)
class Value:
    """A tensor: a name, an element type and a shape of sympy expressions (symbols are dynamic sizes)."""

    name: str
    dtype: DType
    shape: tuple

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> sympy.Expr:
        return sympy.Mul(*self.shape) if self.shape else sympy.Integer(1)

    @property
    def nbytes(self) -> sympy.Expr:
        return self.numel * self.dtype.itemsize

    def __repr__(self) -> str:
        return f"%{self.name}"


@dataclasses.dataclass(eq=False)
class Node:
    """One primitive op applied to input Values, producing output Values (one, except fallbacks).

    Like a Kernel, a node of a graph has `inputs`, `outputs`, `nodes`, `name` and `is_kernel`, so code
    walking a graph's items treats both alike."""

    op: Op
    inputs: list
    attrs: dict
    outputs: list
    source: str = ""

    @property
    def output(self) -> Value:
        (value,) = self.outputs
        return value

    @property
    def is_extern(self) -> bool:
        return self.op in EXTERN

    @property
    def nodes(self) -> list:
        """The primitive nodes it runs, as for a Kernel: itself."""
        return [self]

    @property
    def name(self) -> str:
        """What it is called when it runs on its own (reports, generated functions): kernel_<first output>,
        or bind_<symbol> for a node binding a size (tensor.item()'s u0), which has no output."""
        return f"kernel_{self.outputs[0].name}" if self.outputs else f"bind_{self.attrs['binds']}"

    @property
    def is_kernel(self) -> bool:
        """False: a lone node (a Kernel says True)."""
        return False


@dataclasses.dataclass(eq=False)
class Kernel:
    """A fused region: nodes run as one unit, reading `inputs` from memory and writing `outputs`."""

    name: str
    nodes: list
    inputs: list
    outputs: list
    reason: str = ""

    @property
    def ops(self) -> list:
        return [node.op for node in self.nodes]

    @property
    def is_kernel(self) -> bool:
        """True: a fused region (a Node says False)."""
        return True


@dataclasses.dataclass(frozen=True, eq=False)
class ConstantData:
    """Tensor data a graph carries: an object the frontend made and the backends can read.

    The IR never looks inside; it prints, compares and hashes the data by its digest.
    """

    payload: Any
    digest: str

    def __str__(self) -> str:
        return f"<data {self.digest}>"


Output = Union[Value, sympy.Expr, None]


def size_symbols(item: Any) -> set:
    """The names of the size symbols a node (its shapes and attributes), a value or an output mentions: what
    must be bound before it runs, tensor.item()'s u0 included."""
    if isinstance(item, Node):
        return size_symbols([item.inputs, item.outputs, list(item.attrs.values())])
    if isinstance(item, Value):
        return size_symbols(list(item.shape))
    if isinstance(item, sympy.Basic):
        return {str(symbol) for symbol in item.free_symbols}
    if isinstance(item, (list, tuple)):
        return set().union(*(size_symbols(part) for part in item))
    if isinstance(item, dict):
        return size_symbols(list(item.values()))
    return set()


class Graph:
    """Inputs, nodes (or kernels) in topological order, and outputs; `add` builds with shape rules."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list = []  # Values, and sympy Symbols for sizes passed as plain ints
        self.nodes: list = []
        self.outputs: list[Output] = []
        self.output_strides: list = []  # per output: the strides eager gives it (sympy), or None for a size
        self.source = ""
        self.plan = None  # a MemoryPlan once the memory pass has run
        self._counter = 0
        self._names: set[str] = set()

    def fresh_name(self, hint: str = "t") -> str:
        """A name not used yet in this graph."""
        while True:
            name = f"{hint}{self._counter}"
            self._counter += 1
            if name not in self._names:
                self._names.add(name)
                return name

    def add_input(self, name: str, dtype: DType, shape: Sequence) -> Value:
        """Declare a graph input tensor."""
        name = self._unique(name)
        value = Value(name, dtype, tuple(sympy.sympify(s) for s in shape))
        self.inputs.append(value)
        return value

    def add_symbol_input(self, symbol: sympy.Symbol) -> sympy.Symbol:
        """Declare a graph input that is a size (an int at run time), such as a dynamic batch size."""
        self._names.add(str(symbol))
        self.inputs.append(symbol)
        return symbol

    @property
    def tensor_inputs(self) -> list[Value]:
        return [v for v in self.inputs if isinstance(v, Value)]

    def add(self, op: Op, inputs: Sequence[Value], **attrs: Any) -> Value:
        """Append `op(inputs, attrs)` after checking it against the op's shape rule."""
        dtype, shape = infer(op, [(v.dtype, v.shape) for v in inputs], attrs)
        value = Value(self.fresh_name(), dtype, tuple(sympy.sympify(s) for s in shape))
        self.nodes.append(Node(op, list(inputs), dict(attrs), [value], self.source))
        return value

    def add_fallback(self, target: str, args: Any, kwargs: Any, inputs: Sequence[Value],
                     output_types: Sequence[tuple[DType, Sequence]], binds: str = "") -> list[Value]:
        """Append a call of torch op `target` on `inputs` (referenced from args/kwargs) with known output types;
        `binds` names the size symbol a call returning a number (tensor.item()) gives its value to."""
        outputs = [Value(self.fresh_name(), dtype, tuple(sympy.sympify(s) for s in shape))
                   for dtype, shape in output_types]
        attrs = {"target": target, "args": args, "kwargs": kwargs}
        if binds:
            attrs["binds"] = binds
        self.nodes.append(Node(Op.FALLBACK, list(inputs), attrs, outputs, self.source))
        return outputs

    def all_nodes(self) -> Iterator[Node]:
        """Every primitive node, looking inside kernels."""
        for item in self.nodes:
            yield from item.nodes

    def copy_shell(self) -> "Graph":
        """An empty graph with the same name, inputs, symbols and naming state, for passes to fill."""
        new = Graph(self.name)
        new.inputs = list(self.inputs)
        new.output_strides = list(self.output_strides)
        new._counter = self._counter
        new._names = set(self._names)
        return new

    def _unique(self, name: str) -> str:
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "x"
        if name[0].isdigit():
            name = "_" + name
        base, suffix = name, 1
        while name in self._names:
            name = f"{base}_{suffix}"
            suffix += 1
        self._names.add(name)
        return name

    def __str__(self) -> str:
        from minicomp.ir.printer import format_graph

        return format_graph(self)
