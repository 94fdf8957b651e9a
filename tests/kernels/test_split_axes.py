"""Splitting loop axes (kernels/split_axes.py): which axes split, that the split kernels' indices have no
division left, and that they give eager's values on the C++ backend."""

import pathlib
import re

import pytest
import torch

import minicomp
from minicomp.backends import cpp_backend
from minicomp.kernels.indexing import Ranges, loop_variable
from minicomp.kernels.split_axes import _simplified, split_axes


@pytest.fixture
def split_shapes(monkeypatch):
    """The split loop shape of every kernel the C++ backend writes, in order."""
    shapes = []

    def recording(loops):
        split = split_axes(loops)
        shapes.append([int(n) for n in split.shape])
        return split

    monkeypatch.setattr(cpp_backend, "split_axes", recording)
    return shapes


def compiled_source(function, inputs, tmp_path) -> str:
    """Compile `function` for cpp, check it against eager, return its kernels' C++ (no helper library)."""
    minicomp.reset()
    compiled = torch.compile(function, backend="minicomp", options={"target": "cpp", "dump_dir": str(tmp_path)})
    torch.testing.assert_close(compiled(*inputs), function(*inputs))
    return "\n".join(p.read_text().split("}  // namespace mc", 1)[1] for p in sorted(tmp_path.rglob("program.cpp")))


def divisions(source: str) -> list[str]:
    """The index divisions and remainders of the kernels' loads and stores."""
    accesses = re.findall(r"(?:in|out)\d+\[([^\]]*)\]", source)
    return [a for a in accesses if "/" in a or "%" in a or "floordiv" in a or "remainder" in a]


def heads_side_by_side(q, k, v):
    """Attention's q, k, v gradients [batch * heads, sequence, head] (k transposed) back to [rows, 3 * dim],
    and the bias gradient: the backward kernel that motivated the split."""
    batch, heads = 2, 4
    parts = [t.reshape(batch, heads, *t.shape[1:]).transpose(1, 2).reshape(batch * t.shape[1], -1)
             for t in (q, k.transpose(1, 2), v)]
    joined = torch.cat(parts, dim=1)
    return joined, joined.sum(0)


def test_heads_side_by_side_split_into_affine_indices(split_shapes, tmp_path):
    q, v = torch.randn(8, 16, 32), torch.randn(8, 16, 32)
    k = torch.randn(8, 32, 16)
    source = compiled_source(heads_side_by_side, (q, k, v), tmp_path)
    assert split_shapes == [[2, 16, 12, 32]]  # rows (2 x 16) reduced, columns (3 pieces of 4 heads x 32)
    assert divisions(source) == []
    assert "int64_t lanes = " in source  # the column sum runs in blocks of columns


def test_a_cat_boundary_at_a_block_boundary_compares_the_outer_half(split_shapes, tmp_path):
    # the repeated piece reads at i % 4: the axis of 40 splits into 10 x 4, and the boundary at 20 is
    # `i1 < 5`, a row value of the inner loop
    a, b = torch.randn(4, 2, 8), torch.randn(4, 20)
    source = compiled_source(lambda a, b: torch.cat([a.transpose(0, 1).reshape(8, 8)[:4, :4].repeat(1, 5), b], 1)
                             * 2, (a, b), tmp_path)
    assert split_shapes == [[4, 10, 4]]
    assert "(i1 < 5)" in source and divisions(source) == []


def test_an_axis_with_a_division_left_is_not_split(split_shapes, tmp_path):
    # x read transposed as [6, 4] and as [4, 6]: split by 6, i // 4 is left; split by 4, i // 6 is
    x = torch.randn(24)
    compiled_source(lambda x: x.view(6, 4).t().reshape(24) + x.view(4, 6).t().reshape(24), (x,), tmp_path)
    assert split_shapes == [[24]]


def test_one_transposed_read_splits_its_axis(split_shapes, tmp_path):
    x = torch.randn(24)
    source = compiled_source(lambda x: x.view(6, 4).t().reshape(24) + x, (x,), tmp_path)
    assert split_shapes == [[4, 6]] and divisions(source) == []


def test_comparisons_drop_the_inner_half_only_at_block_boundaries():
    a, b = loop_variable(0), loop_variable(1)
    ranges = Ranges({a: 12, b: 64})
    assert _simplified(64 * a + b < 256, ranges, 64, {a, b}) == (a < 4)
    assert _simplified(64 * a + b >= 512, ranges, 64, {a, b}) == (a >= 8)
    assert _simplified(64 * a + b <= 255, ranges, 64, {a, b}) == (a < 4)
    kept = _simplified(64 * a + b < 250, ranges, 64, {a, b})
    assert kept.has(b) and bool(kept.subs({a: 3, b: 57})) and not bool(kept.subs({a: 3, b: 58}))


def test_a_training_step_through_split_kernels_matches_eager(split_shapes):
    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(2, 16, 32, requires_grad=True)

    def step(x):
        out, _ = attention(x, x, x, need_weights=False)
        out.pow(2).sum().backward()
        return x.grad, attention.in_proj_weight.grad, attention.in_proj_bias.grad

    expected = [t.clone() for t in step(x)]
    attention.zero_grad()
    x.grad = None
    minicomp.reset()
    compiled = torch.compile(step, backend="minicomp", options={"target": "cpp"})
    for got, want in zip(compiled(x), expected):
        torch.testing.assert_close(got, want)
    assert any(len(shape) > 3 for shape in split_shapes)


def test_the_split_does_not_touch_a_kernel_with_affine_indices(split_shapes, tmp_path):
    compiled_source(lambda x: torch.softmax(x, -1), (torch.randn(6, 40),), tmp_path)
    assert split_shapes == [[6, 40]]
    assert pathlib.Path(tmp_path).exists()
