"""Index arithmetic of a loop kernel: sympy expressions over the loop variables, simplified as they are built.

A kernel's loop variables each run over one dimension of its domain, `i_k` in [0, n_k). Reading a value
through a view turns the reader's linear index into coordinates of the view's output (a floor division
and a remainder per axis) and those into the input's linear index. Built naively, that is the
`(i // 768) % 2048 * 768 + i % 768` chain per element. `floor_divide` and `remainder` instead split an
index into terms and use the ranges of the loop variables: `(768 * i0 + i1) // 768` is `i0` because
`i1 < 768`, and `(768 * i0 + i1) % 768` is `i1`. What cannot be proved stays a FloorDiv or Mod node:
the floor and the remainder of a floor division (an index behind a pad's guard may be negative where
the guard is off), which printers spell as C's `/` and `%` only where the index cannot be negative.
"""

from __future__ import annotations

import functools

import sympy


class FloorDiv(sympy.Function):
    """`a // b` (the floor) of integers, kept unevaluated (sympy's floor(a / b) rewrites itself)."""

    is_integer = True


class Mod(sympy.Function):
    """`a % b` (of a floor division, so in [0, b)) of integers, kept unevaluated."""

    is_integer = True
    is_nonnegative = True


def loop_variable(position: int) -> sympy.Symbol:
    """The loop variable of domain axis `position`."""
    return sympy.Symbol(f"i{position}", integer=True, nonnegative=True)


def value_symbol(name: str) -> sympy.Symbol:
    """A symbol standing for an integer computed in the kernel (a gather's picked position)."""
    return sympy.Symbol(name, integer=True)


def linearize(coordinates: list, shape: tuple) -> sympy.Expr:
    """The row-major linear index of `coordinates` in `shape`."""
    index, stride = sympy.Integer(0), sympy.Integer(1)
    for coordinate, extent in zip(reversed(coordinates), reversed(shape)):
        index += sympy.expand(sympy.sympify(coordinate) * stride)
        stride = stride * extent
    return sympy.expand(index)


class Ranges:
    """What the loop variables range over, for bounds: `i_k` in [0, extent_k)."""

    def __init__(self, extents: dict):
        self.extents = extents  # loop variable -> its extent

    def upper(self, expr: sympy.Expr):
        """An upper bound of a non-negative index expression (inclusive), or None when unknown."""
        total = sympy.Integer(0)
        for term in sympy.Add.make_args(sympy.expand(expr)):
            coefficient, atom = term.as_coeff_Mul()
            bound = self._atom_upper(atom)
            if bound is None or coefficient < 0:
                return None
            total += coefficient * bound
        return total

    def is_nonnegative(self, expr: sympy.Expr) -> bool:
        """Every term non-negative: positive coefficients on loop variables and sizes."""
        for term in sympy.Add.make_args(sympy.expand(expr)):
            coefficient, atom = term.as_coeff_Mul()
            if coefficient < 0 or not all(_nonnegative(factor, self.extents) for factor in sympy.Mul.make_args(atom)):
                return False
        return True

    def always(self, condition) -> bool:
        """Whether a comparison holds wherever the loop variables are in range (`i2 < 768` for i2 in
        [0, 768), `i2 - 3 >= -3`): a guard need not test it."""
        if condition is sympy.true:
            return True
        if isinstance(condition, (sympy.StrictLessThan, sympy.LessThan)):
            small, large, strict = condition.lhs, condition.rhs, isinstance(condition, sympy.StrictLessThan)
        elif isinstance(condition, (sympy.StrictGreaterThan, sympy.GreaterThan)):
            small, large, strict = condition.rhs, condition.lhs, isinstance(condition, sympy.StrictGreaterThan)
        else:
            return False
        difference = sympy.expand(large - small)  # holds when difference > 0 (strict) or >= 0
        constant, rest = difference.as_independent(*self.extents, as_Add=True)
        if not self.is_nonnegative(-rest):
            return False
        bound = self.upper(-rest)  # rest >= -bound
        if bound is None:
            return False
        margin = sympy.expand(constant - bound)
        return (margin.is_positive if strict else margin.is_nonnegative) is True

    def _atom_upper(self, atom: sympy.Expr):
        factors = sympy.Mul.make_args(atom)
        variables = [f for f in factors if f in self.extents]
        rest = sympy.Mul(*[f for f in factors if f not in self.extents])
        if atom == 1:
            return sympy.Integer(1)
        if len(variables) == 1 and not rest.free_symbols & set(self.extents):
            if isinstance(rest, (FloorDiv, Mod)) or not _is_size(rest):
                return None
            return rest * (self.extents[variables[0]] - 1)
        if not variables and isinstance(atom, Mod):
            return atom.args[1] - 1
        if not variables and isinstance(atom, FloorDiv):
            inner = self.upper(atom.args[0])
            return None if inner is None else inner / atom.args[1]  # a real bound above the floor
        if not variables and _is_size(atom):
            return atom
        return None


def _is_size(expr: sympy.Expr) -> bool:
    """A product of size symbols and integers (positive)."""
    return all(f.is_Integer and f > 0 or (f.is_Symbol and f.is_positive) or
               (f.is_Pow and f.base.is_Symbol and f.base.is_positive and f.exp.is_Integer and f.exp > 0)
               for f in sympy.Mul.make_args(expr))


def _nonnegative(factor: sympy.Expr, extents: dict) -> bool:
    return factor in extents or isinstance(factor, (FloorDiv, Mod)) or _is_size(factor)


