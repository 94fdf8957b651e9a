"""The loop shapes the C++ printer picks (cpp_codegen.py, cpp_reductions.py) agree with eager torch:
column reductions in blocks of lanes, row caches of transcendental values; each test also checks the
shape was the one printed, so a change of rule cannot leave it untested."""

import pathlib
import re

import numpy as np
import pytest
import torch

import minicomp
from minicomp.backends.cpp_reductions import (STACK_ARRAY_BYTES, LANES, MIN_LANES, ROW_CACHE, SUM_LANES,
                                               WIDE_SUM_LANES, column_width)


def compiled_source(function, inputs, tmp_path, dynamic=False) -> str:
    """Compile `function` for cpp, check it against eager on `inputs`, return the kernels' C++."""
    minicomp.reset()
    compiled = torch.compile(function, backend="minicomp", dynamic=dynamic,
                             options={"target": "cpp", "dump_dir": str(tmp_path)})
    expected = function(*inputs)
    torch.testing.assert_close(compiled(*inputs), expected, equal_nan=True)
    sources = sorted(pathlib.Path(tmp_path).rglob("program.cpp"))
    return "\n".join(p.read_text().split("}  // namespace mc", 1)[1] for p in sources)


COLUMN_BLOCK = "int64_t lanes = "  # how many columns of a block of LANES a column reduction runs


