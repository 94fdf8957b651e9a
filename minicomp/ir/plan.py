"""A memory plan: where each intermediate buffer lives in the graph's single arena."""

from __future__ import annotations

import dataclasses

import sympy


@dataclasses.dataclass
class MemoryPlan:
    """Byte offsets into one arena per call; `in_place` maps a buffer to the dead input whose slot it took."""

    arena_bytes: sympy.Expr
    offsets: dict[str, sympy.Expr]
    sizes: dict[str, sympy.Expr]
    in_place: dict[str, str]

    def format(self) -> str:
        """Stable text: one line per buffer in offset order."""
        lines = [f"arena: {self.arena_bytes} bytes"]
        def order(name):
            offset = self.offsets[name]
            return (0, int(offset), name) if offset.is_number else (1, str(offset), name)

        for name in sorted(self.offsets, key=order):
            note = f"  (in place of {self.in_place[name]})" if name in self.in_place else ""
            lines.append(f"  {name}: offset {self.offsets[name]}, {self.sizes[name]} bytes{note}")
        return "\n".join(lines) + "\n"
