"""Graphs whose generated source is the same share one module; each keeps its own constants, fallback
arguments and launchers, so compiling the second never changes what the first computes."""

import pytest
import torch

import minicomp

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# Each function is its own code object: Dynamo would make a second compile of one code object dynamic.
PAIRS = {
    "constant": (lambda x: x * torch.tensor([1., 2., 3.]).to(x.device),
                 lambda x: x * torch.tensor([100., 200., 300.]).to(x.device),
                 lambda: torch.ones(3)),
    "histc": (lambda x: torch.histc(x, bins=4, min=-1., max=1.),
              lambda x: torch.histc(x, bins=4, min=0., max=8.),
              lambda: torch.linspace(-1, 8, 40)),
    "normalize": (lambda image: (image - torch.tensor([0.5, 0.4, 0.3]).to(image.device).view(-1, 1, 1))
                  / torch.tensor([0.2, 0.3, 0.4]).to(image.device).view(-1, 1, 1),
                  lambda image: (image - torch.tensor([10., 20., 30.]).to(image.device).view(-1, 1, 1))
                  / torch.tensor([5., 6., 7.]).to(image.device).view(-1, 1, 1),
                  lambda: torch.rand(3, 4, 5)),
}


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_the_first_graph_keeps_its_numbers_after_a_second_with_the_same_source(case, tmp_path):
    first, second, make_input = PAIRS[case]
    options = {"target": "triton", "dump_dir": str(tmp_path)}
    x = make_input().to(DEVICE)
    compiled_first = torch.compile(first, backend="minicomp", options=options)
    torch.testing.assert_close(compiled_first(x), first(x))
    compiled_second = torch.compile(second, backend="minicomp", options=options)
    torch.testing.assert_close(compiled_second(x), second(x))
    programs = {path.read_text() for path in tmp_path.glob("*/program.py")}
    assert len(minicomp.reports()) == 2 and len(programs) == 1  # one source, so one shared module
    torch.testing.assert_close(compiled_first(x), first(x))
