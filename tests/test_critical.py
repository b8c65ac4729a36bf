"""Critical regions: blocks and rectangles with their own tolerance, from the API, the stack TOML
and the CLI, checked against the exact solution."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import thermal
from thermal.critical import CriticalRegion, critical_regions, rect_cover, resolved
from thermal.errors import InputError
from thermal.floorplan import make_floorplan
from thermal.gallery import exact_for
from thermal.stack import Stack

from conftest import DATA, EV6, GCC, STACK3

# 1 mm square over ev6's hottest spot (the integer register file), off every block edge
HOT_RECT = (9.6e-3, 15.2e-3, 1.0e-3, 0.7e-3)

CRITICAL_TOML = """
[critical]
FPMap_0 = 0.03
L2 = true

[[critical_region]]
name = "sensor"
rect = [9.6e-3, 15.2e-3, 1.0e-3, 0.7e-3]
tolerance = 0.02
"""


def _stack_text() -> str:
    return (DATA / "ev6_3layer.toml").read_text() + CRITICAL_TOML


def test_stack_toml_critical_tables_read_and_round_trip(tmp_path):
    path = tmp_path / "stack.toml"
    path.write_text(_stack_text())
    stack = Stack.read(path)
    assert stack.critical == (CriticalRegion("FPMap_0", 0.03), CriticalRegion("L2", None),
                              CriticalRegion("sensor", 0.02, HOT_RECT))
    again = tmp_path / "again.toml"
    again.write_text(stack.to_toml())
    assert Stack.read(again) == stack


@pytest.mark.parametrize("extra, fragment, line", [
    ("[critical]\nFPMap_0 = -1\n", "expected a positive tolerance", 1),
    ("[critical]\nFPMap_0 = \"tight\"\n", "got string", 1),
    ("[[critical_region]]\nname = \"s\"\nrect = [0, 0, 1e-3]\n", "rect must be", 2),
    ("[[critical_region]]\nname = \"s\"\nrect = [0, 0, 1e-3, 1e-3]\ntolerance = 0\n",
     "tolerance must be a positive", 3),
    ("[[critical_region]]\nname = \"s\"\n", "missing the required key 'rect'", 0),
    ("[[critical_region]]\nname = \"s\"\nrect = [0, 0, 1e-3, 1e-3]\ntolerence = 0.1\n",
     "tolerance", 3),
])
def test_bad_critical_tables_name_the_file_and_line(tmp_path, extra, fragment, line):
    base = (DATA / "ev6_3layer.toml").read_text()
    path = tmp_path / "stack.toml"
    path.write_text(base + "\n" + extra)
    with pytest.raises(InputError) as e:
        Stack.read(path)
    assert fragment in str(e.value)
    assert str(path) in str(e.value)
    first = base.count("\n") + 2  # the line of the extra table's header
    assert f":{first + line}:" in str(e.value)


def test_resolved_rejects_unknown_blocks_and_rects_off_the_die():
    with pytest.raises(InputError, match="not in the floorplan"):
        resolved(EV6, 0.1, {"nope": 0.02})
    x0, y0, x1, y1 = EV6.bounds
    with pytest.raises(InputError, match="outside the die"):
        resolved(EV6, 0.1, {"r": ((x1 - 1e-3, y0, 2e-3, 1e-3), 0.02)})
    r = resolved(EV6, 0.1, critical_regions({"IntReg_0": None, "s": (HOT_RECT, 0.5)}))
    assert r.block_tolerance[EV6.names.index("IntReg_0")] == pytest.approx(0.025)
    assert r.rect_tolerance.tolist() == [0.1]  # never looser than the global tolerance


def test_a_rect_covers_the_same_area_on_every_uniform_level():
    """Carried to the red children, a rectangle's region keeps its area exactly; re-selected by
    the finer centroids it would not (its edge moves by up to half a triangle)."""
    from thermal.mesh import initial_mesh
    from thermal.refine import red_children_cover, refined_uniform

    m = initial_mesh([[0, 0, 1e-2, 1e-2]], [[0, 0, 1e-2, 1e-2]])
    rect = np.array([[2.1e-3, 3.3e-3, 6.7e-3, 5.9e-3]])
    cover = rect_cover(m, rect)
    area = float(m.areas @ cover.toarray()[:, 0])
    for _ in range(3):
        fine = refined_uniform(m)
        cover = red_children_cover(cover)
        assert cover.shape == (fine.n_triangles, 1)
        carried = float(fine.areas @ cover.toarray()[:, 0])
        assert abs(carried - area) <= 1e-12 * area
        m = fine
    reselected = float(m.areas @ rect_cover(m, rect).toarray()[:, 0])
    assert abs(reselected - area) > 1e-3 * area


def test_uniform_strategy_meets_a_critical_rect_tolerance():
    fp = make_floorplan(["hot", "cool"], [0.0, 4e-3], [0.0, 0.0], [4e-3, 6e-3], [1e-2, 1e-2])
    stack = STACK3.with_die_footprint()
    rect = (3.0e-3, 4.0e-3, 2.0e-3, 2.0e-3)   # across the power step
    sol = thermal.solve(fp, [30.0, 5.0], stack, mesh="uniform", critical={"edge": (rect, 0.05)},
                        sublayers="off")  # the exact solution's model
    [entry] = sol.critical
    assert entry["estimate_K"] <= 0.05
    # with the region re-selected on every level its edge moved, and the change between levels
    # stayed first order: it refined to 1.5M DOFs (6 levels) instead of 24k (3)
    assert sol.history[-1]["dofs"] < 100_000
    exact = exact_for(fp, sol.power_w, stack)
    x0, y0, w, h = rect
    tris = rect_cover(sol.mesh, np.array([[x0, y0, x0 + w, y0 + h]])).tocoo().row
    nodes = np.unique(sol.mesh.triangles[tris])
    p = sol.mesh.points[nodes]
    error = np.abs(sol.theta[0][nodes] + stack.ambient_K - exact.temperature(p[:, 0], p[:, 1]))
    assert error.max() <= 0.05


def test_rect_cover_never_leaves_a_region_empty():
    from thermal.mesh import initial_mesh

    m = initial_mesh([[0, 0, 1e-2, 1e-2]], [[0, 0, 1e-2, 1e-2]])
    cover = rect_cover(m, np.array([[5e-3, 5e-3, 5e-3 + 1e-7, 5e-3 + 1e-7],
                                    [0.0, 0.0, 1e-2, 1e-2]]))
    counts = np.asarray(cover.sum(axis=0)).ravel()
    assert counts[0] == 1 and counts[1] == m.n_triangles


@pytest.mark.parametrize("strategy", ["estimator", "ml"])
def test_critical_rect_meets_its_tolerance_against_the_exact_solution(strategy):
    """The rectangle's estimate is within its tolerance, and so is the true nodal error of every
    node in it; the mesh is finer than without the region."""
    tol = 0.02
    sol = thermal.solve(EV6, GCC, STACK3, mesh=strategy, critical={"sensor": (HOT_RECT, tol)},
                        sublayers="off")  # the exact solution's model
    [entry] = sol.critical
    assert entry["kind"] == "rect" and entry["tolerance_K"] == tol
    assert entry["estimate_K"] <= tol
    exact = exact_for(EV6, sol.power_w, STACK3)
    x0, y0, w, h = HOT_RECT
    rect = np.array([[x0, y0, x0 + w, y0 + h]])
    tris = rect_cover(sol.mesh, rect).tocoo().row
    nodes = np.unique(sol.mesh.triangles[tris])
    p = sol.mesh.points[nodes]
    computed = sol.theta[0][nodes] + STACK3.ambient_K
    error = np.abs(computed - exact.temperature(p[:, 0], p[:, 1]))
    assert error.max() <= tol, f"{strategy}: nodal error {error.max():.4f} K in the rect"
    plain = thermal.solve(EV6, GCC, STACK3, mesh=strategy, sublayers="off")
    assert sol.summary()["mesh"]["dofs"] > plain.summary()["mesh"]["dofs"]


def test_stack_critical_regions_reach_the_summary(tmp_path):
    stack = tmp_path / "stack.toml"
    stack.write_text(_stack_text())
    r = subprocess.run([sys.executable, "-m", "thermal", "solve", str(DATA / "ev6.flp"),
                        "--power", str(DATA / "gcc.ptrace"), "--stack", str(stack),
                        "--mesh", "estimator", "--critical", "FPMap_0:0.05", "--format", "json",
                        "--no-plots"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    crit = {c["name"]: c for c in json.loads(r.stdout)["critical"]}
    assert set(crit) == {"FPMap_0", "L2", "sensor"}
    assert crit["FPMap_0"]["tolerance_K"] == 0.05  # the command line overrides the file
    assert crit["L2"]["tolerance_K"] == pytest.approx(0.025)
    assert crit["sensor"]["kind"] == "rect" and crit["sensor"]["rect_m"] == list(HOT_RECT)
    assert all(c["estimate_K"] <= c["tolerance_K"] for c in crit.values())


def test_mesh_plot_outlines_the_critical_regions(tmp_path):
    sol = thermal.solve(EV6, GCC, STACK3, mesh="estimator", tolerance=0.2,
                        critical={"FPMap_0": 0.1, "sensor": (HOT_RECT, 0.1)})
    fig = sol.plot(tmp_path / "mesh.png", "mesh")
    assert (tmp_path / "mesh.png").stat().st_size > 0
    outlined = [p for ax in fig.axes for p in ax.patches if p.get_label() == "critical"]
    assert len(outlined) == 2 * len(fig.axes)  # both regions on every panel
    widths = sorted(round(p.get_width(), 6) for p in outlined[:2])
    i = EV6.names.index("FPMap_0")
    assert widths == sorted([round(HOT_RECT[2] * 1e3, 6), round(EV6.width_m[i] * 1e3, 6)])
