"""The torch.compile entry point: minicomp(gm, example_inputs, options=...) registered as "minicomp".

It sits above the compiler (and the frontend the compiler uses), so frontend/ never imports the compiler.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import torch
from torch._dynamo.backends.common import aot_autograd
from torch._dynamo.exc import ShortenTraceback
from torch._functorch.partitioners import min_cut_rematerialization_partition

from minicomp.compiler import compile_fx_module
from minicomp.errors import InvalidOptionError, MinicompError
from minicomp.frontend.decompositions import decomposition_table
from minicomp.frontend.rewrites import rewrite_attention
from minicomp.options import Options


def surfaced(error: MinicompError) -> MinicompError:
    """`error` as an instance of its class and of ShortenTraceback, which Dynamo re-raises unwrapped."""
    cls = type(error)
    if cls not in _SURFACED:
        _SURFACED[cls] = type(cls.__name__, (cls, ShortenTraceback), {"__module__": cls.__module__})
    copy = Exception.__new__(_SURFACED[cls])
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    copy.first_useful_frame = None
    return copy


_SURFACED: dict[type, type] = {}


def errors_reach_the_user(backend: Callable) -> Callable:
    """Dynamo wraps backend errors in BackendCompilerFailed; ours keep their type (ValueError, UnsupportedOpError)."""

    @functools.wraps(backend)
    def run(*args: Any, **kwargs: Any) -> Callable:
        try:
            return backend(*args, **kwargs)
        except MinicompError as error:
            raise surfaced(error) from None

    return run


@errors_reach_the_user
def minicomp(gm: torch.fx.GraphModule, example_inputs: list, options: Optional[dict] = None,
             **kwargs: Any) -> Callable:
    """Compile a Dynamo graph: AOTAutograd splits forward/backward, each goes through our pipeline."""
    if kwargs:
        raise InvalidOptionError(f"unexpected arguments {sorted(kwargs)}; pass settings as options={{...}}")
    resolved = Options.from_dict(options)

    def compiler_for(kind: str) -> Callable:
        return lambda module, inputs: compile_fx_module(module, inputs, resolved, kind)

    compile_with_aot = aot_autograd(
        fw_compiler=compiler_for("forward"),
        bw_compiler=compiler_for("backward"),
        inference_compiler=compiler_for("inference"),
        decompositions=decomposition_table(),
        # Like Inductor: recompute cheap pointwise work in the backward instead of saving it.
        partition_fn=min_cut_rematerialization_partition,
    )
    # The backward graph is compiled now, with the forward one, not at the first backward call: its errors
    # surface here, and PyTorch's minifier, which runs forward and backward inside Dynamo's compile (where
    # a lazy backward compile fails on Dynamo's metrics: "is_forward have already been set"), works.
    with torch._functorch.config.patch(**EAGER_BACKWARD):
        return takes_arguments_one_by_one(compile_with_aot(rewrite_attention(gm), example_inputs))


# AOTAutograd's switch for compiling the backward with the forward; with a torch that lacks it, the backward
# compiles lazily at its first call and only PyTorch's minifier is affected.
EAGER_BACKWARD = ({"force_non_lazy_backward_lowering": True}
                  if hasattr(torch._functorch.config, "force_non_lazy_backward_lowering") else {})


def takes_arguments_one_by_one(compiled: Callable) -> Callable:
    """`compiled`, marked as what it is: a function Dynamo calls as `compiled(*args)`. AOTAutograd's function
    takes its arguments one by one yet copies `_boxed_call = True` from the boxed function it wraps, and
    PyTorch's minifier (TORCHDYNAMO_REPRO_AFTER="dynamo") trusts that flag and would pass a single list."""
    compiled._boxed_call = False
    return compiled
