"""Sizes and shapes, which may be symbolic: equality (the difference simplifies to 0) and evaluation."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import sympy


def sizes_equal(a: Any, b: Any) -> bool:
    """Whether two sizes (ints or sympy expressions) are provably the same: s0*2 and 2*s0 are, s0 and s1 not."""
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def shapes_equal(a: Sequence, b: Sequence) -> bool:
    """Same rank and, axis by axis, sizes_equal."""
    return len(a) == len(b) and all(sizes_equal(x, y) for x, y in zip(a, b))


def evaluate_size(expr: Any, sizes: dict, missing: Optional[int] = None) -> Union[int, float]:
    """The number a size expression has once each symbol takes its value in `sizes` (by name), or `missing` for
    one not there (None: a KeyError); an int where the expression is an integer, as sizes are, a float otherwise
    (a mean's 1/n)."""
    expr = sympy.sympify(expr)
    if expr.free_symbols:
        expr = expr.subs({symbol: sizes[str(symbol)] if missing is None else sizes.get(str(symbol), missing)
                          for symbol in expr.free_symbols})
    return int(expr) if expr.is_integer else float(expr)
