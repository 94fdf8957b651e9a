"""Dump folders: a dump_dir that cannot be written warns once and compiles anyway, `~` is expanded, a
reused folder holds the new run's files only, and graph ids go on across reset()."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
import warnings

import pytest
import torch

import minicomp
from helpers import compile_and_compare
from minicomp import dump as dump_module
from minicomp import report as report_module


def tanh_sum(x):
    return torch.tanh(x).sum(0)


def compile_collecting_minicomp_warnings(options=None) -> list:
    """Compile forward and backward (two graphs, two dump folders); return the MinicompWarnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compile_and_compare(tanh_sum, torch.randn(3, 4), options=options)
    assert len(minicomp.reports()) == 2
    return [w for w in caught if issubclass(w.category, minicomp.MinicompWarning)]


def test_a_dump_dir_that_is_a_file_warns_once_naming_the_option_and_compiles_anyway(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    (warning,) = compile_collecting_minicomp_warnings({"dump_dir": str(path)})
    message = str(warning.message)
    assert str(path) in message and "the dump_dir option" in message and "Compiling without dumps" in message
    assert all(report.dump_dir is None for report in minicomp.reports())


def test_an_unwritable_dump_dir_from_the_environment_warns_naming_the_variable(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("MINICOMP_DUMP_DIR", str(tmp_path / "a_file" / "dumps"))
    (warning,) = compile_collecting_minicomp_warnings()
    assert "MINICOMP_DUMP_DIR" in str(warning.message)


def test_dump_dir_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert compile_collecting_minicomp_warnings({"dump_dir": "~/dumps"}) == []
    for report in minicomp.reports():
        assert report.dump_dir.startswith(str(tmp_path / "dumps")) and os.listdir(report.dump_dir)
    assert not os.path.exists("~")


def test_a_reused_dump_folder_holds_the_new_run_files_only(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "_GRAPH_IDS", itertools.count(7))  # as a later process would restart
    old = tmp_path / "inference_7"
    old.mkdir()
    for name in ("aten_fx.txt", "report.json", "00_lowered.txt", "00_lowered.svg", "12_stale_pass.svg"):
        (old / name).write_text("from an earlier run")
    compile_and_compare(tanh_sum, torch.randn(3, 4), grad=False, options={"dump_dir": str(tmp_path)})
    (report,) = minicomp.reports()
    assert report.dump_dir == str(old)
    files = set(os.listdir(old))
    assert "12_stale_pass.svg" not in files and "00_lowered.txt" in files
    for name in files:
        assert (old / name).read_text() != "from an earlier run", name
    assert json.loads((old / "report.json").read_text())["graph_id"] == 7


def test_graph_ids_go_on_after_reset_so_earlier_dump_folders_stay(tmp_path):
    options = {"dump_dir": str(tmp_path)}
    compile_and_compare(tanh_sum, torch.randn(3, 4), grad=False, options=options)
    (first,) = minicomp.reports()
    minicomp.reset()
    compile_and_compare(tanh_sum, torch.randn(3, 4), grad=False, options=options)
    (second,) = minicomp.reports()
    assert second.graph_id > first.graph_id and second.dump_dir != first.dump_dir
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(first.dump_dir),
                                                   os.path.basename(second.dump_dir)])
    with open(os.path.join(first.dump_dir, "report.json")) as handle:
        assert json.load(handle)["graph_id"] == first.graph_id


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed (make setup installs it)")
def test_svgs_are_laid_out_beside_the_compile_not_in_it(tmp_path, monkeypatch):
    # graphviz made slow: the compile does not wait for it, wait_for_svgs() does, and the SVGs are real
    real_render = dump_module._render_svg

    def slow_render(*args):
        time.sleep(0.5)
        real_render(*args)

    dump_module.wait_for_svgs()  # (what earlier tests queued)
    monkeypatch.setattr(dump_module, "_render_svg", slow_render)
    compile_and_compare(tanh_sum, torch.randn(3, 4), grad=False, options={"dump_dir": str(tmp_path),
                                                                         "target": "numpy"})
    (report,) = minicomp.reports()
    stages = len(report.pass_node_counts)
    assert stages >= 5 and report.compile_seconds < 0.5 * stages
    dump_module.wait_for_svgs()
    for stage in report.pass_node_counts:
        (svg,) = [name for name in os.listdir(report.dump_dir) if re.fullmatch(rf"\d+_{stage}\.svg", name)]
        assert "<svg" in (tmp_path / report.dump_dir / svg).read_text()
