"""Random op chains on the C++ backend: values and gradients match eager, fused or not."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import check_program, examples
from e2e.programs import programs


def check(program, seed: int, grad: bool) -> None:
    check_program(program, seed, grad, 'cpp')


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
