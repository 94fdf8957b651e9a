"""FX graph (ATen, after decomposition) -> ir.Graph; anything the lowering table lacks becomes a fallback node."""

from __future__ import annotations

import dataclasses
import operator
import os
from typing import Any, Optional

import sympy
import torch
import torch.fx
from torch.utils._pytree import tree_flatten, tree_map

from minicomp.errors import UnsupportedOpError, unsupported_ops_error
from minicomp.frontend import lowerings  # noqa: F401  (fills LOWERINGS)
from minicomp.frontend.lowerings.common import LOWERINGS, Context, Unsupported, add_constant, ir_dtype, sym
from minicomp.ir import DType, Graph, Value
from minicomp.ir.graph import size_symbols
from minicomp.ir.ops import ShapeError
from minicomp.ir.printer import format_type
from minicomp.ir.shapes import shapes_equal


@dataclasses.dataclass
class Lowered:
    """The IR graph plus what had to fall back to torch, and why."""

    graph: Graph
    fallback_ops: list[str]
    fallback_reasons: dict[str, str]


def lower_fx(gm: torch.fx.GraphModule, name: str, allow_fallback: bool) -> Lowered:
    """Translate every node of `gm`; see the module docstring for what happens to unknown ops."""
    graph = Graph(name)
    ctx = Context(graph)
    env: dict[torch.fx.Node, Any] = {}
    fallback_ops: list[str] = []
    reasons: dict[str, str] = {}
    refused: Optional[list] = None if allow_fallback else []  # (op, source, reason) of each op torch must run
    known: set = set()  # names of the size symbols bound so far: the inputs', then those ops' results bring
    for node in gm.graph.nodes:
        graph.source = source_line(node)
        if node.op == "placeholder":
            env[node] = _lower_placeholder(graph, node)
            known |= size_symbols(env[node])
        elif node.op == "output":
            results = tree_flatten(node.args[0])[0]
            graph.outputs = [_as_output(env, arg) for arg in results]
            graph.output_strides = [_eager_strides(arg) for arg in results]
        elif node.op == "call_function":
            if _reads_new_number(node, env, known):
                env[node] = _read_number(graph, env[node.args[0]], node)
                known.add(str(env[node]))
            elif isinstance(node.meta.get("val"), (torch.SymInt, torch.SymFloat, torch.SymBool, int, float, bool)):
                env[node] = _symbolic_scalar(node, known)
            elif node.target is operator.getitem:
                env[node] = env[node.args[0]][node.args[1]]
            else:
                env[node] = _lower_call(ctx, env, node, refused, fallback_ops, reasons)
                known |= _result_sizes(node, env[node], known)
        elif node.op == "get_attr":
            env[node] = _lower_constant(graph, node, _fetch_attr(gm, node.target))
        else:
            raise UnsupportedOpError(f"FX node kind {node.op!r} ({node.name}) is not supported",
                                     op=str(node.target), source=source_line(node))
    if refused:
        raise unsupported_ops_error(refused)
    return Lowered(graph, fallback_ops, reasons)


def source_line(node: torch.fx.Node) -> str:
    """`file.py:12 in forward` for the user's innermost frame recorded by Dynamo, or ''."""
    trace = node.meta.get("stack_trace") or ""
    frames = [line.strip() for line in trace.splitlines() if line.strip().startswith("File ")]
    if not frames:
        return ""
    parts = frames[-1].split(", ")  # File "path", line N, in fn
    path = parts[0][len('File "'):-1]
    line = parts[1].replace("line ", "") if len(parts) > 1 else "?"
    function = parts[2].replace("in ", "") if len(parts) > 2 else "?"
    return f"{os.path.basename(path)}:{line} in {function}"


def _lower_placeholder(graph: Graph, node: torch.fx.Node) -> Any:
    value = node.meta.get("val")
    if isinstance(value, torch.Tensor):
        try:
            dtype = ir_dtype(value.dtype)
        except Unsupported as error:
            raise UnsupportedOpError(f"input {node.name}: {error}", op="placeholder", source="") from None
        return graph.add_input(node.name, dtype, [sym(s) for s in value.shape])
    if isinstance(value, torch.SymInt):
        expr = value.node.expr
        if not isinstance(expr, sympy.Symbol) or any(expr == v for v in graph.inputs if isinstance(v, sympy.Symbol)):
            # a size derived from others (say 2*s0 - 1), or one already passed (x.shape[0] given twice): its
            # value follows from the first occurrence, so the argument only keeps its place, and uses of it
            # see the expression
            graph.add_symbol_input(sympy.Symbol(f"unused_{node.name}"))
            return expr
        return graph.add_symbol_input(expr)
    raise UnsupportedOpError(f"input {node.name} of type {type(value).__name__}", op="placeholder", source="")


