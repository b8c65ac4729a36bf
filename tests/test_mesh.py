"""Initial mesh and uniform refinement: conformity, exact block membership, element quality."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_slicing_rects, sliver_rects

from thermal.mesh import initial_mesh, snapped
from thermal.refine import refined_uniform


def _corners(rects):
    return np.c_[rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]]


def _die(rects):
    c = _corners(rects)
    return np.array([[c[:, 0].min(), c[:, 1].min(), c[:, 2].max(), c[:, 3].max()]])


def assert_conforming(mesh):
    """Every interior edge is shared by exactly two triangles, boundary edges lie on the box."""
    t = mesh.triangles
    e = np.sort(t[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    assert count.max() == 2
    boundary = uniq[count == 1]
    p = mesh.points
    lo, hi = p.min(axis=0), p.max(axis=0)
    on_box = ((np.isclose(p[boundary, 0], lo[0]) | np.isclose(p[boundary, 0], hi[0])).all(axis=1)
              | (np.isclose(p[boundary, 1], lo[1]) | np.isclose(p[boundary, 1], hi[1])).all(axis=1))
    assert on_box.all(), "a hanging node or hole inside the domain"
    assert (mesh.areas > 0).all()
    box = (hi - lo).prod()
    assert mesh.areas.sum() == pytest.approx(box, rel=1e-12)


def assert_blocks_exact(mesh):
    """Triangles covered by each block add up to the block's (snapped) area."""
    r = mesh.block_rects
    cover = mesh.tri_cover()
    np.testing.assert_allclose(cover.T @ mesh.areas, (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1]), rtol=1e-12)
    # a triangle covered by a block lies inside it
    rows, cols = cover.nonzero()
    tri_pts = mesh.points[mesh.triangles[rows]]
    tol = 1e-12
    assert (tri_pts[..., 0] >= r[cols, 0, None] - tol).all()
    assert (tri_pts[..., 0] <= r[cols, 2, None] + tol).all()
    assert (tri_pts[..., 1] >= r[cols, 1, None] - tol).all()
    assert (tri_pts[..., 1] <= r[cols, 3, None] + tol).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_floorplan_mesh_conforms(seed):
    rects = random_slicing_rects(40, seed)
    mesh = initial_mesh(rects, _die(rects))
    assert_conforming(mesh)
    assert_blocks_exact(mesh)
    q = mesh.quality()
    assert q["min_angle_deg"] >= 20.0
    assert q["max_aspect_ratio"] <= 6.0


def test_layer_footprints_are_mesh_edges():
    rects = random_slicing_rects(12, 5)
    die = _die(rects)[0]
    spreader = die + np.array([-5e-3, -5e-3, 5e-3, 5e-3])
    sink = die + np.array([-20e-3, -20e-3, 20e-3, 20e-3])
    mesh = initial_mesh(rects, np.array([die, die, spreader, sink]))
    assert_conforming(mesh)
    inside = mesh.tri_in_layer
    for l, r in enumerate(mesh.layer_rects):
        assert mesh.areas[inside[l]].sum() == pytest.approx((r[2] - r[0]) * (r[3] - r[1]), rel=1e-12)
    # the die region is covered exactly by the blocks (no gaps in a slicing floorplan)
    assert (mesh.block_of_tri[inside[0]] >= 0).all()
    assert (mesh.block_of_tri[~inside[0]] == -1).all()


def test_sliver_floorplan_stays_small_and_well_shaped():
    """10 µm x 1.6 mm slivers beside millimetre blocks: a tensor (Hanan) grid through every block
    edge would need many more, far worse shaped elements."""
    rects = sliver_rects(4)
    mesh = initial_mesh(rects, _die(rects))
    assert_conforming(mesh)
    assert_blocks_exact(mesh)
    q = mesh.quality()
    c = snapped(_corners(rects), 1e-4 * 8e-3)
    nx, ny = len(np.unique(c[:, [0, 2]])), len(np.unique(c[:, [1, 3]]))
    hanan_triangles = 2 * (nx - 1) * (ny - 1)
    widths = np.diff(np.unique(c[:, [0, 2]]))
    heights = np.diff(np.unique(c[:, [1, 3]]))
    hanan_aspect = max(heights.max() / widths.min(), widths.max() / heights.min())
    assert q["min_angle_deg"] >= 20.0
    assert q["max_aspect_ratio"] <= 6.0 < hanan_aspect
    # elements near the slivers are ~10 µm, but only near them: the count stays modest
    assert mesh.n_triangles < 60_000
    assert mesh.diameters().min() < 20e-6 < 200e-6 < mesh.diameters().max()
    assert hanan_triangles > 0


