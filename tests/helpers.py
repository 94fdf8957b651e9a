"""Shared test utilities: compile a function with minicomp and compare it with eager torch."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import pytest
import torch
from torch.utils._pytree import tree_flatten

import minicomp

# Tolerances per dtype for values that went through several ops.
#  - float32: numpy sums in a different order (pairwise) than torch, so sums differ in the last bits.
#  - float16/bfloat16: both sides compute in float32 and round after each op, but a float32 result
#    that differs in its last bit can round to the neighbouring low-precision value (one ulp).
TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-7),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
}


def examples(count: int) -> int:
    """Hypothesis examples for a test: `count`, times MINICOMP_STRESS (default 1) for long bug hunts."""
    return max(1, int(count * float(os.environ.get("MINICOMP_STRESS", "1"))))


def tolerance(dtype: torch.dtype) -> dict:
    """rtol/atol for comparing tensors of `dtype` (exact for integers and bool)."""
    return TOLERANCES.get(dtype, dict(rtol=0, atol=0))


def assert_same(actual: Any, expected: Any, rtol: Optional[float] = None, atol: Optional[float] = None,
                what: str = "output") -> None:
    """Compare two (nested) results leaf by leaf: tensors with assert_close, other leaves with ==."""
    actual_leaves, actual_spec = tree_flatten(actual)
    expected_leaves, expected_spec = tree_flatten(expected)
    assert actual_spec == expected_spec, f"{what}: structure {actual_spec} != eager {expected_spec}"
    for index, (got, want) in enumerate(zip(actual_leaves, expected_leaves)):
        if isinstance(want, torch.Tensor):
            assert isinstance(got, torch.Tensor), f"{what}[{index}]: got {type(got).__name__}, eager gives a tensor"
            limits = tolerance(want.dtype)
            limits = dict(rtol=limits["rtol"] if rtol is None else rtol, atol=limits["atol"] if atol is None else atol)
            torch.testing.assert_close(got, want, equal_nan=True, **limits, msg=lambda m: f"{what}[{index}]: {m}")
        else:
            assert type(got) is type(want) and got == want, f"{what}[{index}]: {got!r} != eager {want!r}"


# Inductor's rule for results that differ from eager (torch._dynamo.utils.same with fp64_ref): a result
# at most twice as far from the float64 result as eager's is no less accurate than eager.
FLOAT64_RULE_MULTIPLIER = 2.0


def assert_same_or_as_accurate(actual: Any, expected: Any, exact: Any, what: str = "output") -> None:
    """assert_same, except that a float tensor that differs from eager's passes when its largest error
    against the float64 result `exact` is at most FLOAT64_RULE_MULTIPLIER times eager's.

    For ill-conditioned computations (a matmul of cubes of cumulative sums) float32 rounding alone can
    move two equally good results further apart than assert_close's float32 tolerance; the float64
    result then decides which one is wrong, and a real bug is far from it.
    """
    (leaves, spec), (expected_leaves, expected_spec) = tree_flatten(actual), tree_flatten(expected)
    assert spec == expected_spec, f"{what}: structure {spec} != eager {expected_spec}"
    for index, (got, want, truth) in enumerate(zip(leaves, expected_leaves, tree_flatten(exact)[0])):
        try:
            assert_same(got, want, what=f"{what}[{index}]")
        except AssertionError as difference:
            comparable = (isinstance(want, torch.Tensor) and want.is_floating_point() and isinstance(got, torch.Tensor)
                          and (got.dtype, got.shape, got.device) == (want.dtype, want.shape, want.device))
            if not comparable:  # a wrong dtype, shape or type is never as accurate as eager
                raise
            ours, eagers = ((t.detach().double() - truth.detach().double()).abs().max().item() for t in (got, want))
            if not ours <= FLOAT64_RULE_MULTIPLIER * eagers:
                raise AssertionError(f"{difference}\nand it is less accurate than eager: largest error "
                                     f"against float64 {ours:.3g}, eager's {eagers:.3g}") from None


def _clone_inputs(inputs: Sequence, grad: bool) -> list:
    clones = []
    for value in inputs:
        if isinstance(value, torch.Tensor):
            copy = value.detach().clone()
            if grad and copy.is_floating_point():
                copy.requires_grad_(True)
            clones.append(copy)
        else:
            clones.append(value)
    return clones


def _differentiable(outputs: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(outputs)[0] if isinstance(t, torch.Tensor) and t.requires_grad]


def _input_grads(outputs: Any, inputs: list, seed: int) -> list:
    """Gradients of sum(output * random weight) with respect to every float input tensor."""
    tensors = _differentiable(outputs)
    wrt = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    if not tensors or not wrt:
        return []
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t.dtype) for t in tensors]
    grads = torch.autograd.grad(tensors, wrt, weights, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(wrt, grads)]


def run_with_grads(fn: Callable, inputs: Sequence, grad: bool = True, compile_options: Optional[dict] = None,
                   dynamic: Optional[bool] = None, seed: int = 0) -> tuple[Any, list]:
    """`fn(*inputs)` and the input grads; compiled with minicomp (after a reset) unless compile_options is None."""
    inputs = _clone_inputs(inputs, grad)
    if compile_options is not None:
        minicomp.reset()
        fn = torch.compile(fn, backend="minicomp", options=compile_options, dynamic=dynamic)
    outputs = fn(*inputs)
    if compile_options is not None:
        assert_compiled(minicomp.reports())
    grads = _input_grads(outputs, inputs, seed) if grad else []
    return outputs, grads


def compile_and_compare(fn: Callable, *inputs: Any, grad: bool = True, rtol: Optional[float] = None,
                        atol: Optional[float] = None, options: Optional[dict] = None,
                        dynamic: Optional[bool] = None, seed: int = 0) -> list:
    """Run `fn` eagerly and through torch.compile(backend="minicomp"); assert equal outputs and input grads.

    Returns the CompileReports of this compile only (minicomp is reset first). Fails if Dynamo ran `fn`
    without handing any graph to minicomp (which would compare eager with eager).
    """
    expected, expected_grads = run_with_grads(fn, inputs, grad, None, seed=seed)
    actual, actual_grads = run_with_grads(fn, inputs, grad, options or {}, dynamic, seed)
    assert_same(actual, expected, rtol, atol, what="output")
    assert_same(actual_grads, expected_grads, rtol, atol, what="input grad")
    return minicomp.reports()


# What compiler.py's whole-graph fallback records as the op that fell back: the graph ran in torch unchanged.
WHOLE_GRAPH_FALLBACK = "<whole graph>"


def compiled_reports(reports: Sequence) -> list:
    """The reports of graphs minicomp compiled itself, without whole-graph fallbacks (which ran in torch:
    counting them as compiled would let a test compare eager with eager)."""
    return [report for report in reports if WHOLE_GRAPH_FALLBACK not in report.fallback_ops]


def assert_compiled(reports: Sequence) -> None:
    """Fail unless minicomp compiled at least one graph itself."""
    assert compiled_reports(reports), (
        "minicomp compiled nothing: Dynamo handed it no graph (graph break or skipped frame?) or every graph "
        f"fell back to torch whole: {[report.fallback_reasons for report in reports]}")


def fallback_ops(reports: Sequence) -> list[str]:
    """Sorted distinct ATen ops that ran through torch in any of `reports`."""
    return sorted({op for report in reports for op in report.fallback_ops})


def find_error(error: BaseException, kind: type) -> Optional[BaseException]:
    """`error` itself or the first exception of type `kind` it wraps (Dynamo wraps backend errors)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = getattr(error, "inner_exception", None) or error.__cause__ or error.__context__
    return None


