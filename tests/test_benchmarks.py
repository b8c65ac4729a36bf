"""The benchmark scripts run end to end on their small (--quick) sizes and print their tables."""

from __future__ import annotations

import re
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
    if script == "ml_mesh.py":
        # every strategy's estimate sits above its true error on the median case
        line = next(l for l in run.stdout.splitlines() if l.startswith("- Estimate over true"))
        medians = [float(m) for m in re.findall(r"[a-z]+ ([0-9.]+) \(", line.split(": ", 1)[1])]
        assert len(medians) == 4 and min(medians) >= 1.0, line


@pytest.mark.parametrize("script, args, expected", [
    ("size_safety.py", ["--cases", "1", "--factors", "1.7", "2.4"], ["| 1.7 |", "| 2.4 |"]),
    ("ml_ablation.py", ["--cases", "1"], ["| heuristic |", "| physics |", "| ml |"]),
    ("ml_ablation.py", ["--cases", "1", "--package"], ["| heuristic |", "| physics |", "| ml |"]),
])
def test_predictor_tuning_scripts_run_small(script, args, expected):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    for text in expected:
        assert text in run.stdout, f"{script}: {text!r} missing from its output"
    # every row's error against the exact solution (or the fine reference) is within 0.1 K
    header = next(line for line in run.stdout.splitlines() if "| max " in line)
    column = next(i for i, c in enumerate(header.split("|"))
                  if c.strip().startswith("max") and "error K" in c)
    labels = [text.strip("| ") for text in expected]
    errors = [float(line.split("|")[column]) for line in run.stdout.splitlines()
              if line.startswith("| ") and line.split("|")[1].strip() in labels]
    assert len(errors) == len(labels) and max(errors) <= 0.1


def test_size_safety_compares_off_die_gradings_under_a_package():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "size_safety.py"), "--cases", "1",
                          "--package", "--factors", "1.7", "--grading", "inf", "0.3",
                          "--bisections", "1", "4"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines()
            if line.startswith("| 1.7 |")]
    assert [(r[1].strip(), r[3].strip()) for r in rows] == [("inf", "1"), ("0.3", "1"),
                                                            ("inf", "4"), ("0.3", "4")]
    assert all(int(r[7]) >= 2 and r[-2].strip() == "—" for r in rows)  # a pair of solves at least


def test_power_map_benchmark_runs_small_and_meets_the_tolerance():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "power_map.py"), "--cells", "32", "64",
                          "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines() if line.startswith("| ")
            and ("map" in line or "blocks" in line)]
    assert len(rows) == 6  # block power and two maps, on two stacks
    true = [float(r[6]) for r in rows if r[7].strip() == "true"]
    assert len(true) == 3 and max(true) <= 0.1


def test_estimator_family_runs_small():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "estimator_family.py"), "--cases", "ev6",
                          "--tolerances", "0.1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| ev6 | 0.1 |" in run.stdout and "Narrowest band of the family" in run.stdout
    band = float(run.stdout.split("largest / smallest effectivity ")[1].split(",")[0])
    assert band >= 1.0
    # a block's max cannot be further off than its worst pointwise error (up to the sampling
    # of that error at nodes and edge midpoints)
    share = run.stdout.split("(err_max / err_sup, ")[1].split(": ")[1]
    low, high = (float(v) for v in share.split(" ")[0].split("–"))
    assert 0.0 <= low <= high <= 1.1


def test_oracle_mesh_reaches_the_tolerance_below_every_strategy():
    """The oracle (marking from the true error) meets 0.1 K against the exact solution with no
    more DOFs than the coarsest uniform level that does, and no answer a two-level estimate
    checks has fewer DOFs than its floor."""
    run = subprocess.run([sys.executable, str(BENCHMARKS / "oracle_mesh.py"), "--first", "2",
                          "--cases", "1", "--no-reference", "--out", "-"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    header = next(line for line in run.stdout.splitlines() if line.startswith("| case |"))
    names = [c.strip() for c in header.split("|")[1:-1]]
    row = next(line for line in run.stdout.splitlines() if line.startswith("| gen 10000002 |"))
    cells = dict(zip(names, (c.strip() for c in row.split("|")[1:-1])))

    def dofs(name):
        return int(cells[name].split()[0].replace(",", ""))

    oracle = min(dofs(f"oracle {rule}") for rule in ("sup", "block 0.5", "block 0.1")
                 if "not reached" not in cells[f"oracle {rule}"])
    assert oracle <= dofs("uniform needed") <= dofs("uniform strategy")
    assert dofs("ml") >= dofs("floor ml") and dofs("estimator") >= dofs("floor 1/24")
    assert dofs("uniform strategy") >= dofs("floor 1/24")


def test_transient_benchmark_runs_quick():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "transient.py"), "--quick",
                          "--uniform-steps", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| ml | " in run.stdout and "| uniform | " in run.stdout
    # the ml mesh's block max and mean are within 0.1 K of the exact transient
    row = next(line for line in run.stdout.splitlines() if line.startswith("| ml | "))
    cells = [c.strip() for c in row.split("|")]
    assert float(cells[8]) <= 0.1 and float(cells[9]) <= 0.1, row


def test_vs_3d_quick_closes_the_gap_to_3d_conduction():
    """benchmarks/vs_3d.py --quick: on ev6 every block of the sub-layered model (--sublayers
    auto) within 0.3 K of the converged 3D solution, and sub-layers closer to 3D on every other
    stack."""
    run = subprocess.run([sys.executable, str(BENCHMARKS / "vs_3d.py"), "--quick"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| IntReg_0 |" in run.stdout and "thin die" in run.stdout
    m = re.search(r"ev6 auto worst ([0-9.]+) K; sub-layers improve every other stack: (\w+)",
                  run.stdout)
    assert m and float(m.group(1)) <= 0.3 and m.group(2) == "True", run.stdout[-1500:]
