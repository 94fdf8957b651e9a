"""The IR: pure data (no torch, no numpy); sympy for sizes."""

from minicomp.ir.dtypes import DType
from minicomp.ir.graph import ConstantData, Graph, Kernel, Node, Value
from minicomp.ir.ops import Op
from minicomp.ir.printer import format_graph
from minicomp.ir.verify import VerificationError, verify

__all__ = ["ConstantData", "DType", "Graph", "Kernel", "Node", "Op", "Value", "VerificationError", "format_graph", "verify"]
