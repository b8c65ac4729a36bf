"""Mesh refinement.

:func:`refined_uniform` splits every triangle into four similar ones through its edge midpoints
("red" refinement): the mesh stays conforming, every angle is kept exactly, and each child keeps
its parent's block and root triangle, so block membership and layer footprints are exact at every
level.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .mesh import Mesh


def tri_edges(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Unique edges and, for each triangle, the index of its three edges.

    Returns
    -------
    edges : (E, 2) int64
        Node pairs, low index first.
    tri2edge : (M, 3) int64
        Edge ``j`` of triangle ``t`` joins its local nodes ``j`` and ``(j + 1) % 3``.
    """
    t = mesh.triangles
    pairs = np.sort(np.stack([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]], axis=1), axis=2)
    edges, tri2edge = np.unique(pairs.reshape(-1, 2), axis=0, return_inverse=True)
    return edges, tri2edge.reshape(-1, 3)


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
