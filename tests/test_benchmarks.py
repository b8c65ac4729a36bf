"""The benchmark scripts run end to end on their small (--quick) sizes and print their tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.parametrize("script, expected", [
    ("solver_scaling.py", ["| level |", "GMG-CG"]),
    ("adaptive_vs_uniform.py", ["estimator", "uniform", "effectivity"]),
    ("ml_mesh.py", ["| strategy |", "heuristic", "ml"]),
])
def test_benchmark_runs_quick(script, expected):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    for text in expected:
        assert text in run.stdout, f"{script}: {text!r} missing from its output"
    assert "FAILED" not in run.stdout and "Traceback" not in run.stderr
