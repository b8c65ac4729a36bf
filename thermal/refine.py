"""Mesh refinement.

:func:`refined_uniform` splits every triangle into four similar ones through its edge midpoints
("red" refinement): the mesh stays conforming, every angle is kept exactly, and each child keeps
its parent's block and root triangle, so block membership and layer footprints are exact at every
level.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from .mesh import Mesh


def tri_edges(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Unique edges (E, 2), low node first, and each triangle's three edges (M, 3).

    Edge ``j`` of triangle ``t`` joins its local nodes ``j`` and ``(j + 1) % 3``.
    """
    return mesh.edge_index


def node_prolongation(mesh: Mesh) -> sp.csr_matrix:
    """(N + E, N) linear interpolation from ``mesh`` to ``refined_uniform(mesh)``.

    Old nodes keep their value; each edge midpoint gets the mean of the edge's ends. It is exact
    for P1 fields, so it is also the multigrid prolongation between the two levels.
    """
    edges, _ = tri_edges(mesh)
    n, e = mesh.n_nodes, len(edges)
    indptr = np.r_[np.arange(n + 1), n + 2 * np.arange(1, e + 1)]
    return sp.csr_matrix((np.r_[np.ones(n), np.full(2 * e, 0.5)], np.r_[np.arange(n), edges.ravel()],
                          indptr), shape=(n + e, n))


def refined_uniform(mesh: Mesh) -> Mesh:
    """Red refinement: each triangle becomes four, the mesh size halves.

    Parameters
    ----------
    mesh : Mesh

    Returns
    -------
    Mesh
        The refined mesh: ``4 M`` triangles, ``N + E`` nodes (old nodes keep their indices).
    """
    edges, tri2edge = tri_edges(mesh)
    n = mesh.n_nodes
    points = np.r_[mesh.points, 0.5 * (mesh.points[edges[:, 0]] + mesh.points[edges[:, 1]])]
    a, b, c = mesh.triangles.T
    ab, bc, ca = (tri2edge + n).T
    children = np.stack([np.c_[a, ab, ca], np.c_[ab, b, bc], np.c_[ca, bc, c], np.c_[ab, bc, ca]],
                        axis=1).reshape(-1, 3)
    return dataclasses.replace(
        mesh, points=points, triangles=children,
        block_of_tri=np.repeat(mesh.block_of_tri, 4), root_of_tri=np.repeat(mesh.root_of_tri, 4))
