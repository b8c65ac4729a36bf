"""Conforming triangular meshes of a floorplan and its layer footprints.

The initial mesh is a *conforming Delaunay* mesh: every block edge, the die outline and every
layer footprint edge is a union of mesh edges, and no triangle crosses one. It is built in three
steps, all vectorised over points and segments:

1. **Snap.** Rectangle coordinates closer than ``snap_m`` (default :data:`SNAP_REL` times the
   die's longer side, 1.6 µm on a 16 mm die) are merged, so rounding noise in floorplan files
   (ev6 has ``0.005933 + 0.001033 = 0.006966`` beside a block at ``0.006967``) does not create
   micrometre slivers. Real thin blocks (10 µm on a 2 cm die) stay, and a floorplan with a
   thinner block snaps at :data:`SLIVER_SNAP` of it instead (:func:`snap_distance`). The mesh is
   built relative to the rectangles' lower-left corner, so a die far from the origin keeps
   every digit.
2. **Planar graph.** Collinear rectangle edges are merged, and split at every corner and every
   crossing or T-junction. Edges are only as long as the rectangles make them: unlike a tensor
   (Hanan) grid, a block edge is never extended across the die.
3. **Ruppert refinement, in batches.** Subsegments whose diametral circle holds another vertex are
   split at their midpoint (this is what resolves a 10 µm x 1.6 mm sliver with ~10 µm elements
   along it and nowhere else), then the Delaunay triangulation (``scipy.spatial.Delaunay``) of the
   points is improved by inserting the circumcentres of triangles with an angle below
   ``min_angle_deg`` (or, when a circumcentre would encroach a subsegment, by splitting the
   subsegment instead). With no encroached subsegment every subsegment is a Gabriel edge, so the
   Delaunay triangulation contains it: the mesh conforms without a constrained triangulator.

Because every input angle is 90° or 180°, Ruppert's argument bounds the mesh size by the local
feature size: elements are small only near small features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.spatial import Delaunay, cKDTree

SNAP_REL = 1e-4
"""Rectangle coordinates closer than this fraction of the die's longer side are merged into one
(1.6 µm on a 16 mm die: ev6's ``0.005933 + 0.001033`` against ``0.006967`` leaves a 1 µm gap)."""

MIN_FEATURE_REL = 5e-5
"""Blocks thinner than this fraction of the die's longer side are refused (0.5 µm on a 1 cm die):
a sliver needs ~length/width triangles along each side (a 1 µm x 1 cm one: 125k triangles, 10 s)."""

SLIVER_SNAP = 0.4
"""The snapping distance is at most this fraction of the thinnest block: a genuine 1.3 µm sliver
(HotGauge's 7 nm floorplans) on a 16 mm die, whose 1.6 µm default snapping would flatten it,
keeps its two edges, and rounding noise is still merged up to 0.5 µm."""


def snap_distance(width_m, height_m) -> float:
    """The distance below which the mesher merges block coordinates, m:
    :data:`SNAP_REL` of the die's longer side, or :data:`SLIVER_SNAP` of the thinnest block's
    side when that is smaller (never below :data:`MIN_FEATURE_REL` of the die's side times it).

    Parameters
    ----------
    width_m, height_m : array_like
        Sizes of the blocks, and the die's as the first or any entry (the longest side sets
        the die's scale).

    >>> snap_distance([16e-3, 1.3e-6], [16e-3, 16e-3])
    5.2e-07
    """
    w, h = np.asarray(width_m, float), np.asarray(height_m, float)
    longest = max(w.max(), h.max())
    thinnest = max(min(w.min(), h.min()), MIN_FEATURE_REL * longest)
    return float(min(SNAP_REL * longest, SLIVER_SNAP * thinnest))


FAR_ORIGIN = 10.0
"""The mesh is built relative to the rectangles' lower-left corner when that lies farther from
the origin than this many times their extent (a die placed at 1e9 m)."""

MIN_ANGLE_DEG = 25.0
"""Smallest angle the initial mesh aims for (Ruppert terminates for any bound up to ~30°)."""

MIN_SIZE_REL = 1e-3
"""The initial mesh's size bound never asks for triangles smaller than this fraction of the die's
longer side: a bound taken from the shorter side of a 10 cm x 10 µm die would otherwise ask for
10^8 triangles (features still get the small triangles they need from Ruppert's rule)."""

_MAX_ROUNDS = 60


@dataclass(frozen=True, eq=False)
class Mesh:
    """A conforming triangular mesh of the in-plane domain.

    Attributes
    ----------
    points : (N, 2) float64
        Node coordinates in metres.
    triangles : (M, 3) int64
        Node indices of each triangle, counter-clockwise.
    block_of_tri : (M,) int64
        Floorplan block whose material the triangle has (the last block in file order that
        covers it), -1 where no block does (whitespace, or outside the die).
    root_of_tri : (M,) int64
        The triangle of the initial mesh this triangle was refined from.
    cover : (M0, B) scipy.sparse.csr_matrix
        For each initial triangle, the blocks that cover it (0/1). Overlapping blocks both
        cover a triangle of their overlap: their power densities add there.
    layer_rects : (L, 4) float64
        Footprint of each layer, (x0, y0, x1, y1) in metres, after snapping.
    block_rects : (B, 4) float64
        Each block as (x0, y0, x1, y1) in metres after snapping: the geometry the mesh has.
    """

    points: np.ndarray
    triangles: np.ndarray
    block_of_tri: np.ndarray
    root_of_tri: np.ndarray
    cover: sp.csr_matrix
    layer_rects: np.ndarray
    block_rects: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.points)

    @property
    def n_triangles(self) -> int:
        return len(self.triangles)

    @cached_property
    def areas(self) -> np.ndarray:
        """(M,) triangle areas in m²."""
        p = self.points[self.triangles]
        d1, d2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        return 0.5 * (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])

    @cached_property
    def centroids(self) -> np.ndarray:
        """(M, 2) triangle centroids in metres."""
        return self.points[self.triangles].mean(axis=1)

    @cached_property
    def tri_in_layer(self) -> np.ndarray:
        """(L, M) bool: triangle lies inside layer l's footprint."""
        return _inside(self.centroids, self.layer_rects)

    @cached_property
    def edges(self) -> np.ndarray:
        """(E, 2) unique edges, each sorted (low node first)."""
        return self.edge_index[0]

    @cached_property
    def edge_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Unique edges (E, 2), low node first, and each triangle's edges (M, 3).

        Edge ``j`` of triangle ``t`` joins its local nodes ``j`` and ``(j + 1) % 3``.
        """
        return edge_index(self.triangles, self.n_nodes)

    def tri_cover(self) -> sp.csr_matrix:
        """(M, B) 0/1 matrix: the blocks covering each triangle."""
        return self.cover[self.root_of_tri]

    def quality(self) -> dict:
        """Shape measures: smallest angle (degrees) and largest aspect ratio.

        The aspect ratio of a triangle is its longest edge over its shortest altitude
        (1.155 for an equilateral triangle).
        """
        p = self.points[self.triangles]
        e = np.linalg.norm(p[:, [1, 2, 0]] - p[:, [2, 0, 1]], axis=2)  # edge opposite vertex i
        cos = (e[:, [1, 2, 0]] ** 2 + e[:, [2, 0, 1]] ** 2 - e ** 2) / (2 * e[:, [1, 2, 0]] * e[:, [2, 0, 1]])
        angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        longest = e.max(axis=1)
        aspect = longest ** 2 / (2 * np.abs(self.areas))
        return {"min_angle_deg": float(angles.min()), "max_aspect_ratio": float(aspect.max())}

    def diameters(self) -> np.ndarray:
        """(M,) longest edge of each triangle in metres."""
        p = self.points[self.triangles]
        return np.linalg.norm(p[:, [1, 2, 0]] - p[:, [2, 0, 1]], axis=2).max(axis=1)


def _inside(xy: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """(R, P) bool: point p strictly inside rectangle r (x0, y0, x1, y1)."""
    x, y = xy[:, 0], xy[:, 1]
    r = np.asarray(rects)[:, :, None]
    return (x > r[:, 0]) & (x < r[:, 2]) & (y > r[:, 1]) & (y < r[:, 3])


def snapped(values: np.ndarray, snap: float) -> np.ndarray:
    """Merge values closer than ``snap`` (chains included) to the smallest of their cluster.

    >>> snapped(np.array([0.0, 1.0, 1.0 + 1e-12, 2.0]), 1e-9).tolist()
    [0.0, 1.0, 1.0, 2.0]
    """
    flat = np.asarray(values, float).ravel()
    order = np.argsort(flat, kind="stable")
    s = flat[order]
    new_cluster = np.r_[True, np.diff(s) >= snap]
    start = np.maximum.accumulate(np.where(new_cluster, np.arange(len(s)), 0))
    out = np.empty_like(flat)
    out[order] = s[start]
    return out.reshape(np.shape(values))


def _segments(rects: np.ndarray):
    """Planar graph of rectangle outlines on integer coordinates.

    Parameters
    ----------
    rects : (R, 4) int
        (ix0, iy0, ix1, iy1) indices into the sorted unique x and y tables.

    Returns
    -------
    verts : (V, 2) int
        Vertex coordinates (ix, iy): corners, crossings and T-junctions.
    subsegments : (S, 2) int
        Vertex index pairs of the edges between consecutive vertices on an outline.
    """
    ix0, iy0, ix1, iy1 = rects.T
    # Horizontal edges (line index, from, to) and vertical edges, each merged per line.
    horiz = _merged(np.r_[iy0, iy1], np.r_[ix0, ix0], np.r_[ix1, ix1])
    vert = _merged(np.r_[ix0, ix1], np.r_[iy0, iy0], np.r_[iy1, iy1])
    ends = np.r_[np.c_[horiz[:, 1], horiz[:, 0]], np.c_[horiz[:, 2], horiz[:, 0]],
                 np.c_[vert[:, 0], vert[:, 1]], np.c_[vert[:, 0], vert[:, 2]]]
    crossings = [ends]
    chunk = max(1, 4_000_000 // max(len(vert), 1))
    for s in range(0, len(horiz), chunk):
        h = horiz[s:s + chunk]
        hit = ((h[:, None, 1] <= vert[None, :, 0]) & (vert[None, :, 0] <= h[:, None, 2])
               & (vert[None, :, 1] <= h[:, None, 0]) & (h[:, None, 0] <= vert[None, :, 2]))
        hi, vi = np.nonzero(hit)
        crossings.append(np.c_[vert[vi, 0], h[hi, 0]])
    verts = np.unique(np.concatenate(crossings), axis=0)  # sorted by ix, then iy
    span = int(verts.max()) + 1
    subs = [_split(verts[:, 0] * span + verts[:, 1], vert[:, 0] * span + vert[:, 1],
                   vert[:, 0] * span + vert[:, 2])]
    by_y = np.lexsort((verts[:, 0], verts[:, 1]))
    key_y = verts[by_y, 1] * span + verts[by_y, 0]
    subs.append(by_y[_split(key_y, horiz[:, 0] * span + horiz[:, 1], horiz[:, 0] * span + horiz[:, 2])])
    return verts, np.concatenate(subs)


def _merged(line, lo, hi) -> np.ndarray:
    """Union of intervals [lo, hi] on each line: (K, 3) rows of (line, lo, hi)."""
    order = np.lexsort((lo, line))
    line, lo, hi = line[order], lo[order], hi[order]
    starts = np.r_[True, line[1:] != line[:-1]]
    # running max of hi within each line: offset lines so that maxima don't leak across lines
    offset = np.cumsum(starts) * (int(hi.max()) + 1)
    reach = np.maximum.accumulate(hi + offset) - offset
    new = starts | np.r_[True, lo[1:] > reach[:-1]]
    group = np.cumsum(new) - 1
    out_hi = np.zeros(group[-1] + 1, dtype=hi.dtype)
    np.maximum.at(out_hi, group, hi)
    return np.c_[line[new], lo[new], out_hi]


def _split(keys: np.ndarray, seg_lo: np.ndarray, seg_hi: np.ndarray) -> np.ndarray:
    """Pairs of consecutive sorted ``keys`` lying within one of the segments [lo, hi]."""
    a = np.searchsorted(keys, seg_lo)
    b = np.searchsorted(keys, seg_hi)
    count = np.zeros(len(keys) + 1, dtype=np.int64)
    np.add.at(count, a, 1)
    np.add.at(count, b, -1)
    covered = np.nonzero(np.cumsum(count)[:-1] > 0)[0]
    return np.c_[covered, covered + 1]


def _encroached(points: np.ndarray, subs: np.ndarray, tree: cKDTree) -> np.ndarray:
    """Boolean mask of subsegments whose closed diametral circle holds a vertex other than its ends."""
    mid = 0.5 * (points[subs[:, 0]] + points[subs[:, 1]])
    radius = 0.5 * np.linalg.norm(points[subs[:, 1]] - points[subs[:, 0]], axis=1)
    k = min(3, len(points))
    dist, idx = tree.query(mid, k=k)
    other = (idx != subs[:, :1]) & (idx != subs[:, 1:2])
    nearest = np.where(other, dist, np.inf).min(axis=1)
    return nearest < radius * (1 + 1e-9)


def _encroaching(cands: np.ndarray, points: np.ndarray, subs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (candidate, subsegment) with the candidate inside the subsegment's diametral circle."""
    mid = 0.5 * (points[subs[:, 0]] + points[subs[:, 1]])
    radius = 0.5 * np.linalg.norm(points[subs[:, 1]] - points[subs[:, 0]], axis=1)
    level = np.floor(np.log2(radius)).astype(np.int64)
    ctree = cKDTree(cands)
    pairs_c, pairs_s = [], []
    for lev in np.unique(level):  # one query per length class (a few dozen at most)
        sel = np.nonzero(level == lev)[0]
        found = ctree.sparse_distance_matrix(cKDTree(mid[sel]), 2.0 ** (lev + 1), output_type="ndarray")
        inside = found["v"] < radius[sel[found["j"]]] * (1 + 1e-9)
        pairs_c.append(found["i"][inside])
        pairs_s.append(sel[found["j"][inside]])
    return np.concatenate(pairs_c), np.concatenate(pairs_s)


