"""thermal compare, against the exact (cosine-series) solution written as HotSpot files; and the
figures' units, legend and titles.

The run is ev6 + gcc on the die-sized three-layer stack of tests/data, whose exact solution
gives each block's mean (a ``.steady`` file) and the temperature at every cell centre of a
grid (a grid file, row 0 at the die's top edge). The differences ``thermal compare`` reports
must then be the solver's own errors: within its tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import thermal
from thermal.cli import main
from thermal.compare import compare, read_side
from thermal.errors import InputError
from thermal.gallery import exact_solution
from thermal.power import power_vector

DATA = Path(__file__).parent / "data"
TOL = 0.5


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    fp = thermal.read_floorplan(DATA / "ev6.flp")
    trace = thermal.read_ptrace(DATA / "gcc.ptrace")
    stack = thermal.Stack.read(DATA / "ev6_3layer.toml")
    sol = thermal.solve(fp, trace, stack, mesh="uniform", tolerance=TOL)
    folder = tmp_path_factory.mktemp("compare")
    sol.write(folder / "run", units="K")
    ex = exact_solution(fp.bounds, np.c_[fp.left_m, fp.bottom_m, fp.width_m, fp.height_m],
                        power_vector(fp, trace.mean()),
                        [(layer.thickness_m, layer.conductivity) for layer in stack.layers],
                        h=stack.h_bottom(fp.bounds), ambient_K=stack.ambient_K)
    return folder, sol, fp, ex


def test_run_against_an_exact_steady_file(solved):
    folder, sol, fp, ex = solved
    steady = folder / "exact.steady"
    steady.write_text("".join(f"{n}\t{t:.4f}\n" for n, t in zip(fp.names, ex.block_mean()))
                      + "iface_L2\t330.0\n")  # a TIM line: not a block of the run, left out
    c = compare(folder / "run", steady)
    assert c.names == tuple(fp.names)
    assert np.all(np.isnan(c.b_max_K))
    np.testing.assert_allclose(c.mean_diff_K, sol.blocks.mean_K - ex.block_mean(), atol=1e-4)
    assert np.max(np.abs(c.mean_diff_K)) <= TOL
    swapped = compare(steady, folder / "run")
    np.testing.assert_allclose(swapped.mean_diff_K, -c.mean_diff_K)


def test_run_against_an_exact_grid_file_is_oriented(solved):
    """Row 0 of a HotSpot grid is the die's top edge: a flipped reading would differ by kelvins."""
    folder, sol, fp, ex = solved
    x0, y0, x1, y1 = fp.bounds
    rows, cols = 32, 32
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    ys = y1 - (np.arange(rows) + 0.5) * (y1 - y0) / rows
    grid = ex.temperature_grid(xs, ys)  # (rows, cols), row 0 at the top
    path = folder / "exact.grid.steady"
    path.write_text("Layer 0:\n" + "".join(f"{i}\t{t:.4f}\n" for i, t in enumerate(grid.ravel()))
                    + "Layer 1:\n0\t300.0\n")
    c = compare(folder / "run", path)
    assert c.grid_diff_K.shape == (rows, cols)
    assert np.nanmax(np.abs(c.grid_diff_K)) <= TOL
    flipped = grid[::-1] - grid
    assert np.max(np.abs(flipped)) > 5 * TOL  # the test would see a flip
    # block means of a grid: over the cells whose centre is in the block, as HotSpot maps them
    assert c.names == tuple(fp.names) and np.isfinite(c.b_mean_K).all()


def test_two_runs_map_and_table(solved, tmp_path):
    folder, sol, fp, ex = solved
    coarse = thermal.solve(fp, thermal.read_ptrace(DATA / "gcc.ptrace"),
                           thermal.Stack.read(DATA / "ev6_3layer.toml"), mesh="uniform",
                           tolerance=2 * TOL)
    coarse.write(tmp_path / "coarse", plots=False)
    c = compare(folder / "run", tmp_path / "coarse")
    np.testing.assert_allclose(c.max_diff_K, sol.blocks.max_K - coarse.blocks.max_K, atol=1e-3)
    assert c.field_diff_K.shape == (sol.mesh.n_nodes,)
    # both within their tolerance of the exact answer, so within the sum of each other
    assert np.max(np.abs(c.max_diff_K)) <= 3 * TOL
    assert c.summary()["map"]["rms_K"] <= 3 * TOL


