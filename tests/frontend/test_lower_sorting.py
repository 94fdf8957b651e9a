"""Sorting lowered as a rank sort (sort, argsort, topk, kthvalue, median, nanmedian) agrees with eager torch."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minicomp
from helpers import check_lowering as check, compile_and_compare, examples, fallback_ops, random_tensor as make


def with_nans(shape, seed=0):
    x = make(shape, seed=seed).float() + torch.rand(shape, generator=torch.Generator().manual_seed(seed))  # no ties
    x.view(-1)[[2, 5, 6]] = float("nan")
    return x


def sorts(x):
    return (torch.sort(x, 1), torch.sort(x, 0, descending=True), torch.argsort(x, dim=-1, stable=True),
            torch.msort(x), torch.sort(x, dim=1, stable=True, descending=True))


def selections(x):
    return (torch.topk(x, 3, 1), torch.topk(x, 2, 0, largest=False), torch.kthvalue(x, 3, 1),
            torch.kthvalue(x, 1, 0, keepdim=True), torch.median(x, 1), torch.nanmedian(x, 0, keepdim=True),
            torch.median(x), torch.nanmedian(x))


@pytest.mark.parametrize("fn, op", [(sorts, "aten.sort.default"), (selections, "aten.topk.default")])
def test_float_rows_with_nans_forward_and_backward(lowered, fn, op):
    check(lowered, [op], fn, with_nans((4, 7)))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.int32, torch.int64, torch.bool])
def test_sort_and_median_with_ties_match_eager(lowered, dtype):
    # torch's sort of short rows and its median pick the first of equal entries too
    def fn(x):
        return sorts(x) + (torch.median(x, 1), torch.median(x)) if dtype is not torch.bool else sorts(x)
    check(lowered, ["aten.sort.default"], fn, make((5, 9), dtype), grad=dtype.is_floating_point)


def test_all_nan_rows_and_0d_inputs():
    def fn(x, scalar):
        return (torch.median(x, 1), torch.nanmedian(x, 1).values, torch.sort(x, 1), torch.sort(scalar),
                torch.topk(scalar, 1), torch.kthvalue(scalar, 1), torch.median(scalar))
    x = with_nans((3, 4))
    x[1] = float("nan")
    # no gradient: nanmedian's goes to the NaN it reports (see below)
    reports = compile_and_compare(fn, x, make(()), grad=False)
    assert fallback_ops(reports) == []
    # which NaN of an all-NaN row eager's nanmedian reports depends on its selection algorithm;
    # minicomp reports the first
    index = torch.compile(lambda v: torch.nanmedian(v, 1).indices, backend="minicomp")(x)
    assert index[1] == 0 and torch.equal(index[[0, 2]], torch.nanmedian(x, 1).indices[[0, 2]])


def test_topk_and_kthvalue_break_ties_by_position():
    # eager's tie order is its own (selection algorithm); minicomp returns the same values, and the
    # indices of the stable sort, which point at those values
    x = make((6, 9), torch.int64, bound=2)
    compiled = torch.compile(lambda v: (torch.topk(v, 4, 1), torch.kthvalue(v, 3, 1)), backend="minicomp",
                             options={"fallback": False})
    (top_values, top_indices), (kth_value, kth_index) = compiled(x)
    stable = torch.sort(x, dim=1, descending=True, stable=True)
    assert torch.equal(top_values, torch.topk(x, 4, 1).values) and torch.equal(top_indices, stable.indices[:, :4])
    ascending = torch.sort(x, dim=1, stable=True)
    assert torch.equal(kth_value, torch.kthvalue(x, 3, 1).values) and torch.equal(kth_index, ascending.indices[:, 2])


def test_long_sorts_and_unsorted_topk_are_left_to_torch():
    x = make((5000,))  # 5000 * 5000 comparisons is over the budget
    reports = compile_and_compare(lambda v: torch.sort(v), x, grad=False)
    assert fallback_ops(reports) == ["aten.sort.default"]
    minicomp.reset()
    reports = compile_and_compare(lambda v: torch.topk(v, 3, sorted=False).values.sort().values, make((20,)),
                                  grad=False)
    assert fallback_ops(reports) == ["aten.topk.default"]


SPECIALS = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan")])


@settings(max_examples=examples(20), deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
       dtype=st.sampled_from([torch.float32, torch.int64]), descending=st.booleans(),
       seed=st.integers(0, 2**16), data=st.data())
def test_rank_sort_is_torchs_stable_sort(shape, dtype, descending, seed, data):
    # few distinct values (ties), signed zeros, infinities and NaNs: values and indices must equal
    # torch's stable sort exactly
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = make(shape, torch.int64, seed=seed, bound=2).to(dtype)
    if dtype.is_floating_point:
        pick = torch.randint(0, 2 * len(SPECIALS), shape, generator=torch.Generator().manual_seed(seed + 1))
        x = torch.where(pick < len(SPECIALS), SPECIALS[pick.clamp(max=len(SPECIALS) - 1)], x)
    function = lambda v: torch.sort(v, dim=dim, descending=descending, stable=True)  # noqa: E731
    torch._dynamo.reset()
    values, indices = torch.compile(function, backend="minicomp", options={"fallback": False})(x)
    expected = function(x)
    torch.testing.assert_close(values, expected.values, equal_nan=True, rtol=0, atol=0)
    assert torch.equal(values.signbit(), expected.values.signbit()) and torch.equal(indices, expected.indices)