def _split_encroached(points: np.ndarray, subs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split subsegments at their midpoints until none is encroached."""
    for _ in range(200):
        bad = _encroached(points, subs, cKDTree(points))
        if not bad.any():
            return points, subs
        points, subs = _bisected(points, subs, bad)
    raise RuntimeError("mesh: subsegment splitting did not terminate")


def _bisected(points, subs, mask):
    mids = 0.5 * (points[subs[mask, 0]] + points[subs[mask, 1]])
    new = len(points) + np.arange(mask.sum())
    halves = np.r_[np.c_[subs[mask, 0], new], np.c_[new, subs[mask, 1]]]
    return np.r_[points, mids], np.r_[subs[~mask], halves]


def _circumcentres(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circumcentres (M, 2) and circumradius over shortest edge (M,) of triangles p (M, 3, 2)."""
    a, b, c = p[:, 0], p[:, 1], p[:, 2]
    ba, ca = b - a, c - a
    d = 2 * (ba[:, 0] * ca[:, 1] - ba[:, 1] * ca[:, 0])
    nb, nc = (ba ** 2).sum(1), (ca ** 2).sum(1)
    ux = (ca[:, 1] * nb - ba[:, 1] * nc) / d
    uy = (ba[:, 0] * nc - ca[:, 0] * nb) / d
    r = np.hypot(ux, uy)
    shortest = np.sqrt(np.minimum(np.minimum(nb, nc), ((c - b) ** 2).sum(1)))
    return a + np.c_[ux, uy], r / shortest


def _thinned(cands: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Indices of candidates to keep: none closer than half its scale to an earlier kept one.

    Dropping too many is harmless (the next round asks again); keeping two near-coincident
    points would create a tiny edge and a cascade of refinement.
    """
    level = np.floor(np.log2(scale)).astype(np.int64)
    tree = cKDTree(cands)
    drop = np.zeros(len(cands), bool)
    for lev in np.unique(level):
        sel = np.nonzero(level == lev)[0]
        found = tree.sparse_distance_matrix(cKDTree(cands[sel]), 2.0 ** (lev - 1), output_type="ndarray")
        i, j = found["i"], sel[found["j"]]
        drop[j[i < j]] = True
    return np.nonzero(~drop)[0]


def triangulate(rects, snap_m: float, min_angle_deg: float = MIN_ANGLE_DEG,
                size_fn=None, core: int | None = None):
    """Conforming Delaunay mesh of the bounding box of ``rects`` conforming to every rectangle edge.

    Parameters
    ----------
    rects : (R, 4) array_like
        Rectangles (x0, y0, x1, y1) in metres: blocks, die outline, layer footprints.
    snap_m : float
        Coordinates closer than this are merged first.
    min_angle_deg : float
        Triangles with a smaller angle are refined (Ruppert's rule); keep it ≤ 30.
    size_fn : callable, optional
        ``size_fn(xy) -> (P,)``: largest circumradius allowed for a triangle whose circumcentre
        is at ``xy`` (P, 2), in metres; ``inf`` where there is no bound.
    core : int, optional
        The first ``core`` rectangles are the die's blocks: when their outline is cut into
        edges far shorter than the domain (:data:`GRADE_RATIO`), rings of points graded away
        from it are added before Ruppert's rounds (:func:`_graded_rings`).

    Returns
    -------
    points : (N, 2) float64
    triangles : (M, 3) int64, counter-clockwise
    snapped_rects : (R, 4) float64
        The rectangles after snapping, as the mesh sees them.
    """
    rects = np.asarray(rects, float).reshape(-1, 4)
    # Work near the origin: snapping, qhull and the circumcentres lose every digit that a large
    # offset takes (a die placed at 1e9 m), so the mesh is built in coordinates relative to the
    # rectangles' lower-left corner and moved back at the end.
    # (Only when it is far: near the origin a shift changes nothing but the round-off, which
    # would move Ruppert's points and change meshes users have seen.)
    origin = rects[:, :2].min(axis=0)
    extent = max(np.ptp(rects[:, [0, 2]]), np.ptp(rects[:, [1, 3]]))
    if np.abs(origin).max() <= FAR_ORIGIN * extent:
        origin = np.zeros(2)
    local = rects - np.r_[origin, origin]
    if size_fn is not None:
        global_size_fn = size_fn

        def size_fn(xy):
            return global_size_fn(xy + origin)
    xs = snapped(local[:, [0, 2]], snap_m)
    ys = snapped(local[:, [1, 3]], snap_m)
    ux, ix = np.unique(xs, return_inverse=True)
    uy, iy = np.unique(ys, return_inverse=True)
    ix, iy = ix.reshape(-1, 2), iy.reshape(-1, 2)
    keep = (ix[:, 1] > ix[:, 0]) & (iy[:, 1] > iy[:, 0])  # drop rectangles that snapped to nothing
    verts, subs = _segments(np.c_[ix[keep, 0], iy[keep, 0], ix[keep, 1], iy[keep, 1]])
    points = np.c_[ux[verts[:, 0]], uy[verts[:, 1]]]
    points, subs = _split_encroached(points, subs)
    rho_max = 1.0 / (2.0 * np.sin(np.radians(min_angle_deg)))
    lo, hi = points.min(axis=0), points.max(axis=0)
    if core:
        rings = _graded_rings(points, subs, np.c_[xs, ys][:core][:, [0, 2, 1, 3]], lo, hi)
        if len(rings):
            points, subs = _split_encroached(np.r_[points, rings], subs)
    for _ in range(_MAX_ROUNDS):
        tri = Delaunay(points).simplices
        centre, rho = _circumcentres(points[tri])
        bad = rho > rho_max
        radius = np.linalg.norm(centre - points[tri[:, 0]], axis=1)
        if size_fn is not None:
            bad |= radius > size_fn(np.clip(centre, lo, hi))
        if not bad.any():
            break
        cands = np.clip(centre[bad], lo, hi)
        cands = cands[_thinned(cands, radius[bad])]
        ci, si = _encroaching(cands, points, subs)
        split = np.zeros(len(subs), bool)
        split[si] = True
        rejected = np.zeros(len(cands), bool)
        rejected[ci] = True
        points, subs = _bisected(points, subs, split)
        points = np.r_[points, cands[~rejected]]
        points, subs = _split_encroached(points, subs)
    else:
        tri = Delaunay(points).simplices
    tri = _ccw(points, tri.astype(np.int64))
    _check_conforming(tri, subs)
    snapped_rects = np.c_[xs, ys][:, [0, 2, 1, 3]] + np.r_[origin, origin]
    return points + origin, tri, snapped_rects


GRADE_RATIO = 2000.0
""":func:`_graded_rings` seeds the mesh around the die only when the domain is more than this many
times the die outline's typical edge (a 0.6 mm die of 16k tiles in a 60 mm package, not ev6)."""


def _graded_rings(points: np.ndarray, subs: np.ndarray, blocks: np.ndarray, lo, hi) -> np.ndarray:
    """Points on rectangles around the die at distances h, 2h, 4h, ... from it, each ring's points
    h, 2h, 4h, ... apart, where h is the median edge of the die's outline.

    Ruppert's rule grades the mesh from the die's short outline edges to the package's far
    corners by itself, but a batch round adds only the few circumcentres that survive thinning,
    so that grading alone took 12 of 28 rounds (a full Delaunay each) on a 0.6 mm die of 16k
    tiles. The rings are the graded points it would add; any that falls in a subsegment's
    diametral circle is left out (it would split a segment, or lie on one), and the rounds
    after them correct whatever a ring got wrong.
    """
    x0, y0 = blocks[:, 0].min(), blocks[:, 1].min()
    x1, y1 = blocks[:, 2].max(), blocks[:, 3].max()
    a, b = points[subs[:, 0]], points[subs[:, 1]]
    on_outline = (((a[:, 0] == x0) & (b[:, 0] == x0)) | ((a[:, 0] == x1) & (b[:, 0] == x1))
                  | ((a[:, 1] == y0) & (b[:, 1] == y0)) | ((a[:, 1] == y1) & (b[:, 1] == y1)))
    if not on_outline.any():
        return np.zeros((0, 2))
    h = float(np.median(np.linalg.norm(b - a, axis=1)[on_outline]))
    reach = float(max(x0 - lo[0], y0 - lo[1], hi[0] - x1, hi[1] - y1))
    if h <= 0 or max(hi[0] - lo[0], hi[1] - lo[1]) < GRADE_RATIO * h or reach <= h:
        return np.zeros((0, 2))
    rings = []
    for k in range(int(np.log2(reach / h)) + 1):
        d = h * 2.0 ** k
        rx0, ry0, rx1, ry1 = x0 - d, y0 - d, x1 + d, y1 + d
        nx = max(int(np.ceil((rx1 - rx0) / d)), 1)
        ny = max(int(np.ceil((ry1 - ry0) / d)), 1)
        tx, ty = np.linspace(rx0, rx1, nx + 1), np.linspace(ry0, ry1, ny + 1)
        ring = np.r_[np.c_[tx, np.full_like(tx, ry0)], np.c_[tx, np.full_like(tx, ry1)],
                     np.c_[np.full(ny - 1, rx0), ty[1:-1]], np.c_[np.full(ny - 1, rx1), ty[1:-1]]]
        margin = 0.25 * d
        inside = ((ring[:, 0] > lo[0] + margin) & (ring[:, 0] < hi[0] - margin)
                  & (ring[:, 1] > lo[1] + margin) & (ring[:, 1] < hi[1] - margin))
        rings.append(ring[inside])
    cands = np.concatenate(rings)
    if not len(cands):
        return cands
    ci, _ = _encroaching(cands, points, subs)
    keep = np.ones(len(cands), bool)
    keep[ci] = False
    return cands[keep]


def _shortest_edge(p: np.ndarray) -> np.ndarray:
    return np.linalg.norm(p[:, [1, 2, 0]] - p[:, [2, 0, 1]], axis=2).min(axis=1)


def _ccw(points, tri):
    p = points[tri]
    d1, d2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    cw = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0] < 0
    tri[cw] = tri[cw][:, [0, 2, 1]]
    return tri


def _check_conforming(tri, subs):
    edges = np.sort(tri[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    n = int(tri.max()) + 1
    have = np.unique(edges[:, 0] * n + edges[:, 1])
    want = np.sort(subs, axis=1)
    missing = ~np.isin(want[:, 0] * n + want[:, 1], have)
    if missing.any():
        raise RuntimeError(f"mesh: {int(missing.sum())} constrained edges missing from the triangulation")


def edge_index(triangles: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique edges (E, 2), low node first, and each triangle's edges (M, 3) of a triangle
    array: edge ``j`` of triangle ``t`` joins its local nodes ``j`` and ``(j + 1) % 3``."""
    a, b = triangles.ravel(), triangles[:, [1, 2, 0]].ravel()
    key = np.minimum(a, b) * np.int64(n_nodes) + np.maximum(a, b)
    unique, tri2edge = np.unique(key, return_inverse=True)
    edges = np.c_[unique // n_nodes, unique % n_nodes]
    return edges, tri2edge.reshape(-1, 3)


def initial_mesh(block_rects: np.ndarray, layer_rects: np.ndarray, snap_m: float | None = None,
                 min_angle_deg: float = MIN_ANGLE_DEG, size_fn=None) -> Mesh:
    """The coarsest conforming mesh of a floorplan and its layer footprints.

    Parameters
    ----------
    block_rects : (B, 4) array_like
        Blocks as (left, bottom, width, height) in metres, in floorplan order.
    layer_rects : (L, 4) array_like
        Layer footprints as (x0, y0, x1, y1) in metres.
    snap_m : float, optional
        Snapping distance; default :func:`snap_distance` of the blocks.
    min_angle_deg, size_fn
        See :func:`triangulate`.

    Returns
    -------
    Mesh
    """
    def corners(rects):
        r = np.asarray(rects, float).reshape(-1, 4)
        return np.c_[r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]]

    blocks = corners(block_rects)
    layers = np.asarray(layer_rects, float).reshape(-1, 4)
    longest = max(np.ptp(blocks[:, [0, 2]]), np.ptp(blocks[:, [1, 3]]))
    if snap_m is None:
        snap_m = snap_distance(np.r_[longest, blocks[:, 2] - blocks[:, 0]],
                               np.r_[longest, blocks[:, 3] - blocks[:, 1]])
    if size_fn is not None:
        asked_size_fn = size_fn

        def size_fn(xy):
            return np.maximum(asked_size_fn(xy), MIN_SIZE_REL * longest)
    points, tri, snapped_rects = triangulate(np.r_[blocks, layers], snap_m, min_angle_deg, size_fn,
                                             core=len(blocks))
    blocks_snapped = snapped_rects[:len(blocks)]
    layers_snapped = snapped_rects[len(blocks):]
    centroids = points[tri].mean(axis=1)
    cover = _cover(centroids, blocks_snapped)
    last = _last_block(cover)
    return Mesh(points=points, triangles=tri, block_of_tri=last,
                root_of_tri=np.arange(len(tri), dtype=np.int64), cover=cover,
                layer_rects=layers_snapped, block_rects=blocks_snapped)


def _cover(centroids: np.ndarray, rects: np.ndarray) -> sp.csr_matrix:
    """(M, B) 0/1 matrix of which rectangles hold each centroid (x-sorted sweep, no M×B array)."""
    order = np.argsort(centroids[:, 0], kind="stable")
    xs = centroids[order, 0]
    lo = np.searchsorted(xs, rects[:, 0], side="right")
    hi = np.searchsorted(xs, rects[:, 2], side="left")
    counts = np.maximum(hi - lo, 0)
    block = np.repeat(np.arange(len(rects)), counts)
    start = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    tri = order[start]
    y = centroids[tri, 1]
    inside = (y > rects[block, 1]) & (y < rects[block, 3])
    m = len(centroids)
    return sp.csr_matrix((np.ones(inside.sum()), (tri[inside], block[inside])),
                         shape=(m, len(rects)))


def _last_block(cover: sp.csr_matrix) -> np.ndarray:
    """Highest block index in each row of ``cover``, -1 for empty rows."""
    coo = cover.tocoo()
    last = np.full(cover.shape[0], -1, dtype=np.int64)
    np.maximum.at(last, coo.row, coo.col.astype(np.int64))
    return last
