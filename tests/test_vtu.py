"""Round trips of thermal.io.vtu through meshio's VTU reader and writer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay

from thermal.io.vtu import read_vtu, write_vtu


@pytest.fixture
def mesh():
    rng = np.random.default_rng(7)
    points = rng.uniform(0.0, 0.016, size=(60, 2))
    triangles = Delaunay(points).simplices.astype(np.int64)
    return points, triangles


def test_round_trip_is_exact(tmp_path, mesh):
    points, triangles = mesh
    rng = np.random.default_rng(8)
    t_die = 318.15 + rng.random(len(points))
    t_sink = t_die - 5.0
    t_sink[::3] = np.nan
    block = rng.integers(-1, 5, size=len(triangles)).astype(np.int32)
    path = tmp_path / "field.vtu"

    write_vtu(path, points, triangles, {"T_K_die": t_die, "T_K_sink": t_sink}, {"block": block})
    points2, triangles2, point_data, cell_data = read_vtu(path)

    np.testing.assert_array_equal(points2, points)
    np.testing.assert_array_equal(triangles2, triangles)
    assert set(point_data) == {"T_K_die", "T_K_sink"}
    np.testing.assert_array_equal(point_data["T_K_die"], t_die)
    np.testing.assert_array_equal(point_data["T_K_sink"], t_sink)  # NaN where NaN
    assert np.isnan(point_data["T_K_sink"][::3]).all()
    assert set(cell_data) == {"block"}
    np.testing.assert_array_equal(cell_data["block"], block)
    assert np.issubdtype(cell_data["block"].dtype, np.integer)


def test_file_is_vtk_xml_readable_by_meshio(tmp_path, mesh):
    import meshio

    points, triangles = mesh
    path = tmp_path / "field.vtu"
    write_vtu(path, points, triangles, {"T": np.ones(len(points))}, {})
    assert path.read_bytes().startswith(b"<?xml")
    assert b'type="UnstructuredGrid"' in path.read_bytes()[:300]
    read = meshio.read(path)
    assert read.points.shape == (len(points), 3)
    assert (read.points[:, 2] == 0).all()
    assert [block.type for block in read.cells] == ["triangle"]


def test_no_fields(tmp_path, mesh):
    points, triangles = mesh
    write_vtu(tmp_path / "m.vtu", points, triangles, {}, {})
    points2, triangles2, point_data, cell_data = read_vtu(tmp_path / "m.vtu")
    np.testing.assert_array_equal(triangles2, triangles)
    assert point_data == {} and cell_data == {}


@pytest.mark.parametrize("point_data, cell_data", [
    ({"T": np.ones(3)}, {}),
    ({}, {"block": np.ones(2)}),
    ({"T": np.ones((60, 2))}, {}),
])
def test_wrong_shapes_are_refused(tmp_path, mesh, point_data, cell_data):
    points, triangles = mesh
    with pytest.raises(ValueError, match="shape"):
        write_vtu(tmp_path / "bad.vtu", points, triangles, point_data, cell_data)


def test_bad_triangles_are_refused(tmp_path, mesh):
    points, triangles = mesh
    with pytest.raises(ValueError, match="nodes outside"):
        write_vtu(tmp_path / "bad.vtu", points, triangles + len(points), {}, {})
