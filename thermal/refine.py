"""Mesh refinement.

Two kinds of refinement keep the mesh conforming, and both keep each child's block and root
triangle, so block membership and layer footprints are exact at every level:

* :func:`refined_uniform` splits every triangle into four similar ones through its edge midpoints
  ("red" refinement): every angle is kept exactly.
* :func:`refined` bisects the marked triangles by *newest-vertex bisection* (NVB), plus the
  fewest others that keep the mesh free of hanging nodes (the closure).
  :func:`refined_to_size` repeats it until every triangle is as small as a size function asks,
  :func:`refined_times` until each triangle has been bisected as often as asked.

**Labelling.** NVB needs a *refinement edge* for every triangle. Here it is carried by the node
order, so a :class:`~thermal.mesh.Mesh` needs no extra field: the refinement edge of
``(a, b, c)`` is its local edge 0, from ``a`` to ``b``, and ``c`` is its newest vertex. Bisection
adds ``m``, the midpoint of ``ab``, and gives the children ``(c, a, m)`` and ``(b, c, m)``: both
counter-clockwise, the new vertex last, each with the parent's edge opposite ``m`` as its
refinement edge. Any labelling is valid, so every mesh can be refined, red-refined ones
included; :func:`with_longest_edge_first` gives the labelling that suits an initial mesh.

**Closure.** The marked triangles mark their refinement edges. A triangle with a marked edge
marks its refinement edge too, until nothing changes; each round only visits the triangles
beside the edges marked by the round before. Then a triangle with a marked refinement edge is
bisected, and each child whose refinement edge is marked is bisected once more: 2, 3 or 4
children. Every marked edge is split in both of its triangles, so no hanging node is left.

**Shape.** Every descendant of a triangle ``T`` under NVB is similar to one of four triangles
(Sewell; Mitchell), whatever the labelling: ``T``, its children ``(c, a, m)`` and
``(b, c, m)``, and the grandchild ``(m, c, n)``, ``n`` the midpoint of ``ca``. A child's angle
at ``m`` is an exterior angle of the other child, so larger than an angle of ``T``; its other
two angles are angles of ``T`` or of ``(m, c, n)``. So no mesh NVB makes has a smaller angle
than ``T`` and ``(m, c, n)`` have. Refining every triangle twice gives a mesh with that
smallest angle (in every case tried: the closure may bisect some triangles more often).

**Nodes.** Old nodes keep their indices; the new ones are appended, one per split edge, in the
order of :attr:`Mesh.edges`. :func:`midpoint_parents` recovers the edge each one halves, and
:func:`bisection_prolongation` turns that into the P1 interpolation between the two meshes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .mesh import Mesh

MAX_ROUNDS = 100
"""Bisection rounds :func:`refined_to_size` allows before it gives up. Four bisections halve a
triangle's diameter, so this is far beyond floating-point resolution."""


