"""dce, cse and fold: the structure they promise, and values unchanged bit for bit (checked with numpy)."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import assert_same
from minicomp.backends.numpy_backend import compile_numpy
from minicomp.frontend.lowerings.common import IR_TO_TORCH
from minicomp.ir import DType, Graph, Op, format_graph, verify
from minicomp.passes.cse import cse
from minicomp.passes.dce import dce
from minicomp.passes.fold import fold


def run(graph: Graph, *inputs) -> list:
    return compile_numpy(graph)[1](list(inputs))


def ops(graph: Graph) -> list[str]:
    return [node.op.value for node in graph.all_nodes()]


def same_values_after(simplify, graph: Graph, *inputs) -> Graph:
    """Run `simplify` on `graph`; the result verifies and computes exactly what the original did."""
    before = run(graph, *inputs)
    simplified = simplify(graph)
    verify(simplified)
    assert_same(run(simplified, *inputs), before, rtol=0, atol=0, what=f"after {simplify.__name__}")
    return simplified


def test_dce_drops_what_no_output_needs_and_keeps_order():
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [4])
    graph.add(Op.SIN, [x])  # dead
    exp = graph.add(Op.EXP, [x])
    graph.add(Op.NEG, [exp])  # dead, reads a live value
    (fallback,) = graph.add_fallback("aten.cumsum.default", (x, 0), {}, [x], [(DType.FLOAT32, (4,))])  # dead
    total = graph.add(Op.ADD, [exp, x])
    graph.outputs = [total, exp]
    simplified = same_values_after(dce, graph, torch.randn(4))
    assert ops(simplified) == ["exp", "add"]
    assert simplified.outputs == [total, exp]


def test_dce_of_a_graph_returning_its_input():
    graph = Graph()
    x = graph.add_input("x", DType.INT64, [3])
    graph.add(Op.NEG, [x])
    graph.outputs = [x, None]
    simplified = same_values_after(dce, graph, torch.arange(3))
    assert ops(simplified) == [] and simplified.outputs == [x, None]


def test_cse_merges_repeats_but_not_different_attrs_or_fallbacks():
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [2, 3])
    first = graph.add(Op.SUM, [x], axes=(1,), keepdim=False)
    second = graph.add(Op.SUM, [x], axes=(1,), keepdim=False)
    other_axis = graph.add(Op.SUM, [x], axes=(0,), keepdim=False)
    exp_a, exp_b = graph.add(Op.EXP, [first]), graph.add(Op.EXP, [second])  # equal once sums merge
    calls = [graph.add_fallback("aten.rand_like.default", (x,), {}, [x], [(DType.FLOAT32, (2, 3))])[0]
             for _ in range(2)]
    zero, negative_zero = (graph.add(Op.FULL, [], value=v, dtype=DType.FLOAT32, shape=()) for v in (0.0, -0.0))
    graph.outputs = [exp_a, exp_b, other_axis, *calls, zero, negative_zero]
    simplified = cse(graph)
    verify(simplified)
    assert ops(simplified).count("sum") == 2 and ops(simplified).count("exp") == 1
    assert ops(simplified).count("fallback") == 2  # random ops are never merged
    assert ops(simplified).count("full") == 2  # 0.0 and -0.0 are different constants
    assert simplified.outputs[0] is simplified.outputs[1]


def constant_graph(value, source: DType, target: DType) -> Graph:
    graph = Graph()
    constant = graph.add(Op.FULL, [], value=value, dtype=source, shape=(2,))
    graph.outputs = [graph.add(Op.CAST, [constant], dtype=target)]
    return graph


@pytest.mark.parametrize("value, source, target", [
    (0.1, DType.FLOAT32, DType.FLOAT64),   # 0.1 is rounded to float32 before it is widened
    (0.1, DType.BFLOAT16, DType.FLOAT32),
    (0.1, DType.FLOAT64, DType.FLOAT16),
    (300, DType.INT64, DType.INT8),         # integer casts wrap around
    (-1, DType.INT64, DType.UINT8),
    (70000, DType.INT32, DType.INT16),
    (2 ** 40 + 1, DType.INT64, DType.INT32),
    (2 ** 60 + 1, DType.INT64, DType.FLOAT64),
    (True, DType.BOOL, DType.FLOAT16),
    (math.nan, DType.FLOAT32, DType.BOOL),
    (-math.inf, DType.FLOAT32, DType.BFLOAT16),
    (3.0, DType.FLOAT16, DType.FLOAT32),
    (2.75, DType.FLOAT32, DType.INT32),     # float -> int is left to the backend
])
def test_fold_casts_constants_exactly_like_torch(value, source, target):
    graph = constant_graph(value, source, target)
    expected = torch.full((2,), value, dtype=IR_TO_TORCH[source]).to(IR_TO_TORCH[target])
    assert_same(run(graph)[0], expected, rtol=0, atol=0, what="unfolded")
    simplified = same_values_after(fold, graph)
    assert_same(run(simplified)[0], expected, rtol=0, atol=0, what="folded")


def test_fold_turns_cast_and_expand_of_a_constant_into_one_constant():
    graph = Graph()
    constant = graph.add(Op.FULL, [], value=2, dtype=DType.INT32, shape=(1,))
    wide = graph.add(Op.EXPAND, [graph.add(Op.CAST, [constant], dtype=DType.FLOAT32)], shape=(5,))
    graph.outputs = [wide]
    simplified = dce(same_values_after(fold, graph))
    assert ops(simplified) == ["full"]
    assert "full(dtype=f32, shape=[5], value=2.0)" in format_graph(simplified)


@pytest.mark.parametrize("op, value, folds", [
    (Op.MUL, 1.0, True), (Op.DIV, 1.0, True), (Op.SUB, 0.0, True), (Op.ADD, -0.0, True),
    (Op.ADD, 0.0, False),   # -0.0 + 0.0 is 0.0: folding would flip the sign of zero (1/x tells them apart)
    (Op.SUB, -0.0, False),  # -0.0 - -0.0 is 0.0
    (Op.MUL, 2.0, False),
])
def test_fold_removes_only_exact_float_identities(op, value, folds):
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [5])
    constant = graph.add(Op.FULL, [], value=value, dtype=DType.FLOAT32, shape=(5,))
    graph.outputs = [graph.add(Op.RECIPROCAL, [graph.add(op, [x, constant])])]
    x_values = torch.tensor([-0.0, 0.0, math.nan, -math.inf, 3.0])
    simplified = dce(same_values_after(fold, graph, x_values))
    assert (op.value in ops(simplified)) != folds
    expected = 1 / {Op.MUL: torch.mul, Op.DIV: torch.div, Op.SUB: torch.sub, Op.ADD: torch.add}[op](x_values, value)
    assert_same(run(simplified, x_values)[0], expected, rtol=0, atol=0)


def test_fold_integer_identities_in_either_position():
    graph = Graph()
    x = graph.add_input("x", DType.INT64, [3])
    zero = graph.add(Op.FULL, [], value=0, dtype=DType.INT64, shape=(3,))
    one = graph.add(Op.FULL, [], value=1, dtype=DType.INT64, shape=(3,))
    graph.outputs = [graph.add(Op.MUL, [one, graph.add(Op.ADD, [zero, x])])]
    simplified = dce(same_values_after(fold, graph, torch.tensor([-4, 0, 9])))
    assert ops(simplified) == [] and simplified.outputs[0] is x


def test_fold_keeps_identities_that_broadcast():
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [1])
    one = graph.add(Op.FULL, [], value=1.0, dtype=DType.FLOAT32, shape=(4,))
    graph.outputs = [graph.add(Op.MUL, [graph.add(Op.EXPAND, [x], shape=(4,)), one])]
    simplified = dce(same_values_after(fold, graph, torch.tensor([2.5])))
    assert "mul" not in ops(simplified) and simplified.outputs[0].shape == (4,)


def test_fold_gives_reductions_one_form_so_cse_merges_them():
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT32, [3, 4])
    kept = graph.add(Op.MAX, [x], axes=(1,), keepdim=True)
    dropped = graph.add(Op.MAX, [x], axes=(1,), keepdim=False)
    graph.outputs = [kept, dropped]
    simplified = dce(cse(same_values_after(fold, graph, torch.randn(3, 4))))
    assert ops(simplified).count("max") == 1
    assert [tuple(v.shape) for v in simplified.outputs] == [(3, 1), (3,)]


def test_fold_removes_no_op_views_and_casts():
    graph = Graph()
    x = graph.add_input("x", DType.FLOAT16, [2, 3])
    same = graph.add(Op.CAST, [graph.add(Op.RESHAPE, [graph.add(Op.PERMUTE, [x], dims=(0, 1))], shape=(2, 3))],
                     dtype=DType.FLOAT16)
    swapped = graph.add(Op.PERMUTE, [x], dims=(1, 0))
    graph.outputs = [same, swapped]
    simplified = dce(same_values_after(fold, graph, torch.randn(2, 3).half()))
    assert ops(simplified) == ["permute"] and simplified.outputs[0] is x
