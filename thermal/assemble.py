"""Assembly of the layered steady system (SPEC.md §2) on one in-plane mesh.

Unknowns are ``θ = T − T_amb`` at the nodes of each layer's footprint, numbered layer by layer.
The matrix is the sum of

- the P1 stiffness of each layer with ``k·t`` (per triangle, from the block's own conductivity
  on power layers, or on any layer of a 3D stack that has a floorplan, where it gives one),
- the vertical coupling ``g`` between adjacent layers on the overlap of their footprints, and the
  convection ``g_amb`` on the bottom layer, both with the lumped (diagonal) mass matrix so that
  the system is an M-matrix; a block's own conductivity enters ``g`` too (per triangle: a TSV
  region conducts through its layer, not only along it),

and the load is each block's (or power-map rectangle's) power spread uniformly over its
rectangle on its layer (the power layer, or each block's own in a 3D stack).
The stiffness is gathered per edge (cotangent weights summed with ``np.bincount``), so every
entry is built from per-triangle arrays and the matrix comes from one COO → CSR conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .layers import between, to_ambient
from .layers import half_resistance as _half_resistance
from .mesh import Mesh


@dataclass(frozen=True, eq=False)
class System:
    """An assembled steady problem ``A θ = b``.

    Attributes
    ----------
    matrix : (n, n) scipy.sparse.csr_matrix
        Symmetric positive definite.
    rhs : (n,) float64
        Heat input per DOF in W.
    node2dof : (L, N) int64
        DOF of node ``i`` on layer ``l``, -1 where the node is outside the layer's footprint.
    convection : (n,) float64
        ``g_amb`` times the lumped mass per DOF (W/K); zero except on the bottom layer.
        Heat out = ``convection @ θ``.
    tri_power_density : (M,) float64
        Power density of each triangle in W/m², summed over the power layers.
    """

    matrix: sp.csr_matrix
    rhs: np.ndarray
    node2dof: np.ndarray
    convection: np.ndarray
    tri_power_density: np.ndarray

    @property
    def n_dofs(self) -> int:
        return len(self.rhs)


def gradients(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P1 basis gradients (M, 3, 2) and triangle areas (M,)."""
    p = points[triangles]
    # gradient of the basis function of vertex i is rot90(opposite edge) / (2 area)
    opposite = p[:, [2, 0, 1]] - p[:, [1, 2, 0]]
    area = 0.5 * (opposite[:, 0, 0] * opposite[:, 1, 1] - opposite[:, 0, 1] * opposite[:, 1, 0])
    grad = np.stack([-opposite[..., 1], opposite[..., 0]], axis=-1) / (2 * area[:, None, None])
    return grad, area


def edge_weights(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M, 3) ``∫_T ∇φ_i·∇φ_j`` for the edge ``j`` of each triangle (local nodes j, j+1).

    This is ``−cot(θ)/2`` with θ the angle opposite the edge. The P1 stiffness of a piecewise
    constant coefficient ``c`` is then ``K_ij = Σ_T c_T w_T,ij`` off the diagonal and
    ``K_ii = −Σ_j K_ij`` on it (the basis functions sum to one).
    """
    x, y = points[:, 0][triangles], points[:, 1][triangles]  # (M, 3) each
    out = np.empty(triangles.shape)
    for j in range(3):  # edge j: nodes j, j+1; opposite vertex j+2
        i, k, o = j, (j + 1) % 3, (j + 2) % 3
        ux, uy, vx, vy = x[:, i] - x[:, o], y[:, i] - y[:, o], x[:, k] - x[:, o], y[:, k] - y[:, o]
        out[:, j] = (ux * vx + uy * vy) / np.abs(ux * vy - uy * vx)
    return -0.5 * out


def lumped_mass(mesh: Mesh, tri_mask: np.ndarray, weight: np.ndarray | None = None
                ) -> np.ndarray:
    """(N,) lumped mass ``Σ |T|/3`` over the masked triangles at each node, in m² (times a
    per-triangle ``weight`` (M,), e.g. a vertical conductance in W/(m² K), when given)."""
    area = mesh.areas if weight is None else mesh.areas * weight
    share = np.repeat(area[tri_mask] / 3.0, 3)
    return np.bincount(mesh.triangles[tri_mask].ravel(), share, minlength=mesh.n_nodes)


def half_resistance(layer, tri_conductivity: np.ndarray | None) -> np.ndarray | float:
    """``t / (2k)`` of a layer in m² K/W: per triangle where the layer's blocks give their own
    conductivity (``tri_conductivity``, (M,)), else the layer's."""
    k = layer.conductivity if tri_conductivity is None else tri_conductivity
    return _half_resistance(layer.thickness_m, k)


