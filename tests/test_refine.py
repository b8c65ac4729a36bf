"""Newest-vertex bisection: conformity, exact blocks, bookkeeping, angle bound, prolongation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_slicing_rects
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from test_mesh import _die, assert_blocks_exact, assert_conforming

from thermal.mesh import initial_mesh
from thermal.refine import (bisection_prolongation, midpoint_parents, node_prolongation, refined,
                            refined_times, refined_to_size, refined_uniform,
                            with_longest_edge_first)

LABELLINGS = ("longest", "as built", "red")


def _floorplan_mesh(n_blocks: int, seed: int, labelling: str = "longest"):
    rects = random_slicing_rects(n_blocks, seed)
    mesh = initial_mesh(rects, _die(rects))
    if labelling == "as built":  # Delaunay's node order: a valid but poor labelling
        return mesh
    mesh = with_longest_edge_first(mesh)
    return refined_uniform(mesh) if labelling == "red" else mesh


def _all(mesh):
    return np.ones(mesh.n_triangles, bool)


def _refined_all_twice(mesh):
    once = refined(mesh, _all(mesh))
    return refined(once, _all(once))


def assert_no_hanging_nodes(mesh):
    """No node lies inside an edge (strictly between its ends, on the segment)."""
    p = mesh.points
    a, b = p[mesh.edges[:, 0]], p[mesh.edges[:, 1]]
    length = np.linalg.norm(b - a, axis=1)
    near = cKDTree(p).query_ball_point(0.5 * (a + b), 0.5 * length * (1 - 1e-9))
    edge = np.repeat(np.arange(len(near)), [len(n) for n in near])
    node = np.concatenate([np.asarray(n, np.int64) for n in near])
    d, q = b[edge] - a[edge], p[node] - a[edge]
    off_line = np.abs(d[:, 0] * q[:, 1] - d[:, 1] * q[:, 0]) / length[edge]
    assert (off_line > 1e-9 * length[edge]).all(), "a hanging node"


def assert_valid(mesh):
    assert_conforming(mesh)
    assert_no_hanging_nodes(mesh)
    assert_blocks_exact(mesh)


def _naive_refined(mesh, marked):
    """Oracle: the same NVB with closure, one triangle at a time, on coordinates.

    Returns the sorted list of (vertex coordinates in node order, block, root) of the children.
    """
    tris = [tuple(t) for t in mesh.triangles.tolist()]
    pts = [tuple(p) for p in mesh.points.tolist()]

    def edge(u, v):
        return (min(u, v), max(u, v))

    split = {edge(t[0], t[1]) for t, m in zip(tris, marked) if m}
    grown = True
    while grown:
        grown = False
        for a, b, c in tris:
            if edge(a, b) not in split and (edge(b, c) in split or edge(c, a) in split):
                split.add(edge(a, b))
                grown = True

    def children(a, b, c, depth):
        if depth == 2 or edge(a, b) not in split:
            return [(a, b, c)]
        m = len(pts)
        pts.append((0.5 * (pts[a][0] + pts[b][0]), 0.5 * (pts[a][1] + pts[b][1])))
        return children(c, a, m, depth + 1) + children(b, c, m, depth + 1)

    out = []
    for t, blk, root in zip(tris, mesh.block_of_tri.tolist(), mesh.root_of_tri.tolist()):
        out += [(tuple(pts[i] for i in child), blk, root) for child in children(*t, 0)]
    return sorted(out)


def _as_rows(mesh):
    return sorted(zip((tuple(map(tuple, p)) for p in mesh.points[mesh.triangles].tolist()),
                      mesh.block_of_tri.tolist(), mesh.root_of_tri.tolist()))


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_blocks=st.integers(2, 8), fraction=st.floats(0.0, 0.6),
       labelling=st.sampled_from(LABELLINGS))
def test_refined_matches_loop_oracle(seed, n_blocks, fraction, labelling):
    mesh = _floorplan_mesh(n_blocks, seed, labelling)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        marked = rng.random(mesh.n_triangles) < fraction
        fine = refined(mesh, marked)
        assert _as_rows(fine) == _naive_refined(mesh, marked)
        mesh = fine


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_blocks=st.integers(2, 10), per_round=st.integers(1, 25),
       labelling=st.sampled_from(LABELLINGS))
def test_random_marking_stays_conforming_and_keeps_the_angle_bound(seed, n_blocks, per_round, labelling):
    """NVB makes at most four similarity classes per triangle, all present after two bisections
    of every triangle: no later mesh has a smaller angle than that one."""
    mesh = _floorplan_mesh(n_blocks, seed, labelling)
    bound = _refined_all_twice(mesh).quality()["min_angle_deg"]
    rng = np.random.default_rng(seed)
    for _ in range(20):
        marked = rng.choice(mesh.n_triangles, size=min(per_round, mesh.n_triangles), replace=False)
        fine = refined(mesh, marked)
        assert fine.quality()["min_angle_deg"] >= bound - 1e-9
        np.testing.assert_array_equal(fine.points[:mesh.n_nodes], mesh.points)
        mesh = fine
    assert_valid(mesh)


def _class_min_angle(mesh) -> float:
    """Smallest angle of the four NVB similarity classes of every triangle (a, b, c): itself, its
    children (c, a, m) and (b, c, m), and the grandchild (m, c, n); m, n midpoints of ab, ca."""
    a, b, c = (mesh.points[mesh.triangles[:, i]] for i in range(3))
    m, n = 0.5 * (a + b), 0.5 * (c + a)
    classes = [np.stack(t, axis=1) for t in [(a, b, c), (c, a, m), (b, c, m), (m, c, n)]]
    return min(dataclasses.replace(mesh, points=p.reshape(-1, 2),
                                   triangles=np.arange(3 * len(p)).reshape(-1, 3)).quality()["min_angle_deg"]
               for p in classes)


@pytest.mark.parametrize("labelling", LABELLINGS)
def test_two_full_rounds_reach_the_similarity_class_bound(labelling):
    mesh = _floorplan_mesh(6, 11, labelling)
    twice = _refined_all_twice(mesh)
    assert twice.quality()["min_angle_deg"] == pytest.approx(_class_min_angle(mesh), abs=1e-9)
    if labelling != "as built":  # longest edge first: barely below the initial mesh's 25°
        assert twice.quality()["min_angle_deg"] >= 20.0


def test_longest_edge_labelling():
    mesh = _floorplan_mesh(12, 4, "as built")
    labelled = with_longest_edge_first(mesh)
    p = labelled.points[labelled.triangles]
    length = np.linalg.norm(p[:, [1, 2, 0]] - p, axis=2)
    assert (length[:, 0] >= length.max(axis=1) * (1 - 1e-12)).all()
    np.testing.assert_allclose(labelled.areas, mesh.areas, rtol=1e-12)  # rotated: still ccw
    np.testing.assert_array_equal(np.sort(labelled.triangles, axis=1), np.sort(mesh.triangles, axis=1))


def test_bookkeeping():
    """Each split interior edge adds a node and two triangles, a split boundary edge one; marked
    triangles are gone; every root keeps its area; children follow their parents' order."""
    mesh = _floorplan_mesh(10, 2)
    rng = np.random.default_rng(0)
    marked = rng.random(mesh.n_triangles) < 0.2
    fine = refined(mesh, marked)
    parents = midpoint_parents(mesh, fine)
    assert len(parents) == fine.n_nodes - mesh.n_nodes
    on_boundary = np.bincount(mesh.edge_index[1].ravel(), minlength=len(mesh.edges)) == 1
    split_boundary = on_boundary[np.searchsorted(mesh.edges[:, 0] * mesh.n_nodes + mesh.edges[:, 1],
                                                 parents[:, 0] * mesh.n_nodes + parents[:, 1])]
    assert fine.n_triangles == mesh.n_triangles + 2 * len(parents) - split_boundary.sum()
    assert fine.n_triangles >= mesh.n_triangles + marked.sum()
    key = np.sort(mesh.triangles, axis=1) @ np.array([mesh.n_nodes ** 2, mesh.n_nodes, 1])
    kept = np.isin(key, np.sort(fine.triangles, axis=1) @ np.array([mesh.n_nodes ** 2, mesh.n_nodes, 1]))
    assert not kept[marked].any()
    np.testing.assert_allclose(np.bincount(fine.root_of_tri, fine.areas),
                               np.bincount(mesh.root_of_tri, mesh.areas), rtol=1e-12)
    assert (np.diff(fine.root_of_tri) >= 0).all()  # an initial mesh: root = parent index
    assert_valid(fine)


