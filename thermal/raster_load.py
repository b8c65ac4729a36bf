"""The exact P1 load of a raster power map on any triangle mesh.

A power map is piecewise constant on a grid of cells: power per area ``q``. The load of node
``j`` is ``∫ q φ_j``, and on each triangle ``φ_j`` is linear, so each triangle needs ``∫_T q``,
``∫_T q x`` and ``∫_T q y``. Green's theorem turns each into a line integral around the
triangle, ``∮ G dy`` with ``∂G/∂x = q``, ``q x`` or ``q y``: the row-wise running integrals of
the map, which are continuous in ``x``. Each mesh edge is cut where it crosses a grid line;
on each piece the integrand is a polynomial of degree ≤ 2, which Simpson's rule integrates
exactly. Every edge is integrated once and shared by its two triangles.

So the work grows with the grid lines the edges cross, not with the cells under a triangle,
and the mesh need not follow the cell edges: a 256 x 256 map loads a mesh whose triangles are
sized by the temperature field, not by the map. Edges along grid lines and corners on grid
corners need no special case (``dy = 0`` along a row line; ``G`` is continuous across a column
line). The total load is the map's power on the mesh to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .mesh import edge_index

__all__ = ["RasterPower"]

EDGES_PER_CHUNK = 400_000
"""Edges integrated at a time, to bound the work arrays (about 100 MB for edges a few cells long)."""


@dataclass(frozen=True, eq=False)
class RasterPower:
    """Power per cell of an axis-aligned grid, the way the assembly takes a power map.

    Attributes
    ----------
    extent : (x0, y0, x1, y1)
        The grid's box, m.
    watts : (ny, nx) float64
        Power of each cell, W; row 0 at ``y0`` (the bottom), column 0 at ``x0``.
    """

    extent: tuple[float, float, float, float]
    watts: np.ndarray

    @property
    def total_w(self) -> float:
        return float(self.watts.sum())

    @property
    def cell_size(self) -> tuple[float, float]:
        """(dx, dy) of a cell, m."""
        x0, y0, x1, y1 = self.extent
        ny, nx = self.watts.shape
        return (x1 - x0) / nx, (y1 - y0) / ny

    def triangle_loads(self, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """(M, 3) ``∫_T q λ_k`` for each triangle and each of its corners ``k``, W.

        ``q`` is the map's power per area and ``λ_k`` the barycentric coordinate of corner
        ``k``: the load the triangle gives each of its nodes. Its row sums are the power falling
        on each triangle; the map's power outside the triangles is not counted.
        """
        points = np.asarray(points, float)
        triangles = np.asarray(triangles, dtype=np.int64)
        x0, y0, _, _ = self.extent
        local = points - (x0, y0)        # the grid's corner at the origin
        edges, tri2edge = edge_index(triangles, len(points))
        # +1 where the triangle runs along its edge (low node to high), -1 against
        direction = np.where(edges[tri2edge, 0] == triangles, 1.0, -1.0)
        on_edge = np.concatenate(
            [self._edge_integrals(local[chunk[:, 0]], local[chunk[:, 1]])          # (E, 3)
             for chunk in np.array_split(edges, max(1, -(-len(edges) // EDGES_PER_CHUNK)))])
        # ∮ around each triangle (v0 → v1 → v2), made counter-clockwise by its signed area
        corners = local[triangles]
        e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
        moments = np.einsum("me,mek->mk", direction, on_edge[tri2edge]) * np.sign(det)[:, None]
        # barycentric coordinates of corners 1 and 2 about corner 0: λ = M⁻¹ (x - x_0)
        power, mx, my = moments.T
        mx0 = mx - corners[:, 0, 0] * power
        my0 = my - corners[:, 0, 1] * power
        l1 = (e2[:, 1] * mx0 - e2[:, 0] * my0) / det
        l2 = (-e1[:, 1] * mx0 + e1[:, 0] * my0) / det
        return np.c_[power - l1 - l2, l1, l2]

    @cached_property
    def _running_integrals(self):
        """Power per area (ny, nx), the column lines (nx + 1,) in grid-local x, and ``Q0``,
        ``Q1`` at each column line of each row (ny, nx + 1): kept for every mesh loaded."""
        ny, nx = self.watts.shape
        dx, dy = self.cell_size
        q = self.watts / (dx * dy)
        xs = np.arange(nx + 1) * dx
        q0 = np.zeros((ny, nx + 1))
        q0[:, 1:] = np.cumsum(q * dx, axis=1)
        q1 = np.zeros((ny, nx + 1))
        q1[:, 1:] = np.cumsum(q * (xs[1:] ** 2 - xs[:-1] ** 2) / 2, axis=1)
        return q, xs, q0, q1

    def _edge_integrals(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(E, 3) line integrals along segments a → b (grid-local coordinates) whose sum around
        a closed counter-clockwise curve is ``∫ q``, ``∫ q x`` and ``∫ q y`` over its inside.

        By Green's theorem ``∫ q g dA = ∮ G dy`` for any ``G`` with ``∂G/∂x = q g``: ``Q0``
        (the power per area integrated along the row from the grid's left edge), ``Q1`` (the
        same of ``q x``) and ``y Q0``. Along a piece of segment within one cell these are
        polynomials of degree ≤ 2 in the parameter, so Simpson's rule integrates them exactly;
        segments are cut where they cross grid lines. ``Q0`` and ``Q1`` are continuous in
        ``x``, so a piece along a column line may take either column.
        """
        ny, nx = self.watts.shape
        dx, dy = self.cell_size
        q, xs, q0, q1 = self._running_integrals
        t, piece_of = _cut_at_lines(a, b, dx, dy, nx, ny)
        n_edges = len(a)
        start, stop = t[:-1], t[1:]
        edge = piece_of[:-1]
        real = (piece_of[1:] == edge) & (stop > start)
        start, stop, edge = start[real], stop[real], edge[real]
        d = b[edge] - a[edge]
        p0 = a[edge] + start[:, None] * d
        p1 = a[edge] + stop[:, None] * d
        mid = 0.5 * (p0 + p1)
        row = np.floor(mid[:, 1] / dy).astype(np.int64)
        col = np.floor(mid[:, 0] / dx).astype(np.int64)
        in_rows = (row >= 0) & (row < ny)
        r = np.clip(row, 0, ny - 1)
        c = np.clip(col, 0, nx)                           # nx: right of the grid, Q constant
        density = np.where((col >= 0) & (col < nx), q[r, np.minimum(c, nx - 1)], 0.0)
        base0 = np.where(col >= 0, q0[r, c], 0.0)
        base1 = np.where(col >= 0, q1[r, c], 0.0)
        left = xs[c]

        def g(p):
            x = p[:, 0]
            big_q0 = base0 + density * (x - left)
            big_q1 = base1 + density * (x ** 2 - left ** 2) / 2
            return np.c_[big_q0, big_q1, p[:, 1] * big_q0]

        dy_piece = (p1[:, 1] - p0[:, 1]) * in_rows
        simpson = (g(p0) + 4.0 * g(mid) + g(p1)) * (dy_piece / 6.0)[:, None]
        out = np.zeros((n_edges, 3))
        for k in range(3):
            out[:, k] = np.bincount(edge, simpson[:, k], minlength=n_edges)
        return out