@functools.lru_cache(maxsize=65536)
def _divides(divisor: sympy.Expr, term: sympy.Expr) -> bool:
    """Is `term` an integer multiple of `divisor`? Both are products of an integer and size or loop
    symbols (and FloorDiv/Mod atoms): the integers divide and the divisor's factors are among the term's."""
    divisor_coefficient, divisor_rest = divisor.as_coeff_Mul()
    term_coefficient, term_rest = term.as_coeff_Mul()
    if not (divisor_coefficient.is_Integer and term_coefficient.is_Integer) or divisor_coefficient == 0:
        return False
    if int(term_coefficient) % int(divisor_coefficient):
        return False
    have = term_rest.as_powers_dict()
    for factor, power in divisor_rest.as_powers_dict().items():
        if factor == 1:
            continue
        held, power = sympy.sympify(have.get(factor, 0)), sympy.sympify(power)
        if not (held.is_Integer and power.is_Integer) or held < power:
            return False
    return True


def _provably_less(bound, limit) -> bool:
    """bound < limit for every positive value of the sizes."""
    if bound is None:
        return False
    difference = sympy.expand(limit - bound)
    return bool(difference.is_positive)


def floor_divide(index: sympy.Expr, divisor, ranges: Ranges) -> sympy.Expr:
    """`index // divisor` of a non-negative index, simplified with the loop ranges."""
    divisor = sympy.sympify(divisor)
    index = sympy.expand(index)
    if divisor == 1:
        return index
    if divisor == 0:
        return sympy.Integer(0)  # a domain with no elements: the index is never used
    whole, rest = [], []
    for term in sympy.Add.make_args(index):
        (whole if _divides(divisor, term) else rest).append(term)
    quotient = sympy.expand(sympy.Add(*whole) / divisor) if whole else sympy.Integer(0)
    remainder = sympy.Add(*rest)
    if remainder == 0:
        return quotient
    if ranges.is_nonnegative(remainder) and _provably_less(ranges.upper(remainder), divisor):
        return quotient
    split = _common_factor(remainder, divisor, ranges)
    if split is not None:  # (g*a + small) // (g*d) is a // d when small < g
        factor, large = split
        return quotient + floor_divide(sympy.expand(large / factor), sympy.cancel(divisor / factor), ranges)
    return quotient + FloorDiv(remainder, divisor)


def remainder(index: sympy.Expr, modulus, ranges: Ranges) -> sympy.Expr:
    """`index % modulus` of a non-negative index, simplified with the loop ranges."""
    modulus = sympy.sympify(modulus)
    index = sympy.expand(index)
    if modulus == 1 or modulus == 0:
        return sympy.Integer(0)  # (a modulus of 0: a domain with no elements)
    rest = sympy.Add(*[term for term in sympy.Add.make_args(index) if not _divides(modulus, term)])
    if ranges.is_nonnegative(rest) and _provably_less(ranges.upper(rest), modulus):
        return rest
    split = _common_factor(rest, modulus, ranges)
    if split is not None:  # (g*a + small) % (g*m) is g*(a % m) + small when small < g
        factor, large = split
        small = sympy.expand(rest - large)
        return sympy.expand(factor * remainder(sympy.expand(large / factor), sympy.cancel(modulus / factor), ranges)
                            + small)
    return Mod(rest, modulus)


def _common_factor(index: sympy.Expr, divisor: sympy.Expr, ranges: Ranges):
    """(g, large): a factor g > 1 of `divisor` that divides the terms `large` of `index`, the other terms
    adding up to less than g, so a division by `divisor` only sees large / g; None when there is none."""
    terms = sympy.Add.make_args(index)
    for term in terms:
        factor = sympy.gcd(term, divisor)
        if factor == 1 or factor == divisor or not (factor.is_positive or _is_size(factor)):
            continue
        large = [t for t in terms if _divides(factor, t)]
        small = sympy.Add(*[t for t in terms if not _divides(factor, t)])
        if small != 0 and ranges.is_nonnegative(small) and _provably_less(ranges.upper(small), factor):
            return factor, sympy.Add(*large)
    return None


def delinearize(index: sympy.Expr, shape: tuple, ranges: Ranges) -> list:
    """Row-major coordinates in `shape` of a linear index."""
    coordinates, stride = [], sympy.Integer(1)
    for position in reversed(range(len(shape))):
        divided = floor_divide(index, stride, ranges)
        coordinates.append(divided if position == 0 else remainder(divided, shape[position], ranges))
        stride = stride * shape[position]
    return list(reversed(coordinates))


def may_be_negative(expr) -> bool:
    """An index with a negative term (a pad's shifted coordinate) may be below zero where a guard is off:
    printers then spell its floor division and remainder with the floor helpers, not C's truncating ones."""
    for term in sympy.Add.make_args(sympy.expand(expr)):
        if term.as_coeff_Mul()[0] < 0:
            return True
        if any(may_be_negative(division.args[0]) for division in term.atoms(FloorDiv)):
            return True  # the floor of a negative index is negative too (a Mod never is)
    return False


def integral(expr) -> bool:
    """Whether a product's factors are integers, sizes or loop variables (a size symbol of a graph built by
    hand has no assumptions): printers spell it as integer arithmetic, and anything else (a mean's 1 / n)
    as an argument the host evaluates."""
    return all(f.is_integer or f.is_Symbol or (f.is_Pow and f.base.is_Symbol and f.exp.is_Integer and f.exp > 0)
               for f in sympy.Mul.make_args(expr))