def test_marked_as_mask_or_indices():
    mesh = _floorplan_mesh(5, 1)
    index = np.array([0, 3, 3, mesh.n_triangles - 1])
    mask = np.zeros(mesh.n_triangles, bool)
    mask[index] = True
    by_mask, by_index = refined(mesh, mask), refined(mesh, index)
    np.testing.assert_array_equal(by_mask.triangles, by_index.triangles)
    np.testing.assert_array_equal(by_mask.points, by_index.points)
    assert refined(mesh, np.zeros(mesh.n_triangles, bool)) is mesh
    assert refined(mesh, []) is mesh
    with pytest.raises(ValueError, match="mask"):
        refined(mesh, mask[:-1])
    with pytest.raises(ValueError, match="out of range"):
        refined(mesh, [mesh.n_triangles])
    with pytest.raises(ValueError, match="max_triangles"):
        refined(mesh, mask, max_triangles=mesh.n_triangles)


def test_four_full_rounds_halve_every_diameter():
    """Four bisections scale a triangle's classes T and (m, c, n) by ½, so every triangle is at
    most half as long as its root."""
    mesh = _floorplan_mesh(7, 3)
    fine = _refined_all_twice(_refined_all_twice(mesh))
    assert fine.n_triangles >= 16 * mesh.n_triangles
    assert (fine.diameters() <= 0.5 * mesh.diameters()[fine.root_of_tri] * (1 + 1e-12)).all()
    assert_valid(fine)