def block_power_density(mesh: Mesh, power_w: np.ndarray) -> np.ndarray:
    """(M,) power density per triangle in W/m²: each block's power over its own (snapped) area
    (:meth:`Mesh.tri_cover`), densities adding where blocks overlap, so that the total is
    exactly ``power_w.sum()``."""
    cover = mesh.tri_cover()
    block_area = cover.T @ mesh.areas
    density = np.divide(power_w, block_area, out=np.zeros(len(power_w)), where=block_area > 0)
    return cover @ density


def nodal_load(mesh: Mesh, power_w, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The power load of each node, W (N,), and the power density of each triangle, W/m² (M,),
    from the power spread over the triangles flagged in ``triangles`` (the power layer's).

    ``power_w`` is per block (:func:`block_power_density`: a triangle's density is its blocks',
    ``∫ q φ_j`` is ``q A / 3`` for each corner), or a power map as a
    :class:`thermal.raster_load.RasterPower`, integrated exactly on the triangles whatever the
    cells they cross.
    """
    from .raster_load import RasterPower

    tri = mesh.triangles[triangles]
    density = np.zeros(mesh.n_triangles)
    if isinstance(power_w, RasterPower):
        loads = power_w.triangle_loads(mesh.points, tri)                 # (m, 3)
        density[triangles] = loads.sum(axis=1) / mesh.areas[triangles]
    else:
        density = np.where(triangles, block_power_density(mesh, np.asarray(power_w, float)), 0.0)
        loads = np.repeat((density[triangles] * mesh.areas[triangles] / 3)[:, None], 3, axis=1)
    return np.bincount(tri.ravel(), loads.ravel(), minlength=mesh.n_nodes), density


def dof_numbering(mesh: Mesh, n_layers: int) -> np.ndarray:
    """(L, N) unknown of each node on each layer, layer by layer; -1 outside the footprint."""
    node2dof = np.full((n_layers, mesh.n_nodes), -1, dtype=np.int64)
    offset = 0
    for l in range(n_layers):
        used = np.zeros(mesh.n_nodes, bool)
        used[mesh.triangles[mesh.tri_in_layer[l]].ravel()] = True
        node2dof[l, used] = offset + np.arange(used.sum())
        offset += int(used.sum())
    return node2dof


def layer_block_of_tri(mesh: Mesh, blocks: np.ndarray) -> np.ndarray:
    """(M,) the last of ``blocks`` (indices into the mesh's blocks) covering each triangle, -1
    where none does: :attr:`Mesh.block_of_tri` among one layer's blocks."""
    coo = mesh.cover[:, blocks].tocoo()
    last = np.full(mesh.cover.shape[0], -1, dtype=np.int64)
    np.maximum.at(last, coo.row, np.asarray(blocks, dtype=np.int64)[coo.col])
    return last[mesh.root_of_tri]


def layer_groups(block_layer: np.ndarray | None, n_blocks: int, default: int
                 ) -> list[tuple[int, np.ndarray | None]]:
    """``(layer, blocks)`` for each layer that has blocks; ``blocks`` is None when that layer
    has every block (the one-floorplan case, kept on the mesh's own arrays)."""
    if block_layer is None:
        return [(int(default), None)]
    block_layer = np.asarray(block_layer)
    layers = np.unique(block_layer)
    if len(layers) == 1:
        return [(int(layers[0]), None)]
    return [(int(l), np.flatnonzero(block_layer == l)) for l in layers]


def assemble(mesh: Mesh, stack, power_w: np.ndarray, block_conductivity: np.ndarray | None = None,
             die_bounds=None, block_layer: np.ndarray | None = None) -> System:
    """Assemble the steady layered system.

    Parameters
    ----------
    mesh : Mesh
        Conforming mesh; ``mesh.layer_rects`` holds each layer's footprint.
    stack : Stack
        Layers top to bottom, convection and power layers.
    power_w : (B,) float or RasterPower
        Block powers in W, floorplan order; or a power map
        (:meth:`thermal.power.PowerMap.raster_on`).
    block_conductivity : (B,) float, optional
        Per-block conductivity of the power layer in W/(m K); NaN keeps the layer's own.
    die_bounds : tuple, optional
        (x0, y0, x1, y1) of the die, for the convection coefficient; default: layer 0's footprint.
    block_layer : (B,) int, optional
        Stack layer of each block (:attr:`thermal.layered.LayeredFloorplan.block_layer`): its
        power and its conductivity go to that layer. Default: every block on the stack's first
        power layer.

    Returns
    -------
    System
    """
    layers = stack.layers
    n_layers = len(layers)
    in_layer = mesh.tri_in_layer
    die_bounds = tuple(mesh.layer_rects[0]) if die_bounds is None else die_bounds
    node2dof = dof_numbering(mesh, n_layers)
    offset = int(node2dof.max()) + 1
    edges, tri2edge = mesh.edge_index
    weights = edge_weights(mesh.points, mesh.triangles)
    diagonal = np.zeros(offset)
    rows, cols, vals = [], [], []
    groups = layer_groups(block_layer, mesh.cover.shape[1], stack.power_layers[0])
    own_blocks = dict(groups)
    tri_k: dict[int, np.ndarray] = {}   # per-triangle conductivity of layers with block materials
    for l, layer in enumerate(layers):
        mask = in_layer[l]
        coeff = np.where(mask, layer.conductivity * layer.thickness_m, 0.0)
        if block_conductivity is not None and (l in own_blocks if block_layer is not None
                                               else l in stack.power_layers):
            blocks = own_blocks.get(l)
            blk = mesh.block_of_tri if blocks is None else layer_block_of_tri(mesh, blocks)
            own = np.where(blk >= 0, block_conductivity[np.maximum(blk, 0)], np.nan)
            coeff = np.where(mask & ~np.isnan(own), own * layer.thickness_m, coeff)
            if (mask & ~np.isnan(own)).any():
                tri_k[l] = np.where(np.isnan(own), layer.conductivity, own)
        edge_k = np.bincount(tri2edge.ravel(), (weights * coeff[:, None]).ravel(),
                             minlength=len(edges))
        on = np.bincount(tri2edge[mask].ravel(), minlength=len(edges)) > 0
        a, b, w = node2dof[l, edges[on, 0]], node2dof[l, edges[on, 1]], edge_k[on]
        rows += [a, b]
        cols += [b, a]
        vals += [w, w]
        diagonal -= np.bincount(np.r_[a, b], np.r_[w, w], minlength=offset)
    for l in range(n_layers - 1):
        if l in tri_k or l + 1 in tri_k:  # a block's own conductivity, vertically too
            g = between(half_resistance(layers[l], tri_k.get(l)),
                        half_resistance(layers[l + 1], tri_k.get(l + 1)))
            m = lumped_mass(mesh, in_layer[l] & in_layer[l + 1], g)
        else:
            m = lumped_mass(mesh, in_layer[l] & in_layer[l + 1]) * stack.g_between(l, l + 1)
        nodes = np.nonzero(m)[0]
        a, b, w = node2dof[l, nodes], node2dof[l + 1, nodes], m[nodes]
        diagonal[a] += w
        diagonal[b] += w
        rows += [a, b]
        cols += [b, a]
        vals += [-w, -w]
    bottom = n_layers - 1
    if bottom in tri_k:
        g = to_ambient(half_resistance(layers[bottom], tri_k[bottom]), stack.h_bottom(die_bounds))
        m = lumped_mass(mesh, in_layer[bottom], g)
    else:
        m = lumped_mass(mesh, in_layer[bottom]) * stack.g_ambient(die_bounds)
    nodes = np.nonzero(m)[0]
    convection = np.zeros(offset)
    convection[node2dof[bottom, nodes]] = m[nodes]
    diagonal += convection
    everything = np.arange(offset)
    matrix = sp.coo_matrix((np.concatenate(vals + [diagonal]),
                            (np.concatenate(rows + [everything]), np.concatenate(cols + [everything]))),
                           shape=(offset, offset)).tocsr()
    rhs = np.zeros(offset)
    density = np.zeros(mesh.n_triangles)
    for l, blocks in groups:
        layer_power = power_w
        if blocks is not None:
            layer_power = np.zeros(len(power_w))
            layer_power[blocks] = np.asarray(power_w, float)[blocks]
        load, layer_density = nodal_load(mesh, layer_power, in_layer[l])
        density = density + layer_density
        used = node2dof[l] >= 0
        rhs[node2dof[l, used]] += load[used]
    return System(matrix=matrix, rhs=rhs, node2dof=node2dof, convection=convection,
                  tri_power_density=density)
