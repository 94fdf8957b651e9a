"""What backend tests share: the backends to test, a torch implementation of every Op, and a runner.

The torch table is written independently of minicomp's lowerings (from each op's definition in
ir/ops.py), so a backend is checked against torch and not against itself.
"""

from __future__ import annotations

from typing import Callable, Sequence

import pytest
import torch

from minicomp.backends.numpy_backend import compile_numpy
from minicomp.frontend.lowerings.common import IR_TO_TORCH, TORCH_TO_IR
from minicomp.ir import Graph, Op, verify


def numpy_backend(graph: Graph) -> Callable[[list], list]:
    """The reference backend: generated numpy code, run on CPU tensors."""
    return compile_numpy(graph)[1]


def triton_backend(graph: Graph) -> Callable[[list], list]:
    """Triton kernels on the GPU (inputs moved there and results back), or in the interpreter on CPU;
    the test is skipped, and says so, when triton is not installed."""
    pytest.importorskip("triton", reason="the triton extra is not installed (pip install 'minicomp[triton]')")
    from minicomp.backends.triton_backend import compile_triton

    run = compile_triton(graph)[1]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return lambda inputs: [result.cpu() for result in run([x.to(device) for x in inputs])]


def cpp_backend(graph: Graph) -> Callable[[list], list]:
    """The graph's kernels as C++ loops, compiled by the system compiler (tests need one: make setup
    installs g++)."""
    from minicomp.backends.cpp_backend import compile_cpp

    return compile_cpp(graph)[1]


# name -> function(graph) -> runner(list of CPU tensors) -> list of CPU tensors. Every backend is always
# listed, so that no parametrization disappears at collection when an optional package is missing.
BACKENDS: dict[str, Callable[[Graph], Callable[[list], list]]] = {"numpy": numpy_backend, "cpp": cpp_backend,
                                                                      "triton": triton_backend}


def build_graph(op: Op, inputs: Sequence[torch.Tensor], attrs: dict) -> Graph:
    """A graph with one input per tensor and one `op` node whose output is the graph output.

    A FALLBACK node calls torch op attrs["target"] with the inputs followed by attrs["extra_args"].
    """
    graph = Graph(f"single_{op.value}")
    values = [graph.add_input(f"x{i}", TORCH_TO_IR[t.dtype], t.shape) for i, t in enumerate(inputs)]
    if op is Op.FALLBACK:
        expected = reference(op, inputs, attrs)
        args = (*values, *attrs["extra_args"])
        (result,) = graph.add_fallback(attrs["target"], args, {}, values,
                                       [(TORCH_TO_IR[expected.dtype], expected.shape)])
    else:
        result = graph.add(op, values, **attrs)
    graph.outputs = [result]
    verify(graph)
    return graph


def run_op(backend: str, op: Op, inputs: Sequence[torch.Tensor], attrs: dict) -> torch.Tensor:
    """Compile the one-op graph with `backend` and run it on `inputs`."""
    graph = build_graph(op, inputs, attrs)
    (result,) = BACKENDS[backend](graph)(list(inputs))
    return result


def reference(op: Op, inputs: Sequence[torch.Tensor], attrs: dict) -> torch.Tensor:
    """torch's answer for `op`; a KeyError names an op without a reference (a gap in this table)."""
    if op not in TORCH_REFERENCE:
        raise KeyError(f"no torch reference for {op.value}: add one to TORCH_REFERENCE")
    return TORCH_REFERENCE[op](list(inputs), attrs)


def _reduce(function: Callable, x: torch.Tensor, attrs: dict) -> torch.Tensor:
    """Reduce one axis at a time (highest first) so every torch reduction takes a single dim."""
    result = x
    for axis in sorted(attrs["axes"], reverse=True):
        result = function(result, axis, keepdim=attrs["keepdim"])
    return result


def _slice(x, attrs):
    index = (slice(None),) * attrs["axis"] + (slice(attrs["start"], attrs["stop"], attrs["step"]),)
    return x[index]


def _pad(x, attrs):
    shape = [size + low + high for size, (low, high) in zip(x.shape, attrs["pads"])]
    out = torch.full(shape, attrs["value"], dtype=x.dtype)
    out[tuple(slice(low, low + size) for size, (low, _) in zip(x.shape, attrs["pads"]))] = x
    return out


def _iota(attrs):
    dtype = IR_TO_TORCH[attrs["dtype"]]
    positions = torch.arange(attrs["length"], dtype=torch.float64 if dtype.is_floating_point else torch.int64)
    return (attrs["start"] + attrs["step"] * positions).to(dtype)


def _conv(inputs, attrs):
    x, weight = inputs[:2]
    bias = inputs[2] if len(inputs) > 2 else None
    spatial = x.dim() - 2
    return torch.ops.aten.convolution(x, weight, bias, attrs["stride"], attrs["padding"], attrs["dilation"],
                                      False, [0] * spatial, attrs["groups"])


def _scatter(inputs, attrs):
    """SCATTER is scatter_reduce with include_self; "assign" is plain scatter (CPU torch: last duplicate wins)."""
    x, index, source = inputs
    if attrs["reduce"] == "assign":
        return x.scatter(attrs["axis"], index, source)
    return x.scatter_reduce(attrs["axis"], index, source, attrs["reduce"], include_self=True)


