"""Raster power maps (SPEC §3): reading, the merged power rectangles, and solves against the
exact layered solution."""

from __future__ import annotations


import numpy as np
import pytest

import thermal
import thermal.gallery
from thermal.cli import main
from thermal.errors import InputError
from thermal.floorplan import make_floorplan
from thermal.gallery import exact_solution
from thermal.io.powermap import read as read_power_map
from thermal.power import PowerMap
from thermal.stack import Layer, Stack

DIE = (0.0, 0.0, 8e-3, 6e-3)
CELL = 0.5e-3
NY, NX = 12, 16


def _cells():
    """(NY, NX, 4) rectangles (left, bottom, width, height) of the map's cells, row 0 on top."""
    r, c = np.mgrid[0:NY, 0:NX]
    return np.stack([c * CELL, DIE[3] - (r + 1) * CELL, np.full(r.shape, CELL),
                     np.full(r.shape, CELL)], axis=-1)


def _map_watts() -> np.ndarray:
    """A smooth background with a hot cluster, W per 0.5 mm cell."""
    r, c = np.mgrid[0:NY, 0:NX]
    return 0.004 + 0.25 * np.exp(-((c - 11.3) ** 2 + (r - 3.6) ** 2) / 3.0)


def _floorplan():
    """Four blocks on the cell grid."""
    rects = np.array([[0, 0, 5e-3, 3e-3], [5e-3, 0, 3e-3, 3e-3], [0, 3e-3, 3e-3, 3e-3],
                      [3e-3, 3e-3, 5e-3, 3e-3]])
    return make_floorplan(["sw", "se", "nw", "ne"], *rects.T)


def _skewed_floorplan():
    """Five blocks whose edges cut through the map's cells."""
    rects = np.array([[0, 0, 4.3e-3, 2.7e-3], [4.3e-3, 0, 3.7e-3, 2.7e-3],
                      [0, 2.7e-3, 2.2e-3, 3.3e-3], [2.2e-3, 2.7e-3, 3.45e-3, 3.3e-3],
                      [5.65e-3, 2.7e-3, 2.35e-3, 3.3e-3]])
    return make_floorplan(["sw", "se", "nw", "n", "ne"], *rects.T)


def _stack():
    return Stack(layers=(Layer("die", 150e-6, 100.0, 1.75e6, power=True),
                         Layer("tim", 20e-6, 4.0, 4e6), Layer("spreader", 1e-3, 400.0, 3.55e6)),
                 h=2e4)


def _naive_raster(rects, watts, die, shape) -> np.ndarray:
    """The map a set of rectangles gives, cell by cell (an oracle for PowerMap.sources)."""
    ny, nx = shape
    dx, dy = (die[2] - die[0]) / nx, (die[3] - die[1]) / ny
    out = np.zeros(shape)
    for (x, y, w, h), p in zip(rects, watts):
        for r in range(ny):
            for c in range(nx):
                cx, cy = die[0] + (c + 0.5) * dx, die[3] - (r + 0.5) * dy
                if x < cx < x + w and y < cy < y + h:
                    out[r, c] += p / (w * h) * dx * dy
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_sources_reproduce_the_map_cell_by_cell(seed):
    rng = np.random.default_rng(seed)
    # piecewise-constant maps with runs and repeats, and zero cells
    watts = rng.choice([0.0, 0.5, 1.0, 2.0], size=(9, 13)) * rng.choice([1.0, 1.0, 3.0], (9, 1))
    die = (1e-3, 2e-3, 1e-3 + 13e-4, 2e-3 + 9e-4)
    rects, w = PowerMap(watts).sources(die)
    assert len(rects) < (watts > 0).sum()
    assert w.sum() == pytest.approx(watts.sum(), rel=1e-14)
    np.testing.assert_allclose(_naive_raster(rects, w, die, watts.shape), watts, rtol=1e-12)


def test_a_map_rasterised_from_blocks_merges_back_into_the_blocks():
    fp = _floorplan()
    density = np.array([1e5, 4e5, 2e5, 8e5])
    watts = np.zeros((NY, NX))
    centres = _cells()[..., :2] + CELL / 2
    for b in range(4):
        inside = ((centres[..., 0] > fp.left_m[b]) & (centres[..., 0] < fp.right_m[b])
                  & (centres[..., 1] > fp.bottom_m[b]) & (centres[..., 1] < fp.top_m[b]))
        watts[inside] = density[b] * CELL ** 2
    rects, w = PowerMap(watts).sources(fp.bounds)
    blocks = np.c_[fp.left_m, fp.bottom_m, fp.width_m, fp.height_m]
    order = np.lexsort(rects.T[::-1])
    np.testing.assert_allclose(rects[order], blocks[np.lexsort(blocks.T[::-1])], atol=1e-15)
    np.testing.assert_allclose(PowerMap(watts).block_powers(fp), density * fp.area_m2, rtol=1e-12)
    by_map = thermal.solve(fp, PowerMap(watts), _stack(), mesh="uniform")
    by_block = thermal.solve(fp, density * fp.area_m2, _stack(), mesh="uniform")
    np.testing.assert_allclose(by_map.blocks.max_K, by_block.blocks.max_K, atol=1e-9)


