"""PyTorch's minifier (TORCHDYNAMO_REPRO_AFTER="dynamo") on minicomp: silent on a correct function, and on
a broken lowering a repro.py that fails with minicomp and passes once the lowering is right again.

Each step runs in its own Python process (the minifier's scripts are separate programs); `broken.py`,
imported first, breaks aten.sin's lowering as the BREAK variable says: a wrong value, or an exception."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BROKEN = '''
import os
import torch
from minicomp.frontend.lowerings.common import LOWERINGS
from minicomp.ir import Op


def wrong_sin(ctx, x):
    return ctx.add(Op.COS, x)


def raising_sin(ctx, x):
    raise RuntimeError("the sin lowering is broken")


if os.environ.get("BREAK"):
    LOWERINGS[torch.ops.aten.sin.default] = {"wrong": wrong_sin, "raise": raising_sin}[os.environ["BREAK"]]
'''

PROGRAM = '''
import torch


def f(x, y):
    return (torch.sin(x) * 2 + y.exp()).sum(-1)


x, y = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
torch.testing.assert_close(torch.compile(f, backend="minicomp")(x, y), f(x, y))
print("MATCHES EAGER")
'''

# runs a script as `python script.py` would, after importing broken.py
LAUNCH = "import broken, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


def run(folder: str, script: str, level: int = 0, broken: str = "") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TORCHDYNAMO_REPRO")}
    env.update(PYTHONPATH=os.pathsep.join([ROOT, folder]), BREAK=broken)
    if level:
        env.update(TORCHDYNAMO_REPRO_AFTER="dynamo", TORCHDYNAMO_REPRO_LEVEL=str(level))
    return subprocess.run([sys.executable, "-c", LAUNCH, script], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "program.py").write_text(PROGRAM)
    return str(tmp_path)


def launchers(folder: str) -> list[str]:
    return glob.glob(os.path.join(folder, "torch_compile_debug", "*", "minifier", "minifier_launcher.py"))


@pytest.mark.parametrize("level", [2, 4])
def test_a_correct_function_runs_under_the_minifier_and_leaves_no_repro(folder, level):
    result = run(folder, "program.py", level)
    assert result.returncode == 0 and "MATCHES EAGER" in result.stdout, result.stderr[-3000:]
    assert launchers(folder) == []


@pytest.mark.slow
@pytest.mark.parametrize("level, broken, failure", [(4, "wrong", "AccuracyError"),
                                                     (2, "raise", "the sin lowering is broken")],
                         ids=["accuracy", "crash"])
def test_a_broken_lowering_is_minified_to_a_repro_that_fails_only_while_broken(folder, level, broken, failure):
    result = run(folder, "program.py", level, broken)
    assert result.returncode != 0 and failure in result.stderr, result.stderr[-3000:]
    (launcher,) = launchers(folder)
    minified = run(folder, launcher, broken=broken)
    assert minified.returncode == 0, minified.stderr[-3000:]
    with open(os.path.join(folder, "repro.py")) as handle:
        repro = handle.read()
    forward = repro[repro.index("def forward"):repro.index("mod = Repro()")]
    assert "torch.sin" in forward and "exp" not in forward, forward  # minified down to the broken op
    reproduced = run(folder, "repro.py", broken=broken)
    assert reproduced.returncode != 0 and failure in reproduced.stderr, reproduced.stderr[-3000:]
    fixed = run(folder, "repro.py")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
