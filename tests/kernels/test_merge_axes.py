"""Merging adjacent loop axes (kernels/merge_axes.py): which pairs merge, and that the merged kernels
give eager's values on the C++ backend."""

import pytest
import torch
import torch.nn.functional as F

import minicomp
from minicomp.backends import cpp_backend
from minicomp.kernels.merge_axes import merge_axes


@pytest.fixture
def loop_shapes(monkeypatch):
    """The merged loop shape of every kernel the C++ backend writes, in order."""
    shapes = []

    def recording(loops):
        merged = merge_axes(loops)
        shapes.append([int(n) for n in merged.shape])
        return merged

    monkeypatch.setattr(cpp_backend, "merge_axes", recording)
    return shapes


def compile_and_check(function, *inputs):
    minicomp.reset()
    compiled = torch.compile(function, backend="minicomp", options={"target": "cpp"})
    torch.testing.assert_close(compiled(*inputs), function(*inputs))


def test_a_contiguous_pointwise_kernel_is_one_loop(loop_shapes):
    compile_and_check(lambda a, b: torch.sigmoid(a) * b, torch.randn(6, 5, 7), torch.randn(6, 5, 7))
    assert loop_shapes == [[1, 1, 210]]


def test_batch_norm_merges_the_spatial_axes_but_not_the_channel(loop_shapes):
    x = torch.randn(3, 5, 4, 4)
    mean, var, weight, bias = torch.randn(5), torch.rand(5) + 0.5, torch.randn(5), torch.randn(5)
    compile_and_check(lambda x: F.relu(F.batch_norm(x, mean, var, weight, bias, training=False)), x)
    assert loop_shapes == [[3, 5, 1, 16]]


def test_a_transpose_does_not_merge(loop_shapes):
    compile_and_check(lambda x: (x.transpose(0, 1) * 2).contiguous(), torch.randn(6, 5))
    assert loop_shapes == [[5, 6]]


def test_a_reduction_merges_its_reduced_axes_and_its_outer_axes_apart(loop_shapes):
    x = torch.randn(3, 4, 5, 6)
    compile_and_check(lambda x: x.sum((2, 3)) + x.amax((2, 3)), x)
    (shape,) = loop_shapes
    assert shape == [1, 12, 1, 30]


def test_a_cat_along_the_inner_axis_keeps_its_bounds(loop_shapes):
    # the guards compare the inner coordinate with the boundary: merged, they would compare the wrong one
    compile_and_check(lambda a, b: torch.cat([a, b], dim=1) * 3, torch.randn(4, 3), torch.randn(4, 5))
    assert loop_shapes == [[4, 8]]


def test_a_reshape_that_splits_an_axis_still_agrees(loop_shapes):
    compile_and_check(lambda x: (x.reshape(4, 6, 5).permute(1, 0, 2) + 1).sum(1), torch.randn(24, 5))
    assert len(loop_shapes) == 1


def test_argmax_over_merged_axes_gives_the_flat_position():
    x = torch.randn(3, 4, 5)
    compile_and_check(lambda x: x.flatten(1).argmax(1), x)
    compile_and_check(lambda x: x.reshape(3, -1).argmin(-1), x)