def tri_edges(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Unique edges (E, 2), low node first, and each triangle's three edges (M, 3).

    Edge ``j`` of triangle ``t`` joins its local nodes ``j`` and ``(j + 1) % 3``.
    """
    return mesh.edge_index


def _midpoints(points: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(K, 2) midpoints of the node pairs (K, 2)."""
    return 0.5 * (points[pairs[:, 0]] + points[pairs[:, 1]])


def _with_children(mesh: Mesh, split_edges: np.ndarray, children: np.ndarray, counts) -> Mesh:
    """``mesh`` with the midpoints of ``split_edges`` appended to its nodes and ``children`` for its
    triangles, ``counts`` (scalar or (M,)) children per parent, consecutive, in the parents' order."""
    return dataclasses.replace(
        mesh, points=np.r_[mesh.points, _midpoints(mesh.points, split_edges)], triangles=children,
        block_of_tri=np.repeat(mesh.block_of_tri, counts), root_of_tri=np.repeat(mesh.root_of_tri, counts))


def _midpoint_interpolation(n_nodes: int, parents: np.ndarray) -> sp.csr_matrix:
    """(N + K, N) P1 interpolation: old nodes keep their value, new node ``N + k`` gets the mean
    of its two ``parents[k]``."""
    n, k = n_nodes, len(parents)
    indptr = np.r_[np.arange(n + 1), n + 2 * np.arange(1, k + 1)]
    return sp.csr_matrix((np.r_[np.ones(n), np.full(2 * k, 0.5)], np.r_[np.arange(n), parents.ravel()],
                          indptr), shape=(n + k, n))


def node_prolongation(mesh: Mesh) -> sp.csr_matrix:
    """(N + E, N) linear interpolation from ``mesh`` to ``refined_uniform(mesh)``.

    Old nodes keep their value; each edge midpoint gets the mean of the edge's ends. It is exact
    for P1 fields, so it is also the multigrid prolongation between the two levels.
    """
    edges, _ = tri_edges(mesh)
    return _midpoint_interpolation(mesh.n_nodes, edges)


def refined_uniform(mesh: Mesh) -> Mesh:
    """Red refinement: each triangle becomes four, the mesh size halves.

    Parameters
    ----------
    mesh : Mesh

    Returns
    -------
    Mesh
        The refined mesh: ``4 M`` triangles, ``N + E`` nodes (old nodes keep their indices).
        Each child is its parent scaled by ½ about a vertex, or (the middle one) by -½ about the
        centroid, with its nodes in the parent's order: a child's refinement edge is parallel to
        its parent's, so the NVB labelling, and with it the angle bound of :func:`refined`, carries
        over to the red children.
    """
    edges, tri2edge = tri_edges(mesh)
    a, b, c = mesh.triangles.T
    ab, bc, ca = (tri2edge + mesh.n_nodes).T
    children = np.stack([np.c_[a, ab, ca], np.c_[ab, b, bc], np.c_[ca, bc, c], np.c_[bc, ca, ab]],
                        axis=1).reshape(-1, 3)
    return _with_children(mesh, edges, children, 4)


def with_longest_edge_first(mesh: Mesh) -> Mesh:
    """The same mesh, each triangle's nodes rotated so that its longest edge is its refinement edge.

    This is the labelling to give an initial mesh before :func:`refined`: each triangle is first
    bisected through its longest edge, so its children and grandchildren (whose angles bound
    every later one, see the module notes) stay well shaped. On the 25° floorplan meshes of
    :func:`~thermal.mesh.initial_mesh` the bound stayed above 21° (80 random floorplans and the
    sliver one), where Delaunay's arbitrary node order let it fall to 9°. Ties go to the lowest
    local edge. Orientation, nodes, blocks and roots are unchanged; :func:`refined` and
    :func:`refined_uniform` keep the labelling of their children, so this is needed once, on the
    initial mesh.

    Parameters
    ----------
    mesh : Mesh

    Returns
    -------
    Mesh
        ``mesh`` with ``triangles`` rotated row by row.

    Examples
    --------
    >>> from thermal.mesh import initial_mesh
    >>> m = with_longest_edge_first(initial_mesh([[0, 0, 2e-3, 1e-3]], [[0, 0, 2e-3, 1e-3]]))
    >>> p = m.points[m.triangles]
    >>> edge = np.linalg.norm(p[:, [1, 2, 0]] - p, axis=2)
    >>> bool((edge[:, 0] >= edge.max(axis=1)).all())
    True
    """
    p = mesh.points[mesh.triangles]
    length2 = ((p[:, [1, 2, 0]] - p) ** 2).sum(axis=2)  # edge j joins local nodes j and j + 1
    first = np.argmax(length2, axis=1)
    rotation = (first[:, None] + np.arange(3)) % 3
    return dataclasses.replace(mesh, triangles=np.take_along_axis(mesh.triangles, rotation, axis=1))


def _edge_triangles(tri2edge: np.ndarray, n_edges: int) -> np.ndarray:
    """(E, 2) the one or two triangles beside each edge, -1 for none."""
    flat = tri2edge.ravel()
    tri = np.arange(len(flat)) // 3
    edge2tri = np.empty((n_edges, 2), np.int64)
    edge2tri[:, 0] = len(tri2edge)
    edge2tri[:, 1] = -1
    np.minimum.at(edge2tri[:, 0], flat, tri)
    np.maximum.at(edge2tri[:, 1], flat, tri)
    edge2tri[edge2tri[:, 0] == edge2tri[:, 1], 1] = -1
    return edge2tri


def _closure(tri2edge: np.ndarray, edge2tri: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """(E,) bool: the edges to split so that bisecting ``marked`` leaves no hanging node.

    The refinement edges of the marked triangles, then, round by round, the refinement edge of
    every triangle beside an edge marked in the round before, until no new edge is marked.
    """
    refinement_edge = tri2edge[:, 0]
    split = np.zeros(len(edge2tri), bool)
    front = refinement_edge[marked]
    split[front] = True
    while front.size:
        beside = edge2tri[front].ravel()
        front = refinement_edge[beside[beside >= 0]]
        front = front[~split[front]]
        split[front] = True
    return split


def _marked_mask(marked, n_triangles: int) -> np.ndarray:
    marked = np.asarray(marked)
    if marked.dtype == bool:
        if marked.shape != (n_triangles,):
            raise ValueError(f"marked: boolean mask of shape {marked.shape}, the mesh has "
                             f"{n_triangles} triangles")
        return marked
    if marked.size and not np.issubdtype(marked.dtype, np.integer):
        raise ValueError(f"marked: expected a boolean mask or triangle indices, got {marked.dtype}")
    index = marked.astype(np.int64).ravel()
    if index.size and (index.min() < -n_triangles or index.max() >= n_triangles):
        raise ValueError(f"marked: triangle index out of range for {n_triangles} triangles")
    mask = np.zeros(n_triangles, bool)
    mask[index] = True
    return mask


def refined(mesh: Mesh, marked, max_triangles: int | None = None) -> Mesh:
    """Newest-vertex bisection of the marked triangles, closed so that the mesh stays conforming.

    Each triangle ``(a, b, c)`` is bisected through the midpoint of ``ab``, its refinement edge
    (see the module notes for the labelling and the closure). A marked triangle is bisected at
    least once; neighbours are bisected as far as conformity needs, at most twice more.

    Parameters
    ----------
    mesh : Mesh
        Any conforming mesh; for an initial mesh pass ``with_longest_edge_first(mesh)``.
    marked : (M,) bool array_like or int array_like
        Triangles to refine, as a mask or as indices.
    max_triangles : int, optional
        Raise :class:`ValueError` instead of building a mesh with more triangles.

    Returns
    -------
    Mesh
        The refined mesh, or ``mesh`` itself when nothing is marked. Old nodes keep their
        indices and the midpoints follow in the order of the split edges in ``mesh.edges``
        (see :func:`midpoint_parents`). The children of each triangle are consecutive, in the
        order of their parents, and keep the parent's ``block_of_tri`` and ``root_of_tri``.

    Examples
    --------
    >>> from thermal.mesh import initial_mesh
    >>> coarse = with_longest_edge_first(initial_mesh([[0, 0, 1e-3, 1e-3]], [[0, 0, 1e-3, 1e-3]]))
    >>> fine = refined(coarse, [0])
    >>> fine.n_triangles > coarse.n_triangles, bool(np.isclose(fine.areas.sum(), 1e-6))
    (True, True)
    """
    mask = _marked_mask(marked, mesh.n_triangles)
    return _bisected(mesh, mask, max_triangles)[0] if mask.any() else mesh


def _bisected(mesh: Mesh, mask: np.ndarray, max_triangles: int | None
              ) -> tuple[Mesh, np.ndarray, np.ndarray]:
    """:func:`refined` of a non-empty mask, the number of children of each triangle (M,), and
    the two parents of each new node (K, 2)."""
    tri, n = mesh.triangles, mesh.n_nodes
    edges, tri2edge = mesh.edge_index
    split = _closure(tri2edge, _edge_triangles(tri2edge, len(edges)), mask)
    is_split = split[tri2edge]                      # (M, 3); edge 0 is split wherever another is
    counts = 1 + is_split.sum(axis=1)
    total = int(counts.sum())
    if max_triangles is not None and total > max_triangles:
        raise ValueError(f"refinement would give {total} triangles, more than max_triangles="
                         f"{max_triangles}")
    midpoint = np.cumsum(split) + (n - 1)          # node index of each split edge's midpoint

    start = np.cumsum(counts) - counts
    out = np.empty((total, 3), np.int64)
    kept = counts == 1
    out[start[kept]] = tri[kept]
    bisected = np.flatnonzero(~kept)
    a, b, c = tri[bisected].T
    m, p, q = midpoint[tri2edge[bisected]].T        # midpoints of ab, bc, ca where split
    split_bc, split_ca = is_split[bisected, 1:].T
    left = start[bisected]
    # left half (c, a, m), itself bisected at q on ca into (m, c, q) and (a, m, q)
    out[left] = np.where(split_ca[:, None], np.c_[m, c, q], np.c_[c, a, m])
    out[left[split_ca] + 1] = np.c_[a, m, q][split_ca]
    # right half (b, c, m), itself bisected at p on bc into (m, b, p) and (c, m, p)
    right = left + 1 + split_ca
    out[right] = np.where(split_bc[:, None], np.c_[m, b, p], np.c_[b, c, m])
    out[right[split_bc] + 1] = np.c_[c, m, p][split_bc]
    return _with_children(mesh, edges[split], out, counts), counts, edges[split]


def refined_times(mesh: Mesh, times, max_triangles: int | None = None
                  ) -> tuple[Mesh, sp.csr_matrix]:
    """Bisect (NVB) every triangle at least ``times[t]`` times, each bisection halving its area.

    Parameters
    ----------
    mesh : Mesh
        Labelled as for :func:`refined`.
    times : (M,) int array_like
        Bisections each triangle needs, ≥ 0 (0: only as the closure asks).
    max_triangles : int, optional
        Raise :class:`ValueError` rather than build a mesh with more triangles.

    Returns
    -------
    fine : Mesh
        The refined mesh (``mesh`` itself when no triangle needs a bisection).
    prolongation : (N_fine, N) sparse
        The P1 interpolation from ``mesh`` to ``fine`` (the product of the rounds').

    Raises
    ------
    ValueError
        If ``times`` is not one integer ≥ 0 per triangle, or when ``max_triangles`` would be
        exceeded.

    Examples
    --------
    >>> from thermal.mesh import initial_mesh
    >>> coarse = with_longest_edge_first(initial_mesh([[0, 0, 1e-3, 1e-3]], [[0, 0, 1e-3, 1e-3]]))
    >>> fine, _ = refined_times(coarse, np.r_[3, np.zeros(coarse.n_triangles - 1, int)])
    >>> bool(fine.areas.min() <= coarse.areas[0] / 8)
    True
    """
    times = np.asarray(times)
    if times.shape != (mesh.n_triangles,) or not np.issubdtype(times.dtype, np.integer):
        raise ValueError(f"times: expected {mesh.n_triangles} integers, got {times.dtype} "
                         f"{times.shape}")
    if times.size and times.min() < 0:
        raise ValueError(f"times: a bisection count is negative ({times.min()})")
    times = times.astype(np.int64)
    prolongation = sp.identity(mesh.n_nodes, format="csr")
    while (times > 0).any():
        coarser = mesh
        mesh, counts, parents = _bisected(mesh, times > 0, max_triangles)
        prolongation = (_midpoint_interpolation(coarser.n_nodes, parents) @ prolongation).tocsr()
        # a child of a bisection has half its parent's area, of a double bisection a quarter
        depth = np.rint(np.log2(np.repeat(coarser.areas, counts) / mesh.areas)).astype(np.int64)
        times = np.maximum(np.repeat(times, counts) - depth, 0)
    return mesh, prolongation


def midpoint_parents(coarse: Mesh, fine: Mesh) -> np.ndarray:
    """The edge of ``coarse`` each new node of ``fine = refined(coarse, marked)`` halves.

    Parameters
    ----------
    coarse, fine : Mesh
        ``fine`` must come from ``coarse`` by one call of :func:`refined`.

    Returns
    -------
    (N_f - N_c, 2) int64
        Row ``k`` holds the two coarse nodes whose midpoint is fine node ``N_c + k``.

    Raises
    ------
    ValueError
        If ``fine`` is not a bisection refinement of ``coarse``.
    """
    edges, n_c, n_f = coarse.edges, coarse.n_nodes, fine.n_nodes
    fine_keys = fine.edges[:, 0] * np.int64(n_f) + fine.edges[:, 1]
    coarse_keys = edges[:, 0] * np.int64(n_f) + edges[:, 1]
    at = np.minimum(np.searchsorted(fine_keys, coarse_keys), len(fine_keys) - 1)
    parents = edges[fine_keys[at] != coarse_keys]   # the coarse edges fine no longer has
    if (len(parents) != n_f - n_c or not np.array_equal(fine.points[:n_c], coarse.points)
            or not np.array_equal(fine.points[n_c:], _midpoints(coarse.points, parents))):
        raise ValueError("midpoint_parents: fine is not refined(coarse, marked)")
    return parents


def bisection_prolongation(coarse: Mesh, fine: Mesh) -> sp.csr_matrix:
    """(N_f, N_c) P1 interpolation from ``coarse`` to ``fine = refined(coarse, marked)``.

    Old nodes keep their value, each midpoint gets the mean of its edge's ends: exact for P1
    fields, so it is also the multigrid prolongation between the two meshes.

    >>> from thermal.mesh import initial_mesh
    >>> coarse = initial_mesh([[0, 0, 1e-3, 1e-3]], [[0, 0, 1e-3, 1e-3]])
    >>> fine = refined(coarse, np.ones(coarse.n_triangles, bool))
    >>> x = coarse.points[:, 0]
    >>> bool(np.allclose(bisection_prolongation(coarse, fine) @ x, fine.points[:, 0]))
    True
    """
    return _midpoint_interpolation(coarse.n_nodes, midpoint_parents(coarse, fine))


def refined_to_size(mesh: Mesh, size_fn: Callable[[np.ndarray], np.ndarray],
                    max_triangles: int | None = None, max_rounds: int = MAX_ROUNDS,
                    steps: list | None = None) -> Mesh:
    """Bisect (NVB) until every triangle's diameter is at most the size asked at its centroid.

    Parameters
    ----------
    mesh : Mesh
        Labelled as for :func:`refined`.
    size_fn : callable
        ``size_fn(centroids (K, 2)) -> (K,)`` largest diameter (longest edge) allowed, in
        metres; ``inf`` where there is no bound. After the first round it is only asked about
        the triangles the last round created (a whole triangle's size is known already).
    max_triangles : int, optional
        Raise :class:`ValueError` rather than build a mesh with more triangles.
    max_rounds : int
        Raise :class:`ValueError` if the sizes are not met after this many rounds.
    steps : list, optional
        When given, each round appends ``(coarser mesh, node prolongation onto the next)``
        to it, coarsest first: the nested levels a multigrid solve on the result can use.

    Returns
    -------
    Mesh
        The refined mesh; ``mesh`` itself when it already meets the sizes.

    Raises
    ------
    ValueError
        If ``size_fn`` returns a size that is not positive (or NaN, or of the wrong shape), or
        when ``max_triangles`` or ``max_rounds`` would be exceeded.
    """
    changed = np.ones(mesh.n_triangles, bool)  # triangles not checked yet
    for _ in range(max_rounds):
        check = np.flatnonzero(changed)
        p = mesh.points[mesh.triangles[check]]
        size = np.asarray(size_fn(p.mean(axis=1)), float)
        if size.shape != check.shape:
            raise ValueError(f"size_fn returned shape {size.shape}, expected {check.shape}")
        if not (size > 0).all():  # NaN fails too
            raise ValueError("size_fn returned a size that is not positive: refinement would "
                             "never end")
        diameter = np.sqrt(((p[:, [1, 2, 0]] - p) ** 2).sum(axis=2).max(axis=1))
        too_big = np.zeros(mesh.n_triangles, bool)
        too_big[check[diameter > size]] = True
        if not too_big.any():
            return mesh
        coarser = mesh
        mesh, counts, parents = _bisected(mesh, too_big, max_triangles)
        if steps is not None:
            steps.append((coarser, _midpoint_interpolation(coarser.n_nodes, parents)))
        changed = np.repeat(counts > 1, counts)  # a triangle left whole keeps its size and bound
    raise ValueError(f"refined_to_size: sizes still not met after max_rounds={max_rounds} rounds "
                     f"({mesh.n_triangles} triangles)")


def red_children_cover(cover: sp.spmatrix) -> sp.csr_matrix:
    """The regions of a (M, R) cover on the red refinement of its mesh
    (:func:`refined_uniform`, four consecutive children per triangle): the same
    area on both levels, where the centroids of the finer triangles would move each region's
    edge by up to half a triangle."""
    return sp.kron(cover, np.ones((4, 1), bool)).tocsr()