def test_rounding_noise_is_snapped():
    # 1 µm gap between two blocks on a 16 mm die (as in ev6's Bpred_1/Bpred_2)
    rects = np.array([[0, 0, 0.008, 0.016], [0.008001, 0, 0.007999, 0.016]])
    mesh = initial_mesh(rects, _die(rects))
    assert mesh.n_triangles < 100
    assert_blocks_exact(mesh)


def test_uniform_refinement_keeps_blocks_and_angles():
    rects = random_slicing_rects(20, 3)
    mesh = initial_mesh(rects, _die(rects))
    q0 = mesh.quality()
    fine = refined_uniform(refined_uniform(mesh))
    assert fine.n_triangles == 16 * mesh.n_triangles
    assert_conforming(fine)
    assert_blocks_exact(fine)
    q = fine.quality()
    assert q["min_angle_deg"] == pytest.approx(q0["min_angle_deg"], abs=1e-9)
    assert q["max_aspect_ratio"] == pytest.approx(q0["max_aspect_ratio"], rel=1e-9)
    np.testing.assert_array_equal(fine.points[: mesh.n_nodes], mesh.points)


def test_mesh_is_deterministic():
    rects = random_slicing_rects(30, 7)
    a = initial_mesh(rects, _die(rects))
    b = initial_mesh(rects, _die(rects))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.triangles, b.triangles)


@pytest.mark.parametrize("offset, rel", [(0.0, 1e-12), (1.0, 1e-12), (1e3, 1e-10), (1e6, 1e-7),
                                         (1e9, 1e-4)])
def test_die_far_from_the_origin_meshes_like_one_at_it(offset, rel):
    """Issue 22: a die at 1e9 m failed with 'constrained edges missing' (qhull and the snapping
    lost the digits); the mesh is built relative to the rectangles' corner and moved back, so
    only the coordinates' own spacing (1.2e-7 m at 1e9 m) limits its areas (the floorplan moves
    such a die to the origin before meshing, with a warning)."""
    blocks = np.array([[0.0, 0.0, 4e-3, 8e-3], [4e-3, 0.0, 4e-3, 8e-3], [0.0, 8e-3, 8e-3, 2e-3]])
    blocks[:, :2] += offset
    die = [[offset, offset, offset + 8e-3, offset + 10e-3]]
    m = initial_mesh(blocks, die)
    assert m.points.min(axis=0) == pytest.approx([offset, offset], abs=1e-9)
    assert np.abs(m.areas).sum() == pytest.approx(8e-5, rel=rel)
    assert (m.areas > 0).all()
    assert np.bincount(m.block_of_tri, weights=m.areas, minlength=3) == pytest.approx(
        [3.2e-5, 3.2e-5, 1.6e-5], rel=rel)


def test_size_bound_of_a_sliver_die_is_floored():
    """A 10 mm x 10 µm die with a size bound from its shorter side (10 µm / 24) would need ~1e6
    triangles; the bound is floored at MIN_SIZE_REL of the longer side."""
    from thermal.mesh import MIN_SIZE_REL

    die = [[0.0, 0.0, 0.01, 10e-6]]
    m = initial_mesh([[0.0, 0.0, 0.01, 10e-6]], die, size_fn=lambda xy: np.full(len(xy), 10e-6 / 24))
    assert m.n_triangles < 4 / MIN_SIZE_REL
    assert m.quality()["min_angle_deg"] >= 20.0


def test_snapping_keeps_a_sliver_thinner_than_the_default_distance():
    """A 1.3 µm sliver on a 16 mm die (HotGauge 7 nm) is below the default snapping distance
    (1e-4 of the die, 1.6 µm): the distance shrinks to 0.4 of the thinnest block."""
    from thermal.mesh import snap_distance

    t = 1.3e-6   # a 1.3 µm x 20 µm block in a notch of its right neighbour
    blocks = np.array([[0.0, 0.0, 8e-3, 16e-3], [8e-3, 0.0, t, 20e-6],
                       [8e-3 + t, 0.0, 8e-3 - t, 20e-6], [8e-3, 20e-6, 8e-3, 16e-3 - 20e-6]])
    assert snap_distance(blocks[:, 2], blocks[:, 3]) == pytest.approx(0.4 * t)
    m = initial_mesh(blocks, [[0.0, 0.0, 16e-3, 16e-3]])
    sliver = m.block_rects[1]
    assert sliver[2] - sliver[0] == pytest.approx(t, rel=1e-9)
    assert np.abs(m.areas[m.block_of_tri == 1]).sum() == pytest.approx(t * 20e-6, rel=1e-9)
