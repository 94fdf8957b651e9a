"""CompileReport: what each compiled graph became (kernels, fallbacks, bytes, memory, pass times)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Optional

_REPORTS: list["CompileReport"] = []
_GRAPH_IDS = itertools.count()


# The parts of a compile besides the passes, as keys of `pass_seconds` beside the passes' own names:
# together they add up to `compile_seconds` ("other" is what no part measured). triton_first_call is
# not one of them: Triton compiles its kernels at the first call, after `compile_seconds` is taken.
# "target" is choosing it: the first compile of a process probes the C++ compiler there.
COMPILE_STAGES = ("target", "lowering", "verify", "dump", "codegen", "cpp_compiler", "report", "other")
AFTER_COMPILE = ("triton_first_call",)


@dataclasses.dataclass
class KernelReport:
    """One launched kernel: its name, the primitive ops inside, the bytes it reads and writes."""

    name: str
    ops: list[str]
    bytes_read: int
    bytes_written: int


@dataclasses.dataclass
class CompileReport:
    """One compiled graph (forward, backward or inference); the fields DESIGN.md promises."""

    graph_id: int
    kind: str
    target: str
    num_kernels: int = 0
    num_extern: int = 0
    kernels: list[KernelReport] = dataclasses.field(default_factory=list)
    fallback_ops: list[str] = dataclasses.field(default_factory=list)
    fallback_reasons: dict[str, str] = dataclasses.field(default_factory=dict)
    bytes_moved: int = 0
    naive_bytes_moved: int = 0
    peak_bytes: int = 0
    naive_peak_bytes: int = 0
    pass_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    pass_node_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    compile_seconds: float = 0.0
    dump_dir: Optional[str] = None
    error: Optional[str] = None  # the traceback, when compiling failed

    @property
    def graph_name(self) -> str:
        """`forward_3`: the IR graph's name and its dump folder's."""
        return f"{self.kind}_{self.graph_id}"

    def passes_seconds(self) -> dict[str, float]:
        """Seconds of each pipeline pass alone (pass_seconds without the other parts of the compile)."""
        return {name: seconds for name, seconds in self.pass_seconds.items()
                if name not in COMPILE_STAGES + AFTER_COMPILE}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def summary(self) -> str:
        """One line for logs and the demo."""
        fallback = f", fallback: {', '.join(sorted(set(self.fallback_ops)))}" if self.fallback_ops else ""
        return (f"graph {self.graph_id} ({self.kind}, {self.target}): {self.num_kernels} kernels, "
                f"{self.num_extern} extern calls, {self.bytes_moved} bytes moved{fallback}")


def record(report: CompileReport) -> None:
    _REPORTS.append(report)


def reports() -> list[CompileReport]:
    """Reports of every graph compiled since the last `reset()`, in compile order."""
    return list(_REPORTS)


def clear() -> None:
    _REPORTS.clear()


def next_graph_id() -> int:
    """A number no graph of this process had, even before a reset(): dump folders are never overwritten."""
    return next(_GRAPH_IDS)

