"""What eager torch raises while running (integer division by zero, indices out of range, argmax of a
bool tensor), minicomp's programs raise too, on both backends, instead of returning a value."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

import minicomp
from helpers import assert_compiled, assert_same, compile_and_compare, fallback_ops, random_tensor as make

BOTH_BACKENDS = pytest.mark.parametrize("target", ["numpy", "cpp", "triton"])


def compiled(function, target: str):
    if target == "triton":
        pytest.importorskip("triton")
    return torch.compile(function, backend="minicomp", options={"target": target})


def raises_like_eager(function, target: str, *inputs, match: str) -> None:
    """Eager raises an error matching `match`; so does minicomp, without running anything through torch."""
    with pytest.raises((RuntimeError, IndexError), match=match):
        function(*inputs)
    with pytest.raises((RuntimeError, IndexError), match=match):
        compiled(function, target)(*inputs)
    assert fallback_ops(minicomp.reports()) == []


DIVISIONS = {
    "floor_divide": lambda a, b: a // b,
    "remainder": lambda a, b: a % b,
    "fmod": torch.fmod,
    "trunc": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
    "by a zero scalar": lambda a, b: a % 0 + b,
    "inside a sum": lambda a, b: (a // b).sum(),
    "after a sum": lambda a, b: a.sum() // b,
    "one element picked": lambda a, b: torch.gather(a // b, 0, torch.tensor([0])),  # b's zero is not picked
}


@BOTH_BACKENDS
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8], ids=str)
@pytest.mark.parametrize("name", DIVISIONS)
def test_integer_division_by_zero_raises_like_eager(name, dtype, target):
    a, b = torch.tensor([7, 3, 5], dtype=dtype), torch.tensor([2, 0, 1], dtype=dtype)
    raises_like_eager(DIVISIONS[name], target, a, b, match="^ZeroDivisionError$")


@BOTH_BACKENDS
def test_integer_division_by_nonzero_divisors_still_matches_eager(target):
    if target == "triton":
        pytest.importorskip("triton")
    a, b = torch.tensor([7, -7, 0, 5]), torch.tensor([2, -3, 4, 1])
    functions = lambda a, b: (a // b, a % b, torch.fmod(a, b), (a // b).sum(), a.sum() // b, a // 2)
    assert fallback_ops(compile_and_compare(functions, a, b, grad=False, options={"target": target})) == []


def test_float_division_by_zero_is_no_error():
    a, b = torch.tensor([1.0, -1.0, 0.0]), torch.tensor([0.0, 0.0, 0.0])
    compile_and_compare(lambda a, b: (a // b, a % b, torch.fmod(a, b)), a, b, grad=False)


@BOTH_BACKENDS
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_and_argmin_of_a_bool_tensor_raise_like_eager(name, target):
    function = getattr(torch, name)
    x = torch.tensor([[True, False], [False, True]])
    raises = pytest.raises(RuntimeError, match=f"{name}\\(\\): does not support bool input")
    with raises:
        function(x)
    for call in (lambda x: function(x), lambda x: function(x, dim=1)):
        with pytest.raises(RuntimeError, match=f"{name}\\(\\): does not support bool input"):
            compiled(call, target)(x)
        assert fallback_ops(minicomp.reports()) == [f"aten.{name}.default"]


def test_argmax_of_a_bool_tensor_without_fallback_is_a_clear_error():
    call = torch.compile(lambda x: x.argmax(), backend="minicomp", options={"fallback": False})
    with pytest.raises(minicomp.UnsupportedOpError, match="aten.argmax.default .*bool tensor is an error in torch"):
        call(torch.tensor([True, False]))


INDEXINGS = {
    "gather": lambda x, i: x.gather(0, i),
    "index": lambda x, i: x[i],
    "index of a row": lambda x, i: x.reshape(2, 2)[:, i],
    "index of two dims": lambda x, i: x.reshape(2, 2)[i.flip(0), i],
    "index_select": lambda x, i: x.index_select(0, i),
    "embedding": lambda x, i: F.embedding(i, x.reshape(4, 1)),
    "scatter": lambda x, i: x.scatter(0, i, 1.0),
    "scatter_add": lambda x, i: x.scatter_add(0, i, x[:2]),
    "index_put": lambda x, i: x.index_put((i,), x[:2]),
    "index_add": lambda x, i: x.index_add(0, i, x[:2]),
}


@BOTH_BACKENDS
@pytest.mark.parametrize("bad", [7, -5])
@pytest.mark.parametrize("name", INDEXINGS)
def test_an_index_out_of_range_raises_naming_that_index(name, bad, target):
    function, x = INDEXINGS[name], make((4,))
    size = 2 if name.startswith("index of") else 4
    index = torch.tensor([0, bad])
    with pytest.raises((RuntimeError, IndexError)):
        function(x, index)
    with pytest.raises(IndexError, match=f"^index {bad} is out of bounds for size {size}$"):
        compiled(function, target)(x, index)
    assert fallback_ops(minicomp.reports()) == []


DOUBLE_BACKWARD = "torch.compile with aot_autograd does not currently support double backward"


@BOTH_BACKENDS
@pytest.mark.parametrize("second", ["backward", "grad", "grad allowing unused inputs"])
def test_double_backward_raises_like_aot_eager(second, target):
    # the backward recomputes sin(x) from x, which the forward saves by returning it: minicomp must return
    # x itself, or the gradient loses its link to x and a second gradient finds nothing (None, silently)
    def second_derivative(backend: str, options: dict):
        torch._dynamo.reset()
        x = make((3, 4)).requires_grad_()
        function = torch.compile(lambda x: (x.sin() ** 3).sum(), backend=backend, **options)
        gradient, = torch.autograd.grad(function(x), x, create_graph=True)
        if second == "backward":
            gradient.sum().backward()
        else:
            torch.autograd.grad(gradient.sum(), x, allow_unused=second.endswith("unused inputs"))

    if target == "triton":
        pytest.importorskip("triton")
    with pytest.raises(RuntimeError, match=DOUBLE_BACKWARD):
        second_derivative("aot_eager", {})
    with pytest.raises(RuntimeError, match=DOUBLE_BACKWARD):
        second_derivative("minicomp", {"options": {"target": target}})


@BOTH_BACKENDS
def test_an_input_returned_through_a_folded_copy_is_still_a_new_tensor(target):
    # eval-mode batch norm saves a copy of the running mean for the backward and then updates the
    # running mean in place; minicomp folds the copy away, yet must return a new tensor, as eager's
    # graph does, or autograd finds its saved tensor modified
    if target == "triton":
        pytest.importorskip("triton")

    def batch_norm(x, weight, bias, mean, variance):
        return torch.ops.aten._native_batch_norm_legit(x, weight, bias, mean, variance, False, -1.2, 1e-5)[0]
    inputs = (make((3, 2, 4)), make((2,), seed=1), make((2,), seed=2), make((2,), seed=3), make((2,), seed=4).abs())

    def run(function):
        copies = [x.clone().requires_grad_(position < 3) for position, x in enumerate(inputs)]
        result = function(*copies)
        result.square().sum().backward()  # raised "modified by an inplace operation" before
        return [result] + [x.grad for x in copies[:3]] + copies[3:]

    minicomp.reset()
    assert_same(run(torch.compile(batch_norm, backend="minicomp", options={"target": target})), run(batch_norm))
    assert_compiled(minicomp.reports())
    assert fallback_ops(minicomp.reports()) == []
