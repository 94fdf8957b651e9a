"""Index and condition expressions of the loop form as a printer's source: the walk over sympy every
compiled target shares; each target says how it spells integers, the floor helpers and the logic."""

from __future__ import annotations

import sympy

from minicomp.kernels.indexing import FloorDiv, Mod, integral, may_be_negative


class IndexPrinter:
    """Prints index expressions over the loop variables (`local_names`, and the statements' names a
    gather's picked position uses); any other size becomes a kernel argument (`argument`)."""

    AND, OR, TRUE, FALSE = "&&", "||", "true", "false"
    DIVIDE = "/"                                              # for a numerator that cannot be negative
    FLOOR_HELPERS = ("mc::floordiv_int<int64_t>", "mc::remainder_int<int64_t>")  # for one that may be

    def __init__(self, local_names: set):
        self.local_names = local_names

    def size(self, expr) -> str:
        """A size or index expression over the loop variables."""
        return self.expression(sympy.sympify(expr))

    def integer(self, number: int) -> str:
        return str(number)

    def argument(self, expr) -> str:
        raise NotImplementedError

    def expression(self, expr) -> str:
        if expr.is_Integer:
            return self.integer(int(expr))
        if expr.is_Symbol:
            return str(expr) if str(expr) in self.local_names else self.argument(expr)
        if isinstance(expr, (FloorDiv, Mod)):
            numerator, denominator = (self.expression(a) for a in expr.args)
            if may_be_negative(expr.args[0]):  # C's and Triton's / and % truncate; indices need the floor
                helper = self.FLOOR_HELPERS[0 if isinstance(expr, FloorDiv) else 1]
                return f"{helper}({numerator}, {denominator})"
            return f"({numerator} {self.DIVIDE if isinstance(expr, FloorDiv) else '%'} {denominator})"
        if expr.is_Add:
            return "(" + " + ".join(self.expression(a) for a in expr.args) + ")"
        if expr.is_Mul and integral(expr):
            return "(" + " * ".join(self.expression(a) for a in expr.args) + ")"
        if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
            return "(" + " * ".join([self.expression(expr.base)] * int(expr.exp)) + ")"
        if isinstance(expr, (sympy.And, sympy.Or)):
            operator = self.AND if isinstance(expr, sympy.And) else self.OR
            return "(" + f" {operator} ".join(self.expression(a) for a in expr.args) + ")"
        if isinstance(expr, sympy.Rel):
            return f"({self.expression(expr.lhs)} {expr.rel_op} {self.expression(expr.rhs)})"
        if expr is sympy.true or expr is sympy.false:
            return self.TRUE if expr is sympy.true else self.FALSE
        return self.argument(expr)
