"""Temperature fields of one mesh: assemble, solve and check one steady system
(:func:`steady_field`), and the per-block statistics every strategy reports (:func:`block_stats`).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .assemble import System, assemble
from .errors import SolverError
from .linear import check_memory, solve_linear
from .mesh import Mesh

ENERGY_LIMIT = 1e-9
"""Largest accepted |power in − heat out| / power in."""


def layer_fields(system: System, theta: np.ndarray) -> np.ndarray:
    """(L, N) nodal ``θ`` per layer, NaN outside each layer's footprint."""
    out = np.full(system.node2dof.shape, np.nan)
    used = system.node2dof >= 0
    out[used] = theta[system.node2dof[used]]
    return out


def block_stats(mesh: Mesh, field: np.ndarray, cover: sp.spmatrix | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max, mean and min of a P1 field over each block (or each region of ``cover``).

    The max and min are the P1 field's own (attained at nodes); the mean is the exact integral
    of the P1 field over the block divided by the block's area.

    Parameters
    ----------
    mesh : Mesh
    field : (N,) nodal values (finite on every node of a triangle covered by a block)
    cover : (M, R) sparse, optional
        Which triangles make up each region; default ``mesh.tri_cover()``, the blocks.

    Returns
    -------
    max, mean, min : (B,) arrays, NaN for a block with no triangle.
    """
    cover = (mesh.tri_cover() if cover is None else cover).tocoo()
    tri, blk = cover.row, cover.col
    n_blocks = cover.shape[1]
    vals = field[mesh.triangles]
    hi = np.full(n_blocks, -np.inf)
    lo = np.full(n_blocks, np.inf)
    np.maximum.at(hi, blk, vals.max(axis=1)[tri])
    np.minimum.at(lo, blk, vals.min(axis=1)[tri])
    area = mesh.areas[tri]
    total = np.bincount(blk, area, minlength=n_blocks)
    integral = np.bincount(blk, area * vals.mean(axis=1)[tri], minlength=n_blocks)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = integral / total
    hi[~np.isfinite(hi)] = np.nan
    lo[~np.isfinite(lo)] = np.nan
    return hi, mean, lo


def layer_block_stats(mesh: Mesh, theta: np.ndarray, block_layer: np.ndarray | None,
                      default_layer: int = 0, cover: sp.spmatrix | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`block_stats` of each block on its own layer.

    Parameters
    ----------
    theta : (L, N)
        Nodal field per layer.
    block_layer : (B,) int or None
        Stack layer of each block; None: every block on ``default_layer``.
    cover : (M, B) sparse, optional
        Default ``mesh.tri_cover()``.
    """
    from .assemble import layer_groups

    cover = mesh.tri_cover() if cover is None else cover
    groups = layer_groups(block_layer, cover.shape[1], default_layer)
    if groups[0][1] is None:
        return block_stats(mesh, theta[groups[0][0]], cover)
    cover = sp.csc_matrix(cover)
    out = tuple(np.full(cover.shape[1], np.nan) for _ in range(3))
    for l, blocks in groups:
        for o, v in zip(out, block_stats(mesh, theta[l], cover[:, blocks])):
            o[blocks] = v
    return out


def steady_field(mesh: Mesh, stack, power_w: np.ndarray, block_conductivity=None,
                 die_bounds=None, x0: np.ndarray | None = None, method: str = "auto",
                 coarse: list | None = None, block_layer: np.ndarray | None = None):
    """Assemble and solve one mesh; check the heat balance.

    Parameters
    ----------
    x0 : (L, N), optional
        Initial guess per layer (NaN outside footprints is ignored).
    method, coarse
        See :func:`solve_linear`.
    block_layer : (B,) int, optional
        Stack layer of each block (:func:`thermal.assemble.assemble`).

    Returns
    -------
    theta : (L, N) temperature rise per layer (NaN outside footprints)
    info : dict
        ``dofs``, ``energy_balance_rel``, linear solver info, ``assemble_s``, ``solve_s``.
    system : System
    """
    t0 = time.perf_counter()
    check_memory(mesh.n_nodes * len(stack.layers))
    system = assemble(mesh, stack, power_w, block_conductivity, die_bounds, block_layer)
    t1 = time.perf_counter()
    guess = None
    if x0 is not None:
        used = system.node2dof >= 0
        guess = np.zeros(system.n_dofs)
        guess[system.node2dof[used]] = np.nan_to_num(x0[used])
    theta, info = solve_linear(system.matrix, system.rhs, guess, method, coarse=coarse)
    t2 = time.perf_counter()
    power_in = float(system.rhs.sum())
    heat_out = float(system.convection @ theta)
    balance = abs(power_in - heat_out) / power_in if power_in > 0 else abs(heat_out)
    if balance > ENERGY_LIMIT:
        raise SolverError(f"energy balance violated: power in {power_in:.6g} W, heat out "
                          f"{heat_out:.6g} W (relative {balance:.1e})")
    info.update(dofs=system.n_dofs, energy_balance_rel=balance, power_w=power_in,
                assemble_s=t1 - t0, solve_s=t2 - t1)
    return layer_fields(system, theta), info, system
