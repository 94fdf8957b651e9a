"""The docs stay true: every runnable tutorial in docs/ runs, the README example runs, local links resolve."""

from __future__ import annotations

import glob
import os
import re
import runpy
import subprocess
import sys

import pytest

import minicomp
from minicomp.frontend.lowerings import LOWERINGS
from minicomp.ir.ops import Op

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.py")))
DECOMPOSITION = os.path.join(ROOT, "docs", "decomposition.py")  # run in process by the test of its numbers
MARKDOWN = [os.path.join(ROOT, name) for name in ("README.md", "DEVELOPERS.md")] + sorted(
    glob.glob(os.path.join(ROOT, "docs", "*.md")))


def run_script(path: str, capsys) -> str:
    runpy.run_path(path, run_name="__main__")
    return capsys.readouterr().out


def test_there_are_tutorials():
    assert DECOMPOSITION in TUTORIALS


@pytest.mark.parametrize("path", [path for path in TUTORIALS if path != DECOMPOSITION], ids=os.path.basename)
def test_tutorial_runs(path):
    # A process of its own, as `make docs` runs it: a tutorial may set up its environment (such as
    # TRITON_INTERPRET, read when triton is imported) before its imports.
    result = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, f"{path} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), f"{path} printed nothing"


def test_decomposition_numbers_are_live(capsys):
    printed = run_script(DECOMPOSITION, capsys)
    assert f"Op members: {len(Op)}\n" in printed
    assert f"LOWERINGS (frontend/lowerings/*.py): {len(LOWERINGS)} ATen overloads" in printed
    vocabulary = printed.split("== 2.")[0]
    groups = re.findall(r"^  (.+?)\s+(\d+)  (.*)$", vocabulary, re.M)
    listed = [name for _, _, names in groups for name in names.split()]
    assert sorted(listed) == sorted(op.value for op in Op), "every Op is in exactly one printed group"
    assert all(int(count) == len(names.split()) for _, count, names in groups)


def test_readme_example_runs_and_matches_eager(tmp_path, monkeypatch, capsys):
    with open(os.path.join(ROOT, "README.md")) as handle:
        example = re.search(r"```python\n(.*?)```", handle.read(), re.S).group(1)
    assert len(example.splitlines()) <= 25, "the README example stays short"
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md example", "exec"), {})
    kinds = [report.kind for report in minicomp.reports()]
    assert kinds == [], "the example ends with minicomp.reset()"
    printed = capsys.readouterr().out
    assert "(forward, numpy)" in printed and "(backward, numpy)" in printed
    forward, backward = sorted(os.listdir(tmp_path / "dumps"), key=lambda name: name.startswith("backward"))
    first = int(forward.removeprefix("forward_"))  # graph ids go on across reset(), so they need not start at 0
    assert (forward, backward) == (f"forward_{first}", f"backward_{first + 1}")


@pytest.mark.parametrize("path", MARKDOWN, ids=os.path.basename)
def test_local_links_resolve(path):
    with open(path) as handle:
        text = handle.read()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert os.path.exists(os.path.join(os.path.dirname(path), target)), f"{path} links to missing {target}"


def test_ir_imports_no_torch_as_developers_md_says():
    code = ("import pkgutil, importlib, sys, minicomp.ir\n"
            "for module in pkgutil.iter_modules(minicomp.ir.__path__):\n"
            "    importlib.import_module('minicomp.ir.' + module.name)\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'numpy')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"minicomp/ir imported {result.stdout.strip()}"
