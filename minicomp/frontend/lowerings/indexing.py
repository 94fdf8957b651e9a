"""Indexing (gather, scatter, scatter_reduce, index_reduce, index.Tensor, index_put, embedding) -> GATHER/SCATTER.

Advanced indexing x[i, j] is spelled as one GATHER: the indexed dims are merged into one axis, the index
tensors are combined into a flat position along it (negative indices wrap like torch), and the other
dims become the leading and trailing axes of a 3-d view. index_put is the same plan with SCATTER
(reduce="sum" when it accumulates, "assign" when it does not). Plain writes with duplicate targets
keep the last one, as torch does on CPU; torch documents that order as undefined.
"""

from __future__ import annotations

import dataclasses
import math

import sympy
from torch import ops

from minicomp.frontend.lowerings.common import Context, Unsupported, normalize_axis, register
from minicomp.frontend.lowerings.creation import stored_value
from minicomp.ir import DType, Op, Value
from minicomp.ir.shapes import sizes_equal

aten = ops.aten


def _product(sizes) -> sympy.Expr:
    return sympy.Mul(*sizes) if sizes else sympy.Integer(1)


@dataclasses.dataclass
class IndexPlan:
    """x viewed as (before, indexed, after) and the flat int64 position, of shape `broadcast`, along axis 1."""

    view: Value  # x permuted (indexed dims first, when they are not adjacent) and reshaped to 3-d
    position: Value
    before: tuple  # sizes of the dims in front of the indexed block, in result order
    broadcast: tuple  # the broadcast shape of the index tensors
    after: tuple  # sizes of the dims behind the indexed block
    permutation: tuple | None  # how x was permuted first, if it was

    @property
    def result_shape(self) -> tuple:
        """Shape of x[indices]: torch's advanced-indexing result."""
        return self.before + self.broadcast + self.after

    def spread_position(self, ctx: Context) -> Value:
        """The flat position expanded to the 3-d result (before, numel(broadcast), after)."""
        column = ctx.reshape(self.position, (1, _product(self.broadcast), 1))
        return ctx.expand_to(column, (_product(self.before), _product(self.broadcast), _product(self.after)))

    def as_input_shape(self, ctx: Context, view_shaped: Value, x: Value) -> Value:
        """A tensor shaped like `view` back to the shape and dim order of x."""
        if self.permutation is None:
            return ctx.reshape(view_shaped, x.shape)
        permuted = ctx.reshape(view_shaped, [x.shape[d] for d in self.permutation])
        inverse = tuple(self.permutation.index(d) for d in range(x.rank))
        return ctx.add(Op.PERMUTE, permuted, dims=inverse)


def checked_index(ctx: Context, index: Value, size: int) -> Value:
    """index with negative entries wrapped like torch, read through a GATHER from iota(size): the values
    stay, and GATHER's run-time check names an index outside [-size, size) with this dim's size, before
    a merged position (x[i, j]) could land on a neighbouring row."""
    negative = ctx.add(Op.BITWISE_AND, ctx.elementwise(Op.LT, index, 0, dtype=DType.INT64),
                       ctx.elementwise(Op.GE, index, -size, dtype=DType.INT64))
    wrapped = ctx.add(Op.WHERE, negative, ctx.elementwise(Op.ADD, index, size, dtype=DType.INT64), index)
    positions = ctx.add(Op.IOTA, length=sympy.Integer(size), start=0, step=1, dtype=DType.INT64)
    checked = ctx.add(Op.GATHER, positions, ctx.reshape(wrapped, (wrapped.numel,)), axis=0)
    return ctx.reshape(checked, wrapped.shape)


