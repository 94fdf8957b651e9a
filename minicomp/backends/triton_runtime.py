"""What generated Triton programs need at run time: launching with tuned block
sizes, arena slots, fallbacks through torch, and scatters (atomic adds in Triton). The disk cache of
programs and block sizes is triton_cache.py."""

from __future__ import annotations

import hashlib
import os

import torch

from minicomp.backends import triton_cache
from minicomp.backends.checks import SLOTS_PER_CHECK, check_range, raise_failed
from minicomp.errors import BackendUnavailableError
from minicomp.ir.shapes import evaluate_size


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def require_triton() -> None:
    """Raise a clear error unless Triton can run here: a CUDA GPU, or TRITON_INTERPRET=1 on CPU."""
    try:
        import triton  # noqa: F401
    except ImportError:
        raise BackendUnavailableError("target='triton' needs the triton package: pip install 'minicomp[triton]'") from None
    if not torch.cuda.is_available() and not interpreting():
        raise BackendUnavailableError("target='triton' needs a CUDA GPU, or TRITON_INTERPRET=1 to run Triton's "
                                      "interpreter on CPU (slow; meant for tests); on CPU use target='numpy' "
                                      "or 'auto'")


LOOP_RBLOCK = 1024  # the chunk of a looped reduction when interpreting (tests make it smaller to loop more)


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


class Launcher:
    """Launches one generated kernel: grid from its domain, block sizes tuned once per (source, sizes)."""

    def __init__(self, function, source):
        self.function = function
        self.source = source
        self.key = hashlib.sha256(source.source.encode()).hexdigest()[:16]

    def __call__(self, inputs: list, outputs: list, sizes: list, bound: dict) -> None:
        outer = evaluate_size(self.source.outer, bound)
        reduced = evaluate_size(self.source.reduced, bound)
        if outer == 0:
            return
        inputs = [x.contiguous() for x in inputs]
        checks = self.source.checks
        if checks:  # the kernel flags failed checks in one more pointer argument, right after its outputs
            slots = torch.zeros(SLOTS_PER_CHECK * len(checks), dtype=torch.int64, device=outputs[0].device)
            outputs = outputs + [slots]
        config = self.config(outer, reduced, inputs, outputs, sizes)
        self.launch(config, outer, inputs, outputs, sizes)
        if checks:
            raise_failed(checks, slots.tolist())

    def launch(self, config: dict, outer: int, inputs, outputs, sizes) -> None:
        block = config["XBLOCK"]
        grid = ((outer + block - 1) // block,)
        self.function[grid](*inputs, *outputs, *sizes, **config)

    def candidates(self, outer: int, reduced: int) -> list[dict]:
        if not self.source.is_reduction:
            if interpreting():
                return [{"XBLOCK": min(_next_power_of_two(outer), 4096)}]
            return [{"XBLOCK": x, "num_warps": w} for x, w in ((256, 4), (512, 4), (1024, 4), (1024, 8))]
        if self.source.looped:
            if interpreting():
                return [{"XBLOCK": 1, "RBLOCK": LOOP_RBLOCK}]
            return [{"XBLOCK": x, "RBLOCK": r, "num_warps": w} for x in (1, 4) for r in (1024, 4096) for w in (4, 8)]
        rblock = _next_power_of_two(max(reduced, 1))
        if interpreting():
            return [{"XBLOCK": max(1, min(_next_power_of_two(outer), 8192 // rblock)), "RBLOCK": rblock}]
        rows = [x for x in (1, 2, 4, 8, 16, 32) if x * rblock <= 16384] or [1]
        warps = [w for w in (2, 4, 8, 16) if w * 32 <= max(32, rblock * rows[0] // 4)] or [4]
        return [{"XBLOCK": x, "RBLOCK": rblock, "num_warps": w} for x in rows for w in warps]

    def config(self, outer: int, reduced: int, inputs, outputs, sizes) -> dict:
        """The fastest candidate, measured once and remembered on disk (the only one when interpreting).

        Candidates write into scratch buffers: a kernel may write over its own input (memory planning
        reuses a dead input's bytes), and timing it on the real buffers would run it on its own result."""
        candidates = self.candidates(outer, reduced)
        if len(candidates) == 1:
            return candidates[0]
        key = f"{self.key}:{outer}:{reduced}:{inputs[0].dtype if inputs else ''}"
        cached = triton_cache.tuned_sizes().get(key)
        if cached in candidates:  # an entry that is no candidate (edited, or older code) is tuned again
            return cached
        scratch = [torch.empty_strided(o.shape, o.stride(), dtype=o.dtype, device=o.device) for o in outputs]
        timings, failures = [], []
        for candidate in candidates:
            try:
                timings.append((time_kernel(lambda: self.launch(candidate, outer, inputs, scratch, sizes)), candidate))
            except Exception as error:  # a candidate that does not compile (too many registers) is skipped
                failures.append(f"{candidate}: {error}")
        if not timings:
            raise RuntimeError("no block size compiled for this kernel:\n" + "\n".join(failures))
        best = min(timings, key=lambda t: t[0])[1]
        triton_cache.remember_tuned(key, best)
        return best


def time_kernel(launch) -> float:
    """Milliseconds per launch on the GPU (a module function, so tests can time candidates on CPU)."""
    from triton.testing import do_bench

    return do_bench(launch, warmup=5, rep=20)


def scatter(base: torch.Tensor, axis: int, index: torch.Tensor, source: torch.Tensor, out: torch.Tensor,
            reduce: str) -> None:
    """out = base with source scattered at index along axis: sums by a Triton atomic kernel, the rest by torch."""
    if index.numel():  # the atomic adds would write anywhere; torch's scatters check, but name no index
        check_range(int(index.min()), int(index.max()), base.shape[axis])
    window = source[tuple(slice(0, n) for n in index.shape)]
    if reduce == "assign":
        out.copy_(base.scatter(axis, index, window))
    elif reduce != "sum":
        out.copy_(base.scatter_reduce(axis, index, window, reduce, include_self=True))
    else:
        out.copy_(_atomic_scatter_add(base, axis, index, window))


def _atomic_scatter_add(base: torch.Tensor, axis: int, index: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """base with window added at index along axis: flat targets computed with torch, adds in Triton."""
    from minicomp.backends.triton_scatter import atomic_add

    # atomics exist for 32- and 64-bit types: accumulate narrow ones wider, then cast back (wrapping like torch)
    wider = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.int16: torch.int32,
             torch.int8: torch.int32, torch.uint8: torch.int32, torch.bool: torch.int32}
    accumulator = base.to(wider.get(base.dtype, base.dtype)).clone()
    positions = list(torch.meshgrid(*[torch.arange(n, device=index.device) for n in index.shape], indexing="ij"))
    positions[axis] = index
    strides = accumulator.stride()
    flat = sum(p.to(torch.int64) * s for p, s in zip(positions, strides)).reshape(-1).contiguous()
    atomic_add(accumulator.view(-1), flat, window.to(accumulator.dtype).reshape(-1).contiguous())
    return accumulator