def check_lowering(lowered: list, ops: list, fn, *inputs, grad=True, **kwargs) -> None:
    """Compare with eager; each of `ops` must have reached the lowering (the `lowered` fixture), and
    nothing may fall back."""
    reports = compile_and_compare(fn, *inputs, grad=grad, **kwargs)
    assert fallback_ops(reports) == []
    for op in ops:
        assert op in lowered, f"{op} never reached the lowering (seen: {sorted(set(lowered))})"


def random_tensor(shape, dtype=torch.float32, seed: int = 0, bound: int = 9) -> torch.Tensor:
    """Seeded test data of `dtype`: normal floats, integers in [-bound, bound], or coin flips."""
    generator = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
    if dtype is torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    return torch.randint(-bound, bound + 1, shape, generator=generator, dtype=dtype)


# Formula lowerings (math, special functions) must meet assert_close's float defaults against eager.
FORMULA_TOLERANCES = {torch.float32: dict(rtol=1.3e-6, atol=1e-5), torch.float64: dict(rtol=1e-7, atol=1e-7)}


def edge_and_random_values(edges: Sequence[float], dtype: torch.dtype, seed: int, count: int,
                           scales: Sequence[float]) -> torch.Tensor:
    """The edge values, then `count` seeded normal values times each of `scales` in turn (both signs)."""
    generator = torch.Generator().manual_seed(seed)
    random = torch.randn(count, generator=generator, dtype=torch.float64)
    random = random * torch.tensor(scales, dtype=torch.float64).repeat(count // len(scales))
    return torch.cat([torch.tensor(edges, dtype=torch.float64), random]).to(dtype)


def check_formula(fn: Callable, *inputs: Any, dtype: torch.dtype, grad: bool = True,
                  options: Optional[dict] = None) -> None:
    """Compare with eager at FORMULA_TOLERANCES[dtype] and require that nothing ran through torch."""
    reports = compile_and_compare(fn, *inputs, grad=grad, options=options, **FORMULA_TOLERANCES[dtype])
    assert fallback_ops(reports) == []


def assert_as_accurate_as_eager(got: torch.Tensor, want: torch.Tensor, exact: torch.Tensor) -> None:
    """Each element of `got` is within FORMULA_TOLERANCES of eager's `want`, or no further than it from
    `exact` (the same op in float64): where eager itself is the less accurate one, that is not a failure."""
    close = torch.isclose(got, want, equal_nan=True, **FORMULA_TOLERANCES[want.dtype])
    closer = (got.detach().double() - exact.detach()).abs() <= (want.detach().double() - exact.detach()).abs()
    good = close | closer
    assert bool(good.all()), (got[~good], want[~good])


def add_one(x):
    """The smallest function to compile: for tests of options and entry points."""
    return x + 1


def via_torch_compile(options):
    torch.compile(add_one, backend="minicomp", options=options)(torch.ones(2))


def via_minicomp_compile(options):
    minicomp.compile(add_one, options=options)(torch.ones(2))


# Options reach minicomp two ways; option tests run through both
ENTRY_POINTS = pytest.mark.parametrize("entry", [via_torch_compile, via_minicomp_compile],
                                       ids=["torch.compile", "minicomp.compile"])


def check_program(program, seed: int, grad: bool, target: Optional[str] = None, rtol=None, atol=None) -> None:
    """A random program (e2e/programs.py) matches eager, values and input grads, and matches itself bit for
    bit without fusion and memory planning; on the default target unless `target` is given.

    A float32 program whose results differ from eager's is judged against the program run in float64.
    """
    options = {} if target is None else {"target": target}
    inputs = program.inputs(seed)
    expected, expected_grads = run_with_grads(program, inputs, grad, None)
    actual, actual_grads = run_with_grads(program, inputs, grad, options)
    # float32 rounding decides the result wherever a float32 value is computed, also when a float64 input
    # promotes the end of the chain (eager's x ** 3 is x * x * x, rounded twice; numpy's pow rounds once)
    if rtol is None and atol is None and torch.float32 in program.dtypes \
            and not {torch.float16, torch.bfloat16} & set(program.dtypes):
        exact, exact_grads = run_with_grads(program, [x.double() if x.is_floating_point() else x for x in inputs],
                                            grad, None)
        assert_same_or_as_accurate(actual, expected, exact, what="output")
        assert_same_or_as_accurate(actual_grads, expected_grads, exact_grads, what="input grad")
    else:
        assert_same(actual, expected, rtol, atol, what="output")
        assert_same(actual_grads, expected_grads, rtol, atol, what="input grad")
    plain, plain_grads = run_with_grads(program, inputs, grad, {**options, "fusion": False, "memory_planning": False})
    assert_same(plain, actual, 0, 0, what="output without fusion/memory planning")
    assert_same(plain_grads, actual_grads, 0, 0, what="input grad without fusion/memory planning")
