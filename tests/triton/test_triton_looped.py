"""Looped reductions (rows too long or of unknown length for one block) agree with eager torch.

The row limit and the chunk are made small here, so that rows of a few dozen elements loop several
times, with a partial last chunk, through the same code a GPU runs for rows of millions.
"""

import pytest
import torch

import minicomp
from minicomp.backends import triton_backend, triton_codegen, triton_runtime
from minicomp.blocks import BLOCKS

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def written(monkeypatch):
    """The KernelSources generated while the test runs."""
    sources = []

    def write_and_record(loops):
        sources.append(triton_codegen.write_kernel(loops))
        return sources[-1]
    monkeypatch.setattr(triton_backend, "write_kernel", write_and_record)
    return sources


@pytest.fixture
def small_rows(monkeypatch, written):
    """Rows over 16 elements loop, in chunks of 8."""
    monkeypatch.setattr(triton_codegen, "MAX_PERSISTENT_ROW", 16)
    monkeypatch.setattr(triton_runtime, "LOOP_RBLOCK", 8)
    return written


def compile_triton(function, **kwargs):
    minicomp.reset()
    return torch.compile(function, backend="minicomp", options={"target": "triton"}, **kwargs)


def looped(sources) -> int:
    return sum(source.looped for source in sources)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.name in (
    "softmax", "log_softmax", "layer_norm", "rms_norm", "cross_entropy", "row_sum", "column_sum",
    "residual_layer_norm")], ids=lambda b: b.name)
def test_blocks_with_looped_rows(small_rows, block):
    torch.manual_seed(0)
    inputs = [x.to(DEVICE) for x in block.make_inputs(37, 45, torch.float32)]
    result = compile_triton(block.function)(*inputs)
    torch.testing.assert_close(result, block.function(*inputs))
    assert looped(small_rows) >= 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int32])
def test_every_reduction_with_nans_ties_and_partial_chunks(small_rows, dtype):
    def function(x):
        return (x.sum(1), x.amax(1), x.amin(1), x.argmax(1), x.argmin(1), x.float().prod(1), x.float().argmax(0),
                (x > 2).any(1), (x > -3).all(1), (x > 0).sum(1))
    torch.manual_seed(0)
    x = torch.randint(-3, 4, (6, 37)).to(dtype)  # few distinct values: ties across chunks
    if dtype.is_floating_point:
        x[1, 20] = float("nan")  # NaN in a later chunk wins max/argmax
        x[2, 3] = x[2, 30] = float("-inf")
    x = x.to(DEVICE)
    torch.testing.assert_close(compile_triton(function)(x), function(x), equal_nan=True)
    assert looped(small_rows) >= 1


def test_softmax_backward_with_looped_rows(small_rows):
    x = torch.randn(4, 50, device=DEVICE, requires_grad=True)
    x_eager = x.detach().clone().requires_grad_()
    compile_triton(lambda v: torch.softmax(v, -1))(x).pow(2).sum().backward()
    torch.softmax(x_eager, -1).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x_eager.grad)


def test_rows_of_dynamic_length_loop_without_patching(written):
    function = torch.compile(lambda v: (torch.softmax(v, -1), v.argmax(-1)), backend="minicomp",
                             options={"target": "triton"}, dynamic=True)
    minicomp.reset()
    for length in (7, 300):
        x = torch.randn(3, length, device=DEVICE)
        torch.testing.assert_close(function(x), (torch.softmax(x, -1), x.argmax(-1)))
    assert looped(written) >= 1
