"""The `minicomp` command: the demo compiles and checks a transformer block; bench runs benchmarks/kernels.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import minicomp
from minicomp import cli
from minicomp import entry
from minicomp.frontend import decompositions

MINICOMP_SCRIPT = os.path.join(os.path.dirname(sys.executable), "minicomp")  # the console script


def test_demo_matches_eager_and_prints_each_graph(capsys):
    assert cli.main(["demo"]) == 0
    printed = capsys.readouterr().out
    reports = minicomp.reports()
    assert [report.kind for report in reports] == ["forward", "backward"]
    for report in reports:
        counts = " -> ".join(f"{stage} {count}" for stage, count in report.pass_node_counts.items())
        assert f"graph {report.graph_id} ({report.kind}, target cpp)" in printed
        assert f"nodes after each pass: {counts}" in printed
        assert f"kernels: {report.num_kernels}   extern calls: {report.num_extern} " in printed
    assert list(reports[0].pass_node_counts)[0] == "lowered"
    assert "outputs and gradients match eager PyTorch" in printed


def test_demo_exits_1_when_compiled_outputs_are_wrong(monkeypatch, capsys):
    def table_with_a_wrong_gelu():
        table = decompositions.decomposition_table()
        table[torch.ops.aten.gelu.default] = lambda x, approximate="none": torch.ops.aten.relu.default(x)
        return table

    monkeypatch.setattr(entry, "decomposition_table", table_with_a_wrong_gelu)
    assert cli.main(["demo"]) == 1
    assert "MISMATCH against eager PyTorch" in capsys.readouterr().out


def test_demo_on_the_triton_target_under_the_interpreter():
    # Triton reads TRITON_INTERPRET when it is imported, so this runs in a process of its own.
    environment = dict(os.environ, TRITON_INTERPRET="1")
    result = subprocess.run([MINICOMP_SCRIPT, "demo", "--target", "triton"], capture_output=True, text=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(forward, target triton)" in result.stdout and "(backward, target triton)" in result.stdout
    assert "outputs and gradients match eager PyTorch" in result.stdout


def test_demo_names_what_is_missing_for_triton(monkeypatch, capsys):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["demo", "--target", "triton"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("minicomp demo: BackendUnavailableError:") and "TRITON_INTERPRET=1" in error


def test_demo_dump_dir_holds_each_stage(tmp_path, capsys):
    assert cli.main(["demo", "--dump-dir", str(tmp_path)]) == 0
    assert f"dumps written to {tmp_path}" in capsys.readouterr().out
    for report in minicomp.reports():
        folder = os.path.join(tmp_path, f"{report.kind}_{report.graph_id}")
        files = os.listdir(folder)
        assert {"aten_fx.txt", "program.py", "report.json", "00_lowered.txt"} <= set(files)
        assert len([f for f in files if f.endswith(".txt") and f[:2].isdigit()]) == len(report.pass_node_counts)


def test_bench_without_benchmarks_says_so(tmp_path, capsys):
    assert cli.main(["bench", "--root", str(tmp_path)]) == 0
    assert "no benchmarks yet" in capsys.readouterr().out


def test_bench_runs_benchmarks_kernels_py(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "kernels.py").write_text(
        "if __name__ == '__main__':\n    print('kernel benchmark ran')\n")
    result = subprocess.run([MINICOMP_SCRIPT, "bench", "--root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "kernel benchmark ran" in result.stdout


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
