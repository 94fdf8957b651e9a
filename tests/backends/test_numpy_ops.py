"""Op coverage: every member of the Op enum runs on every backend and agrees with torch.

The matrix is BACKENDS x Op. A new Op without an example or a torch reference fails here, and so does
a backend without code for an op.
"""

from __future__ import annotations

import pytest
import torch

from helpers import assert_same
from minicomp.ir import ConstantData, DType, Op
from minicomp.ir import ops as ir_ops
from op_reference import BACKENDS, TORCH_REFERENCE, build_graph, reference, run_op


def floats(*shape, low=-2.0, high=2.0, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * (high - low) + low).to(dtype)


def ints(*shape, low=-5, high=6, seed=0, dtype=torch.int64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, generator=generator, dtype=dtype)


def bools(*shape, seed=0):
    return ints(*shape, low=0, high=2, seed=seed).bool()


POSITIVE = (Op.LOG, Op.LOG1P, Op.SQRT, Op.RSQRT)
INTEGER_EXAMPLES = {Op.BITWISE_NOT, Op.BITWISE_AND, Op.BITWISE_OR, Op.BITWISE_XOR, Op.FLOORDIV,
                    Op.REMAINDER, Op.FMOD}


def example(op: Op) -> tuple[list, dict]:
    """One small, typical (inputs, attrs) for `op`."""
    if op is Op.LOGICAL_NOT:
        return [bools(3, 4)], {}
    if op in INTEGER_EXAMPLES and op in ir_ops.UNARY:
        return [ints(3, 4)], {}
    if op in INTEGER_EXAMPLES:
        divisor = ints(3, 4, low=1, high=4, seed=1) * torch.where(ints(3, 4, seed=2) > 0, 1, -1)
        return [ints(3, 4, low=-20, high=20), divisor], {}
    if op in ir_ops.UNARY:
        return [floats(3, 4, low=0.1, high=3.0) if op in POSITIVE else floats(3, 4)], {}
    if op is Op.POW:
        return [floats(3, 4, low=0.1, high=3.0), floats(3, 4, seed=1)], {}
    if op in ir_ops.BINARY or op in ir_ops.COMPARISON:
        ties = floats(3, 4, seed=1)
        ties[0] = floats(3, 4)[0]
        return [floats(3, 4), ties], {}
    return SPECIAL_EXAMPLES[op]()


