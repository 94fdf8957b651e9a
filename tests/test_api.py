"""The public API: options and their errors, unsupported ops, odd inputs/outputs, reports, dumps, registration."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import re

import pytest
import torch

import minicomp
from helpers import ENTRY_POINTS, add_one, assert_same, compile_and_compare, find_error
from minicomp.options import Options

VALID_KEYS = ["target", "dump_dir", "fusion", "memory_planning", "fallback"]
BAD_VALUES = [
    ({"target": "cuda"}, ["auto", "numpy", "cpp", "triton"]),
    ({"fusion": "yes"}, ["True", "False"]),
    ({"memory_planning": 1}, ["True", "False"]),
    ({"fallback": None}, ["True", "False"]),
    ({"dump_dir": 3}, ["path"]),
]


@ENTRY_POINTS
def test_unknown_option_raises_value_error_naming_the_valid_ones(entry):
    with pytest.raises(ValueError) as info:
        entry({"fusoin": False})
    assert "fusoin" in str(info.value)
    assert all(key in str(info.value) for key in VALID_KEYS)


@ENTRY_POINTS
@pytest.mark.parametrize("options, named", BAD_VALUES, ids=[next(iter(o)) for o, _ in BAD_VALUES])
def test_bad_option_value_raises_value_error_naming_valid_values(entry, options, named):
    with pytest.raises(ValueError) as info:
        entry(options)
    assert isinstance(info.value, minicomp.InvalidOptionError)
    assert all(word in str(info.value) for word in named), str(info.value)


def test_minicomp_compile_checks_options_before_the_first_call():
    with pytest.raises(minicomp.InvalidOptionError):
        minicomp.compile(add_one, target="gpu")
    with pytest.raises(minicomp.InvalidOptionError):
        minicomp.compile(add_one, options={"bogus": 1})


def test_options_defaults_and_round_trip():
    assert Options.from_dict(None) == Options()
    options = Options.from_dict({"target": "numpy", "fusion": False, "dump_dir": "dumps"})
    assert (options.target, options.fusion, options.memory_planning, options.fallback) == ("numpy", False, True, True)


def test_minicomp_compile_with_keywords_matches_eager(tmp_path):
    model = minicomp.compile(torch.nn.Linear(4, 3), target="numpy", dump_dir=str(tmp_path))
    x = torch.randn(2, 4)
    assert_same(model(x), model._orig_mod(x), what="output")
    assert minicomp.reports() and minicomp.reports()[0].target == "numpy"
    assert os.listdir(tmp_path)


def test_target_triton_works_or_says_why_not():
    x = torch.randn(8)
    try:
        result = torch.compile(add_one, backend="minicomp", options={"target": "triton"})(x)
    except Exception as error:  # noqa: BLE001 (we inspect what was raised)
        found = find_error(error, minicomp.BackendUnavailableError)
        assert found is not None, f"expected BackendUnavailableError, got {error!r}"
        assert "triton" in str(found).lower() and len(str(found)) > 40  # says what is missing
    else:
        assert_same(result, add_one(x))


def returns_non_tensors(x):
    return x * 2, 3, (x.sum(), 2.5), x.shape[0]


def test_non_tensor_outputs_alongside_tensors_match_eager():
    reports = compile_and_compare(returns_non_tensors, torch.randn(3, 2))
    assert [r.kind for r in reports] == ["forward", "backward"]


def scales(x, count, scale):
    return x * scale + count, x.sum() * count


def test_python_number_arguments_match_eager_as_they_change():
    compiled = torch.compile(scales, backend="minicomp")
    x = torch.randn(3, 4)
    for count, scale in [(3, 0.5), (4, 0.25), (5, -2.0)]:  # Dynamo specializes, then makes them symbolic
        assert_same(compiled(x, count, scale), scales(x, count, scale))
    assert minicomp.reports()


def mutates_inputs(x, y):
    x.add_(1)
    y[0] = 5.0
    return x * 2 + y.sum()


def test_input_mutation_matches_eager():
    x, y = torch.randn(3), torch.randn(3)
    eager_x, eager_y = x.clone(), y.clone()
    result = torch.compile(mutates_inputs, backend="minicomp")(x, y)
    assert_same([result, x, y], [mutates_inputs(eager_x, eager_y), eager_x, eager_y])
    assert minicomp.reports()


def test_second_call_with_same_shapes_reuses_the_compiled_code():
    compiled = torch.compile(lambda a: a.exp() * 2, backend="minicomp")
    for _ in range(3):
        x = torch.randn(5)
        assert_same(compiled(x), x.exp() * 2)
    assert len(minicomp.reports()) == 1


def bessel(x):
    values = torch.special.bessel_j0(x)  # no lowering: Bessel functions are not written with primitives
    return values * 2, x.argmax(1)


BESSEL_LINE = inspect.getsourcelines(bessel)[1] + 1


def test_unsupported_op_without_fallback_names_op_and_source_line():
    with pytest.raises(minicomp.UnsupportedOpError) as info:
        torch.compile(bessel, backend="minicomp", options={"fallback": False})(torch.randn(3, 4))
    message = str(info.value)
    assert "aten.special_bessel_j0" in message and info.value.op.startswith("aten.special_bessel_j0")
    assert f"test_api.py:{BESSEL_LINE}" in message, message
    assert "fallback" in message  # says what the user can do


def test_unsupported_op_with_fallback_runs_in_torch_and_is_reported():
    reports = compile_and_compare(bessel, torch.randn(3, 4), grad=False)
    assert [r.kind for r in reports] == ["inference"]
    assert reports[0].fallback_ops == ["aten.special_bessel_j0.default"]
    assert "aten.special_bessel_j0.default" in reports[0].fallback_reasons


def test_an_op_run_for_its_effect_falls_back_alone_and_still_raises_like_eager():
    # linalg.inv checks for singular inputs with an effectful op (AOTAutograd's with_effects): it runs
    # in torch as a fallback, the rest of the graph is compiled, and the error reaches the user
    def fn(x):
        return torch.linalg.inv(x).exp() + 1
    reports = compile_and_compare(fn, torch.randn(3, 3) + 3 * torch.eye(3))
    assert reports[0].fallback_ops and all("linalg" in op for op in reports[0].fallback_ops)
    assert reports[0].num_kernels >= 1

    def raises_singular(backend: str) -> bool:
        torch._dynamo.reset()
        try:
            torch.compile(fn, backend=backend)(torch.zeros(3, 3))
        except torch.linalg.LinAlgError as error:
            return "singular" in str(error)
        return False
    # torch 2.11's AOTAutograd drops the check from the graph (aot_eager does not raise either)
    assert raises_singular("minicomp") == raises_singular("aot_eager")
    assert raises_singular("minicomp") or torch.__version__ < "2.12"


@pytest.mark.parametrize("fallback", [True, False])
def test_complex_input_runs_through_fallback_or_raises_a_minicomp_error(fallback):
    z = torch.randn(3, 4, dtype=torch.complex64)

    def scale(z):
        return z * 2 + 1

    try:
        result = torch.compile(scale, backend="minicomp", options={"fallback": fallback})(z)
    except Exception as error:  # noqa: BLE001 (we inspect what was raised)
        found = find_error(error, minicomp.MinicompError)
        assert found is not None, f"complex input raised a non-minicomp error: {error!r}"
        assert "complex" in str(found)
    else:
        assert_same(result, scale(z))
        assert minicomp.reports() and minicomp.reports()[0].fallback_ops


def test_reports_have_the_promised_fields_and_reset_clears_them():
    compile_and_compare(lambda x, w: torch.softmax(x @ w, -1), torch.randn(4, 5), torch.randn(5, 3))
    reports = minicomp.reports()
    assert [r.kind for r in reports] == ["forward", "backward"]
    assert reports[1].graph_id == reports[0].graph_id + 1  # ids go on across reset(): see test_dumps.py
    for report in reports:
        assert report.target == "cpp"  # auto on the CPU, where make setup installs a C++ compiler
        assert {"codegen", "cpp_compiler"} <= set(report.pass_seconds)
        for field in ("num_kernels", "num_extern", "bytes_moved", "naive_bytes_moved", "peak_bytes",
                      "naive_peak_bytes"):
            assert isinstance(getattr(report, field), int) and getattr(report, field) >= 0, field
        assert report.num_kernels == len(report.kernels)
        for kernel in report.kernels:
            assert isinstance(kernel.name, str) and all(isinstance(op, str) for op in kernel.ops)
            assert isinstance(kernel.bytes_read, int) and isinstance(kernel.bytes_written, int)
        assert isinstance(report.fallback_ops, list)
        assert isinstance(report.pass_seconds, dict) and report.pass_seconds
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in report.pass_seconds.items())
        assert isinstance(report.compile_seconds, float) and report.compile_seconds > 0
        assert report.dump_dir is None
        assert report.peak_bytes <= report.naive_peak_bytes
        assert report.bytes_moved <= report.naive_bytes_moved
        assert isinstance(report.summary(), str) and json.loads(report.to_json())["kind"] == report.kind
    assert reports[0].num_extern >= 1  # the matmul
    minicomp.reset()
    assert minicomp.reports() == []


def test_reports_returns_a_copy():
    compile_and_compare(add_one, torch.randn(3), grad=False)
    minicomp.reports().clear()
    assert len(minicomp.reports()) == 1


def check_dump_folder(folder: str, report) -> None:
    files = set(os.listdir(folder))
    for name in ("aten_fx.txt", "program.py", "report.json"):
        assert name in files, f"{name} missing from {sorted(files)}"
    if report.target == "cpp":
        assert "program.cpp" in files, f"the C++ translation unit missing from {sorted(files)}"
    stages = ["lowered"] + list(report.passes_seconds())
    for stage in stages:
        matches = [f for f in files if re.fullmatch(rf"\d+_{stage}\.txt", f)]
        assert len(matches) == 1, f"no single IR dump for {stage}: {sorted(files)}"
        assert matches[0].replace(".txt", ".dot") in files
        with open(os.path.join(folder, matches[0])) as handle:
            assert handle.read().startswith("graph ")
    with open(os.path.join(folder, "report.json")) as handle:
        assert json.load(handle)["graph_id"] == report.graph_id
    with open(os.path.join(folder, "program.py")) as handle:
        assert "def program(" in handle.read()


def test_dump_dir_writes_a_folder_per_graph(tmp_path):
    compile_and_compare(lambda x: torch.tanh(x).sum(0), torch.randn(3, 4), options={"dump_dir": str(tmp_path)})
    reports = minicomp.reports()
    assert len(reports) == 2 and len(os.listdir(tmp_path)) == 2
    for report in reports:
        assert report.dump_dir is not None and os.path.dirname(report.dump_dir) == str(tmp_path)
        check_dump_folder(report.dump_dir, report)


def test_dump_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICOMP_DUMP_DIR", str(tmp_path))
    compile_and_compare(lambda x: x.exp() * 2, torch.randn(5), grad=False)
    (report,) = minicomp.reports()
    assert report.dump_dir is not None and report.dump_dir.startswith(str(tmp_path))
    check_dump_folder(report.dump_dir, report)


def test_backend_is_registered_by_entry_point():
    points = importlib.metadata.entry_points(group="torch_dynamo_backends")
    assert [p.value for p in points if p.name == "minicomp"] == ["minicomp.entry:minicomp"]
    assert "minicomp" in torch._dynamo.list_backends()
    from minicomp.entry import minicomp as backend_function

    assert torch._dynamo.lookup_backend("minicomp") is backend_function


def test_backend_rejects_stray_keyword_arguments():
    from minicomp.entry import minicomp as backend_function

    with pytest.raises(minicomp.InvalidOptionError, match="options="):
        backend_function(torch.fx.symbolic_trace(add_one), [torch.ones(2)], fusion=False)


def test_the_parts_of_a_compile_add_up_to_its_time(tmp_path):
    # lowering, every pass, verification, dumps, code generation, the C++ compiler and the report are
    # each measured; what none of them measured ("other") is a small rest
    from minicomp.report import COMPILE_STAGES

    compile_and_compare(lambda x, w: torch.softmax(x @ w, -1), torch.randn(4, 5), torch.randn(5, 3),
                        options={"target": "cpp", "dump_dir": str(tmp_path)})
    for report in minicomp.reports():
        assert set(COMPILE_STAGES) <= set(report.pass_seconds)
        assert {"fusion", "memory"} <= set(report.passes_seconds())
        assert sum(report.pass_seconds.values()) == pytest.approx(report.compile_seconds, rel=1e-6)
        assert report.pass_seconds["other"] <= 0.1 * report.compile_seconds
