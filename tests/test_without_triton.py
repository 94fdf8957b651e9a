"""Without triton installed, every Triton test is collected and reported as skipped with its reason:
none may vanish from the run silently, and none may stop the collection of the others."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# sys.modules["triton"] = None makes `import triton` raise ModuleNotFoundError and find_spec return None,
# as on a machine without the package.
WITHOUT_TRITON = "import sys; sys.modules['triton'] = None; import pytest; sys.exit(pytest.main(sys.argv[1:]))"


def test_triton_tests_are_skipped_one_by_one_without_triton():
    selection = ["tests/backends/test_numpy_ops.py::test_every_op_runs_on_every_backend",
                 "tests/triton/test_triton_tuning.py"]
    result = subprocess.run([sys.executable, "-c", WITHOUT_TRITON, "-v", "-p", "no:randomly", "-p", "no:cacheprovider",
                             "-k", "add- or tuning", *selection], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "test_every_op_runs_on_every_backend[add-numpy] PASSED" in result.stdout
    assert "test_every_op_runs_on_every_backend[add-triton] SKIPPED" in result.stdout
    assert "test_every_candidate_is_timed_and_the_fastest_is_cached SKIPPED" in result.stdout