@pytest.mark.parametrize("labelling", LABELLINGS)
def test_red_refined_mesh_can_be_bisected(labelling):
    mesh = refined_uniform(_floorplan_mesh(9, 6, labelling))
    rng = np.random.default_rng(1)
    for _ in range(4):
        mesh = refined(mesh, rng.random(mesh.n_triangles) < 0.1)
    assert_valid(mesh)
    assert_valid(refined_uniform(mesh))  # and the other way round


def test_red_refinement_keeps_the_labelling():
    """Red children are their parent scaled by ±½ with the nodes in the parent's order, so
    the NVB similarity classes and their angle bound do not change."""
    mesh = _floorplan_mesh(8, 9)
    red = refined_uniform(mesh)
    assert _class_min_angle(red) == pytest.approx(_class_min_angle(mesh), abs=1e-9)
    p = red.points[red.triangles]
    length = np.linalg.norm(p[:, [1, 2, 0]] - p, axis=2)
    assert (length[:, 0] >= length.max(axis=1) * (1 - 1e-12)).all()


@pytest.mark.parametrize("labelling", LABELLINGS)
def test_prolongation_is_exact_for_linear_fields(labelling):
    mesh = _floorplan_mesh(8, 5, labelling)
    rng = np.random.default_rng(2)
    for _ in range(3):
        fine = refined(mesh, rng.random(mesh.n_triangles) < 0.3)
        prolongation = bisection_prolongation(mesh, fine)
        assert prolongation.shape == (fine.n_nodes, mesh.n_nodes)
        np.testing.assert_allclose(prolongation.sum(axis=1), 1.0, rtol=1e-15)

        def linear(xy):
            return 2.0 + 300.0 * xy[:, 0] - 500.0 * xy[:, 1]

        np.testing.assert_allclose(prolongation @ linear(mesh.points), linear(fine.points), rtol=1e-12)
        mesh = fine


def test_midpoint_parents_rejects_other_meshes():
    mesh = _floorplan_mesh(4, 8)
    fine = refined(mesh, [0, 1])
    with pytest.raises(ValueError, match="not refined"):
        midpoint_parents(mesh, refined(fine, [0]))
    with pytest.raises(ValueError, match="not refined"):
        midpoint_parents(fine, mesh)
    assert midpoint_parents(mesh, mesh).shape == (0, 2)


def test_bisection_prolongation_of_a_red_refinement_is_node_prolongation():
    """Red refinement also appends one midpoint per edge in edge order."""
    mesh = _floorplan_mesh(4, 8)
    difference = bisection_prolongation(mesh, refined_uniform(mesh)) - node_prolongation(mesh)
    assert abs(difference).max() == 0


def test_refined_to_size_meets_the_sizes():
    mesh = _floorplan_mesh(10, 7)
    x0 = mesh.points[:, 0].min()

    def size(xy):  # 50 µm at the left edge growing to 1 mm, unbounded in the right half
        s = 5e-5 + 0.15 * (xy[:, 0] - x0)
        return np.where(xy[:, 0] - x0 < 6e-3, s, np.inf)

    fine = refined_to_size(mesh, size)
    assert (fine.diameters() <= size(fine.centroids)).all()
    assert fine.quality()["min_angle_deg"] >= _class_min_angle(mesh) - 1e-9
    assert_valid(fine)
    assert refined_to_size(fine, size) is fine


