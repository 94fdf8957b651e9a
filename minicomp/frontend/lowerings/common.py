"""What every lowering needs: torch's broadcasting and type promotion, spelled with IR primitives."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

import sympy
import torch
from torch._prims_common import ELEMENTWISE_TYPE_PROMOTION_KIND, elementwise_dtypes
from torch.utils._sympy import functions as size_functions

from minicomp.ir import ConstantData, DType, Graph, Op, Value
from minicomp.ir.shapes import shapes_equal, sizes_equal

LOWERINGS: dict[Any, Callable] = {}

TORCH_TO_IR = {
    torch.bool: DType.BOOL,
    torch.uint8: DType.UINT8,
    torch.int8: DType.INT8,
    torch.int16: DType.INT16,
    torch.int32: DType.INT32,
    torch.int64: DType.INT64,
    torch.float16: DType.FLOAT16,
    torch.bfloat16: DType.BFLOAT16,
    torch.float32: DType.FLOAT32,
    torch.float64: DType.FLOAT64,
}
IR_TO_TORCH = {ir: t for t, ir in TORCH_TO_IR.items()}

DEFAULT = ELEMENTWISE_TYPE_PROMOTION_KIND.DEFAULT
INT_TO_FLOAT = ELEMENTWISE_TYPE_PROMOTION_KIND.INT_TO_FLOAT


class Unsupported(Exception):
    """Raised by a lowering for a case it does not handle; the op then becomes a fallback node."""


def register(*targets: Any) -> Callable:
    """Decorator: the function lowers each of `targets` (ATen OpOverloads or OpOverloadPackets)."""

    def decorate(function: Callable) -> Callable:
        for target in targets:
            overloads = [getattr(target, name) for name in target.overloads()] if hasattr(target, "overloads") else [target]
            for overload in overloads:
                LOWERINGS.setdefault(overload, function)
        return function

    return decorate


def ir_dtype(dtype: torch.dtype) -> DType:
    """The IR dtype for a torch dtype; complex and other exotic types are Unsupported."""
    if dtype not in TORCH_TO_IR:
        raise Unsupported(f"dtype {dtype} is not supported")
    return TORCH_TO_IR[dtype]


# torch's integer sympy functions -> plain sympy, so its sizes compare equal to ours (torch's
# FloorDiv(n + 1, 2) for a strided slice is our floor(n/2 + 1/2)) and backends can print them.
TORCH_SIZE_FUNCTIONS = {
    size_functions.FloorDiv: lambda a, b: sympy.floor(a / b),
    size_functions.CeilDiv: lambda a, b: sympy.ceiling(a / b),
    size_functions.ModularIndexing: lambda a, b, m: sympy.Mod(sympy.floor(a / b), m),
    size_functions.PythonMod: sympy.Mod,
    size_functions.Mod: sympy.Mod,
    size_functions.FloorToInt: sympy.floor,
    size_functions.CeilToInt: sympy.ceiling,
    size_functions.IntTrueDiv: lambda a, b: a / b,
    size_functions.FloatTrueDiv: lambda a, b: a / b,
    size_functions.ToFloat: lambda a: a,
    size_functions.Max: sympy.Max,
    size_functions.Min: sympy.Min,
}


def add_constant(graph: Graph, tensor: torch.Tensor) -> Value:
    """A CONSTANT node holding a CPU copy of `tensor`, identified by a digest of its bytes, dtype and shape."""
    data = tensor.detach().to("cpu", copy=True).contiguous()
    raw = data.view(torch.int16) if data.dtype == torch.bfloat16 else data
    digest = hashlib.sha1(raw.numpy().tobytes() + str((data.dtype, tuple(data.shape))).encode()).hexdigest()[:12]
    return graph.add(Op.CONSTANT, [], data=ConstantData(data, digest), dtype=ir_dtype(data.dtype),
                     shape=[sym(s) for s in data.shape])


def sym(size: Any) -> sympy.Expr:
    """A size as a plain sympy expression (ints, SymInts and expressions alike)."""
    expr = size.node.expr if isinstance(size, torch.SymInt) else sympy.sympify(size)
    for function, replacement in TORCH_SIZE_FUNCTIONS.items():
        if expr.has(function):
            expr = expr.replace(function, replacement)
    return expr


class Context:
    """The graph being built plus the FX node being lowered (its meta gives torch's output types)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.fx_node = None

    # -- meta of the node being lowered -------------------------------------------------------
    @property
    def out_dtype(self) -> DType:
        """The dtype torch says the (first) output of the current node has."""
        value = self.fx_node.meta["val"]
        value = value[0] if isinstance(value, (tuple, list)) else value
        return ir_dtype(value.dtype)

    # -- building -----------------------------------------------------------------------------
    def add(self, op: Op, *inputs: Value, **attrs: Any) -> Value:
        return self.graph.add(op, inputs, **attrs)

    def constant(self, tensor: torch.Tensor) -> Value:
        """A CONSTANT node holding a copy of `tensor` (a real tensor, computed while lowering)."""
        return add_constant(self.graph, tensor)

    def full(self, value: Any, dtype: DType, shape: Sequence = ()) -> Value:
        """A constant tensor (a scalar when shape is empty); a size expression is allowed too."""
        if isinstance(value, sympy.Basic) and not value.is_number:
            value = sym(value)
            if dtype is DType.BOOL or not (value.is_integer or dtype.is_float):
                raise Unsupported(f"a constant of symbolic value {value} as {dtype.full_name}")
        elif dtype is DType.BOOL:
            value = bool(value)
        elif dtype.is_integer:  # wrapped into the type, as C casts and torch does (uint8 == -1 is == 255)
            value = dtype.wrap(value)
        else:
            value = float(value)
        return self.add(Op.FULL, value=value, dtype=dtype, shape=tuple(sym(s) for s in shape))

    def cast(self, value: Value, dtype: DType) -> Value:
        return value if value.dtype == dtype else self.add(Op.CAST, value, dtype=dtype)

    def reshape(self, value: Value, shape: Sequence) -> Value:
        shape = tuple(sym(s) for s in shape)
        if shapes_equal(shape, value.shape):
            return value
        return self.add(Op.RESHAPE, value, shape=shape)

    def expand_to(self, value: Value, shape: Sequence) -> Value:
        """Broadcast `value` to `shape` (adding leading axes first), like torch's expand."""
        shape = tuple(sym(s) for s in shape)
        if len(value.shape) < len(shape):
            value = self.reshape(value, (1,) * (len(shape) - len(value.shape)) + tuple(value.shape))
        if all(sizes_equal(a, b) for a, b in zip(shape, value.shape)):
            return value
        return self.add(Op.EXPAND, value, shape=shape)

    def as_value(self, x: Any, dtype: DType) -> Value:
        """A Value of `dtype`: casts tensors, turns Python numbers into scalar constants."""
        if isinstance(x, Value):
            return self.cast(x, dtype)
        return self.full(x, dtype)  # numbers, and integer size expressions (evaluated at run time)

    def promote(self, *args: Any, kind=DEFAULT) -> DType:
        """torch's result dtype for an elementwise op on `args` (tensors and Python scalars)."""
        fakes = [torch.empty((0,) * min(a.rank, 1), dtype=IR_TO_TORCH[a.dtype], device="meta")
                 if isinstance(a, Value) else a for a in args]
        _, result = elementwise_dtypes(*fakes, type_promotion_kind=kind)
        return ir_dtype(result)

    def broadcast(self, *values: Value) -> list[Value]:
        """Expand all values to their common broadcast shape."""
        shape = broadcast_shapes(*[v.shape for v in values])
        return [self.expand_to(v, shape) for v in values]

    def elementwise(self, op: Op, *args: Any, dtype: DType) -> Value:
        """`op` on args cast to `dtype` and broadcast to one shape."""
        values = [self.as_value(a, dtype) for a in args]
        return self.add(op, *self.broadcast(*values))


def broadcast_shapes(*shapes: Sequence) -> tuple:
    """numpy/torch broadcasting of symbolic shapes."""
    rank = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(rank):
        sizes = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        chosen = sympy.Integer(1)
        for size in sizes:
            if size != 1:
                if chosen != 1 and not sizes_equal(chosen, size):
                    raise Unsupported(f"cannot broadcast shapes {shapes}")
                chosen = size
        result.append(chosen)
    return tuple(result)


def normalize_axis(axis: int, rank: int) -> int:
    """A non-negative axis (0-d tensors accept axis 0 and -1)."""
    if rank == 0:
        if axis not in (0, -1):
            raise Unsupported(f"axis {axis} out of range for a 0-d tensor")
        return 0
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} out of range for rank {rank}")
    return axis % rank
