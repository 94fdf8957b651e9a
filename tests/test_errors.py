"""Clear errors: options that are not a dict or misspelled, every unsupported op listed, internal errors."""

from __future__ import annotations

import inspect
import json
import os

import pytest
import torch

import minicomp
from helpers import assert_same, find_error


def add_one(x):
    return x + 1


def via_torch_compile(options):
    torch.compile(add_one, backend="minicomp", options=options)(torch.ones(2))


def via_minicomp_compile(options):
    minicomp.compile(add_one, options=options)(torch.ones(2))


ENTRY_POINTS = pytest.mark.parametrize("entry", [via_torch_compile, via_minicomp_compile],
                                       ids=["torch.compile", "minicomp.compile"])


@ENTRY_POINTS
@pytest.mark.parametrize("options", ["fusion", ["fusion", False]], ids=["str", "list"])
def test_options_that_are_not_a_dict_raise_invalid_option_error(entry, options):
    with pytest.raises(minicomp.InvalidOptionError, match="options must be a dict"):
        entry(options)


@ENTRY_POINTS
def test_unknown_option_suggests_the_nearest_valid_one(entry):
    with pytest.raises(minicomp.InvalidOptionError, match=r"did you mean 'fusion'\?"):
        entry({"fusoin": False})


def fusable(x):
    return (x.exp() * 2 + 1).sum(-1)


def test_minicomp_compile_takes_every_option_as_a_keyword(tmp_path):
    x = torch.randn(4, 8)
    fused = minicomp.compile(fusable, target="numpy")
    assert_same(fused(x), fusable(x))
    minicomp.reset()
    unfused = minicomp.compile(fusable, target="numpy", dump_dir=str(tmp_path), fusion=False,
                               memory_planning=False, fallback=False, dynamic=False)
    assert_same(unfused(x), fusable(x))
    (report,) = minicomp.reports()
    assert report.num_kernels > 1 and os.listdir(tmp_path)  # fusion=False: one kernel per primitive
    assert "memory" not in report.pass_node_counts  # memory_planning=False: the pass did not run
    minicomp.reset()
    with pytest.raises(minicomp.UnsupportedOpError):
        minicomp.compile(torch.special.bessel_j0, fallback=False)(x)


def test_minicomp_compile_rejects_a_misspelled_keyword_naming_the_nearest():
    with pytest.raises(minicomp.InvalidOptionError, match=r"did you mean 'memory_planning'\?"):
        minicomp.compile(add_one, memory_planing=False)


def two_unsupported(x):
    first = torch.special.bessel_j0(x)
    second = torch.special.bessel_y0(x)
    return first + second.exp()


FIRST_LINE = inspect.getsourcelines(two_unsupported)[1] + 1


def test_without_fallback_every_unsupported_op_is_listed_with_its_line():
    with pytest.raises(minicomp.UnsupportedOpError) as info:
        torch.compile(two_unsupported, backend="minicomp", options={"fallback": False})(torch.randn(3))
    message = str(info.value)
    for op, line in [("aten.special_bessel_j0.default", FIRST_LINE), ("aten.special_bessel_y0.default",
                                                                       FIRST_LINE + 1)]:
        assert f"{op} at test_errors.py:{line} in two_unsupported: no lowering" in message, message
    assert [op for op, _, _ in info.value.unsupported] == ["aten.special_bessel_j0.default",
                                                           "aten.special_bessel_y0.default"]
    assert info.value.op == "aten.special_bessel_j0.default" and "fallback': True" in message