def with_specials(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    flat = x.view(-1)
    flat[3], flat[flat.numel() // 2], flat[-2] = float("nan"), float("inf"), float("-inf")
    return x


COLUMN_REDUCTIONS = {
    "sum": lambda x: x.sum(0),
    "mean_keepdim": lambda x: x.mean(0, keepdim=True),
    "max_with_nan": lambda x: with_specials(x).amax(0),
    "min": lambda x: x.amin(0),
    "any": lambda x: (x > 2).any(0),
    "all": lambda x: (x > -3).all(0),
    "two_sums_then_pointwise": lambda x: x.sum(0) - (x * x).sum(0) * 0.5,  # (a product would amplify
    # the rounding of eager's float sums past the tolerance: ours, in double, are the closer ones)
    "middle_axis": lambda x: x.view(4, -1, x.shape[-1]).sum(1),
    # a full-size output beside the sum (a bias gradient): written in the loop that sums it
    "beside_its_full_size_input": lambda x: (torch.tanh(x) * x, (torch.tanh(x) * x).sum(0)),
    # a full-size output that needs the sum: a second loop over the block
    "centered": lambda x: x - x.mean(0),
}


@pytest.mark.parametrize("columns", [LANES * 2, LANES + 44, 7])
@pytest.mark.parametrize("name", sorted(COLUMN_REDUCTIONS))
def test_column_reductions_run_in_lanes(name, columns, tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, columns)
    source = compiled_source(COLUMN_REDUCTIONS[name], (x,), tmp_path)
    assert COLUMN_BLOCK in source


def test_column_sums_of_a_backward_run_in_lanes(tmp_path):
    # the bias and weight gradients of a layer norm are sums over the rows
    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(200)
    x = torch.randn(96, 200, requires_grad=True)

    def step(x):
        norm(x).pow(2).sum().backward()
        return x.grad, norm.weight.grad, norm.bias.grad

    minicomp.reset()
    compiled = torch.compile(norm, backend="minicomp", options={"target": "cpp", "dump_dir": str(tmp_path)})
    compiled(x).pow(2).sum().backward()
    got = (x.grad.clone(), norm.weight.grad.clone(), norm.bias.grad.clone())
    x.grad = norm.weight.grad = norm.bias.grad = None
    norm(x).pow(2).sum().backward()
    for actual, expected in zip(got, (x.grad, norm.weight.grad, norm.bias.grad)):
        torch.testing.assert_close(actual, expected)
    backward = "\n".join(p.read_text() for p in pathlib.Path(tmp_path).rglob("program.cpp") if "backward" in str(p))
    assert COLUMN_BLOCK in backward


def test_a_row_reduction_reading_along_the_row_stays_a_row_loop(tmp_path):
    source = compiled_source(lambda x: x.sum(-1), (torch.randn(64, 300),), tmp_path)
    assert COLUMN_BLOCK not in source


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_long_float_sums_keep_their_digits(dtype, tmp_path):
    # all positive: a sum that loses digits would show; float lanes flushed into double ones every
    # SUM_BLOCK elements stay within a float32 ulp of the exact sum of a row of 300000
    torch.manual_seed(0)
    x = (torch.rand(2, 300_000) + 0.5).to(dtype)
    source = compiled_source(lambda x: x.sum(-1, dtype=torch.float32), (x,), tmp_path)
    assert "double lanes_" in source and "float part_" in source
    minicomp.reset()
    ours = torch.compile(lambda x: x.sum(-1, dtype=torch.float32), backend="minicomp",
                         options={"target": "cpp"})(x)
    exact = x.double().sum(-1)
    assert ((ours.double() - exact).abs() <= torch.from_numpy(np.spacing(ours.numpy())).double()).all()


# The same row summed by differently shaped loops: the lanes follow the element's place in the row,
# not the loops, so the bits are the same (as they must be for a fused kernel and its ops unfused).
# Each case: the strided function, the same on a contiguous copy (one loop over the row), the shape,
# and what the strided function's loops print.
SAME_ROW_SHAPES = {
    "column_block": (lambda x: x.t().sum(1), lambda x: x.t().contiguous().sum(1), (300, 70), COLUMN_BLOCK),
    "column_block_and_centered": (lambda x: x - x.mean(0), lambda x: x - x.t().contiguous().mean(1),
                                  (300, 70), "column_t"),
    "nested_loops": (lambda x: x.permute(1, 0, 2).sum((1, 2)),
                     lambda x: x.permute(1, 0, 2).contiguous().sum((1, 2)), (6, 5, 37), "count_t1++;"),
    # an inner loop of a multiple of 16 runs 16 at a time in the vector lanes
    "nested_vector_loops": (lambda x: x.permute(1, 0, 2).sum((1, 2)),
                            lambda x: x.permute(1, 0, 2).contiguous().sum((1, 2)), (9, 5, 48), "count_t1 += 16;"),
}


@pytest.mark.parametrize("name", sorted(SAME_ROW_SHAPES))
def test_a_float_sum_has_the_same_bits_whatever_loops_run_it(name, tmp_path):
    strided, contiguous, shape, printed = SAME_ROW_SHAPES[name]
    torch.manual_seed(0)
    x = torch.rand(*shape) + 0.5  # no cancellation (so eager's different order is close), yet an order change shows
    strided_source = compiled_source(strided, (x,), tmp_path / "strided")
    minicomp.reset()
    unfused = torch.compile(contiguous, backend="minicomp", options={
        "target": "cpp", "fusion": False, "dump_dir": str(tmp_path / "contiguous")})
    assert torch.equal(unfused(x), torch.compile(strided, backend="minicomp", options={"target": "cpp"})(x))
    contiguous_source = "\n".join(p.read_text() for p in (tmp_path / "contiguous").rglob("program.cpp"))
    assert printed in strided_source and printed not in contiguous_source


@pytest.mark.parametrize("dtype, lanes", [(torch.float32, SUM_LANES), (torch.bfloat16, WIDE_SUM_LANES)])
def test_a_graph_with_16_bit_values_sums_in_wide_lanes_fused_or_not(dtype, lanes, tmp_path):
    # a bfloat16 softmax: its float32 sum reads bfloat16 values in the fused kernel, float32 ones unfused;
    # the lanes are the graph's, so both give the same bits
    torch.manual_seed(0)
    x = (torch.randn(64, 700) * 3).to(dtype)
    function = lambda x: torch.softmax(x, -1)  # noqa: E731
    source = compiled_source(function, (x,), tmp_path)
    assert "float part_t" in source and f"[{lanes}] = {{}};" in source
    minicomp.reset()
    unfused = torch.compile(function, backend="minicomp", options={"target": "cpp", "fusion": False})
    assert torch.equal(unfused(x), torch.compile(function, backend="minicomp", options={"target": "cpp"})(x))


def test_a_float64_sum_stays_in_order(tmp_path):
    source = compiled_source(lambda x: x.sum(-1), (torch.randn(8, 3000, dtype=torch.float64),), tmp_path)
    assert "part_" not in source and "reduction(+" not in source


@pytest.mark.parametrize("columns", [768, ROW_CACHE + 8])
def test_softmax_caches_its_exponentials_when_the_row_fits(columns, tmp_path):
    torch.manual_seed(0)
    x = with_specials(torch.randn(16, columns) * 4)
    source = compiled_source(lambda x: torch.softmax(x, -1), (x,), tmp_path)
    assert ("cache_" in source) == (columns <= ROW_CACHE)


def test_a_cheap_value_needed_twice_is_recomputed_not_cached(tmp_path):
    # layer norm's x - mean is a subtraction: cheaper to recompute than to store and load
    torch.manual_seed(0)
    source = compiled_source(lambda x: torch.nn.functional.layer_norm(x, (300,)), (torch.randn(16, 300),), tmp_path)
    assert "cache_" not in source


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_value_of_two_loads_needed_twice_is_cached(dtype, tmp_path):
    # a residual layer norm reads x + r three times (mean, variance, output): the first loop keeps the sum
    # (in bfloat16, rounded) in one row cache, the later ones read it back
    torch.manual_seed(0)
    x, r = (torch.randn(16, 256, dtype=dtype) for _ in range(2))  # (whole blocks of a float sum: each loop
    source = compiled_source(lambda x, r: torch.nn.functional.layer_norm(x + r, (256,)), (x, r), tmp_path)
    assert source.count("[256];") == 1 and source.count(" = cache_") == 2  # has one body)
    assert source.count("in1[") == 1  # r is read by the first loop only


HOISTED = "hoisted_"  # an array of values computed before the loops (cpp_codegen.hoist_invariants)


def test_a_batch_norms_channel_scale_is_computed_once_per_channel(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 4, 4)
    mean, var, weight, bias = torch.randn(5), torch.rand(5) + 0.5, torch.randn(5), torch.randn(5)
    source = compiled_source(lambda x: torch.relu(torch.nn.functional.batch_norm(
        x, mean, var, weight, bias, training=False)), (x,), tmp_path)
    assert HOISTED in source


@pytest.mark.parametrize("name, function, hoisted", [
    # exp of a row vector broadcast down the rows: once per column, before the loops
    ("broadcast_row", lambda x, b: x * torch.exp(b), True),
    # the costly value changes with the outermost loop: computed in the loop
    ("full_size", lambda x, b: x / torch.sqrt(x * x + 1) + b, False),
])
def test_costly_values_hoist_only_out_of_the_outermost_loop(name, function, hoisted, tmp_path):
    torch.manual_seed(0)
    x, b = torch.randn(40, 3, 24), torch.randn(3, 24)
    source = compiled_source(function, (x, b), tmp_path)
    assert (HOISTED in source) == hoisted


def test_nothing_is_hoisted_from_empty_inputs(tmp_path):
    # the backward of a mean over a tensor with no elements: the values before the loops would read
    # tangents that have none
    x = torch.randn(4, 0, 3, requires_grad=True)
    minicomp.reset()
    means = torch.compile(lambda x: (x.mean(1), x.mean([0, -1], keepdim=True)), backend="minicomp",
                          options={"target": "cpp", "dump_dir": str(tmp_path)})
    grad, = torch.autograd.grad([o.sum() for o in means(x)], [x])
    assert grad.shape == x.shape
    assert any(HOISTED in p.read_text() for p in tmp_path.rglob("program.cpp"))


def test_many_column_sums_in_one_kernel_take_narrower_blocks(tmp_path):
    # a backward's bias gradients, all summed in one kernel: each float sum keeps 12 bytes per lane and
    # column on the thread's stack, so the block narrows (40 sums: 32 columns, not 128) to stay bounded
    torch.manual_seed(0)
    xs = [torch.randn(300, 256) for _ in range(40)]
    source = compiled_source(lambda *xs: [torch.tanh(x).sum(0) for x in xs], xs, tmp_path)
    assert source.count('extern "C" void') == 1
    width = column_width(40 * SUM_LANES)
    assert MIN_LANES <= width < LANES and f"lanes = {width};" in source
    assert 40 * SUM_LANES * width * 12 <= STACK_ARRAY_BYTES


def test_row_caches_of_one_kernel_stay_within_the_stack_budget(tmp_path):
    # six softmaxes of one long row, fused: six exponentials worth caching, but only as many caches as
    # fit STACK_ARRAY_BYTES (the others are recomputed)
    torch.manual_seed(0)
    x = torch.randn(4, ROW_CACHE)
    source = compiled_source(lambda x: sum(torch.softmax(x * k, -1) for k in range(1, 7)), (x,), tmp_path)
    caches = len(set(re.findall(r"float (cache_t\d+)\[", source)))
    assert 1 <= caches and caches * ROW_CACHE * 8 <= STACK_ARRAY_BYTES < 6 * ROW_CACHE * 8