def plan_index(ctx: Context, x: Value, indices: list) -> IndexPlan:
    """The IndexPlan for x[indices] (a list with None for the dims taken whole)."""
    if len(indices) > x.rank:
        raise Unsupported(f"{len(indices)} indices for a {x.rank}-d tensor")
    for index in indices:
        if index is not None and not (isinstance(index, Value) and index.dtype in (DType.INT64, DType.INT32)):
            raise Unsupported("only int64/int32 index tensors (boolean masks give data-dependent shapes)")
    indexed = [d for d, index in enumerate(indices) if index is not None]
    if not indexed:
        raise Unsupported("indexing with no index tensor")
    permutation = None
    if indexed != list(range(indexed[0], indexed[-1] + 1)):  # torch moves the result dims to the front
        permutation = tuple(indexed) + tuple(d for d in range(x.rank) if d not in indexed)
        x = ctx.add(Op.PERMUTE, x, dims=permutation)
        indices = [indices[d] for d in indexed]
        indexed = list(range(len(indexed)))
    first, last = indexed[0], indexed[-1]
    tensors = ctx.broadcast(*[ctx.cast(indices[d], DType.INT64) for d in indexed])
    position = None
    for axis, index in zip(indexed, tensors):
        size = x.shape[axis]
        if not size.is_Integer:
            raise Unsupported(f"indexing a dim of symbolic size {size}")
        checked = checked_index(ctx, index, int(size))
        position = checked if position is None else ctx.add(
            Op.ADD, ctx.elementwise(Op.MUL, position, int(size), dtype=DType.INT64), checked)
    before, after = tuple(x.shape[:first]), tuple(x.shape[last + 1:])
    view = ctx.reshape(x, (_product(before), _product(x.shape[first:last + 1]), _product(after)))
    return IndexPlan(view, position, before, tuple(tensors[0].shape), after, permutation)


@register(aten.index.Tensor, aten._unsafe_index.Tensor)
def index_tensor(ctx: Context, x: Value, indices: list) -> Value:
    """x[i0, i1, ...] with integer index tensors: one GATHER on a 3-d view of x."""
    plan = plan_index(ctx, x, list(indices))
    gathered = ctx.add(Op.GATHER, plan.view, plan.spread_position(ctx), axis=1)
    return ctx.reshape(gathered, plan.result_shape)


@register(aten.index_select.default)
def index_select(ctx: Context, x: Value, dim: int, index: Value) -> Value:
    """x.index_select(dim, i) is x[:, ..., i] with i flattened to 1-d (a 0-d x acts as 1-d)."""
    flat_index = ctx.reshape(index, (index.numel,))
    if x.rank == 0:
        return ctx.reshape(index_tensor(ctx, ctx.reshape(x, (1,)), [flat_index]), ctx.fx_node.meta["val"].shape)
    return index_tensor(ctx, x, [None] * normalize_axis(dim, x.rank) + [flat_index])


@register(aten.embedding.default)
def embedding(ctx: Context, weight: Value, indices: Value, padding_idx=-1, scale_grad_by_freq=False,
              sparse=False) -> Value:
    """Rows of the weight table: weight[indices] (padding_idx only matters for the gradient)."""
    return index_tensor(ctx, weight, [indices])


@register(aten.embedding_renorm.default)
def embedding_renorm(ctx: Context, weight: Value, indices: Value, max_norm: float, norm_type: float) -> Value:
    """The weight with each row that `indices` selects scaled by max_norm / (norm + 1e-7) where its p-norm
    exceeds max_norm (what embedding(max_norm=...) does to its table); norms in float64, like torch's."""
    if weight.rank != 2 or not weight.dtype.is_float or not indices.dtype.is_integer or norm_type <= 0:
        raise Unsupported(f"embedding_renorm of a {weight.rank}-d {weight.dtype!r} table, norm {norm_type}")
    rows = weight.shape[0]
    flat = ctx.reshape(ctx.cast(indices, DType.INT64), (indices.numel,))
    magnitudes = ctx.add(Op.ABS, ctx.cast(weight, DType.FLOAT64))
    if norm_type == math.inf:
        norm = ctx.add(Op.MAX, magnitudes, axes=(1,), keepdim=True)
    else:
        powered = magnitudes if norm_type == 1 else ctx.elementwise(Op.POW, magnitudes, float(norm_type),
                                                                    dtype=DType.FLOAT64)
        norm = ctx.add(Op.SUM, powered, axes=(1,), keepdim=True)
        if norm_type != 1:
            norm = ctx.elementwise(Op.POW, norm, 1.0 / norm_type, dtype=DType.FLOAT64)
    scale = ctx.elementwise(Op.DIV, float(max_norm), ctx.elementwise(Op.ADD, norm, 1e-7, dtype=DType.FLOAT64),
                            dtype=DType.FLOAT64)
    too_long = ctx.elementwise(Op.GT, norm, float(max_norm), dtype=DType.FLOAT64)
    selected = ctx.add(Op.BITWISE_AND, ctx.reshape(_written_mask(ctx, (rows,), flat, axis=0), (rows, 1)), too_long)
    scaled = ctx.add(Op.MUL, weight, ctx.expand_to(ctx.cast(scale, weight.dtype), weight.shape))
    return ctx.add(Op.WHERE, ctx.expand_to(selected, weight.shape), scaled, weight)