def test_cli_compare_writes_table_summary_and_picture(solved, tmp_path, capsys):
    folder, sol, fp, ex = solved
    steady = tmp_path / "exact.steady"
    steady.write_text("".join(f"{n}\t{t:.2f}\n" for n, t in zip(fp.names, ex.block_mean())))
    out = tmp_path / "diff"
    assert main(["compare", str(folder / "run"), str(steady), "--out", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    assert "block means: largest difference" in text and "wrote" in text
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "difference.png",
                                                     "differences.csv"]
    rows = (out / "differences.csv").read_text().splitlines()
    assert rows[0] == "block,A_max_K,B_max_K,max_diff_K,A_mean_K,B_mean_K,mean_diff_K"
    assert len(rows) == 1 + len(fp.names)
    summary = json.loads((out / "compare.json").read_text())
    assert abs(summary["block_mean"]["largest_K"]) <= TOL + 0.01


@pytest.mark.parametrize("text, message", [
    ("a\t1\t2\n", "expected 'name temperature'"),
    ("a\tnan\n", "temperature"),
    ("0\t300\n1\t300\n2\t300\n", "3 cells do not make a 2 x 2 grid"),
    ("0\t300\n2\t300\n", "cell 2 out of order"),
])
def test_bad_result_files_are_one_line(tmp_path, text, message, capsys):
    path = tmp_path / "bad.steady"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_side(path)
    assert main(["compare", str(path), str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_no_common_blocks_is_an_error(tmp_path):
    (tmp_path / "a.steady").write_text("x\t300\n")
    (tmp_path / "b.steady").write_text("y\t300\n")
    with pytest.raises(InputError, match="no block names in common"):
        compare(tmp_path / "a.steady", tmp_path / "b.steady")


# ------------------------------------------------------------------------------ figures

def test_units_reach_the_plots_and_the_summary(solved):
    folder, sol, fp, ex = solved
    assert json.loads((folder / "run" / "summary.json").read_text())["units"] == {
        "temperature": "K", "length": "m", "power": "W", "plots": "K"}
    kelvin = sol.plot(None, "heatmap", units="K")
    celsius = sol.plot(None, "heatmap")
    assert kelvin.axes[1].get_ylabel() == "temperature (K)"
    assert celsius.axes[1].get_ylabel() == "temperature (°C)"
    low_k, high_k = kelvin.axes[0].collections[0].get_clim()
    low_c, high_c = celsius.axes[0].collections[0].get_clim()
    assert high_k - high_c == pytest.approx(273.15) and low_k - low_c == pytest.approx(273.15)
    assert f"{sol.peak.temperature_K:.2f} K" in kelvin._suptitle.get_text()
    with pytest.raises(ValueError, match="units"):
        sol.plot(None, "heatmap", units="F")


def test_titles_are_plain_words(solved):
    folder, sol, fp, ex = solved
    for kind in ("heatmap", "mesh"):
        title = sol.plot(None, kind)._suptitle.get_text()
        for jargon in ("DOF", "ml mesh", "correction", "uniform mesh"):
            assert jargon not in title, (kind, title)
    assert sol.plot(None, "mesh")._suptitle.get_text().startswith("Mesh refined evenly")


def test_mesh_legend_names_the_spreader_and_sink():
    fp = thermal.read_floorplan(DATA / "small.flp")
    sol = thermal.solve(fp, thermal.read_ptrace(DATA / "small.ptrace"), mesh="uniform",
                        tolerance=2.0)  # HotSpot's package: a 30 mm spreader, a 60 mm sink
    fig = sol.plot(None, "mesh")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["blocks", "die, tim (3 x 1 mm)", "spreader (30 x 30 mm)",
                      "sink (60 x 60 mm)"]
