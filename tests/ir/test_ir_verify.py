"""verify(): catches use before definition, names defined twice and outputs typed against the rules."""

from __future__ import annotations

import pytest

from minicomp.ir import DType, Graph, Kernel, Node, Op, Value, VerificationError, verify


def two_node_graph() -> tuple[Graph, Value, Value, Value]:
    graph = Graph("g")
    x = graph.add_input("x", DType.FLOAT32, [2, 3])
    exp = graph.add(Op.EXP, [x])
    total = graph.add(Op.ADD, [exp, x])
    graph.outputs = [total]
    return graph, x, exp, total


def test_a_well_formed_graph_passes():
    graph, *_ = two_node_graph()
    verify(graph)


def test_use_before_definition_is_caught():
    graph, *_ = two_node_graph()
    graph.nodes.reverse()
    with pytest.raises(VerificationError, match="uses t0 before it is defined"):
        verify(graph)


def test_value_from_another_graph_is_caught():
    graph, *_ = two_node_graph()
    stranger = Value("y", DType.FLOAT32, (2, 3))
    graph.nodes.append(Node(Op.NEG, [stranger], {}, [Value("t9", DType.FLOAT32, (2, 3))]))
    with pytest.raises(VerificationError, match="uses y before"):
        verify(graph)


def test_duplicate_names_are_caught():
    graph, x, exp, total = two_node_graph()
    total.name = exp.name
    with pytest.raises(VerificationError, match="defined twice"):
        verify(graph)


def test_output_named_like_an_input_is_caught():
    graph, x, exp, total = two_node_graph()
    exp.name = "x"
    with pytest.raises(VerificationError, match="defined twice"):
        verify(graph)


def test_wrong_output_dtype_is_caught():
    graph, x, exp, total = two_node_graph()
    exp.dtype = DType.FLOAT16
    with pytest.raises(VerificationError, match="exp -> t0: output typed f16"):
        verify(graph)


def test_wrong_output_shape_is_caught():
    graph, x, exp, total = two_node_graph()
    total.shape = (3, 2)
    with pytest.raises(VerificationError, match="rule gives f32"):
        verify(graph)


def test_inputs_breaking_the_rule_are_caught():
    graph, x, exp, total = two_node_graph()
    index = graph.add_input("i", DType.INT64, [2, 3])
    graph.nodes[1].inputs = [exp, index]
    with pytest.raises(VerificationError, match="add -> t1: add: input dtypes differ"):
        verify(graph)


def test_undefined_graph_output_is_caught():
    graph, *_ = two_node_graph()
    graph.outputs.append(Value("ghost", DType.FLOAT32, ()))
    with pytest.raises(VerificationError, match="graph output ghost is never defined"):
        verify(graph)


def test_kernel_must_produce_what_it_writes():
    graph, x, exp, total = two_node_graph()
    graph.nodes = [Kernel("kernel0", [graph.nodes[0]], [x], [total])]
    with pytest.raises(VerificationError, match="kernel kernel0: writes t1 which no node produces"):
        verify(graph)


def test_kernel_reading_an_undefined_value_is_caught():
    graph, x, exp, total = two_node_graph()
    graph.nodes = [Kernel("kernel0", list(graph.nodes), [exp], [total])]
    with pytest.raises(VerificationError, match="kernel kernel0: uses t0 before"):
        verify(graph)


def test_values_inside_a_kernel_are_not_visible_after_it():
    graph = Graph("g")
    x = graph.add_input("x", DType.FLOAT32, [4])
    exp = graph.add(Op.EXP, [x])
    neg = graph.add(Op.NEG, [exp])
    after = graph.add(Op.ABS, [exp])
    graph.nodes = [Kernel("kernel0", graph.nodes[:2], [x], [neg]), graph.nodes[2]]
    graph.outputs = [neg, after]
    with pytest.raises(VerificationError, match="abs -> t2: uses t0 before"):
        verify(graph)


def test_fallback_nodes_are_checked_for_uses_but_not_types():
    graph = Graph("g")
    x = graph.add_input("x", DType.FLOAT32, [4])
    (out,) = graph.add_fallback("aten.cumsum.default", (x, 0), {}, [x], [(DType.FLOAT32, (4,))])
    graph.outputs = [out]
    verify(graph)
    graph.nodes[0].inputs = [Value("elsewhere", DType.FLOAT32, (4,))]
    with pytest.raises(VerificationError, match="uses elsewhere before"):
        verify(graph)


def test_nodes_and_kernels_share_one_interface():
    graph, x, exp, total = two_node_graph()
    first, second = graph.nodes
    kernel = Kernel("k0", [first, second], [x], [total])
    assert (first.is_kernel, kernel.is_kernel) == (False, True)
    assert first.nodes == [first] and kernel.nodes == [first, second]
    assert (first.name, kernel.name) == ("kernel_t0", "k0")
    graph.nodes = [kernel]
    assert list(graph.all_nodes()) == [first, second]
    verify(graph)
