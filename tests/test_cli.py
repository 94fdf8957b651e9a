"""The `minicomp` command: the demo compiles and checks a transformer block; bench runs benchmarks/kernels.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import minicomp
from minicomp import cli, compiler


def test_demo_matches_eager_and_prints_each_graph(capsys):
    assert cli.main(["demo"]) == 0
    printed = capsys.readouterr().out
    reports = minicomp.reports()
    assert [report.kind for report in reports] == ["forward", "backward"]
    for report in reports:
        counts = " -> ".join(f"{stage} {count}" for stage, count in report.pass_node_counts.items())
        assert f"graph {report.graph_id} ({report.kind}, target numpy)" in printed
        assert f"nodes after each pass: {counts}" in printed
        assert f"kernels: {report.num_kernels}   extern calls: {report.num_extern} " in printed
    assert list(reports[0].pass_node_counts)[0] == "lowered"
    assert "outputs and gradients match eager PyTorch" in printed


def test_demo_exits_1_when_compiled_outputs_are_wrong(monkeypatch, capsys):
    real_compile_numpy = compiler.compile_numpy

    def compile_numpy_off_by_one(graph):
        program, run = real_compile_numpy(graph)

        def wrong(args):
            results = run(args)
            first = next(i for i, r in enumerate(results) if isinstance(r, torch.Tensor) and r.is_floating_point())
            results[first] = results[first] + 1
            return results

        return program, wrong

    monkeypatch.setattr(compiler, "compile_numpy", compile_numpy_off_by_one)
    assert cli.main(["demo"]) == 1
    assert "MISMATCH against eager PyTorch" in capsys.readouterr().out


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
    script = os.path.join(os.path.dirname(sys.executable), "minicomp")
    result = subprocess.run([script, "bench", "--root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "kernel benchmark ran" in result.stdout


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
