"""Splitting a loop axis of a loop kernel in two where its indices divide it.

Attention's heads: the backward kernel over [1024, 768] that writes the q, k and v gradients side by
side reads each at `64 * (i0 % 128) + 8192 * (i1 // 64) + 32768 * (i0 // 128) + i1 % 64`: every element
pays four divisions, and no axis reads consecutive elements, so neither the vector lanes nor a column
reduction apply. An axis of extent n whose variable the indices use through `// k` and `% k` (k
divides n) is two axes, n/k and k: with `i = k * a + b`, `i // k` is a and `i % k` is b, the index above
becomes `64 * b0 + 8192 * a1 + 32768 * a0 + b1`, and the cat's guard `i1 < 256` becomes `a1 < 4`. An axis
is split only where no division or remainder of it is left afterwards.
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.kernels.indexing import FloorDiv, Mod, Ranges, floor_divide, loop_variable, remainder
from minicomp.kernels.loop_form import LoopKernel


def split_axes(loops: LoopKernel) -> LoopKernel:
    """`loops` with every axis split that the divisions and remainders of its indices allow."""
    while True:
        for axis in range(len(loops.shape)):
            split = next((s for k in _divisors(loops, axis) if (s := _split(loops, axis, k)) is not None), None)
            if split is not None:
                loops = split
                break
        else:
            return loops


def _expressions(loops: LoopKernel) -> list:
    found = [e for s in loops.statements for e in (s.index, s.condition) if isinstance(e, sympy.Basic)]
    return found + [store.index for store in loops.stores if isinstance(store.index, sympy.Basic)]


def _divisors(loops: LoopKernel, axis: int) -> list[int]:
    """The divisors k (largest first) that an index divides axis's variable by, where k divides its extent."""
    variable, extent = loops.variables[axis], sympy.sympify(loops.shape[axis])
    if variable == 0 or not extent.is_Integer:
        return []
    found = set()
    for expression in _expressions(loops):
        for atom in expression.atoms(FloorDiv, Mod):
            k = atom.args[1]
            if atom.args[0].has(variable) and k.is_Integer and 1 < k < extent and extent % k == 0:
                found.add(int(k))
    return sorted(found, reverse=True)


def _split(loops: LoopKernel, axis: int, k: int) -> LoopKernel | None:
    """`loops` with `axis` split into (extent / k, k), or None if a division or remainder of it is left."""
    extent = int(loops.shape[axis])
    shape = list(loops.shape[:axis]) + [sympy.Integer(extent // k), sympy.Integer(k)] + list(loops.shape[axis + 1:])
    old = loops.variables
    variables = [v if v == 0 else loop_variable(p) for p, v in enumerate(old[:axis])]
    variables += [loop_variable(axis), loop_variable(axis + 1)]
    variables += [v if v == 0 else loop_variable(p + 1) for p, v in enumerate(old[axis + 1:], start=axis + 1)]
    replacement = {old[axis]: k * variables[axis] + variables[axis + 1]}
    replacement.update({v: variables[p + 1] for p, v in enumerate(old) if p > axis and v != 0})
    ranges = Ranges({v: n for v, n in zip(variables, shape) if v != 0})
    halves = {variables[axis], variables[axis + 1]}
    rewritten = {}
    for expression in _expressions(loops):
        new = _simplified(expression.xreplace(replacement), ranges, k, halves)
        if not isinstance(new, sympy.logic.boolalg.Boolean):
            new = sympy.expand(new)
        if any(atom.args[0].free_symbols & halves for atom in new.atoms(FloorDiv, Mod)):
            return None
        rewritten[expression] = new

    def rewrite(expression):
        return rewritten[expression] if isinstance(expression, sympy.Basic) else expression

    for statement in loops.statements:
        statement.index, statement.condition = rewrite(statement.index), rewrite(statement.condition)
    reduced = tuple(a if a < axis else a + 1 for a in loops.reduced_axes)
    if axis in loops.reduced_axes:
        reduced = tuple(sorted(reduced + (axis,)))
    stores = [dataclasses.replace(store, index=rewrite(store.index)) for store in loops.stores]
    return dataclasses.replace(loops, shape=tuple(shape), reduced_axes=reduced, variables=variables, stores=stores)


def _simplified(expression, ranges: Ranges, k: int, halves: set):
    """`expression` with its divisions, remainders and comparisons simplified again in the new ranges; a
    comparison `e < 0` is `e // k < 0` (and `e >= 0`, `e // k >= 0`), which drops the inner half."""
    if not expression.args:
        return expression
    args = [_simplified(a, ranges, k, halves) for a in expression.args]
    if isinstance(expression, FloorDiv):
        return floor_divide(args[0], args[1], ranges)
    if isinstance(expression, Mod):
        return remainder(args[0], args[1], ranges)
    if isinstance(expression, sympy.Rel) and not isinstance(expression, (sympy.Eq, sympy.Ne)) and \
            expression.free_symbols & halves:
        difference = sympy.expand(args[0] - args[1])
        if isinstance(expression, (sympy.LessThan, sympy.StrictGreaterThan)):
            difference -= 1  # (integers: e <= 0 is e - 1 < 0, e > 0 is e - 1 >= 0)
        quotient = floor_divide(difference, k, ranges)
        if quotient.atoms(FloorDiv):
            return expression.func(*args)
        constant, rest = quotient.as_coeff_Add()
        below = isinstance(expression, (sympy.StrictLessThan, sympy.LessThan))
        return rest < -constant if below else rest >= -constant
    return expression.func(*args)
