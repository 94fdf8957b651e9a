"""Index expressions of the loop form: simplified with the loop ranges, and always equal to the
plain floor division and remainder they stand for."""

import itertools

import pytest
import sympy

from minicomp.kernels.indexing import FloorDiv, Mod, Ranges, delinearize, linearize, loop_variable

I0, I1 = loop_variable(0), loop_variable(1)
S0 = sympy.Symbol("s0", integer=True, positive=True)


def test_a_reshape_that_splits_the_inner_axis_needs_no_division_of_the_outer_one():
    ranges = Ranges({I0: S0, I1: 768})
    index = linearize([I0, I1], (S0, 768))
    assert delinearize(index, (S0, 12, 64), ranges) == [I0, FloorDiv(I1, 64), Mod(I1, 64)]
    assert delinearize(index, (S0, 768), ranges) == [I0, I1]  # the same shape: the loop variables


def test_a_shared_factor_reduces_the_divisor():
    ranges = Ranges({I0: 2048, I1: 768})
    index = linearize([I0, I1], (2048, 768))
    assert delinearize(index, (1024, 2, 768), ranges) == [FloorDiv(I0, 2), Mod(I0, 2), I1]


def evaluate(expr, values):
    """An index expression's value, with FloorDiv and Mod as Python's // and %."""
    expr = expr.subs(values)
    return int(expr.replace(FloorDiv, lambda a, b: a // b).replace(Mod, lambda a, b: a % b))


@pytest.mark.parametrize("domain,target", [((6, 4), (3, 8)), ((6, 4), (4, 6)), ((2, 3, 4), (4, 3, 2)),
                                           ((5, 6), (30,)), ((4, 6), (2, 2, 3, 2)), ((3, 1, 4), (12,))])
def test_delinearize_agrees_with_division_and_remainder_everywhere(domain, target):
    variables = [loop_variable(axis) for axis in range(len(domain))]
    ranges = Ranges(dict(zip(variables, domain)))
    index = linearize(variables, domain)
    coordinates = delinearize(index, target, ranges)
    for point in itertools.product(*[range(n) for n in domain]):
        flat = evaluate(index, dict(zip(variables, point)))
        expected, rest = [], flat
        for extent in reversed(target):
            expected.append(rest % extent)
            rest //= extent
        assert [evaluate(c, dict(zip(variables, point))) for c in coordinates] == expected[::-1]


def test_a_comparison_the_loop_ranges_imply_is_always_true():
    ranges = Ranges({I0: S0, I1: 768})
    assert ranges.always(I1 < 768) and ranges.always(I1 <= 767) and ranges.always(I0 < S0)
    assert ranges.always(I1 - 3 >= -3) and ranges.always(2 * I0 < 2 * S0)
    assert not ranges.always(I1 < 767) and not ranges.always(I1 >= 384) and not ranges.always(I0 < S0 - 1)