@register(aten.index_put.default, aten._unsafe_index_put.default)
def index_put(ctx: Context, x: Value, indices: list, values: Value, accumulate=False) -> Value:
    """x[indices] = values (SCATTER assign) or += values (SCATTER sum) on the 3-d view of the index plan."""
    if values.dtype != x.dtype or (accumulate and x.dtype is DType.BOOL):
        raise Unsupported(f"index_put of {values.dtype!r} values into {x.dtype!r}")
    if len(indices) == 1 and isinstance(indices[0], Value) and indices[0].dtype is DType.BOOL:
        return _masked_put(ctx, x, indices[0], values, accumulate)
    plan = plan_index(ctx, x, list(indices))
    position = plan.spread_position(ctx)
    source = ctx.reshape(ctx.expand_to(values, plan.result_shape), position.shape)
    written = ctx.add(Op.SCATTER, plan.view, position, source, axis=1, reduce="sum" if accumulate else "assign")
    return plan.as_input_shape(ctx, written, x)


@register(aten.put.default)
def put(ctx: Context, x: Value, index: Value, source: Value, accumulate=False) -> Value:
    """x.put(index, source) is index_put on the flattened x (what torch.take's gradient uses)."""
    flat = [ctx.reshape(v, (v.numel,)) for v in (x, index, source)]
    return ctx.reshape(index_put(ctx, flat[0], [flat[1]], flat[2], accumulate), x.shape)


def _masked_put(ctx: Context, x: Value, mask: Value, values: Value, accumulate: bool) -> Value:
    """x[mask] = v (or += v) where v does not vary along the selected entries: a WHERE, with no
    data-dependent shape in sight."""
    if mask.rank > x.rank or any(not sizes_equal(a, b) for a, b in zip(mask.shape, x.shape)):
        raise Unsupported("boolean mask whose shape is not a leading part of the tensor's shape")
    trailing = tuple(x.shape[mask.rank:])  # x[mask] has shape (count,) + trailing
    while values.rank > len(trailing) and values.shape[0] == 1:
        values = ctx.reshape(values, tuple(values.shape[1:]))
    if values.rank <= len(trailing):
        per_entry = ctx.expand_to(ctx.reshape(values, (1,) * (len(trailing) - values.rank) + tuple(values.shape)),
                                  trailing)
        value = ctx.expand_to(ctx.reshape(per_entry, (1,) * mask.rank + trailing), x.shape)
    else:
        single = _single_value(ctx, values)
        if single is None:
            raise Unsupported("index_put through a boolean mask of values that vary along the selected entries "
                              "(their count depends on the mask)")
        value = ctx.expand_to(single, x.shape)
    mask = ctx.expand_to(ctx.reshape(mask, tuple(mask.shape) + (1,) * (x.rank - mask.rank)), x.shape)
    return ctx.add(Op.WHERE, mask, ctx.add(Op.ADD, x, value) if accumulate else value, x)


