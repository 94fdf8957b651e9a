"""Lowerings: core ATen ops -> IR primitives, one short function per op, registered in LOWERINGS."""

from minicomp.frontend.lowerings import pointwise  # noqa: F401
from minicomp.frontend.lowerings import reductions  # noqa: F401
from minicomp.frontend.lowerings import creation  # noqa: F401
from minicomp.frontend.lowerings import indexing  # noqa: F401
from minicomp.frontend.lowerings import prims  # noqa: F401
from minicomp.frontend.lowerings import views  # noqa: F401
from minicomp.frontend.lowerings import strided  # noqa: F401
from minicomp.frontend.lowerings import linalg  # noqa: F401
from minicomp.frontend.lowerings import pooling  # noqa: F401
from minicomp.frontend.lowerings import scans  # noqa: F401
from minicomp.frontend.lowerings import math  # noqa: F401
from minicomp.frontend.lowerings import extras  # noqa: F401
from minicomp.frontend.lowerings import special  # noqa: F401
from minicomp.frontend.lowerings import sorting  # noqa: F401
from minicomp.frontend.lowerings import bessel  # noqa: F401
from minicomp.frontend.lowerings.common import LOWERINGS

__all__ = ["LOWERINGS"]