SPECIAL_EXAMPLES = {
    Op.WHERE: lambda: ([bools(3, 4), floats(3, 4), floats(3, 4, seed=1)], {}),
    Op.CAST: lambda: ([floats(3, 4, low=-9, high=9)], {"dtype": DType.INT32}),
    Op.SUM: lambda: ([floats(3, 4, 5)], {"axes": (0, 2), "keepdim": False}),
    Op.PROD: lambda: ([floats(3, 4, low=0.5, high=1.5)], {"axes": (1,), "keepdim": True}),
    Op.MAX: lambda: ([floats(3, 4, 5)], {"axes": (1,), "keepdim": False}),
    Op.MIN: lambda: ([floats(3, 4, 5)], {"axes": (0, 1, 2), "keepdim": True}),
    Op.ARGMAX: lambda: ([ints(3, 4, low=0, high=3)], {"axes": (1,), "keepdim": False}),
    Op.ARGMIN: lambda: ([floats(3, 4)], {"axes": (0,), "keepdim": True}),
    Op.RESHAPE: lambda: ([floats(3, 4)], {"shape": (2, 1, 6)}),
    Op.PERMUTE: lambda: ([floats(2, 3, 4)], {"dims": (2, 0, 1)}),
    Op.EXPAND: lambda: ([floats(3, 1)], {"shape": (3, 5)}),
    Op.SLICE: lambda: ([floats(3, 7)], {"axis": 1, "start": 1, "stop": 6, "step": 2}),
    Op.CAT: lambda: ([floats(3, 2), floats(3, 4, seed=1)], {"axis": 1}),
    Op.PAD: lambda: ([floats(3, 4)], {"pads": ((1, 0), (2, 3)), "value": -1.5}),
    Op.FULL: lambda: ([], {"value": 2.5, "dtype": DType.FLOAT32, "shape": (2, 3)}),
    Op.IOTA: lambda: ([], {"length": 5, "start": 3, "step": -2, "dtype": DType.INT64}),
    Op.CONSTANT: lambda: ([], {"data": ConstantData(floats(2, 3), "example"), "dtype": DType.FLOAT32, "shape": (2, 3)}),
    Op.GATHER: lambda: ([floats(3, 4), ints(3, 2, low=0, high=4)], {"axis": 1}),
    Op.SCATTER: lambda: ([floats(3, 4), ints(2, 4, low=0, high=3), floats(2, 4, seed=1)], {"axis": 0, "reduce": "sum"}),
    Op.MATMUL: lambda: ([floats(2, 3, 4), floats(2, 4, 5, seed=1)], {}),
    Op.CONV: lambda: ([floats(2, 4, 7, 7), floats(6, 2, 3, 3, seed=1), floats(6, seed=2)],
                      {"stride": [2, 1], "padding": [1, 0], "dilation": [1, 2], "groups": 2}),
    Op.FALLBACK: lambda: ([floats(3, 4)], {"target": "aten.cumsum.default", "extra_args": (1,)}),
}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.value)
def test_every_op_runs_on_every_backend(backend, op):
    assert op in TORCH_REFERENCE, f"no torch reference for {op.value}: add one to op_reference.TORCH_REFERENCE"
    inputs, attrs = example(op)
    expected = reference(op, inputs, attrs)
    try:
        actual = run_op(backend, op, inputs, attrs)
    except NotImplementedError as error:
        pytest.fail(f"backend {backend} has no code for {op.value}: {error}")
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert_same(actual, expected, what=f"{backend} {op.value}")


def test_examples_cover_every_op():
    missing = [op.value for op in Op if op not in SPECIAL_EXAMPLES and op not in ir_ops.POINTWISE]
    assert not missing, f"no example for {missing}"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_multi_node_graph_with_zero_size_and_scalar_outputs(backend):
    inputs = [floats(0, 3), floats(3)]
    graph = build_graph(Op.SUM, [inputs[0]], {"axes": (0,), "keepdim": False})
    bias = graph.add_input("bias", DType.FLOAT32, [3])
    total = graph.add(Op.ADD, [graph.outputs[0], bias])
    graph.outputs = [total, graph.add(Op.SUM, [total], axes=(0,), keepdim=False)]
    vector, scalar = BACKENDS[backend](graph)(inputs)
    assert_same([vector, scalar], [inputs[1], inputs[1].sum()])


def test_float_sums_are_the_exactly_rounded_result():
    # the numpy reference accumulates in float64 and rounds once; a float32 accumulator loses the 1s
    x = torch.tensor([[1e8, 1.0, 1.0, 1.0, -1e8]] * 2, dtype=torch.float32)
    result = run_op("numpy", Op.SUM, [x], {"axes": (1,), "keepdim": False})
    assert torch.equal(result, x.double().sum(1).float()) and result[0].item() == 3.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_numpy_runtime_reads_zero_tensors_and_views_plain_ones(dtype):
    # autograd can hand a fallback op a ZeroTensor, which plain `Tensor.numpy()` refuses
    from minicomp.backends.numpy_runtime import to_numpy

    zeros = torch._efficientzerotensor((2, 3), dtype=dtype)
    assert to_numpy(zeros).shape == (2, 3) and not to_numpy(zeros).astype("float64").any()
    plain = floats(2, 3, dtype=dtype).requires_grad_()
    array = to_numpy(plain)
    array[0, 0] = 7  # a view, not a copy: inputs are read without copying them
    assert plain[0, 0].item() == 7
