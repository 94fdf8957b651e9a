"""Compile one FX graph from AOTAutograd: lower, run the pass pipeline, generate code, report."""

from __future__ import annotations

import importlib.util
import time
import traceback
from typing import Callable, Sequence

import sympy
import torch
from torch.utils._pytree import tree_flatten
from functorch.compile import make_boxed_func
from torch._subclasses.fake_tensor import unset_fake_temporarily

from minicomp import report as reports
from minicomp.backends.numpy_backend import compile_numpy
from minicomp.dump import Dumper
from minicomp.backends.triton_runtime import require_triton
from minicomp.backends import cpp_build
from minicomp.errors import BackendUnavailableError, InternalCompilerError, MinicompError, UnsupportedOpError
from minicomp.frontend.lower import lower_fx
from minicomp.ir.graph import Graph, Value
from minicomp.ir.shapes import evaluate_size
from minicomp.ir.verify import verify
from minicomp.options import Options, verifying
from minicomp.passes import cost
from minicomp.passes.pipeline import BACKEND_NEEDS, run_pipeline
from minicomp.passes.views import view_roots


def compile_fx_module(gm: torch.fx.GraphModule, example_inputs: Sequence, options: Options,
                      kind: str) -> Callable:
    """A boxed callable computing `gm` with minicomp; records a CompileReport."""
    with unset_fake_temporarily():  # AOTAutograd calls us under fake mode; graph constants are real tensors
        return _compile(gm, example_inputs, options, kind)


def _compile(gm: torch.fx.GraphModule, example_inputs: Sequence, options: Options, kind: str) -> Callable:
    """Compile and record a report (also written to the dump folder) whatever happens; an exception that is
    not a MinicompError is a bug of ours, raised as an InternalCompilerError."""
    start = time.perf_counter()
    target = choose_target(options, example_inputs)
    report = reports.CompileReport(graph_id=reports.next_graph_id(), kind=kind, target=target)
    report.pass_seconds["target"] = time.perf_counter() - start
    dump = Dumper(options.dump_dir, report.graph_name)
    dump.text("aten_fx.txt", gm.code)
    report.dump_dir = dump.folder
    stage = ["lowering"]  # what is running, for the error message
    try:
        return _lower_and_generate(gm, example_inputs, options, dump, report, stage)
    except Exception as error:
        report.error = "".join(traceback.format_exception(error))
        if isinstance(error, MinicompError):
            raise
        raise InternalCompilerError(report.graph_name, stage[0], error, dump.folder) from error
    finally:
        report.compile_seconds = time.perf_counter() - start
        measured = sum(seconds for name, seconds in report.pass_seconds.items() if name not in reports.AFTER_COMPILE)
        report.pass_seconds["other"] = max(0.0, report.compile_seconds - measured)
        reports.record(report)
        dump.text("report.json", report.to_json())


