"""The test helpers themselves: a check that cannot fail proves nothing, so each rule has a case that must fail."""

from __future__ import annotations

import pytest
import torch

import minicomp
from helpers import WHOLE_GRAPH_FALLBACK, assert_same_or_as_accurate, compile_and_compare


def test_float64_rule_accepts_only_results_as_accurate_as_eager():
    exact = torch.tensor([1.0, 2.0], dtype=torch.float64)
    eager = torch.tensor([1.0 + 1e-4, 2.0])
    assert_same_or_as_accurate(torch.tensor([1.0 - 1e-4, 2.0]), eager, exact)  # as far off, other side
    with pytest.raises(AssertionError, match="less accurate than eager"):
        assert_same_or_as_accurate(torch.tensor([1.0 + 5e-4, 2.0]), eager, exact)
    with pytest.raises(AssertionError):
        assert_same_or_as_accurate(torch.tensor([1, 3]), torch.tensor([1, 2]), torch.tensor([1, 2]))


def test_float64_rule_at_exact_zeros():
    zero = torch.tensor([0.0, 1.0])
    # a last-bit difference from an exact zero is within float32's tolerance (it used to fail: the
    # structure check's infinite rtol times 0 gave a NaN tolerance)
    assert_same_or_as_accurate(torch.tensor([-7.45e-9, 1.0]), zero, zero.double())
    with pytest.raises(AssertionError, match="less accurate than eager"):
        assert_same_or_as_accurate(torch.tensor([0.5, 1.0]), zero, zero.double())
    # eager exactly 0 where float64 says 1e-3: 2e-3 is as far off as eager, 5e-3 is not
    exact = torch.tensor([1e-3, 1.0], dtype=torch.float64)
    assert_same_or_as_accurate(torch.tensor([2e-3, 1.0]), zero, exact)
    with pytest.raises(AssertionError, match="less accurate than eager"):
        assert_same_or_as_accurate(torch.tensor([5e-3, 1.0]), zero, exact)


def test_float64_rule_never_excuses_a_wrong_dtype_shape_or_structure():
    zero = torch.zeros(2)
    with pytest.raises(AssertionError, match="dtype"):
        assert_same_or_as_accurate(torch.tensor([1e-3, 0.0], dtype=torch.float64), zero, zero.double())
    with pytest.raises(AssertionError, match="shape"):
        assert_same_or_as_accurate(torch.zeros(3), zero, zero.double())
    with pytest.raises(AssertionError, match="structure"):
        assert_same_or_as_accurate((zero, zero), (zero,), (zero.double(),))


def test_a_whole_graph_fallback_does_not_count_as_compiled():
    # complex numbers send the whole graph back to torch: comparing that with eager compares eager with eager
    z = torch.randn(3, 4, dtype=torch.complex64)
    with pytest.raises(AssertionError, match="minicomp compiled nothing"):
        compile_and_compare(lambda z: z * 2 + 1, z, grad=False)
    assert [report.fallback_ops for report in minicomp.reports()] == [[WHOLE_GRAPH_FALLBACK]]
