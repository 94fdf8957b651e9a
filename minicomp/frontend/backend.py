"""The torch.compile entry point: minicomp(gm, example_inputs, options=...) registered as "minicomp"."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.partitioners import min_cut_rematerialization_partition

from minicomp.compiler import compile_fx_module
from minicomp.errors import InvalidOptionError
from minicomp.frontend.decompositions import decomposition_table
from minicomp.frontend.rewrites import rewrite_attention
from minicomp.options import Options


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
    return compile_with_aot(rewrite_attention(gm), example_inputs)