def _single_value(ctx: Context, values: Value) -> Value | None:
    """The 0-d tensor that `values` only repeats (it has one element, or is built by EXPAND or FULL), or None."""
    if all(size == 1 for size in values.shape):
        return ctx.reshape(values, ())
    producer = next((node for node in reversed(ctx.graph.nodes) if values in node.outputs), None)
    if producer is not None and producer.op is Op.EXPAND and all(size == 1 for size in producer.inputs[0].shape):
        return ctx.reshape(producer.inputs[0], ())
    if producer is not None and producer.op is Op.FULL:
        return ctx.full(producer.attrs["value"], values.dtype)
    return None


def _hits(ctx: Context, shape: tuple, index: Value, axis: int, start: int = 0) -> Value:
    """int64 tensor of `shape`: `start` plus how many times a scatter along `axis` with `index` writes there."""
    ones = ctx.full(1, DType.INT64, index.shape)
    return ctx.add(Op.SCATTER, ctx.full(start, DType.INT64, shape), index, ones, axis=axis, reduce="sum")


def _written_mask(ctx: Context, shape: tuple, index: Value, axis: int) -> Value:
    """Bool tensor of `shape`: True where a scatter along `axis` with `index` writes."""
    return ctx.elementwise(Op.NE, _hits(ctx, shape, index, axis), 0, dtype=DType.INT64)


def _source_like_index(ctx: Context, source: Value, index: Value) -> Value:
    """torch reads only the leading index.shape block of a larger source."""
    for axis, (have, need) in enumerate(zip(source.shape, index.shape)):
        if not sizes_equal(have, need):
            source = ctx.add(Op.SLICE, source, axis=axis, start=0, stop=need, step=1)
    return source


def _gather_operands(ctx: Context, x: Value, dim: int, index: Value, source: Value | None = None,
                     reduce: str = "sum") -> tuple:
    """(axis, x, index, source) as GATHER/SCATTER want them: rank >= 1 (torch also takes 0-d tensors),
    an int64 index, and the source cut to the index shape."""
    if not index.dtype.is_integer:
        raise Unsupported(f"gather/scatter index of dtype {index.dtype!r}")
    if max(index.rank, 1) != max(x.rank, 1):
        raise Unsupported("index rank differs from the input rank")
    axis = normalize_axis(dim, x.rank)
    x, index = [ctx.reshape(v, (1,)) if v.rank == 0 else v for v in (x, ctx.cast(index, DType.INT64))]
    if source is not None:
        if source.dtype != x.dtype or (x.dtype is DType.BOOL and reduce != "assign"):
            raise Unsupported(f"scattering {source.dtype!r} into {x.dtype!r}")
        source = _source_like_index(ctx, ctx.reshape(source, (1,)) if source.rank == 0 else source, index)
    return axis, x, index, source


@register(aten.gather.default)
def gather(ctx: Context, x: Value, dim: int, index: Value, sparse_grad=False) -> Value:
    """torch.gather is the GATHER primitive."""
    axis, x1, index1, _ = _gather_operands(ctx, x, dim, index)
    return ctx.reshape(ctx.add(Op.GATHER, x1, index1, axis=axis), index.shape)


@register(aten.scatter_add.default)
def scatter_add(ctx: Context, x: Value, dim: int, index: Value, source: Value) -> Value:
    """torch.scatter_add is SCATTER with reduce="sum" (after cutting the source to the index shape)."""
    return _scatter(ctx, x, dim, index, source, "sum")


@register(aten.scatter.src)
def scatter_source(ctx: Context, x: Value, dim: int, index: Value, source: Value) -> Value:
    """torch.scatter is SCATTER with reduce="assign" (which duplicate wins is unspecified in torch)."""
    return _scatter(ctx, x, dim, index, source, "assign")


@register(aten.scatter.value)
def scatter_value(ctx: Context, x: Value, dim: int, index: Value, value) -> Value:
    """Writing one value: SCATTER assign of that value, shaped like the index."""
    return _scatter(ctx, x, dim, index, _value_like_index(ctx, value, x.dtype, index), "assign")


def _value_like_index(ctx: Context, value, dtype: DType, index: Value) -> Value:
    """A scalar (or one-element tensor) `value` of `dtype`, repeated to the index's shape."""
    if isinstance(value, Value):
        return ctx.expand_to(ctx.reshape(ctx.cast(value, dtype), ()), index.shape)
    return ctx.full(stored_value(value, dtype), dtype, index.shape)


