"""Equality of sizes and shapes, which may be symbolic: equal when their difference simplifies to 0."""

from __future__ import annotations

from typing import Any, Sequence

import sympy


def sizes_equal(a: Any, b: Any) -> bool:
    """Whether two sizes (ints or sympy expressions) are provably the same: s0*2 and 2*s0 are, s0 and s1 not."""
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def shapes_equal(a: Sequence, b: Sequence) -> bool:
    """Same rank and, axis by axis, sizes_equal."""
    return len(a) == len(b) and all(sizes_equal(x, y) for x, y in zip(a, b))