def _lower_and_generate(gm: torch.fx.GraphModule, example_inputs: Sequence, options: Options, dump: Dumper,
                        report: reports.CompileReport, stage: list) -> Callable:
    lowering_start = time.perf_counter()
    try:
        lowered = lower_fx(gm, report.graph_name, allow_fallback=options.fallback)
    except UnsupportedOpError as error:
        if not options.fallback:
            raise
        return _whole_graph_fallback(gm, report, str(error))
    finally:
        report.pass_seconds["lowering"] = time.perf_counter() - lowering_start
    graph = lowered.graph
    unfused = [graph]
    target = report.target
    parts = {"verify": 0.0, "dump": 0.0}
    verifying_passes = verifying()

    def after_pass(name: str, graph: Graph) -> None:
        start = time.perf_counter()
        report.pass_node_counts[name] = sum(1 for _ in graph.all_nodes())
        if not any(item.is_kernel for item in graph.nodes):
            unfused[0] = graph
        dump.graph(name, graph)
        stage[0] = f"the pass after {name}"
        parts["dump"] += time.perf_counter() - start

    def check(graph: Graph) -> None:
        if verifying_passes:
            start = time.perf_counter()
            verify(graph)
            parts["verify"] += time.perf_counter() - start

    after_pass("lowered", graph)
    graph, passes = run_pipeline(graph, enabled=lambda option: _enabled(option, options, target),
                                 after_pass=after_pass, check=check)
    report.pass_seconds.update(passes)
    report.pass_seconds.update(parts)
    stage[0] = "code generation"
    codegen_start = time.perf_counter()
    if target == "cpp":
        program, run = _compile_cpp(graph, dump.source)
        report.pass_seconds["codegen"] = time.perf_counter() - codegen_start - program.compiler_seconds
        report.pass_seconds["cpp_compiler"] = program.compiler_seconds
    else:
        _, run = BACKENDS[target](graph, lambda source: dump.source("program.py", source))
        report.pass_seconds["codegen"] = time.perf_counter() - codegen_start
    stage[0] = "the report"
    report_start = time.perf_counter()
    _fill_costs(report, graph, unfused[0], _size_hints(graph, example_inputs))
    report.fallback_ops = lowered.fallback_ops
    report.fallback_reasons = lowered.fallback_reasons
    report.pass_seconds["report"] = time.perf_counter() - report_start
    if target == "triton":
        run = _timing_first_call(run, report)
    run = _with_eager_identity(run, gm, graph)
    run._boxed_call = True
    return run


def _with_eager_identity(run: Callable, gm: torch.fx.GraphModule, graph: Graph) -> Callable:
    """Outputs with eager's identity: one that is a graph input in the FX graph comes back as that very
    tensor, as with aot_eager (AOTAutograd saves inputs for the backward as forward outputs, and a copy
    would cut the autograd link a double backward follows); one that is a new tensor in the FX graph
    but an input, or a view of one, in minicomp's program (a clone that folding removed) comes back as
    a copy, since the input may be updated in place later (eval-mode batch norm's running mean). So
    does an output that is another output's value in the program but a different node in the FX graph
    (common subexpressions: digamma(x) and polygamma(0, x)): returned twice as one tensor, autograd
    would give the gradient of both to one of them, and the other a zero gradient."""
    placeholders = [node for node in gm.graph.nodes if node.op == "placeholder"]
    (output,) = [node for node in gm.graph.nodes if node.op == "output"]
    fx_outputs = tree_flatten(output.args[0])[0]
    returned = {position: placeholders.index(arg) for position, arg in enumerate(fx_outputs)
                if isinstance(arg, torch.fx.Node) and arg.op == "placeholder"}
    roots = view_roots(graph)
    inputs = set(graph.tensor_inputs)
    first_node: dict = {}  # value -> the FX node of the first output holding it
    copied = []
    for position, value in enumerate(graph.outputs):
        if position in returned or not isinstance(value, Value):
            continue
        if roots.get(value, value) in inputs or first_node.setdefault(value, fx_outputs[position]) is not \
                fx_outputs[position]:
            copied.append(position)
    if not returned and not copied:
        return run

    def with_eager_identity(args: list) -> list:
        passed = {position: args[argument] for position, argument in returned.items()}
        results = run(args)
        for position in copied:
            results[position] = results[position].clone(memory_format=torch.preserve_format)
        for position, tensor in passed.items():
            results[position] = tensor
        return results

    return with_eager_identity


def _enabled(option: str, options: Options, target: str) -> bool:
    """A pass runs when its option is on; block_sized_rows is a need of Triton's persistent reductions."""
    if option in BACKEND_NEEDS:  # block_sized_rows: Triton's persistent reductions need short rows
        return target == "triton"
    return getattr(options, option)