LEGACY_SCATTER_REDUCTIONS = {"add": "sum", "multiply": "prod"}


@register(aten.scatter.reduce)
def scatter_legacy_reduce(ctx: Context, x: Value, dim: int, index: Value, source: Value, reduce: str) -> Value:
    """The older scatter(..., reduce="add"|"multiply") spelling of scatter_reduce with include_self."""
    return _scatter(ctx, x, dim, index, source, LEGACY_SCATTER_REDUCTIONS[reduce])


@register(aten.scatter.value_reduce)
def scatter_value_reduce(ctx: Context, x: Value, dim: int, index: Value, value, reduce: str) -> Value:
    """scatter(..., value, reduce=...): the value as a source shaped like the index."""
    return _scatter(ctx, x, dim, index, _value_like_index(ctx, value, x.dtype, index),
                    LEGACY_SCATTER_REDUCTIONS[reduce])


@register(aten.scatter_reduce.two)
def scatter_reduce(ctx: Context, x: Value, dim: int, index: Value, source: Value, reduce: str,
                   include_self=True) -> Value:
    """SCATTER with the reduction; without include_self the written targets first get the reduction's
    identity, as torch does; mean is the sum divided by the count of what was summed."""
    axis, x1, index1, source1 = _gather_operands(ctx, x, dim, index, source)
    if not include_self:
        written = _written_mask(ctx, x1.shape, index1, axis)
        identity = ctx.full(_identity(reduce, x.dtype), x.dtype, x1.shape)
        x1 = ctx.add(Op.WHERE, written, identity, x1)
    result = ctx.add(Op.SCATTER, x1, index1, source1, axis=axis, reduce="sum" if reduce == "mean" else reduce)
    if reduce == "mean":
        result = _divide_by_count(ctx, result, _counts(ctx, x1.shape, index1, axis, include_self))
    return ctx.reshape(result, x.shape)


@register(aten.index_reduce.default)
def index_reduce(ctx: Context, x: Value, dim: int, index: Value, source: Value, reduce: str,
                 include_self=True) -> Value:
    """x.index_reduce(dim, i, s) is scatter_reduce along dim with i spread over the source's shape."""
    axis = normalize_axis(dim, max(source.rank, 1))
    column = ctx.reshape(ctx.cast(index, DType.INT64), tuple(
        index.numel if d == axis else 1 for d in range(max(source.rank, 1))))
    spread = ctx.expand_to(column, source.shape if source.rank else (1,))
    return scatter_reduce(ctx, x, dim, spread, source, reduce, include_self)


def _scatter(ctx: Context, x: Value, dim: int, index: Value, source: Value, reduce: str) -> Value:
    axis, x1, index1, source1 = _gather_operands(ctx, x, dim, index, source, reduce)
    return ctx.reshape(ctx.add(Op.SCATTER, x1, index1, source1, axis=axis, reduce=reduce), x.shape)


def _identity(reduce: str, dtype: DType):
    """What torch puts in a written target before reducing into it when include_self=False."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if reduce not in ("amax", "amin"):
        raise Unsupported(f"scatter_reduce with reduce={reduce!r}")
    return dtype.lowest if reduce == "amax" else dtype.highest


def _counts(ctx: Context, shape: tuple, index: Value, axis: int, include_self: bool) -> Value:
    """How many values each target's mean averages (at least 1: untouched targets keep their value)."""
    counts = _hits(ctx, shape, index, axis, start=1 if include_self else 0)
    return ctx.add(Op.MAXIMUM, counts, ctx.full(1, DType.INT64, shape))


def _divide_by_count(ctx: Context, total: Value, counts: Value) -> Value:
    """torch's mean: true division for floats, floor division for integers."""
    counts = ctx.cast(counts, total.dtype)
    return ctx.add(Op.DIV if total.dtype.is_float else Op.FLOORDIV, total, counts)