def test_exact_block_stats_of_blocks_that_are_not_the_power_sources():
    """The series' closed-form block means and maxima over blocks cutting through the map's
    cells, against the same series summed on a fine grid over each block (an independent
    quadrature of the same field)."""
    fp, stack = _skewed_floorplan(), _stack()
    exact = thermal.gallery.exact_for(fp, PowerMap(_map_watts()), stack)
    means, maxima = exact.block_mean(), exact.block_max()
    for b in range(fp.n_blocks):
        xs = np.linspace(fp.left_m[b], fp.right_m[b], 241)
        ys = np.linspace(fp.bottom_m[b], fp.top_m[b], 241)
        grid = exact.temperature_grid(xs, ys)
        wx, wy = np.full(241, 1.0), np.full(241, 1.0)
        wx[[0, -1]] = wy[[0, -1]] = 0.5
        mean = wy @ grid @ wx / (wx.sum() * wy.sum())
        assert means[b] == pytest.approx(mean, abs=2e-4)
        assert grid.max() - 1e-9 <= maxima[b] <= grid.max() + 2e-3
    # where the blocks are the sources, the two forms agree
    cells = _cells().reshape(-1, 4)
    layers = [(l.thickness_m, l.conductivity) for l in stack.layers]
    plain = exact_solution(fp.bounds, cells, _map_watts().ravel(), layers,
                           h=stack.h_bottom(fp.bounds), ambient_K=stack.ambient_K, modes=64)
    named = exact_solution(fp.bounds, cells, _map_watts().ravel(), layers,
                           h=stack.h_bottom(fp.bounds), ambient_K=stack.ambient_K, modes=64,
                           stats_rects=cells)
    np.testing.assert_allclose(named.block_mean(), plain.block_mean(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("strategy", ["ml", "estimator", "uniform"])
def test_map_solve_meets_the_tolerance_against_the_exact_solution(strategy):
    fp, stack, watts = _skewed_floorplan(), _stack(), _map_watts()
    exact = thermal.gallery.exact_for(fp, PowerMap(watts), stack)
    sol = thermal.solve(fp, PowerMap(watts), stack, mesh=strategy, tolerance=0.1, sublayers="off")
    assert sol.summary()["power_W"] == pytest.approx(watts.sum(), rel=1e-12)
    np.testing.assert_array_less(np.abs(sol.blocks.mean_K - exact.block_mean()), 0.1)
    np.testing.assert_array_less(np.abs(sol.blocks.max_K - exact.block_max()), 0.1)
    # the hottest spot is where the map puts it (cell column 11.3, row 3.6 from the top)
    assert sol.peak.x_m == pytest.approx(11.8 * CELL, abs=0.6e-3)
    assert sol.peak.y_m == pytest.approx(DIE[3] - 4.1 * CELL, abs=0.6e-3)


def test_csv_and_npy_read_the_same_map(tmp_path):
    watts = _map_watts()
    np.savetxt(tmp_path / "m.csv", watts, delimiter=",", header="extent 0 0 8e-3 6e-3")
    np.savetxt(tmp_path / "s.csv", watts)  # whitespace-separated, no extent
    np.save(tmp_path / "m.npy", watts)
    a, b, c = (read_power_map(tmp_path / n) for n in ("m.csv", "s.csv", "m.npy"))
    np.testing.assert_array_equal(a.watts, watts)
    np.testing.assert_array_equal(b.watts, watts)
    np.testing.assert_array_equal(c.watts, watts)
    assert a.extent == (0.0, 0.0, 8e-3, 6e-3) and b.extent is None and c.extent is None
    assert read_power_map(tmp_path / "m.npy", extent=(0, 0, 1e-3, 1e-3)).extent == (0, 0, 1e-3, 1e-3)


def test_a_map_over_part_of_the_die_heats_only_there():
    fp, stack = _floorplan(), _stack()
    pm = PowerMap(np.full((4, 4), 0.1), extent=(5e-3, 3e-3, 7e-3, 5e-3))
    rects, w = pm.sources(fp.bounds)
    assert w.sum() == pytest.approx(1.6)
    sol = thermal.solve(fp, pm, stack, mesh="uniform")
    assert 5e-3 <= sol.peak.x_m <= 7e-3 and 3e-3 <= sol.peak.y_m <= 5e-3
    assert sol.blocks["ne"]["mean_K"] > sol.blocks["sw"]["mean_K"]


def test_map_extent_outside_the_die_is_one_clear_error():
    pm = PowerMap(np.ones((2, 2)), extent=(0, 0, 9e-3, 6e-3), path="hot.csv", extent_line=1)
    with pytest.raises(InputError, match=r"hot.csv:1: the power map's extent .* outside the die"):
        thermal.solve(_floorplan(), pm, _stack())


def test_cli_solves_a_csv_map_and_refuses_row_and_stray_extent(tmp_path, capsys):
    fp_file = tmp_path / "fp.flp"
    fp = _floorplan()
    fp_file.write_text("".join(f"{n}\t{w}\t{h}\t{x}\t{y}\n" for n, w, h, x, y in
                               zip(fp.names, fp.width_m, fp.height_m, fp.left_m, fp.bottom_m)))
    np.savetxt(tmp_path / "map.csv", _map_watts(), delimiter=",")
    out = tmp_path / "out"
    assert main(["solve", str(fp_file), "--power", str(tmp_path / "map.csv"), "--out", str(out),
                 "--no-plots", "--format", "json"]) == 0
    assert {"blocks.csv", "summary.json", "field.vtu"} <= {p.name for p in out.iterdir()}
    assert main(["mesh", str(fp_file), "--power", str(tmp_path / "map.csv"), "--out",
                 str(tmp_path / "mesh")]) == 0
    assert {"mesh.png", "predicted.png"} <= {p.name for p in (tmp_path / "mesh").iterdir()}
    capsys.readouterr()
    assert main(["solve", str(fp_file), "--power", str(tmp_path / "map.csv"), "--row", "0"]) == 2
    assert "--row selects a row of a power trace" in capsys.readouterr().err
    trace = tmp_path / "p.ptrace"
    trace.write_text("sw se nw ne\n1 1 1 1\n")
    assert main(["solve", str(fp_file), "--power", str(trace), "--map-extent", "0", "0", "1", "1"]) == 2
    assert "--map-extent applies to a .csv/.npy power map" in capsys.readouterr().err


def _random_mesh(seed, box, n=300):
    """A Delaunay mesh of random points over ``box`` (x0, y0, x1, y1) and its corners."""
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    points = np.r_[rng.uniform((x0, y0), (x1, y1), (n, 2)), [[x0, y0], [x1, y0], [x0, y1], [x1, y1]]]
    return points, Delaunay(points).simplices


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raster_load_integrates_the_map_and_its_first_moments_exactly(seed):
    """Σ_j L_j = ∫ q and Σ_j x_j L_j = ∫ q x (P1 reproduces linear functions): over a mesh that
    covers the grid, these are the cells' power and power-weighted centroids, exactly."""
    from thermal.raster_load import RasterPower

    rng = np.random.default_rng(seed)
    watts = rng.uniform(0.0, 1.0, (7, 11)) * (rng.random((7, 11)) < 0.8)
    grid = RasterPower((1.1e-3, 0.7e-3, 6.6e-3, 5.2e-3), watts)
    points, triangles = _random_mesh(seed, (0.0, 0.0, 8e-3, 6e-3))
    loads = grid.triangle_loads(points, triangles)
    nodal = np.bincount(triangles.ravel(), loads.ravel(), minlength=len(points))
    dx, dy = grid.cell_size
    cx = grid.extent[0] + (np.arange(11) + 0.5) * dx
    cy = grid.extent[1] + (np.arange(7) + 0.5) * dy
    assert nodal.sum() == pytest.approx(watts.sum(), rel=1e-12)
    assert nodal @ points[:, 0] == pytest.approx((watts * cx[None, :]).sum(), rel=1e-12)
    assert nodal @ points[:, 1] == pytest.approx((watts * cy[:, None]).sum(), rel=1e-12)


def test_raster_load_of_a_triangle_inside_a_cell_and_against_sampling():
    """A triangle inside one cell takes q A / 3 per corner; any triangle agrees with a 500 x 500
    barycentric sampling of the cells it crosses (its error is about 1/500 of the load)."""
    from thermal.raster_load import RasterPower

    rng = np.random.default_rng(5)
    watts = rng.uniform(0.2, 1.0, (5, 6))
    grid = RasterPower((0.0, 0.0, 6e-3, 5e-3), watts)
    inside = np.array([[1.1e-3, 2.1e-3], [1.9e-3, 2.2e-3], [1.3e-3, 2.9e-3]])
    load = grid.triangle_loads(inside, np.array([[0, 1, 2]]))
    e1, e2 = inside[1] - inside[0], inside[2] - inside[0]
    area = 0.5 * abs(e1[0] * e2[1] - e1[1] * e2[0])
    np.testing.assert_allclose(load, watts[2, 1] / 1e-6 * area / 3 * np.ones((1, 3)), rtol=1e-12)
    points, triangles = _random_mesh(6, (0.0, 0.0, 6e-3, 5e-3), n=12)
    loads = grid.triangle_loads(points, triangles)
    n = 500
    u, v = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n)
    keep = u + v < 1
    bary = np.c_[1 - u[keep] - v[keep], u[keep], v[keep]]
    for t, corners in enumerate(points[triangles]):
        x = bary @ corners
        col = np.clip((x[:, 0] / 1e-3).astype(int), 0, 5)
        row = np.clip((x[:, 1] / 1e-3).astype(int), 0, 4)
        q = watts[row, col] / 1e-6
        e1, e2 = corners[1] - corners[0], corners[2] - corners[0]
        weight = 0.5 * abs(e1[0] * e2[1] - e1[1] * e2[0]) / len(x)
        np.testing.assert_allclose(loads[t], (q[:, None] * bary).sum(axis=0) * weight, rtol=1e-2)


def test_a_mesh_along_the_cell_edges_gets_the_block_load():
    """On a mesh whose triangles each lie in one cell (edges on the grid lines, corners on its
    corners: every degenerate case of the crossing) the load is the per-cell constant one."""
    from thermal.assemble import nodal_load
    from thermal.mesh import initial_mesh

    fp = _floorplan()
    cells = _cells().reshape(-1, 4)
    watts = _map_watts().ravel()
    mesh = initial_mesh(cells, [fp.bounds])
    as_blocks, _ = nodal_load(mesh, watts, np.ones(mesh.n_triangles, bool))
    as_map, density = nodal_load(mesh, PowerMap(_map_watts()).raster_on(fp.bounds),
                                 np.ones(mesh.n_triangles, bool))
    np.testing.assert_allclose(as_map, as_blocks, rtol=1e-9, atol=1e-12 * watts.max())
    assert density.max() == pytest.approx(watts.max() / CELL ** 2, rel=1e-9)


def test_a_fine_map_over_blocks_that_cut_its_cells_meets_the_tolerance():
    """A 96 x 128 map (cells of 62.5 µm, not mesh features) under blocks whose edges cut them:
    every strategy's block max and mean are within the tolerance of the exact solution."""
    fp, stack = _skewed_floorplan(), _stack()
    r, c = np.mgrid[0:96, 0:128]
    watts = 1e-4 + 4e-3 * np.exp(-((c - 90.3) ** 2 + (r - 30.6) ** 2) / 200.0)
    pm = PowerMap(watts)
    exact = thermal.gallery.exact_for(fp, pm, stack)
    for strategy in ("ml", "estimator", "uniform"):
        sol = thermal.solve(fp, pm, stack, mesh=strategy, sublayers="off")  # the oracle's model
        worst = max(np.abs(sol.blocks.max_K - exact.block_max()).max(),
                    np.abs(sol.blocks.mean_K - exact.block_mean()).max())
        assert worst <= 0.1, (strategy, worst)
        assert sol.energy_balance_rel < 1e-9


def test_prediction_raster_averages_the_map_grid_as_its_merged_rectangles():
    """The prediction takes a map through Raster.grid_average (two small products); it must
    give the cell averages the merged rectangles give."""
    from thermal.predict import Raster

    fp = _skewed_floorplan()
    pm = PowerMap(_map_watts(), extent=(0.3e-3, 0.2e-3, 7.1e-3, 5.9e-3))
    raster = Raster.over(fp.bounds)
    rects, watts = pm.sources(fp.bounds)
    merged = raster.area_weighted(rects, watts / (rects[:, 2] * rects[:, 3]))
    grid = raster.grid_average(pm.raster_on(fp.bounds))
    np.testing.assert_allclose(grid, merged, rtol=0, atol=1e-12 * merged.max())
    assert (grid * raster.dx * raster.dy).sum() == pytest.approx(pm.total_w, rel=1e-12)