def _fetch_attr(gm: torch.fx.GraphModule, target: str) -> Any:
    value = gm
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _lower_constant(graph: Graph, node: torch.fx.Node, tensor: Any) -> Value:
    """A tensor the graph holds (a lifted constant): CONSTANT data, identified by a digest of its bytes."""
    if not isinstance(tensor, torch.Tensor):
        raise UnsupportedOpError(f"graph attribute {node.target} is a {type(tensor).__name__}", op="get_attr",
                                 source="")
    try:
        return add_constant(graph, tensor)
    except Unsupported as error:
        raise UnsupportedOpError(f"constant {node.target}: {error}", op="get_attr", source="") from None


def _result_sizes(node: torch.fx.Node, result: Any, known: set) -> set:
    """The sizes a node's results bring (u0 of nonzero or x[mask], bound from the result's shape when it has
    run); a size known only inside a larger expression could not be bound, so it is refused."""
    found = set()
    for value in tree_flatten(result)[0]:
        for dim in value.shape if isinstance(value, Value) else ():
            if isinstance(dim, sympy.Symbol):
                found.add(str(dim))
            elif size_symbols(dim) - known - found:
                raise UnsupportedOpError(f"{node.target} gives a result of size {dim}, which depends on the data "
                                         "in a way minicomp cannot read off its shape; pass options={'fallback': "
                                         "True} to run this graph with torch", op=str(node.target),
                                         source=source_line(node))
    return found


def _reads_new_number(node: torch.fx.Node, env: dict, known: set) -> bool:
    """Is this tensor.item() of a tensor the graph computes, giving a new symbol (u0) that nothing binds yet?"""
    value = node.meta.get("val")
    return (node.target is torch.ops.aten._local_scalar_dense.default and isinstance(env.get(node.args[0]), Value)
            and isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool))
            and isinstance(value.node.expr, sympy.Symbol) and str(value.node.expr) not in known)


def _read_number(graph: Graph, tensor: Value, node: torch.fx.Node) -> sympy.Symbol:
    """tensor.item() (capture_scalar_outputs on) gives a number known only when the graph runs, u0: a node
    the host program runs as `u0 = t.item()`, so that what follows can use u0 as a size or a scalar."""
    symbol = node.meta["val"].node.expr
    graph.add_fallback(str(node.target), (tensor,), {}, [tensor], [], binds=str(symbol))
    return symbol


def _symbolic_scalar(node: torch.fx.Node, known: set) -> Any:
    value = node.meta["val"]
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        if size_symbols(value.node.expr) - known:
            raise UnsupportedOpError(
                f"{node.target} gives {value.node.expr}, a number known only when the graph runs (tensor.item() "
                "with torch._dynamo.config.capture_scalar_outputs on), and minicomp cannot compile what depends on "
                "it; pass options={'fallback': True} to run this graph with torch, or leave capture_scalar_outputs "
                "off so that Dynamo splits the graph at the .item()", op=str(node.target), source=source_line(node))
        return sym(value.node.expr)
    return value


def _as_output(env: dict, arg: Any) -> Any:
    if isinstance(arg, torch.fx.Node):
        result = env[arg]
        if isinstance(result, (Value, sympy.Basic)) or result is None:
            return result
        if isinstance(result, (int, float, bool)):
            return sympy.sympify(result)
        raise UnsupportedOpError(f"graph output {arg.name} is a {type(result).__name__}", op="output", source="")
    if arg is None or isinstance(arg, (int, float, bool)):
        return None if arg is None else sympy.sympify(arg)
    raise UnsupportedOpError(f"graph output {arg!r}", op="output", source="")


def _eager_strides(arg: Any) -> Any:
    """The strides AOTAutograd's fake result has (eager's: channels_last, a transpose), which the backends
    give the output; None for an output that is not a tensor."""
    value = arg.meta.get("val") if isinstance(arg, torch.fx.Node) else None
    return tuple(sym(s) for s in value.stride()) if isinstance(value, torch.Tensor) else None


