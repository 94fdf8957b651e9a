"""Fixtures for the lowering tests, and the sample of them that runs on the Triton target too."""

import dataclasses

import pytest

import minicomp
import minicomp.compiler

# Lowering tests that also run on the Triton target (Triton's interpreter on CPU: slow, so a sample of
# the composite lowerings, one or two tests each: sorts, scans, pooling, as_strided, scatter_reduce,
# cat and pad through views). The others compare the numpy backend with eager only.
TRITON_SAMPLE = {
    "test_topk_and_kthvalue_break_ties_by_position", "test_all_nan_rows_and_0d_inputs",
    "test_cumprod_forward", "test_scans_of_0d_tensors",
    "test_strided_slice_and_pool_with_dynamic_sizes",
    "test_as_strided_reads_any_strided_positions_of_a_contiguous_input", "test_as_strided_scatter",
    "test_scatter_reduce_mean_gradient_and_nan_propagation", "test_legacy_scatter_reduce_spellings",
    "test_cat_backward_and_stack", "test_constant_pad_of_integers_and_bools", "test_narrow_and_getitem_chain",
}


def pytest_generate_tests(metafunc):
    """Run each test of TRITON_SAMPLE twice: with target "auto" (numpy on CPU tensors) and "triton"."""
    if metafunc.function.__name__ in TRITON_SAMPLE:
        metafunc.parametrize("lowering_target", ["auto", "triton"], indirect=True)


@pytest.fixture(autouse=True)
def lowering_target(request, monkeypatch):
    """The target a compile with target="auto" gets in this test: "auto" itself, or "triton" for the
    TRITON_SAMPLE run, where every graph the test compiles must then have run on Triton."""
    target = getattr(request, "param", "auto")
    if target == "triton":
        pytest.importorskip("triton", reason="the triton extra is not installed (pip install 'minicomp[triton]')")
        choose = minicomp.compiler.choose_target

        def choose_triton(options, example_inputs):
            if options.target == "auto":
                options = dataclasses.replace(options, target="triton")
            return choose(options, example_inputs)
        monkeypatch.setattr(minicomp.compiler, "choose_target", choose_triton)
    yield target
    if target == "triton":
        assert minicomp.reports() and {report.target for report in minicomp.reports()} == {"triton"}


@pytest.fixture
def lowered(monkeypatch):
    """The ATen ops (as strings) of every graph handed to minicomp's lowering in this test."""
    seen: list[str] = []
    original = minicomp.compiler.lower_fx

    def recording(gm, *args, **kwargs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return original(gm, *args, **kwargs)

    monkeypatch.setattr(minicomp.compiler, "lower_fx", recording)
    return seen
