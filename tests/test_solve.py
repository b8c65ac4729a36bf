"""The steady solver against exact solutions (SPEC.md §2), and its checks and outputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import meshio
import numpy as np
import pytest
import scipy.sparse as sp

import thermal
from thermal.assemble import assemble
from thermal.errors import SolverError
from thermal.mesh import initial_mesh
from thermal.power import power_vector
from thermal.refine import refined_uniform
from thermal.fields import block_stats, steady_field
from thermal.linear import solve_linear
from thermal.strategies import level_estimate, start_mesh
from thermal.stack import Layer, Stack

from conftest import DATA, EV6, GCC, STACK3
from conftest import exact_on_mesh as _exact
from conftest import random_case as _random_case

FLOORPLANS = DATA.parent.parent / "floorplans"


def _two_layer():
    return Stack(layers=(Layer("die", 300e-6, 120.0, 1.6e6, power=True),
                         Layer("spreader", 2e-3, 390.0, 3.4e6)), h=2.5e4)


def _uniform_errors(fp, power_w, stack, levels):
    """(DOFs, block-max error, block-mean error, peak error) per uniform level, in K."""
    die = fp.bounds
    mesh = start_mesh(fp, stack, "estimator")
    exact = _exact(mesh, fp, power_w, stack)
    ex_max, ex_mean, ex_peak = exact.block_max(), exact.block_mean(), exact.peak()[0]
    out = []
    for _ in range(levels):
        theta, info, _ = steady_field(mesh, stack, power_w, None, die)
        hi, mean, _ = block_stats(mesh, theta[0])
        amb = stack.ambient_K
        out.append((info["dofs"], np.abs(hi + amb - ex_max).max(), np.abs(mean + amb - ex_mean).max(),
                    abs(np.nanmax(theta[0]) + amb - ex_peak)))
        mesh = refined_uniform(mesh)
    return np.array(out)


CONVERGENCE_CASES = {
    "ev6-gcc-3layer": lambda: (EV6, power_vector(EV6, GCC.mean()), STACK3, 4),
    "random-12-2layer": lambda: (*_random_case(12, 7), _two_layer(), 4),
    "random-40-3layer": lambda: (*_random_case(40, 11), STACK3, 4),
}


@pytest.mark.parametrize("case", sorted(CONVERGENCE_CASES))
def test_uniform_refinement_converges_at_rate_two_in_h(case):
    fp, power_w, stack, levels = CONVERGENCE_CASES[case]()
    errors = _uniform_errors(fp, power_w, stack, levels)
    dofs = errors[:, 0]
    for column, what in ((1, "block max"), (2, "block mean"), (3, "peak")):
        # slope vs DOFs over the finer levels: -1 is h^2 in 2D
        slope = np.polyfit(np.log(dofs[1:]), np.log(errors[1:, column]), 1)[0]
        assert -1.6 < slope < -0.75, f"{case} {what}: slope {slope:.2f}, errors {errors[:, column]}"
        assert errors[-1, column] < errors[0, column] / 8


@pytest.mark.parametrize("name, trace, floorplan", [
    ("ev6", DATA / "gcc.ptrace", DATA / "ev6.flp"),
    ("manycore-208", FLOORPLANS / "manycore.ptrace", FLOORPLANS / "manycore.flp"),
])
def test_default_tolerance_bounds_every_block_error(name, trace, floorplan):
    fp = thermal.read_floorplan(floorplan)
    power = thermal.read_ptrace(trace).mean()
    sol = thermal.solve(fp, power, STACK3, mesh="uniform", sublayers="off")  # the oracle's model
    assert sol.tolerance_K == 0.1
    exact = _exact(sol.mesh, fp, power_vector(fp, power), STACK3)
    err_max = np.abs(sol.blocks.max_K - exact.block_max()).max()
    err_mean = np.abs(sol.blocks.mean_K - exact.block_mean()).max()
    assert len(fp.names) >= (200 if name.startswith("manycore") else 30)
    assert max(err_max, err_mean) <= 0.1
    # the reported estimate is an upper bound of the true error, not a guess below it
    assert max(err_max, err_mean) <= sol.error_estimate_K <= 0.1
    assert sol.energy_balance_rel <= 1e-9


def test_level_estimate_is_never_more_optimistic_than_two_thirds_of_the_change():
    assert level_estimate(0.3, np.inf) == pytest.approx(0.2)
    assert level_estimate(0.3, 10.0) == pytest.approx(0.2)    # ratio clamped at 2.5
    assert level_estimate(0.3, 0.6) == pytest.approx(0.3)     # ratio 2: error ~ change
    assert level_estimate(0.3, 0.3) == pytest.approx(0.6)     # no progress: clamped at 1.5


def test_energy_balance_ambient_bound_and_bit_identical_reruns():
    fp, power = _random_case(25, 3)
    a = thermal.solve(fp, power, Stack.default(), mesh="uniform", tolerance=0.5)
    b = thermal.solve(fp, power, Stack.default(), mesh="uniform", tolerance=0.5)
    assert a.energy_balance_rel <= 1e-9
    finite = a.temperature_K[np.isfinite(a.temperature_K)]
    assert finite.min() >= Stack.default().ambient_K
    assert np.array_equal(a.temperature_K, b.temperature_K, equal_nan=True)
    assert np.array_equal(a.mesh.points, b.mesh.points)
    assert a.blocks_csv() == b.blocks_csv()


def _naive_matrix(mesh, stack, die):
    """The layered matrix built one triangle at a time, straight from the weak form."""
    n_layers, n = len(stack.layers), mesh.n_nodes
    dense = np.zeros((n_layers * n, n_layers * n))
    g_amb = stack.g_ambient(die)
    for t, tri in enumerate(mesh.triangles):
        p = mesh.points[tri]
        area = 0.5 * abs(np.linalg.det(np.c_[p[1] - p[0], p[2] - p[0]]))
        coef = np.linalg.inv(np.c_[np.ones(3), p])  # columns: basis coefficients (1, x, y)
        grads = coef[1:].T
        local = area * grads @ grads.T
        for l, layer in enumerate(stack.layers):
            idx = l * n + tri
            dense[np.ix_(idx, idx)] += layer.conductivity * layer.thickness_m * local
        lumped = area / 3
        for l in range(n_layers - 1):
            g = stack.g_between(l, l + 1) * lumped
            for i in tri:
                a, b = l * n + i, (l + 1) * n + i
                dense[a, a] += g
                dense[b, b] += g
                dense[a, b] -= g
                dense[b, a] -= g
        for i in tri:
            bottom = (n_layers - 1) * n + i
            dense[bottom, bottom] += g_amb * lumped
    return dense


def test_vectorised_assembly_matches_a_per_element_loop():
    fp, power = _random_case(6, 5)
    die = fp.bounds
    mesh = initial_mesh(fp.rects, np.array([die, die, die]))
    system = assemble(mesh, STACK3, power, None, die)
    assert (system.node2dof >= 0).all()
    # the naive matrix numbers layer l's node i as l*N + i, which is what node2dof says too
    assert np.array_equal(system.node2dof.ravel(), np.arange(3 * mesh.n_nodes))
    naive = _naive_matrix(mesh, STACK3, die)
    assert np.allclose(system.matrix.toarray(), naive, rtol=1e-12, atol=1e-12 * np.abs(naive).max())
    assert abs(system.matrix - system.matrix.T).max() == 0.0
    assert system.rhs.sum() == pytest.approx(power.sum(), rel=1e-12)


def test_block_mean_is_the_exact_integral_of_the_p1_field():
    fp, _ = _random_case(9, 2)
    die = fp.bounds
    mesh = refined_uniform(initial_mesh(fp.rects, np.array([die])))
    x, y = mesh.points.T
    hi, mean, lo = block_stats(mesh, 2.0 + 300.0 * x - 500.0 * y)   # linear: mean = centre value
    r = mesh.block_rects
    cx, cy = 0.5 * (r[:, 0] + r[:, 2]), 0.5 * (r[:, 1] + r[:, 3])
    assert np.allclose(mean, 2.0 + 300.0 * cx - 500.0 * cy, rtol=0, atol=1e-12)
    assert np.allclose(hi, 2.0 + 300.0 * r[:, 2] - 500.0 * r[:, 1], rtol=0, atol=1e-12)
    assert np.allclose(lo, 2.0 + 300.0 * r[:, 0] - 500.0 * r[:, 3], rtol=0, atol=1e-12)


def test_multigrid_direct_and_aggregation_agree():
    fp, power = EV6, power_vector(EV6, GCC.mean())
    die = fp.bounds
    sol = thermal.solve(fp, power, STACK3, mesh="uniform", tolerance=0.1, sublayers="off")
    assert sol.solver["method"] == "gmg" and sol.solver["iterations"] < 30
    mesh = sol.mesh
    system = assemble(mesh, STACK3, power, None, die)
    x_amg, info = solve_linear(system.matrix, system.rhs, method="amg")
    assert info["residual_rel"] <= 1e-9
    theta = sol.temperature_K - STACK3.ambient_K
    x_gmg = theta.ravel()[np.argsort(system.node2dof.ravel())]
    assert np.abs(x_gmg - x_amg).max() < 1e-6


def test_coarsest_level_is_factorised_once_per_matrix(monkeypatch):
    import gc

    import thermal.linear as solve_module

    calls = []
    splu = solve_module.spla.splu
    monkeypatch.setattr(solve_module.spla, "splu",
                        lambda a, **kw: calls.append(a.shape[0]) or splu(a, **kw))
    a = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    b = np.arange(50.0)
    for _ in range(3):
        assert np.allclose(a @ solve_module.coarsest_solve(a, b), b, atol=1e-12)
    assert calls == [50]
    other = (2.0 * a).tocsr()   # another matrix gets its own factors
    assert np.allclose(other @ solve_module.coarsest_solve(other, b), b, atol=1e-12)
    assert calls == [50, 50]
    key = id(other)
    assert {id(a), key} <= set(solve_module._FACTORS)
    del other
    gc.collect()                              # a dead matrix's factors are dropped
    assert key not in solve_module._FACTORS and id(a) in solve_module._FACTORS


def test_failed_linear_solve_raises_instead_of_returning_garbage():
    singular = sp.csr_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    with pytest.raises(SolverError, match="failed: singular"):
        solve_linear(singular, np.array([1.0, 0.0]), method="direct")


def test_dof_cap_stops_refinement_and_reports_the_unmet_tolerance():
    fp, power = EV6, GCC.mean()
    sol = thermal.solve(fp, power, STACK3, mesh="uniform", tolerance=0.001, max_dofs=30_000)
    assert sol.history[-1]["dofs"] <= 30_000
    assert sol.error_estimate_K > 0.001
    assert [h["dofs"] for h in sol.history] == sorted(h["dofs"] for h in sol.history)


def test_unknown_strategy_and_missing_model_say_so(tmp_path):
    with pytest.raises(thermal.InputError, match="unknown mesh strategy 'fine'"):
        thermal.solve(EV6, GCC.mean(), STACK3, mesh="fine")
    with pytest.raises(thermal.InputError, match="no such model file"):
        thermal.solve(EV6, GCC.mean(), STACK3, mesh="ml", model=tmp_path / "none.npz")


def test_written_files_read_back(tmp_path):
    sol = thermal.solve(EV6, GCC, Stack.default(), mesh="uniform", tolerance=0.5)
    out = sol.write(tmp_path / "run")
    with open(out / "blocks.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["block"] for r in rows] == list(EV6.names)
    assert list(rows[0]) == ["block", "layer", "max_K", "mean_K", "min_K"]
    maxima = np.array([float(r["max_K"]) for r in rows])
    assert np.allclose(maxima, sol.blocks.max_K, atol=1e-4)
    assert all(float(r["min_K"]) <= float(r["mean_K"]) <= float(r["max_K"]) for r in rows)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["peak"]["temperature_K"] == pytest.approx(sol.peak.temperature_K)
    assert set(summary["peak"]) >= {"temperature_K", "x_m", "y_m", "layer"}
    assert set(summary["mesh"]) >= {"strategy", "nodes", "triangles", "dofs"}
    timings = json.loads((out / "timings.json").read_text())["timings_s"]
    assert set(timings) >= {"load", "predict", "mesh", "assemble", "solve", "total"}
    assert "timings_s" not in summary  # summary.json is the same bytes for the same input
    assert summary["energy_balance_rel"] <= 1e-9
    assert summary["version"] == thermal.__version__
    assert 0 < summary["error_estimate_K"] <= 0.5

    field = meshio.read(out / "field.vtu")
    assert field.points.shape[0] == sol.mesh.n_nodes
    for l, layer in enumerate(sol.stack.layers):
        values = field.point_data[f"T_{layer.name}_K"]
        assert np.allclose(values, sol.temperature_K[l], equal_nan=True)
    for png in ("heatmap.png", "mesh.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left


def test_cli_solves_ev6_end_to_end(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "thermal", "solve", str(DATA / "ev6.flp"),
                          "--power", str(DATA / "gcc.ptrace"), "--stack", str(DATA / "ev6_3layer.toml"),
                          "--mesh", "uniform", "--out", str(out), "--format", "json", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    summary = json.loads((out / "summary.json").read_text())
    assert {k: printed[k] for k in summary} == summary
    assert [b["block"] for b in printed["blocks"]] == list(EV6.names)
    assert summary["error_estimate_K"] <= 0.1
    assert summary["mesh"]["strategy"] == "uniform"
    assert run.stderr == ""  # --quiet: no progress line
    hottest = max(csv.DictReader(open(out / "blocks.csv")), key=lambda r: float(r["max_K"]))
    assert hottest["block"].startswith("IntReg")
    assert sorted(p.name for p in out.iterdir()) == ["blocks.csv", "field.vtu", "heatmap.png",
                                                      "mesh.png", "summary.json", "timings.json"]


def test_nan_in_the_system_raises_instead_of_returning_garbage():
    matrix = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    with pytest.raises(SolverError, match="residual"):
        solve_linear(matrix, np.array([1.0, np.nan]), method="direct")


def test_solution_reads_well_in_a_notebook():
    sol = thermal.solve(EV6, GCC, STACK3, mesh="uniform", tolerance=0.5)
    hottest = sol.blocks.hottest(3)
    assert [h[1] for h in hottest] == sorted(sol.blocks.max_K, reverse=True)[:3]
    assert all(sol.blocks[name]["max_K"] == hi for name, hi, _, _ in hottest)
    assert hottest[0][1] == pytest.approx(sol.peak.temperature_K)
    assert "IntReg" in repr(sol.blocks) and len(repr(sol)) < 200
    for kind in ("heatmap", "mesh"):
        assert sol.plot(kind=kind).get_axes()  # drawn, nothing saved without a path


def test_a_solve_that_would_not_fit_in_memory_is_refused_with_the_numbers():
    from thermal.linear import check_memory

    check_memory(1_000_000, available=8 * 2**30)  # 1M unknowns fit in 8 GiB
    with pytest.raises(thermal.SolverError, match=r"50,000,000 unknowns needs about 41.9 GiB "
                                                  r"but only 8.0 GiB"):
        check_memory(50_000_000, available=8 * 2**30)