def test_refined_to_size_records_nested_levels():
    """The recorded rounds chain from the input mesh to the result, and each prolongation is
    exact for linear fields: the multigrid levels of a solve on the result."""
    mesh = _floorplan_mesh(10, 7)
    x0 = mesh.points[:, 0].min()
    steps = []
    fine = refined_to_size(mesh, lambda xy: 5e-5 + 0.1 * (xy[:, 0] - x0), steps=steps)
    assert len(steps) >= 3 and steps[0][0] is mesh
    chain = [m for m, _ in steps] + [fine]
    field = lambda m: 3.0 * m.points[:, 0] - 2.0 * m.points[:, 1] + 1.0  # noqa: E731
    for (coarse, prolongation), finer in zip(steps, chain[1:]):
        assert prolongation.shape == (finer.n_nodes, coarse.n_nodes)
        np.testing.assert_allclose(prolongation @ field(coarse), field(finer), rtol=1e-12)


def test_refined_to_size_leaves_a_fine_enough_mesh_alone():
    mesh = _floorplan_mesh(6, 3)
    same = refined_to_size(mesh, lambda xy: np.full(len(xy), np.inf))
    assert same is mesh
    same = refined_to_size(mesh, lambda xy: np.full(len(xy), 1.0))
    np.testing.assert_array_equal(same.points, mesh.points)
    np.testing.assert_array_equal(same.triangles, mesh.triangles)


def test_refined_to_size_refuses_endless_refinement():
    mesh = _floorplan_mesh(4, 2)
    with pytest.raises(ValueError, match="not positive"):
        refined_to_size(mesh, lambda xy: np.zeros(len(xy)))
    with pytest.raises(ValueError, match="not positive"):
        refined_to_size(mesh, lambda xy: np.full(len(xy), np.nan))
    with pytest.raises(ValueError, match="shape"):
        refined_to_size(mesh, lambda xy: 1e-3)
    with pytest.raises(ValueError, match="max_triangles"):
        refined_to_size(mesh, lambda xy: np.full(len(xy), 1e-6), max_triangles=10_000)
    with pytest.raises(ValueError, match="max_rounds"):
        refined_to_size(mesh, lambda xy: np.full(len(xy), 1e-5), max_rounds=3)


def test_refined_times_once_is_refined():
    mesh = _floorplan_mesh(8, 4)
    marked = np.random.default_rng(3).random(mesh.n_triangles) < 0.2
    fine, prolongation = refined_times(mesh, marked.astype(int))
    once = refined(mesh, marked)
    np.testing.assert_array_equal(fine.points, once.points)
    np.testing.assert_array_equal(fine.triangles, once.triangles)
    assert abs(prolongation - bisection_prolongation(mesh, once)).max() == 0


@pytest.mark.parametrize("labelling", LABELLINGS)
def test_refined_times_bisects_each_triangle_as_often_as_asked(labelling):
    mesh = _floorplan_mesh(9, 2, labelling)
    times = np.random.default_rng(4).integers(0, 4, mesh.n_triangles)
    fine, prolongation = refined_times(mesh, times)
    # the same refinement with each triangle as its own root tells every child's parent
    tagged = dataclasses.replace(mesh, root_of_tri=np.arange(mesh.n_triangles))
    parent = refined_times(tagged, times)[0].root_of_tri
    # each bisection halves the area; the closure may bisect more, never less
    assert (fine.areas <= mesh.areas[parent] / 2.0 ** times[parent] * (1 + 1e-12)).all()
    assert fine.quality()["min_angle_deg"] >= _class_min_angle(mesh) - 1e-9
    assert_valid(fine)
    linear = lambda m: 1.0 + 200.0 * m.points[:, 0] + 700.0 * m.points[:, 1]  # noqa: E731
    np.testing.assert_allclose(prolongation @ linear(mesh), linear(fine), rtol=1e-12)
    same, identity = refined_times(mesh, np.zeros(mesh.n_triangles, int))
    assert same is mesh and (identity != sp.identity(mesh.n_nodes)).nnz == 0


def test_refined_times_rejects_a_wrong_shape_or_type():
    mesh = _floorplan_mesh(3, 1)
    with pytest.raises(ValueError, match="times"):
        refined_times(mesh, np.ones(mesh.n_triangles - 1, int))
    with pytest.raises(ValueError, match="times"):
        refined_times(mesh, np.ones(mesh.n_triangles))
    with pytest.raises(ValueError, match="negative"):
        refined_times(mesh, np.r_[-1, np.ones(mesh.n_triangles - 1, int)])
