"""Property tests per primitive: random shapes (size-1, odd, zero-size), dtypes and values, every backend."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_same, examples
from minicomp.frontend.lowerings.common import TORCH_TO_IR
from minicomp.ir import Op
from minicomp.ir.ops import SCATTER_REDUCTIONS
from op_reference import BACKENDS, reference, run_op
from strategies import ALL, BOOL, FLOATS, INTS, axes_subset, make_tensor, reshape_target, seeds, shapes

EXAMPLES = settings(max_examples=examples(25))
SIGNED = [d for d in INTS if d is not torch.uint8]

# op -> (dtypes, value domain of each input, whether IEEE special values are mixed in)
UNARY = {
    Op.NEG: (FLOATS + INTS, "any", True), Op.ABS: (FLOATS + INTS, "any", True),
    Op.EXP: (FLOATS, "any", True), Op.LOG: (FLOATS, "positive", True), Op.LOG1P: (FLOATS, "positive", False),
    Op.EXPM1: (FLOATS, "any", False), Op.SQRT: (FLOATS, "positive", True), Op.RSQRT: (FLOATS, "positive", False),
    Op.RECIPROCAL: (FLOATS, "nonzero", False), Op.SIN: (FLOATS, "any", False), Op.COS: (FLOATS, "any", False),
    Op.TAN: (FLOATS, "unit", False), Op.TANH: (FLOATS, "any", True), Op.ATAN: (FLOATS, "any", False),
    Op.ERF: (FLOATS, "any", False), Op.FLOOR: (FLOATS + INTS, "halves", True),
    Op.CEIL: (FLOATS + INTS, "halves", True), Op.TRUNC: (FLOATS + INTS, "halves", True),
    Op.ROUND: (FLOATS + INTS, "halves", True), Op.SIGN: (FLOATS + INTS + BOOL, "ties", True),
    Op.LOGICAL_NOT: (BOOL, "any", False), Op.BITWISE_NOT: (INTS + BOOL, "any", False),
}
BINARY = {
    Op.ADD: (FLOATS + INTS + BOOL, ("any", "any"), True), Op.SUB: (FLOATS + INTS, ("any", "any"), True),
    Op.MUL: (FLOATS + INTS + BOOL, ("any", "any"), True), Op.DIV: (FLOATS, ("any", "nonzero"), True),
    Op.FLOORDIV: (FLOATS + INTS, ("any", "nonzero"), False),
    Op.REMAINDER: (FLOATS + INTS, ("any", "nonzero"), False),
    Op.FMOD: (FLOATS + INTS, ("any", "nonzero"), False),
    Op.POW: (FLOATS + INTS, ("positive", "small"), False),
    Op.MAXIMUM: (FLOATS + INTS + BOOL, ("ties", "ties"), True),
    Op.MINIMUM: (FLOATS + INTS + BOOL, ("ties", "ties"), True),
    Op.ATAN2: (FLOATS, ("any", "any"), False),
    Op.BITWISE_AND: (INTS + BOOL, ("any", "any"), False), Op.BITWISE_OR: (INTS + BOOL, ("any", "any"), False),
    Op.BITWISE_XOR: (INTS + BOOL, ("any", "any"), False),
    **{op: (ALL, ("ties", "ties"), True) for op in (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)},
}
REDUCTIONS = {
    Op.SUM: (FLOATS + INTS, "any", True), Op.PROD: (FLOATS + INTS, "near_one", False),
    Op.MAX: (FLOATS + INTS + BOOL, "ties", True), Op.MIN: (FLOATS + INTS + BOOL, "ties", True),
    Op.ARGMAX: (FLOATS + INTS, "ties", False), Op.ARGMIN: (FLOATS + INTS, "ties", False),
}

backends = pytest.mark.parametrize("backend", sorted(BACKENDS))


def check(backend: str, op: Op, inputs: list, attrs: dict) -> None:
    """Run `op` on `backend`, compare dtype, shape and values with the torch reference."""
    expected = reference(op, inputs, attrs)
    actual = run_op(backend, op, inputs, attrs)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    assert_same(actual, expected, what=f"{op.value}{[tuple(x.shape) for x in inputs]}")


@backends
@pytest.mark.parametrize("op", list(UNARY), ids=lambda op: op.value)
@EXAMPLES
@given(data=st.data(), shape=shapes(), seed=seeds)
def test_unary(backend, op, data, shape, seed):
    dtypes, domain, specials = UNARY[op]
    dtype = data.draw(st.sampled_from(dtypes), label="dtype")
    check(backend, op, [make_tensor(shape, dtype, seed, domain, specials)], {})


@backends
@pytest.mark.parametrize("op", list(BINARY), ids=lambda op: op.value)
@EXAMPLES
@given(data=st.data(), shape=shapes(), seed=seeds)
def test_binary(backend, op, data, shape, seed):
    dtypes, (domain_a, domain_b), specials = BINARY[op]
    dtype = data.draw(st.sampled_from(dtypes), label="dtype")
    a = make_tensor(shape, dtype, seed, domain_a, specials)
    b = make_tensor(shape, dtype, seed + 1, domain_b, specials and domain_b != "nonzero")
    check(backend, op, [a, b], {})


@backends
@EXAMPLES
@given(dtype=st.sampled_from(ALL), shape=shapes(), seed=seeds)
def test_where(backend, dtype, shape, seed):
    condition = make_tensor(shape, torch.bool, seed)
    check(backend, Op.WHERE, [condition, make_tensor(shape, dtype, seed + 1, specials=True),
                              make_tensor(shape, dtype, seed + 2)], {})


@backends
@settings(max_examples=examples(60))
@given(source=st.sampled_from(ALL), target=st.sampled_from(ALL), shape=shapes(max_rank=3), seed=seeds)
def test_cast(backend, source, target, shape, seed):
    # Floats cast to integers only from values the integer type holds (out of range is undefined in C).
    domain = "small" if target is torch.uint8 else "any"
    specials = source.is_floating_point and target.is_floating_point
    x = make_tensor(shape, source, seed, domain, specials)
    check(backend, Op.CAST, [x], {"dtype": TORCH_TO_IR[target]})


@backends
@pytest.mark.parametrize("op", list(REDUCTIONS), ids=lambda op: op.value)
@EXAMPLES
@given(data=st.data(), shape=shapes(min_rank=1), seed=seeds, keepdim=st.booleans())
def test_reduction(backend, op, data, shape, seed, keepdim):
    dtypes, domain, specials = REDUCTIONS[op]
    dtype = data.draw(st.sampled_from(dtypes), label="dtype")
    if op in (Op.ARGMAX, Op.ARGMIN):
        axes = (data.draw(st.integers(0, len(shape) - 1), label="axis"),)
    else:
        axes = data.draw(axes_subset(len(shape)), label="axes")
    if op not in (Op.SUM, Op.PROD):  # max/min of nothing is an error in torch
        shape = tuple(max(size, 1) if axis in axes else size for axis, size in enumerate(shape))
    x = make_tensor(shape, dtype, seed, domain, specials)
    check(backend, op, [x], {"axes": axes, "keepdim": keepdim})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(), seed=seeds)
def test_reshape(backend, data, dtype, shape, seed):
    target = data.draw(reshape_target(shape), label="target")
    check(backend, Op.RESHAPE, [make_tensor(shape, dtype, seed)], {"shape": target})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(), seed=seeds)
def test_permute(backend, data, dtype, shape, seed):
    dims = tuple(data.draw(st.permutations(range(len(shape))), label="dims"))
    check(backend, Op.PERMUTE, [make_tensor(shape, dtype, seed)], {"dims": dims})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(min_size=1), seed=seeds)
def test_expand(backend, data, dtype, shape, seed):
    source = tuple(data.draw(st.sampled_from([1, size]), label=f"dim{i}") for i, size in enumerate(shape))
    target = tuple(data.draw(st.integers(0, 4), label=f"grow{i}") if size == 1 else size
                   for i, size in enumerate(source))
    check(backend, Op.EXPAND, [make_tensor(source, dtype, seed)], {"shape": target})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(min_rank=1, max_size=8), seed=seeds)
def test_slice(backend, data, dtype, shape, seed):
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    start = data.draw(st.integers(0, shape[axis]), label="start")
    stop = data.draw(st.integers(start, shape[axis]), label="stop")
    step = data.draw(st.integers(1, 3), label="step")
    attrs = {"axis": axis, "start": start, "stop": stop, "step": step}
    check(backend, Op.SLICE, [make_tensor(shape, dtype, seed)], attrs)


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(min_rank=1), seed=seeds)
def test_cat(backend, data, dtype, shape, seed):
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    sizes = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=3), label="sizes")
    parts = [make_tensor(shape[:axis] + (size,) + shape[axis + 1:], dtype, seed + i) for i, size in enumerate(sizes)]
    check(backend, Op.CAT, parts, {"axis": axis})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(max_rank=3), seed=seeds)
def test_pad(backend, data, dtype, shape, seed):
    pads = tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2)), label=f"pad{i}") for i in range(len(shape)))
    if dtype.is_floating_point:
        value = data.draw(st.sampled_from([-1.5, 0.0, -float("inf"), float("nan")]), label="value")
    else:
        value = True if dtype is torch.bool else (3 if dtype is torch.uint8 else -3)
    check(backend, Op.PAD, [make_tensor(shape, dtype, seed)], {"pads": pads, "value": value})


@backends
@EXAMPLES
@given(dtype=st.sampled_from(ALL), shape=shapes(max_rank=3), value=st.integers(0, 100))
def test_full(backend, dtype, shape, value):
    if dtype.is_floating_point:
        value = value / 8 - 3.0
    elif dtype is torch.bool:
        value = bool(value % 2)
    check(backend, Op.FULL, [], {"value": value, "dtype": TORCH_TO_IR[dtype], "shape": shape})


@backends
@EXAMPLES
@given(dtype=st.sampled_from(FLOATS + INTS), length=st.integers(0, 9), start=st.integers(-4, 4),
       step=st.integers(-3, 3))
def test_iota(backend, dtype, length, start, step):
    if dtype is torch.uint8:
        start, step = abs(start), abs(step)
    check(backend, Op.IOTA, [], {"length": length, "start": start, "step": step, "dtype": TORCH_TO_IR[dtype]})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes(min_rank=1, min_size=1), seed=seeds)
def test_gather(backend, data, dtype, shape, seed):
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    index_shape = tuple(data.draw(st.integers(0, 5 if d == axis else size), label=f"index{d}")
                        for d, size in enumerate(shape))
    index = torch.randint(0, shape[axis], index_shape, generator=torch.Generator().manual_seed(seed))
    check(backend, Op.GATHER, [make_tensor(shape, dtype, seed), index], {"axis": axis})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS), shape=shapes(min_rank=1, min_size=1), seed=seeds,
       reduce=st.sampled_from(SCATTER_REDUCTIONS))
def test_scatter(backend, data, dtype, shape, seed, reduce):
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    index_shape = tuple(data.draw(st.integers(0, 5 if d == axis else size), label=f"index{d}")
                        for d, size in enumerate(shape))
    index = torch.randint(0, shape[axis], index_shape, generator=torch.Generator().manual_seed(seed))
    # "ties" values are small integers: sums are exact whatever order the backend adds them in.
    inputs = [make_tensor(shape, dtype, seed, "ties"), index, make_tensor(index_shape, dtype, seed + 1, "ties")]
    check(backend, Op.SCATTER, inputs, {"axis": axis, "reduce": reduce})


@backends
@EXAMPLES
@given(dtype=st.sampled_from(FLOATS + [torch.int32, torch.int64]), batch=shapes(max_rank=2, max_size=3),
       m=st.integers(0, 5), k=st.integers(0, 6), n=st.integers(0, 5), seed=seeds)
def test_matmul(backend, dtype, batch, m, k, n, seed):
    a = make_tensor(batch + (m, k), dtype, seed, "ties" if not dtype.is_floating_point else "unit")
    b = make_tensor(batch + (k, n), dtype, seed + 1, "ties" if not dtype.is_floating_point else "unit")
    check(backend, Op.MATMUL, [a, b], {})


@backends
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from(FLOATS), spatial=st.integers(1, 2), groups=st.integers(1, 2),
       seed=seeds, bias=st.booleans())
def test_conv(backend, data, dtype, spatial, groups, seed, bias):
    batch = data.draw(st.integers(1, 2), label="batch")
    in_per_group = data.draw(st.integers(1, 2), label="in_per_group")
    out_channels = groups * data.draw(st.integers(1, 2), label="out_per_group")
    kernel = [data.draw(st.integers(1, 3), label="kernel") for _ in range(spatial)]
    stride = [data.draw(st.integers(1, 2), label="stride") for _ in range(spatial)]
    padding = [data.draw(st.integers(0, 1), label="padding") for _ in range(spatial)]
    dilation = [data.draw(st.integers(1, 2), label="dilation") for _ in range(spatial)]
    sizes = [data.draw(st.integers(dilation[i] * (kernel[i] - 1) + 1 - 2 * padding[i], 7), label="size")
             for i in range(spatial)]
    sizes = [max(size, 1) for size in sizes]
    inputs = [make_tensor((batch, groups * in_per_group, *sizes), dtype, seed, "unit"),
              make_tensor((out_channels, in_per_group, *kernel), dtype, seed + 1, "unit")]
    if bias:
        inputs.append(make_tensor((out_channels,), dtype, seed + 2, "unit"))
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check(backend, Op.CONV, inputs, attrs)