def _fallback(inputs, attrs):
    namespace, name, overload = attrs["target"].split(".")
    return getattr(getattr(getattr(torch.ops, namespace), name), overload)(*inputs, *attrs["extra_args"])


def _sum(x, attrs):
    if not attrs["axes"]:
        return x.clone()
    return torch.sum(x, tuple(attrs["axes"]), keepdim=attrs["keepdim"], dtype=x.dtype)


def _prod(x, attrs):
    """torch.prod takes one dim; low-precision products are kept in float32 until the end, like a single reduction."""
    wide = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return _reduce(lambda t, d, keepdim: torch.prod(t, d, keepdim=keepdim, dtype=wide.dtype), wide, attrs).to(x.dtype)


def _extreme(function):
    return lambda x, attrs: function(x, tuple(attrs["axes"]), keepdim=attrs["keepdim"]) if attrs["axes"] else x.clone()


UNARY_REFERENCE = {
    Op.NEG: torch.neg, Op.ABS: torch.abs, Op.EXP: torch.exp, Op.LOG: torch.log, Op.LOG1P: torch.log1p,
    Op.EXPM1: torch.expm1, Op.SQRT: torch.sqrt, Op.RSQRT: torch.rsqrt, Op.RECIPROCAL: torch.reciprocal,
    Op.SIN: torch.sin, Op.COS: torch.cos, Op.TAN: torch.tan, Op.TANH: torch.tanh, Op.ATAN: torch.atan,
    Op.ERF: torch.erf, Op.FLOOR: torch.floor, Op.CEIL: torch.ceil, Op.TRUNC: torch.trunc, Op.ROUND: torch.round,
    Op.SIGN: torch.sign, Op.LOGICAL_NOT: torch.logical_not, Op.BITWISE_NOT: torch.bitwise_not,
}
BINARY_REFERENCE = {
    Op.ADD: torch.add, Op.SUB: torch.sub, Op.MUL: torch.mul, Op.DIV: torch.true_divide,
    Op.FLOORDIV: torch.floor_divide, Op.REMAINDER: torch.remainder, Op.FMOD: torch.fmod, Op.POW: torch.pow,
    Op.MAXIMUM: torch.maximum, Op.MINIMUM: torch.minimum, Op.ATAN2: torch.atan2,
    Op.BITWISE_AND: torch.bitwise_and, Op.BITWISE_OR: torch.bitwise_or, Op.BITWISE_XOR: torch.bitwise_xor,
    Op.EQ: torch.eq, Op.NE: torch.ne, Op.LT: torch.lt, Op.LE: torch.le, Op.GT: torch.gt, Op.GE: torch.ge,
}

# Op -> function(list of input tensors, attrs) -> tensor.
TORCH_REFERENCE: dict[Op, Callable[[list, dict], torch.Tensor]] = {
    **{op: (lambda f: lambda xs, attrs: f(xs[0]))(f) for op, f in UNARY_REFERENCE.items()},
    **{op: (lambda f: lambda xs, attrs: f(xs[0], xs[1]))(f) for op, f in BINARY_REFERENCE.items()},
    Op.WHERE: lambda xs, attrs: torch.where(xs[0], xs[1], xs[2]),
    Op.CAST: lambda xs, attrs: xs[0].to(IR_TO_TORCH[attrs["dtype"]]),
    Op.SUM: lambda xs, attrs: _sum(xs[0], attrs),
    Op.PROD: lambda xs, attrs: _prod(xs[0], attrs),
    Op.MAX: lambda xs, attrs: _extreme(torch.amax)(xs[0], attrs),
    Op.MIN: lambda xs, attrs: _extreme(torch.amin)(xs[0], attrs),
    Op.ARGMAX: lambda xs, attrs: torch.argmax(xs[0], attrs["axes"][0], keepdim=attrs["keepdim"]),
    Op.ARGMIN: lambda xs, attrs: torch.argmin(xs[0], attrs["axes"][0], keepdim=attrs["keepdim"]),
    Op.RESHAPE: lambda xs, attrs: xs[0].reshape(attrs["shape"]),
    Op.PERMUTE: lambda xs, attrs: xs[0].permute(attrs["dims"]),
    Op.EXPAND: lambda xs, attrs: xs[0].expand(attrs["shape"]),
    Op.SLICE: lambda xs, attrs: _slice(xs[0], attrs),
    Op.CAT: lambda xs, attrs: torch.cat(xs, attrs["axis"]),
    Op.PAD: lambda xs, attrs: _pad(xs[0], attrs),
    Op.FULL: lambda xs, attrs: torch.full(attrs["shape"], attrs["value"], dtype=IR_TO_TORCH[attrs["dtype"]]),
    Op.IOTA: lambda xs, attrs: _iota(attrs),
    Op.CONSTANT: lambda xs, attrs: attrs["data"].payload.clone(),
    Op.GATHER: lambda xs, attrs: torch.gather(xs[0], attrs["axis"], xs[1]),
    Op.SCATTER: _scatter,
    Op.MATMUL: lambda xs, attrs: torch.matmul(xs[0], xs[1]),
    Op.CONV: _conv,
    Op.FALLBACK: _fallback,
}

