"""The loop form of a kernel (kernels/loop_form.py): the reads of a cat or a pad are indexed with the
range their guard allows, so their index arithmetic has no division left, and the results stay eager's."""

import pytest
import torch
import torch.nn.functional as F

import minicomp
from minicomp.backends import cpp_backend
from minicomp.kernels.indexing import FloorDiv, Mod
from minicomp.kernels.loop_form import lower_kernel


@pytest.fixture
def loops(monkeypatch):
    """The loop form of every kernel the C++ backend writes."""
    made = []

    def recording(kernel, name):
        made.append(lower_kernel(kernel, name))
        return made[-1]

    monkeypatch.setattr(cpp_backend, "lower_kernel", recording)
    return made


def divisions(loops) -> list:
    """The floor divisions and remainders left in the kernels' load indices."""
    return [s.index for kernel in loops for s in kernel.statements
            if s.kind == "load" and s.index.atoms(FloorDiv, Mod)]


def check(function, *inputs):
    minicomp.reset()
    result = torch.compile(function, backend="minicomp", options={"target": "cpp"})(*inputs)
    torch.testing.assert_close(result, function(*inputs))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def test_the_pieces_of_rotate_half_read_without_division(loops):
    check(lambda x, c: x * c + rotate_half(x) * c, torch.randn(2, 16, 96), torch.randn(16, 96))
    assert divisions(loops) == []
    guards = [s.condition for kernel in loops for s in kernel.statements if s.kind == "guard"]
    assert len(guards) == 2 and not any(g.has(96) for g in guards)  # i < 48, i >= 48 (i < 96 is implied)


def test_a_padded_read_needs_no_division(loops):
    check(lambda x: F.pad(x, (2, 3, 1, 0), value=-1.5) * 2, torch.randn(3, 5, 7))
    assert divisions(loops) == []


def test_a_cat_of_pieces_of_unequal_length_along_a_middle_axis(loops):
    check(lambda a, b: torch.cat([a.exp(), b[:, 1:]], dim=1) + 1, torch.randn(4, 3, 5), torch.randn(4, 7, 5))
    assert divisions(loops) == []


def test_a_cat_of_a_cat_reads_each_piece_at_its_own_offset(loops):
    check(lambda a, b: torch.cat([torch.cat([a, b]), a * 2]).amax(0), torch.randn(2, 3), torch.randn(4, 3))
    check(lambda a: torch.cat([torch.cat([a, a + 1]), a]) * 3, torch.randn(1).bfloat16())
