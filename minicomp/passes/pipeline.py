"""PIPELINE lists the passes in order; run_pipeline runs, times, verifies and dumps each one."""

from __future__ import annotations

import time
from typing import Callable, NamedTuple, Optional

from minicomp.ir.graph import Graph
from minicomp.passes.cse import cse
from minicomp.passes.dce import dce
from minicomp.passes.fold import fold
from minicomp.passes.fusion import fusion
from minicomp.passes.gathers import sink_gathers
from minicomp.passes.memory import memory
from minicomp.passes.split_reductions import split_reductions
from minicomp.passes.views import views


class Pass(NamedTuple):
    """A named Graph -> Graph function; `option` names the Options flag (or backend need) that turns it on."""

    name: str
    run: Callable[[Graph], Graph]
    option: Optional[str] = None


# Options that are not user settings but needs of the chosen backend (the compiler decides them).
BACKEND_NEEDS = frozenset({"block_sized_rows"})

PIPELINE: list[Pass] = [
    Pass("fold", fold),
    Pass("split_reductions", split_reductions, option="block_sized_rows"),
    Pass("sink_gathers", sink_gathers),
    Pass("cse", cse),
    Pass("dce", dce),
    Pass("views", views),
    Pass("dce_after_views", dce),
    Pass("fusion", fusion, option="fusion"),
    Pass("memory", memory, option="memory_planning"),
]


def run_pipeline(graph: Graph, enabled: Callable[[str], bool] = lambda option: True,
                 after_pass: Callable[[str, Graph], None] = lambda name, graph: None,
                 check: Callable[[Graph], None] = lambda graph: None) -> tuple[Graph, dict[str, float]]:
    """Run every enabled pass; return the final graph and seconds spent per pass."""
    seconds: dict[str, float] = {}
    for step in PIPELINE:
        if step.option is not None and not enabled(step.option):
            continue
        start = time.perf_counter()
        graph = step.run(graph)
        seconds[step.name] = time.perf_counter() - start
        check(graph)
        after_pass(step.name, graph)
    return graph, seconds
