"""Random op chains on the C++ backend: values and gradients match eager, fused or not."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_same, examples, run_with_grads
from e2e.programs import programs

CPP = {"target": "cpp"}
PLAIN = {"target": "cpp", "fusion": False, "memory_planning": False}


def check(program, seed: int, grad: bool) -> None:
    inputs = program.inputs(seed)
    expected, expected_grads = run_with_grads(program, inputs, grad, None)
    actual, actual_grads = run_with_grads(program, inputs, grad, CPP)
    assert_same(actual, expected, what="output")
    assert_same(actual_grads, expected_grads, what="input grad")
    plain, plain_grads = run_with_grads(program, inputs, grad, PLAIN)
    assert_same(plain, actual, what="output without fusion/memory planning")
    assert_same(plain_grads, actual_grads, what="input grad without fusion/memory planning")


@settings(max_examples=examples(25), deadline=None)
@given(program=programs(max_steps=5), seed=st.integers(0, 2**16))
def test_float_chains_forward_and_backward(program, seed):
    check(program, seed, grad=True)


@settings(max_examples=examples(15), deadline=None)
@given(program=programs(dtypes=(torch.int64, torch.int32), max_steps=4), seed=st.integers(0, 2**16))
def test_integer_chains(program, seed):
    check(program, seed, grad=False)


@settings(max_examples=examples(15), deadline=None)
@given(program=programs(dtypes=(torch.float16, torch.bfloat16), max_steps=4), seed=st.integers(0, 2**16))
def test_low_precision_chains(program, seed):
    check(program, seed, grad=False)
