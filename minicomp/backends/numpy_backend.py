"""The reference backend: every Op as numpy code, one readable Python function per kernel.

Low-precision floats (float16, bfloat16) are computed in float32 and rounded after every op, which is
what eager torch does on CPU; so this backend is the definition of a right answer for the others.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np
import sympy
import torch
from torch.utils._pytree import tree_flatten

from minicomp.backends import numpy_runtime as rt
from minicomp.backends.host_code import (bind_number, bind_result_sizes, bind_sizes, return_line, run_source, size,
                                         size_value, sizes)
from minicomp.ir import DType, Graph, Node, Op, Value
from minicomp.ir.ops import BINARY, COMPARISON, INTEGER_DIVISION, LAYOUT, REDUCTION, UNARY
from minicomp.ir.printer import format_node

NUMPY_UNARY = {
    Op.NEG: "np.negative", Op.ABS: "np.abs", Op.EXP: "np.exp", Op.LOG: "np.log", Op.LOG1P: "np.log1p",
    Op.EXPM1: "np.expm1", Op.SQRT: "np.sqrt", Op.RECIPROCAL: "np.reciprocal", Op.SIN: "np.sin",
    Op.COS: "np.cos", Op.TAN: "np.tan", Op.TANH: "np.tanh", Op.ATAN: "np.arctan", Op.ERF: "rt.erf",
    Op.FLOOR: "np.floor", Op.CEIL: "np.ceil", Op.TRUNC: "np.trunc", Op.ROUND: "np.round",
    Op.SIGN: "rt.sign", Op.LOGICAL_NOT: "np.logical_not", Op.BITWISE_NOT: "np.invert",
}
NUMPY_BINARY = {
    Op.ADD: "np.add", Op.SUB: "np.subtract", Op.MUL: "np.multiply", Op.DIV: "np.divide",
    Op.FLOORDIV: "np.floor_divide", Op.REMAINDER: "np.remainder", Op.FMOD: "np.fmod", Op.POW: "np.power",
    Op.MAXIMUM: "np.maximum", Op.MINIMUM: "np.minimum", Op.ATAN2: "np.arctan2",
    Op.BITWISE_AND: "np.bitwise_and", Op.BITWISE_OR: "np.bitwise_or", Op.BITWISE_XOR: "np.bitwise_xor",
    Op.EQ: "np.equal", Op.NE: "np.not_equal", Op.LT: "np.less", Op.LE: "np.less_equal",
    Op.GT: "np.greater", Op.GE: "np.greater_equal",
}
HEADER = ("import math\nimport numpy as np\nfrom minicomp.backends import numpy_runtime as rt\n"
          "from minicomp.backends.host_code import restride\n\n\n")
# numpy's float32 versions of these are not correctly rounded (its tanh misses in a third of float32
# inputs: tanh(-9.75) = -0.99999994, not -1); the reference computes them in float64 and rounds once
ROUNDED_FROM_FLOAT64 = frozenset({Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.ATAN,
                                  Op.ATAN2})
NUMPY_REDUCTION = {Op.SUM: "np.sum", Op.PROD: "np.prod", Op.MAX: "np.max", Op.MIN: "np.min"}


def numpy_dtype(dtype: DType) -> str:
    """The spelling of `dtype` in generated code."""
    return "rt.bfloat16" if dtype is DType.BFLOAT16 else f"np.{'bool_' if dtype is DType.BOOL else dtype.full_name}"


def literal(value: Any) -> str:
    """A Python number as source code; inf and nan have no literal, so they are spelled float('inf')."""
    if isinstance(value, float) and not np.isfinite(value):
        return f"float('{value}')"
    return repr(value)


def node_code(node: Node, args: list[str]) -> str:
    """The numpy expression computing the (single) output of `node` from argument names."""
    op, out = node.op, node.outputs[0]
    low = any(isinstance(v, Value) and v.dtype.is_low_precision for v in node.inputs)
    if op in UNARY or op in BINARY or op in COMPARISON:
        function = NUMPY_UNARY.get(op) or NUMPY_BINARY.get(op)
        if op is Op.RSQRT:
            function = "np.reciprocal(np.sqrt"
        operands = [f"rt.up({a})" for a in args] if low else args
        if out.dtype is DType.FLOAT32 and op in ROUNDED_FROM_FLOAT64:
            return f"{function}({', '.join(f'np.asarray({a}, np.float64)' for a in args)}).astype(np.float32)"
        if op in INTEGER_DIVISION and not out.dtype.is_float:
            return f"rt.integer_division({function}, {', '.join(operands)})"
        call = f"{function}({', '.join(operands)})" + (")" if op is Op.RSQRT else "")
        return f"{call}.astype({numpy_dtype(out.dtype)})" if low or op in (Op.DIV, Op.POW) else call
    if op is Op.WHERE:
        return f"np.where({args[0]}, {args[1]}, {args[2]})"
    if op is Op.CAST:
        return f"np.asarray({args[0]}).astype({numpy_dtype(node.attrs['dtype'])})"
    if op in REDUCTION:
        return _reduction_code(node, args, low)
    if op in LAYOUT:
        return _layout_code(node, args)
    if op is Op.FULL:
        value = node.attrs["value"]
        value = size_value(value) if isinstance(value, sympy.Basic) else literal(value)  # a size, or a number
        return f"np.full({sizes(node.attrs['shape'])}, {value}, dtype={numpy_dtype(out.dtype)})"
    if op is Op.IOTA:
        start, step = node.attrs["start"], node.attrs["step"]
        return (f"({start!r} + {step!r} * np.arange({size(node.attrs['length'])}, dtype=np.float64 if "
                f"{out.dtype.is_float} else np.int64)).astype({numpy_dtype(out.dtype)})")
    if op is Op.GATHER:
        return f"rt.gather({args[0]}, {node.attrs['axis']}, {args[1]})"
    if op is Op.SCATTER:
        return f"rt.scatter({args[0]}, {node.attrs['axis']}, {args[1]}, {args[2]}, {node.attrs['reduce']!r})"
    if op is Op.MATMUL:  # (with a bias: added before the one rounding, as eager's addmm)
        operands = [f"rt.up({x})" if low else x for x in args]
        product = f"np.matmul({operands[0]}, {operands[1]})" + (f" + {operands[2]}" if len(args) == 3 else "")
        return f"({product}).astype({numpy_dtype(out.dtype)})" if low else product
    if op is Op.CONV:
        a = node.attrs
        bias = args[2] if len(args) > 2 else "None"
        operands = [f"rt.up({x})" if low and x != "None" else x for x in (args[0], args[1], bias)]
        return (f"rt.conv({', '.join(operands)}, stride={a['stride']}, padding={a['padding']}, "
                f"dilation={a['dilation']}, groups={a['groups']}).astype({numpy_dtype(out.dtype)})")
    raise NotImplementedError(f"numpy backend has no code for {op.value}")


def _reduction_code(node: Node, args: list[str], low: bool) -> str:
    out, attrs = node.outputs[0], node.attrs
    operand = f"rt.up({args[0]})" if low else args[0]
    keepdims = attrs["keepdim"]
    if node.op in (Op.ARGMAX, Op.ARGMIN):
        function = "np.argmax" if node.op is Op.ARGMAX else "np.argmin"
        return f"{function}({operand}, axis={attrs['axes'][0]}, keepdims={keepdims}).astype(np.int64)"
    axes = tuple(attrs["axes"])
    # float sums and products accumulate in float64 and round once: the reference is the exactly rounded
    # result wherever it can be, not one more summation order (torch accumulates halves in float32)
    accumulator = "np.float64" if out.dtype.is_float else numpy_dtype(out.dtype)
    dtype_arg = f", dtype={accumulator}" if node.op in (Op.SUM, Op.PROD) else ""
    code = f"{NUMPY_REDUCTION[node.op]}({operand}, axis={axes}, keepdims={keepdims}{dtype_arg})"
    return f"np.asarray({code}).astype({numpy_dtype(out.dtype)})"


def _layout_code(node: Node, args: list[str]) -> str:
    attrs, x = node.attrs, args[0]
    if node.op is Op.RESHAPE:
        return f"np.reshape({x}, {sizes(attrs['shape'])})"
    if node.op is Op.PERMUTE:
        return f"np.transpose({x}, {tuple(attrs['dims'])})"
    if node.op is Op.EXPAND:
        return f"np.broadcast_to({x}, {sizes(attrs['shape'])})"
    if node.op is Op.SLICE:
        index = "".join(":, " for _ in range(attrs["axis"]))
        return f"{x}[{index}{size(attrs['start'])}:{size(attrs['stop'])}:{size(attrs['step'])}]"
    if node.op is Op.CAT:
        return f"np.concatenate([{', '.join(args)}], axis={attrs['axis']})"
    if node.op is Op.PAD:
        if not attrs["pads"]:
            return x  # a 0-d tensor has nothing to pad
        pads = "[" + ", ".join(f"({size(lo)}, {size(hi)})" for lo, hi in attrs["pads"]) + "]"
        return f"np.pad({x}, {pads}, constant_values={literal(attrs['value'])})"
    raise AssertionError(node.op)


@dataclasses.dataclass
class NumpyProgram:
    """Generated source plus the function it defines: numpy arrays (and ints for sizes) in, arrays out."""

    source: str
    function: Callable
    num_kernels: int


def generate(graph: Graph, keep_source: Optional[Callable[[str], Optional[str]]] = None) -> NumpyProgram:
    """Python source for `graph`: a function per kernel and a `program` that calls them in order.

    `keep_source` gets the source before it is compiled (so it is kept even if compiling it fails) and
    returns the file to compile it under."""
    kernels: list[str] = []
    body: list[str] = []
    fallbacks: list[tuple] = []
    bound: set = set()
    body += bind_sizes(graph, bound)
    plan = graph.plan
    if plan is not None:
        body.append(f"arena = np.empty({size(plan.arena_bytes)}, dtype=np.uint8)  # every intermediate lives here")
    constants: list = []
    for item in graph.nodes:
        if not item.is_kernel and item.op is Op.CONSTANT:
            constants.append(rt.to_numpy(item.attrs["data"].payload))
            body.append(f"{item.output.name} = CONSTANTS[{len(constants) - 1}]  # data the graph carries")
            continue
        if not item.is_kernel and _is_free(item):
            body.append(f"{item.outputs[0].name} = {node_code(item, [v.name for v in item.inputs])}")
            continue
        if not item.is_kernel and "binds" in item.attrs:
            body.append(bind_number(item, bound))
        elif not item.is_kernel and item.op is Op.FALLBACK:
            body.append(_fallback_line(item, fallbacks))
        else:
            arguments = [v.name for v in _unique(item.inputs)] + _size_symbols(item.nodes)  # a kernel's are unique
            kernels.append(_kernel_function(item.name, item.nodes, arguments, item.outputs))
            body.append(f"{', '.join(v.name for v in item.outputs)} = {item.name}({', '.join(arguments)})")
        body += bind_result_sizes(item.outputs, bound)
        if plan is not None:
            body += [f"{v.name} = rt.store(arena, {size(plan.offsets[v.name])}, {v.name})"
                     for v in item.outputs if v.name in plan.offsets]
    body.append(return_line(graph, as_tensor="rt.to_torch({}, rt.CPU)"))
    params = ", ".join(v.name if isinstance(v, Value) else str(v) for v in graph.inputs)
    host = f"def program({params}):\n" + "\n".join("    " + line for line in body)
    source = HEADER + "\n\n".join(kernels + [host]) + "\n"
    namespace = run_source(source, keep_source(source) if keep_source else None)
    namespace["FALLBACKS"] = fallbacks
    namespace["CONSTANTS"] = constants
    return NumpyProgram(source, namespace["program"], len(kernels))


def compile_numpy(graph: Graph, keep_source: Optional[Callable[[str], Optional[str]]] = None,
                  ) -> tuple[NumpyProgram, Callable[[list], list]]:
    """The generated program and a runner taking torch tensors (and ints) and returning torch tensors (the
    program makes them on the CPU, with eager's strides)."""
    program = generate(graph, keep_source)

    def run(args: list) -> list:
        devices = [a.device for a in args if isinstance(a, torch.Tensor)]
        device = devices[0] if devices else torch.device("cpu")
        arrays = [rt.to_numpy(a) if isinstance(a, torch.Tensor) else a for a in args]
        with np.errstate(all="ignore"):
            results = program.function(*arrays)
        return [r.to(device) if isinstance(r, torch.Tensor) else r for r in results]

    return program, run


def _is_free(node: Node) -> bool:
    """Views cost no kernel of their own: they are index arithmetic on the buffer they view."""
    return node.op in (Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SLICE)


def _unique(values: list[Value]) -> list[Value]:
    return list(dict.fromkeys(values))


def _size_symbols(nodes: list[Node]) -> list[str]:
    """The size symbols (s0, ...) that the nodes' shapes and attributes mention: kernels take them as arguments."""
    found: set = set()
    for node in nodes:
        leaves = [dim for value in node.outputs for dim in value.shape]
        leaves += [leaf for leaf in tree_flatten(list(node.attrs.values()))[0] if isinstance(leaf, sympy.Basic)]
        for leaf in leaves:
            found |= sympy.sympify(leaf).free_symbols
    return sorted(str(symbol) for symbol in found)


def _kernel_function(name: str, nodes: list[Node], arguments: list[str], writes: list[Value]) -> str:
    lines = [f"def {name}({', '.join(arguments)}):"]
    for node in nodes:
        lines.append(f"    #{format_node(node, indent=' ').split('  #')[0]}")
        lines.append(f"    {node.outputs[0].name} = {node_code(node, [v.name for v in node.inputs])}")
    lines.append(f"    return {', '.join(v.name for v in writes)}")
    return "\n".join(lines)


def _fallback_line(node: Node, fallbacks: list) -> str:
    index = len(fallbacks)
    fallbacks.append((node.attrs["args"], node.attrs["kwargs"]))
    values = "{" + ", ".join(f"{v.name!r}: {v.name}" for v in _unique(node.inputs)) + "}"
    targets = "".join(f"{v.name}, " for v in node.outputs)
    return (f"{targets}= rt.call_torch({node.attrs['target']!r}, *FALLBACKS[{index}], {values}, SIZES)"
            f"  # fallback: runs in torch")
