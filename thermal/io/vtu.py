"""VTK unstructured-grid (``.vtu``) output of a 2-D triangle mesh and its fields, via meshio.

The file is VTK XML with zlib-compressed binary arrays (meshio's default), readable by ParaView
and by :func:`meshio.read`. Points are written in 3-D with ``z = 0``; all triangles form one
``"triangle"`` cell block. NaN values (a layer with no node at some point) are kept as NaN, which
ParaView shows as its "NaN colour".
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import numpy as np

__all__ = ["write_vtu", "read_vtu"]


def write_vtu(path: str | PathLike, points: np.ndarray, triangles: np.ndarray,
              point_data: Mapping[str, np.ndarray] | None = None,
              cell_data: Mapping[str, np.ndarray] | None = None) -> None:
    """Write a triangle mesh with nodal and per-triangle fields to a ``.vtu`` file.

    Parameters
    ----------
    path : str or path-like
        Output file, written directly (the caller handles atomic replacement).
    points : (N, 2) float
        Node coordinates in metres.
    triangles : (M, 3) int
        Node indices of each triangle.
    point_data : mapping of str to (N,) array, optional
        Nodal fields (e.g. ``"T_K_die"``); NaN is allowed and kept.
    cell_data : mapping of str to (M,) array, optional
        Per-triangle fields (e.g. ``"block"``), any numeric dtype.

    Raises
    ------
    ValueError
        If an array has the wrong shape.
    """
    import meshio

    points = np.asarray(points, dtype=np.float64)
    triangles = np.asarray(triangles)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.dtype.kind not in "iu":
        raise ValueError(f"triangles must be an (M, 3) integer array, got {triangles.shape} "
                         f"{triangles.dtype}")
    n, m = len(points), len(triangles)
    if m and (triangles.min() < 0 or triangles.max() >= n):
        raise ValueError(f"triangles refer to nodes outside 0..{n - 1}")
    point_data = {name: _checked(name, values, n, "point")
                  for name, values in (point_data or {}).items()}
    cell_data = {name: [_checked(name, values, m, "cell")]
                 for name, values in (cell_data or {}).items()}
    points_3d = np.column_stack([points, np.zeros(n)])
    mesh = meshio.Mesh(points_3d, [("triangle", triangles.astype(np.int64, copy=False))],
                       point_data=point_data, cell_data=cell_data)
    meshio.write(path, mesh, file_format="vtu")


def read_vtu(path: str | PathLike
             ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Read a triangle mesh written by :func:`write_vtu` (or any ``.vtu`` of triangles).

    Parameters
    ----------
    path : str or path-like
        The ``.vtu`` file.

    Returns
    -------
    points : (N, 2) float64
        Node coordinates (the z coordinate is dropped).
    triangles : (M, 3) int64
        Node indices of each triangle, all triangle cell blocks in file order.
    point_data : dict of str to (N,) array
    cell_data : dict of str to (M,) array
        Per-triangle fields, restricted to the triangle cell blocks.

    Raises
    ------
    ValueError
        If the file holds no triangles.
    """
    import meshio

    mesh = meshio.read(path, file_format="vtu")
    blocks = [i for i, block in enumerate(mesh.cells) if block.type == "triangle"]
    if not blocks:
        raise ValueError(f"{path}: no triangle cells")
    triangles = np.concatenate([mesh.cells[i].data for i in blocks]).astype(np.int64, copy=False)
    cell_data = {name: np.concatenate([np.asarray(arrays[i]) for i in blocks])
                 for name, arrays in mesh.cell_data.items()}
    point_data = {name: np.asarray(values) for name, values in mesh.point_data.items()}
    return np.ascontiguousarray(mesh.points[:, :2]), triangles, point_data, cell_data


def _checked(name: str, values: np.ndarray, size: int, kind: str) -> np.ndarray:
    """Return ``values`` as a 1-D array of length ``size``, or raise naming the field."""
    values = np.asarray(values)
    if values.shape != (size,):
        raise ValueError(f"{kind} field {name!r} must have shape ({size},), got {values.shape}")
    return values