def _lower_call(ctx: Context, env: dict, node: torch.fx.Node, refused: Optional[list],
                fallback_ops: list, reasons: dict) -> Any:
    """The lowering of one call; an op without one becomes a fallback node, or joins `refused` (when it is a
    list: fallback=False) and still gets a fallback node so that the rest of the graph is checked too."""
    args = tree_map(lambda a: env[a] if isinstance(a, torch.fx.Node) else a, node.args)
    kwargs = tree_map(lambda a: env[a] if isinstance(a, torch.fx.Node) else a, dict(node.kwargs))
    if node.target is torch.ops.higher_order.with_effects:
        return _lower_effect(ctx, node, args, kwargs, refused, fallback_ops, reasons)
    name = str(node.target)
    lowering = LOWERINGS.get(node.target)
    if lowering is None:
        reason = "no lowering to primitives"
    else:
        ctx.fx_node = node
        try:
            result = lowering(ctx, *args, **kwargs)
            _check_against_meta(result, node.meta.get("val"))
            return result
        except (Unsupported, ShapeError) as error:
            reason = str(error) or type(error).__name__
    fallback_ops.append(name)
    reasons.setdefault(name, reason)
    if refused is not None:
        refused.append((name, source_line(node), reason))
    try:
        return _fallback(ctx.graph, node, name, args, kwargs)
    except UnsupportedOpError as error:
        if refused is None:
            raise
        refused[-1] = (name, source_line(node), f"{reason}; {error}")  # nor can torch run it here: stop
        raise unsupported_ops_error(refused) from None


def _lower_effect(ctx: Context, node: torch.fx.Node, args: Any, kwargs: Any, refused: Optional[list],
                  fallback_ops: list, reasons: dict) -> Any:
    """with_effects(token, op, *args): AOTAutograd threads an ordering token through ops run for their side
    effect (linalg's error checks, prints). The whole call runs in torch and returns the next token, a
    graph output, so the effect is never dropped; the report names the op inside. At run time AOTAutograd
    passes None for the token input, so the call gets an empty tensor of its own."""
    name = str(args[1])
    reason = "runs for its side effect (an error check or a print)"
    if refused is not None:
        refused.append((name, source_line(node), reason))
    fallback_ops.append(name)
    reasons.setdefault(name, reason)
    token = ctx.full(0.0, DType.FLOAT32, (0,))
    return _fallback(ctx.graph, node, "higher_order.with_effects", (token,) + tuple(args[1:]), kwargs)


def _check_against_meta(result: Any, meta: Any) -> None:
    """A lowering must produce exactly the dtypes and shapes torch computed; else fall back, never run wrong."""
    results, _ = tree_flatten(result)
    metas, _ = tree_flatten(meta)
    if len(results) != len(metas):
        raise Unsupported(f"lowering produced {len(results)} outputs, torch has {len(metas)}")
    for value, expected in zip(results, metas):
        if isinstance(expected, torch.Tensor):
            shape = tuple(sym(s) for s in expected.shape)
            same = isinstance(value, Value) and shapes_equal(value.shape, shape) and value.dtype == ir_dtype(expected.dtype)
            if not same:
                got = format_type(value) if isinstance(value, Value) else repr(value)
                raise Unsupported(f"lowering produced {got}, torch expects {expected.dtype}{list(shape)}")


def _fallback(graph: Graph, node: torch.fx.Node, name: str, args: Any, kwargs: Any) -> Any:
    """A FALLBACK node computing what `node` computes by calling torch op `name`."""
    if not name.startswith(("aten.", "prims.", "higher_order.with_effects")):
        raise UnsupportedOpError(f"{name} is not an ATen op and cannot be run as a fallback", op=name,
                                 source=source_line(node))
    result = node.meta.get("val")
    inputs = [leaf for leaf in tree_flatten((args, kwargs))[0] if isinstance(leaf, Value)]
    metas, spec = tree_flatten(result)
    types = []
    for item in metas:
        if item is None:
            continue  # an output torch leaves out (say, an input gradient nobody asked for)
        if not isinstance(item, torch.Tensor):
            raise UnsupportedOpError(f"{name} returns a {type(item).__name__}", op=name, source=source_line(node))
        try:
            types.append((ir_dtype(item.dtype), [sym(s) for s in item.shape]))
        except Unsupported as error:
            raise UnsupportedOpError(f"{name}: {error}", op=name, source=source_line(node)) from None
    outputs = graph.add_fallback(name, args, kwargs, inputs, types)
    if isinstance(result, torch.Tensor):
        return outputs[0]
    remaining = iter(outputs)
    return spec.unflatten([None if item is None else next(remaining) for item in metas])