def _timing_first_call(run: Callable, report: reports.CompileReport) -> Callable:
    """Triton compiles each kernel on its first launch: record that time apart from our passes."""
    def timed(args: list) -> list:
        if "triton_first_call" in report.pass_seconds:
            return run(args)
        start = time.perf_counter()
        result = run(args)
        report.pass_seconds["triton_first_call"] = time.perf_counter() - start
        return result

    return timed


def choose_target(options: Options, example_inputs: Sequence) -> str:
    """Resolve target="auto": triton when the inputs are on CUDA and triton imports; on the CPU cpp when a
    C++ compiler works here, numpy otherwise."""
    if options.target == "triton":
        require_triton()
        return "triton"
    if options.target == "cpp":
        _require_cpu(example_inputs)
        cpp_build.require_toolchain()
        return "cpp"
    if options.target == "numpy":
        return "numpy"
    on_cuda = any(isinstance(x, torch.Tensor) and x.device.type == "cuda" for x in example_inputs)
    if on_cuda:
        return "triton" if importlib.util.find_spec("triton") is not None else "numpy"
    return "cpp" if cpp_build.toolchain() is not None else "numpy"


def _require_cpu(example_inputs: Sequence) -> None:
    """target='cpp' runs on CPU tensors; say so rather than copy a GPU program's data back and forth."""
    devices = {x.device.type for x in example_inputs if isinstance(x, torch.Tensor)} - {"cpu"}
    if devices:
        raise BackendUnavailableError(f"target='cpp' runs on CPU tensors, and these inputs are on {sorted(devices)}; "
                                      "use target='triton' or 'auto' for them")


def _compile_cpp(graph: Graph, keep_source: Callable):
    from minicomp.backends.cpp_backend import compile_cpp

    return compile_cpp(graph, keep_source)


def _compile_triton(graph: Graph, keep_source: Callable):
    from minicomp.backends.triton_backend import compile_triton

    return compile_triton(graph, keep_source)


BACKENDS = {"numpy": compile_numpy, "triton": _compile_triton, "cpp": _compile_cpp}


def _fill_costs(report: reports.CompileReport, graph: Graph, unfused: Graph, hints: dict) -> None:
    """Kernel traffic of the final graph, against the same graph before fusion and memory planning."""
    units = cost.costs(graph, hints)
    report.kernels = [reports.KernelReport(u.name, u.ops, u.bytes_read, u.bytes_written) for u in units if not u.extern]
    report.num_kernels = len(report.kernels)
    report.num_extern = sum(1 for u in units if u.extern)
    report.bytes_moved = sum(u.bytes_read + u.bytes_written for u in units)
    report.naive_bytes_moved = sum(u.bytes_read + u.bytes_written for u in cost.costs(unfused, hints))
    report.naive_peak_bytes = cost.naive_peak_bytes(unfused, hints)
    report.peak_bytes = (evaluate_size(graph.plan.arena_bytes, hints, missing=1) if graph.plan is not None
                         else cost.naive_peak_bytes(graph, hints))


def _size_hints(graph: Graph, example_inputs: Sequence) -> dict:
    """Example values for size symbols, read off the example inputs."""
    hints = {}
    for value, example in zip(graph.inputs, example_inputs):
        if isinstance(value, Value) and isinstance(example, torch.Tensor):
            for dim, actual in zip(value.shape, example.shape):
                if isinstance(dim, sympy.Symbol):
                    hints[str(dim)] = _hint(actual)
        elif isinstance(value, sympy.Symbol):
            hints[str(value)] = _hint(example)
    return hints


def _hint(size) -> int:
    if isinstance(size, torch.SymInt):
        return int(size.node.hint) if size.node.hint is not None else 1
    return int(size)


def _whole_graph_fallback(gm, report, reason: str) -> Callable:
    """Run the whole FX graph with torch, and say so in the report."""
    report.fallback_ops = ["<whole graph>"]
    report.fallback_reasons = {"<whole graph>": reason}
    report.num_extern = 1
    return make_boxed_func(gm.forward)
