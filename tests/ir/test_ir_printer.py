"""The text form: stable, deterministic, golden-checked; and the dot form names every node."""

from __future__ import annotations

import sympy

from minicomp.ir import DType, Graph, Kernel, Op, format_graph
from minicomp.ir.dot import to_dot


def small_graph() -> Graph:
    """bias add over a dynamic batch, a row sum, a constant, a fallback, and a symbolic output."""
    graph = Graph("small")
    batch = sympy.Symbol("s0", integer=True, positive=True)
    x = graph.add_input("x", DType.FLOAT32, [batch, 8])
    bias = graph.add_input("bias", DType.FLOAT32, [8])
    graph.source = "model.py:12 in forward"
    row = graph.add(Op.RESHAPE, [bias], shape=(1, 8))
    wide = graph.add(Op.EXPAND, [row], shape=(batch, 8))
    total = graph.add(Op.ADD, [x, wide])
    graph.source = ""
    row_sum = graph.add(Op.SUM, [total], axes=(1,), keepdim=False)
    graph.add(Op.FULL, [], value=0.5, dtype=DType.BFLOAT16, shape=())
    (cumulative,) = graph.add_fallback("aten.cumsum.default", (total, 1), {}, [total],
                                       [(DType.FLOAT32, (batch, 8))])
    graph.outputs = [row_sum, cumulative, batch, None]
    return graph


GOLDEN = """\
graph small(x: f32[s0, 8], bias: f32[8]) {
  t0: f32[1, 8] = reshape(bias, shape=[1, 8])  # model.py:12 in forward
  t1: f32[s0, 8] = expand(t0, shape=[s0, 8])  # model.py:12 in forward
  t2: f32[s0, 8] = add(x, t1)  # model.py:12 in forward
  t3: f32[s0] = sum(t2, axes=[1], keepdim=False)
  t4: bf16[] = full(dtype=bf16, shape=[], value=0.5)
  t5: f32[s0, 8] = fallback(t2, args=[%t2, 1], kwargs={}, target=aten.cumsum.default)
  return (t3, t5, s0, None)
}
"""


def test_printer_matches_golden_text():
    assert format_graph(small_graph()) == GOLDEN
    assert str(small_graph()) == GOLDEN


def test_printer_is_deterministic_across_builds():
    assert format_graph(small_graph()) == format_graph(small_graph())


def test_attrs_print_sorted_whatever_order_they_were_given_in():
    first, second = Graph("g"), Graph("g")
    for graph, attrs in ((first, dict(step=1, start=0, length=4, dtype=DType.INT64)),
                         (second, dict(dtype=DType.INT64, length=4, start=0, step=1))):
        graph.outputs = [graph.add(Op.IOTA, [], **attrs)]
    assert format_graph(first) == format_graph(second)
    assert "iota(dtype=i64, length=4, start=0, step=1)" in format_graph(first)


def test_kernel_prints_as_a_block_with_reads_and_writes():
    graph = Graph("fused")
    x = graph.add_input("x", DType.FLOAT16, [4])
    exp = graph.add(Op.EXP, [x])
    doubled = graph.add(Op.ADD, [exp, exp])
    kernel = Kernel("kernel0", list(graph.nodes), [x], [doubled], reason="end of graph")
    graph.nodes = [kernel]
    graph.outputs = [doubled]
    assert format_graph(graph) == """\
graph fused(x: f16[4]) {
  kernel kernel0(reads: x; writes: t1) {
    # boundary: end of graph
    t0: f16[4] = exp(x)
    t1: f16[4] = add(t0, t0)
  }
  return (t1)
}
"""


def test_symbol_inputs_print_as_ints():
    graph = Graph("sizes")
    n = graph.add_symbol_input(sympy.Symbol("s1", integer=True, positive=True))
    graph.outputs = [graph.add(Op.FULL, [], value=1, dtype=DType.INT32, shape=(n, 2))]
    assert format_graph(graph).splitlines()[0] == "graph sizes(s1: int) {"
    assert "t0: i32[s1, 2] = full(dtype=i32, shape=[s1, 2], value=1)" in format_graph(graph)


def test_dot_mentions_every_node_input_and_output():
    graph = small_graph()
    dot = to_dot(graph)
    assert dot.startswith('digraph "small" {') and dot.rstrip().endswith("}")
    for value in graph.tensor_inputs:
        assert f'"{value.name}" [shape=ellipse' in dot
    for node in graph.all_nodes():
        assert f'"n_{node.outputs[0].name}" [shape=box' in dot
        for value in node.inputs:
            assert f'-> "n_{node.outputs[0].name}" [label="{value.name}"]' in dot
    assert "aten.cumsum.default" in dot
    assert '"n_t3" -> "output0"' in dot and '"n_t5" -> "output1"' in dot


def test_dot_draws_kernels_as_clusters():
    graph = Graph("fused")
    x = graph.add_input("x", DType.FLOAT32, [4])
    exp = graph.add(Op.EXP, [x])
    graph.nodes = [Kernel("kernel0", list(graph.nodes), [x], [exp])]
    graph.outputs = [exp]
    dot = to_dot(graph)
    assert 'subgraph "cluster_kernel0"' in dot and '"n_t0" [shape=box, label="exp' in dot
