"""Clear errors: options that are not a dict or misspelled, every unsupported op listed, internal errors."""

from __future__ import annotations

import inspect
import json
import os

import pytest
import torch

import minicomp
from helpers import ENTRY_POINTS, add_one, assert_same


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


def exp_twice(x):
    return x.exp() * 2


def break_exp_code(monkeypatch, module, suffix: str) -> None:
    """Make a backend's code for EXP end in `suffix` (a syntax error, an undefined name): a minicomp bug."""
    from minicomp.ir import Op

    original = module.node_code

    def broken(node, args):
        return original(node, args) + (suffix if node.op is Op.EXP else "")

    monkeypatch.setattr(module, "node_code", broken)


def test_a_code_generation_bug_is_an_internal_error_naming_graph_dump_folder_and_reproducer(tmp_path, monkeypatch):
    from minicomp.backends import numpy_backend

    break_exp_code(monkeypatch, numpy_backend, " +")
    with pytest.raises(minicomp.InternalCompilerError) as info:
        torch.compile(exp_twice, backend="minicomp", options={"target": "numpy", "dump_dir": str(tmp_path)})(
            torch.randn(3))
    (report,) = minicomp.reports()
    message = str(info.value)
    assert "minicomp bug" in message and report.graph_name in message and report.dump_dir in message
    assert "code generation" in message and "SyntaxError" in message and "TORCHDYNAMO_REPRO_AFTER" in message
    program = os.path.join(report.dump_dir, "program.py")
    cause = info.value.error
    assert isinstance(cause, SyntaxError) and cause.filename == program and f"at {program}:" in message
    with open(program) as handle:
        assert ".astype(np.float32) +\n" in handle.read()  # the broken EXP line, as it was compiled
    with open(os.path.join(report.dump_dir, "report.json")) as handle:
        assert "SyntaxError" in json.load(handle)["error"]


def test_an_internal_error_without_dump_dir_says_how_to_keep_the_program(monkeypatch):
    from minicomp.backends import numpy_backend

    break_exp_code(monkeypatch, numpy_backend, " +")
    with pytest.raises(minicomp.InternalCompilerError, match=r"Set options=\{'dump_dir'"):
        torch.compile(exp_twice, backend="minicomp", options={"target": "numpy"})(torch.randn(3))


def test_a_triton_code_generation_bug_is_an_internal_error_and_keeps_the_program(tmp_path, monkeypatch):
    pytest.importorskip("triton")
    from minicomp.backends import host_program

    original = host_program._launch_line
    monkeypatch.setattr(host_program, "_launch_line", lambda *args: original(*args) + " +")
    with pytest.raises(minicomp.InternalCompilerError) as info:
        torch.compile(exp_twice, backend="minicomp", options={"target": "triton", "dump_dir": str(tmp_path)})(
            torch.randn(3))
    (report,) = minicomp.reports()
    assert report.dump_dir in str(info.value) and isinstance(info.value.error, SyntaxError)
    with open(os.path.join(report.dump_dir, "program.py")) as handle:
        assert "def program(" in handle.read()


def frames(error: BaseException) -> list:
    """(file name, line text) of every frame of `error`'s traceback."""
    import linecache
    import traceback

    return [(frame.filename, linecache.getline(frame.filename, frame.lineno).strip())
            for frame in traceback.extract_tb(error.__traceback__)]


def test_a_run_time_error_in_generated_code_points_at_the_dumped_program(tmp_path, monkeypatch):
    from minicomp.backends import numpy_backend

    break_exp_code(monkeypatch, numpy_backend, " + undefined_name")
    compiled = torch.compile(exp_twice, backend="minicomp", options={"target": "numpy", "dump_dir": str(tmp_path)})
    with pytest.raises(NameError) as info:
        compiled(torch.randn(3))
    (report,) = minicomp.reports()
    program = os.path.join(report.dump_dir, "program.py")
    assert any(path == program and line.startswith("t0 = np.exp(") and line.endswith("+ undefined_name")
               for path, line in frames(info.value)), frames(info.value)


def test_without_dump_dir_tracebacks_still_show_the_generated_line(monkeypatch):
    from minicomp.backends import numpy_backend

    break_exp_code(monkeypatch, numpy_backend, " + undefined_name")
    with pytest.raises(NameError) as info:
        torch.compile(exp_twice, backend="minicomp", options={"target": "numpy"})(torch.randn(3))
    assert any(line.startswith("t0 = np.exp(") and line.endswith("+ undefined_name")
               for _, line in frames(info.value)), frames(info.value)
