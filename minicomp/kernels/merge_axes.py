"""Merging adjacent loop axes of a loop kernel: fewer, longer loops.

A batch norm over [N, C, 4, 4] reads x at `16*i1 + 4*i2 + i3 + ...` and its statistics at `i1`: the
two inner axes appear only as `4*i2 + i3`, so they can be one loop of 16, a whole vector, instead of
two loops of 4. Axes a and b (b the next looping axis of the same group, outer or reduced) merge when
every index and condition of the kernel uses them only as `c * (n_b * i_a + i_b)` (inside floor
divisions and remainders too; never in a comparison): then substituting `i_a -> 0` and giving axis b
the extent `n_a * n_b` is the same kernel.
"""

from __future__ import annotations

import dataclasses

import sympy

from minicomp.kernels.indexing import FloorDiv, Mod
from minicomp.kernels.loop_form import LoopKernel


def merge_axes(loops: LoopKernel) -> LoopKernel:
    """`loops` with every mergeable pair of adjacent axes merged, innermost first."""
    merged = True
    while merged:
        merged = False
        for group in (list(loops.reduced_axes), loops.outer_axes):
            looping = [axis for axis in group if loops.variables[axis] != 0]
            for a, b in reversed(list(zip(looping, looping[1:]))):
                if _mergeable(loops, a, b):
                    loops = _merged(loops, a, b)
                    merged = True
                    break
            if merged:
                break
    return loops


def _expressions(loops: LoopKernel) -> list:
    found = []
    for statement in loops.statements:
        for expression in (statement.index, statement.condition):
            if isinstance(expression, sympy.Basic):
                found.append(expression)
    found += [store.index for store in loops.stores if isinstance(store.index, sympy.Basic)]
    return found


def _mergeable(loops: LoopKernel, a: int, b: int) -> bool:
    outer_variable, inner_variable = loops.variables[a], loops.variables[b]
    inner_extent = sympy.sympify(loops.shape[b])
    return all(_linear_together(e, outer_variable, inner_variable, inner_extent) for e in _expressions(loops))


def _linear_together(expression, outer, inner, inner_extent) -> bool:
    """Whether `expression` uses `outer` and `inner` only as c * (inner_extent * outer + inner)."""
    if not expression.has(outer) and not expression.has(inner):
        return True
    if isinstance(expression, sympy.Rel):
        return False  # a bound on one coordinate is not a bound on the merged one
    if isinstance(expression, (sympy.And, sympy.Or, sympy.Not, FloorDiv, Mod)):
        return all(_linear_together(a, outer, inner, inner_extent) for a in expression.args)
    outer_coefficient = inner_coefficient = sympy.Integer(0)
    for term in sympy.Add.make_args(sympy.expand(expression)):
        if not term.has(outer) and not term.has(inner):
            continue
        if isinstance(term, (FloorDiv, Mod)) or any(isinstance(f, (FloorDiv, Mod)) for f in sympy.Mul.make_args(term)):
            factors = sympy.Mul.make_args(term)
            rest = [f for f in factors if isinstance(f, (FloorDiv, Mod))]
            if len(rest) != 1 or any(f.has(outer) or f.has(inner) for f in factors if f not in rest):
                return False
            if not _linear_together(rest[0], outer, inner, inner_extent):
                return False
            continue
        coefficient_outer = term.coeff(outer)
        coefficient_inner = term.coeff(inner)
        if term == coefficient_outer * outer and not coefficient_outer.has(outer) and not coefficient_outer.has(inner):
            outer_coefficient += coefficient_outer
        elif term == coefficient_inner * inner and not coefficient_inner.has(inner) and \
                not coefficient_inner.has(outer):
            inner_coefficient += coefficient_inner
        else:
            return False
    return sympy.expand(outer_coefficient - inner_extent * inner_coefficient) == 0


def _merged(loops: LoopKernel, a: int, b: int) -> LoopKernel:
    outer_variable = loops.variables[a]
    shape = list(loops.shape)
    shape[b] = sympy.expand(sympy.sympify(shape[a]) * sympy.sympify(shape[b]))
    shape[a] = sympy.Integer(1)
    variables = list(loops.variables)
    variables[a] = sympy.Integer(0)

    def substituted(expression):
        return expression.subs(outer_variable, 0) if isinstance(expression, sympy.Basic) else expression

    for statement in loops.statements:
        statement.index = substituted(statement.index)
        statement.condition = substituted(statement.condition)
    stores = [dataclasses.replace(store, index=substituted(store.index)) for store in loops.stores]
    return dataclasses.replace(loops, shape=tuple(shape), variables=variables, stores=stores)
