"""A hypothesis strategy for small random torch programs: a chain of steps on one running tensor.

Each step is unary, binary with a fresh (broadcasting, possibly other-dtype) input, a reduction, a view,
softmax/log_softmax or a cat. Steps are drawn knowing the current shape and dtype, so every program
is valid; the program prints as the list of its steps, which is what a failing example shows.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from hypothesis import assume
from hypothesis import strategies as st

FLOAT_UNARY = {
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "abs": torch.abs, "neg": torch.neg,
    # sin of a large argument turns the last-bit difference of how two backends computed it (x**9 after
    # two cubes) into a visible one; the chains test the compiler, not that conditioning, so it is bounded
    "sin": lambda t: torch.sin(t.clamp(-4.0, 4.0)), "exp_tanh": lambda t: torch.exp(torch.tanh(t)), "log1p_abs": lambda t: torch.log1p(t.abs()),
    "square": lambda t: t * t, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": F.silu, "clamp": lambda t: t.clamp(-1.0, 1.5), "rsqrt_1p": lambda t: torch.rsqrt(t * t + 1),
    "cube": lambda t: t ** 3, "leaky_relu": lambda t: F.leaky_relu(t, 0.1), "scale": lambda t: t * 2.5 - 1,
    "cumsum": lambda t: t.cumsum(-1) if t.dim() else t,  # no primitive for scans: a torch fallback
}
INT_UNARY = {
    "abs": torch.abs, "neg": torch.neg, "relu": torch.relu, "mod7": lambda t: torch.remainder(t, 7),
    "clamp": lambda t: t.clamp(-10, 10), "half": lambda t: torch.div(t, 2, rounding_mode="floor"),
    "shift": lambda t: t + 3, "xor5": lambda t: t ^ 5,
}
FLOAT_BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "maximum": torch.maximum, "minimum": torch.minimum,
    "div": lambda t, y: t / (y.abs() + 0.5), "where_gt": lambda t, y: torch.where(t > y, t, y * 2),
    "lerp": lambda t, y: t + 0.5 * (y - t),
}
INT_BINARY = {"add": torch.add, "sub": torch.sub, "maximum": torch.maximum, "where_gt": lambda t, y: torch.where(t > y, t, y)}
FLOAT_REDUCTIONS = {
    "sum": lambda t, dims, keep: t.sum(dims, keepdim=keep), "mean": lambda t, dims, keep: t.mean(dims, keepdim=keep),
    "amax": lambda t, dims, keep: t.amax(dims, keepdim=keep), "amin": lambda t, dims, keep: t.amin(dims, keepdim=keep),
    "var": lambda t, dims, keep: t.var(dims, keepdim=keep, correction=0),
    "logsumexp": lambda t, dims, keep: torch.logsumexp(t, dims, keepdim=keep),
}
INT_REDUCTIONS = {name: FLOAT_REDUCTIONS[name] for name in ("sum", "amax", "amin")}


@dataclasses.dataclass
class Step:
    """One operation: `kind` and `name` pick the function, `args` its parameters (dims, input index, ...)."""

    kind: str
    name: str
    args: tuple = ()

    def __repr__(self) -> str:
        return f"{self.kind}:{self.name}{self.args}"


@dataclasses.dataclass
class Program:
    """Input shapes/dtypes and steps; calling it runs the chain on real inputs (eager or under Dynamo)."""

    shapes: list
    dtypes: list
    steps: list
    extra_output: int  # also return the value after this many steps (-1: only the final value)
    index_bounds: dict = dataclasses.field(default_factory=dict)  # input position -> exclusive bound

    def __call__(self, *inputs):
        current, saved = inputs[0], None
        for position, step in enumerate(self.steps):
            current = apply(step, current, inputs)
            if position == self.extra_output:
                saved = current
        return current if saved is None else (current, saved)

    def inputs(self, seed: int) -> list:
        generator = torch.Generator().manual_seed(seed)
        result = []
        for position, (shape, dtype) in enumerate(zip(self.shapes, self.dtypes)):
            if position in self.index_bounds:
                result.append(torch.randint(0, self.index_bounds[position], shape, generator=generator))
            elif dtype.is_floating_point:
                result.append((torch.randn(shape, generator=generator, dtype=torch.float64) * 1.5).to(dtype))
            else:
                result.append(torch.randint(-20, 21, shape, generator=generator).to(dtype))
        return result


def apply(step: Step, t: torch.Tensor, inputs) -> torch.Tensor:
    """Run one step on the running tensor `t`."""
    floating = t.is_floating_point()
    if step.kind == "unary":
        return (FLOAT_UNARY if floating else INT_UNARY)[step.name](t)
    if step.kind == "binary":
        other = inputs[step.args[0]]
        return (FLOAT_BINARY if floating else INT_BINARY)[step.name](t, other)
    if step.kind == "reduce":
        dims, keep = step.args
        return (FLOAT_REDUCTIONS if floating else INT_REDUCTIONS)[step.name](t, dims, keep)
    if step.kind == "softmax":
        return (torch.softmax if step.name == "softmax" else torch.log_softmax)(t, step.args[0])
    if step.kind == "cat":
        return torch.cat([t, t * 2], step.args[0])
    if step.kind == "matmul":
        return t @ inputs[step.args[0]]
    if step.kind == "index_select":
        axis, position = step.args
        return t.index_select(axis, inputs[position])
    if step.kind == "view":
        name, args = step.name, step.args
        if name == "transpose":
            return t.transpose(*args)
        if name == "permute":
            return t.permute(*args)
        if name == "reshape":
            return t.reshape(args)
        if name == "unsqueeze":
            return t.unsqueeze(args[0])
        if name == "squeeze":
            return t.squeeze(args[0])
        if name == "slice":
            axis, start, step_size = args
            return t[(slice(None),) * axis + (slice(start, None, step_size),)]
        if name == "expand":
            return t.expand(args)
        if name == "flatten":
            return t.flatten()
    raise AssertionError(step)


@st.composite
def programs(draw, dtypes=(torch.float32, torch.float64), max_steps: int = 6, min_size: int = 1) -> Program:
    """A random valid program over inputs of one of `dtypes` (binary steps may bring another dtype)."""
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    shape = tuple(draw(st.lists(st.integers(min_size, 5), min_size=1, max_size=4), label="shape"))
    program = Program([shape], [dtype], [], -1)
    current = torch.empty(shape, dtype=dtype, device="meta")
    kinds = ["unary", "binary", "reduce", "view", "view", "softmax", "cat", "matmul", "index_select"]
    if not dtype.is_floating_point:
        kinds.remove("softmax")
        kinds.remove("matmul")
    for _ in range(draw(st.integers(1, max_steps), label="steps")):
        kind = draw(st.sampled_from(kinds), label="kind")
        step = draw(_step(kind, current, program, dtype), label="step")
        if step is None:
            continue
        current = apply(step, current, [torch.empty(s, dtype=d, device="meta") for s, d in zip(program.shapes, program.dtypes)])
        program.steps.append(step)
        if current.numel() > 2000:  # keep programs cheap
            break
    assume(program.steps)  # a program with nothing to compute gives Dynamo nothing to hand to minicomp
    if len(program.steps) > 1:
        program.extra_output = draw(st.integers(-1, len(program.steps) - 2), label="extra_output")
    return program


@st.composite
def _step(draw, kind: str, current: torch.Tensor, program: Program, dtype: torch.dtype):
    floating = current.is_floating_point()
    rank, shape = current.dim(), tuple(current.shape)
    if kind == "unary":
        return Step(kind, draw(st.sampled_from(sorted(FLOAT_UNARY if floating else INT_UNARY))))
    if kind == "binary":
        other_shape = tuple(draw(st.sampled_from([1, size]) if size != 1 else st.integers(1, 3)) for size in shape)
        other_shape = other_shape[draw(st.integers(0, rank)):]
        choices = [current.dtype] * 3 + ([torch.float64, torch.int64] if floating else [torch.int32])
        program.shapes.append(other_shape)
        program.dtypes.append(draw(st.sampled_from(choices)))
        name = draw(st.sampled_from(sorted(FLOAT_BINARY if floating else INT_BINARY)))
        return Step(kind, name, (len(program.shapes) - 1,))
    if kind == "reduce":
        if rank == 0:
            return None
        dims = tuple(sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank))))
        name = draw(st.sampled_from(sorted(FLOAT_REDUCTIONS if floating else INT_REDUCTIONS)))
        if name in ("amax", "amin") and any(shape[d] == 0 for d in dims):
            name = "sum"  # the max of nothing is an error in torch
        return Step(kind, name, (dims, draw(st.booleans())))
    if kind == "softmax":
        if rank == 0:
            return None
        return Step(kind, draw(st.sampled_from(["softmax", "log_softmax"])), (draw(st.integers(-rank, rank - 1)),))
    if kind == "cat":
        if rank == 0:
            return None
        return Step(kind, "cat", (draw(st.integers(0, rank - 1)),))
    if kind == "matmul":
        if rank == 0:
            return None
        program.shapes.append((shape[-1], draw(st.integers(1, 4))))
        program.dtypes.append(current.dtype)
        return Step(kind, "matmul", (len(program.shapes) - 1,))
    if kind == "index_select":
        if rank == 0 or 0 in shape:
            return None
        axis = draw(st.integers(0, rank - 1))
        program.shapes.append((draw(st.integers(1, 4)),))
        program.dtypes.append(torch.int64)
        program.index_bounds[len(program.shapes) - 1] = shape[axis]
        return Step(kind, "index_select", (axis, len(program.shapes) - 1))
    return draw(_view(current))


@st.composite
def _view(draw, current: torch.Tensor):
    rank, shape = current.dim(), tuple(current.shape)
    options = ["unsqueeze", "flatten", "reshape"]
    if rank >= 2:
        options += ["transpose", "permute"]
    if rank >= 1:
        options += ["slice"]
    if 1 in shape:
        options += ["squeeze", "expand"]
    name = draw(st.sampled_from(options))
    if name == "transpose":
        return Step("view", name, tuple(draw(st.permutations(range(rank)))[:2]))
    if name == "permute":
        return Step("view", name, tuple(draw(st.permutations(range(rank)))))
    if name == "unsqueeze":
        return Step("view", name, (draw(st.integers(0, rank)),))
    if name == "squeeze":
        return Step("view", name, (draw(st.sampled_from([i for i, s in enumerate(shape) if s == 1])),))
    if name == "expand":
        return Step("view", name, tuple(draw(st.integers(1, 3)) if s == 1 else s for s in shape))
    if name == "slice":
        axis = draw(st.integers(0, rank - 1))
        return Step("view", name, (axis, draw(st.integers(0, max(shape[axis] - 1, 0))), draw(st.integers(1, 2))))
    if name == "reshape":
        numel = current.numel()
        first = draw(st.sampled_from([d for d in range(1, numel + 1) if numel % d == 0] or [0]))
        return Step("view", name, (first, -1) if numel else (0,))
    return Step("view", name)