def _cut_at_lines(a, b, dx, dy, nx, ny):
    """Parameters ``t`` in [0, 1] where each segment a → b starts, crosses a grid line
    (x = i dx, 0 ≤ i ≤ nx; y = j dy, 0 ≤ j ≤ ny) and ends, sorted segment by segment, and the
    segment of each."""
    pieces_t, pieces_of = [np.zeros(len(a)), np.ones(len(a))], [np.arange(len(a))] * 2
    for axis, step, lines in ((0, dx, nx), (1, dy, ny)):
        lo = np.minimum(a[:, axis], b[:, axis]) / step
        hi = np.maximum(a[:, axis], b[:, axis]) / step
        first = np.clip(np.floor(lo).astype(np.int64) + 1, 0, lines + 1)
        last = np.clip(np.ceil(hi).astype(np.int64) - 1, -1, lines)
        count = np.maximum(last - first + 1, 0)
        seg = np.repeat(np.arange(len(a)), count)
        line = first[seg] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        span = b[seg, axis] - a[seg, axis]
        pieces_t.append(np.clip((line * step - a[seg, axis]) / span, 0.0, 1.0))
        pieces_of.append(seg)
    t, of = np.concatenate(pieces_t), np.concatenate(pieces_of)
    order = np.lexsort((t, of))
    return t[order], of[order]
