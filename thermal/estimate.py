"""A-posteriori error estimate by a two-level (hierarchical) comparison.

A P1 solution ``θ_H`` on a mesh is compared with the solution ``θ_h`` on its red refinement
(every triangle split into four through its edge midpoints; the same space as P2 on the coarse
mesh, so this is the "exact" hierarchical-basis estimator, solved globally rather than edge by
edge). The difference ``θ_h − I θ_H`` says where the coarse mesh falls short (marking), and
the change of every block's max and mean between the two levels bounds the error of the finer
one:

    error(θ_h) ≈ change / (r − 1),

with ``r`` the ratio by which a red refinement divides the error: 4 for P1 once h² holds, less
before (:data:`MEAN_RATIO`, :data:`MAX_RATIO`). A block's max error is bounded by the largest
pointwise change on the block, its mean error by the change of its mean.

Why not a local estimator: an edge-bubble (Bank–Smith) estimate with per-edge layer-coupled
solves was measured on ev6 at 1.8k–109k DOFs: its block-max effectivity was 0.00–0.31 and
block-mean 0.01–0.76 — it sees the interpolation error inside triangles but not the nodal error,
which dominates block maxima of the layered problem. The two-level estimate needs one more solve
on four times the unknowns (cheap with the nested multigrid) and measures both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .mesh import Mesh
from .refine import red_children_cover
from .fields import layer_block_stats

MEAN_RATIO = 2.0
"""Error reduction of a red refinement assumed for block means (4 asymptotically for P1; 2
keeps the estimate above the true error on adapted meshes, where the reduction was measured
as low as 2 on ev6)."""

MAX_RATIO = 4.0
"""The asymptotic ratio, applied to the largest pointwise change on a block (already an upper
bound of the change of its max)."""


@dataclass(frozen=True, eq=False)
class ErrorEstimate:
    """Estimated error of the fine solution of a two-level pair.

    Attributes
    ----------
    tri_indicator : (M_coarse,) float
        Largest |θ_h − I θ_H| (K) at the nodes of each coarse triangle's four children, over all
        layers: where the coarse mesh is too coarse.
    block_max, block_mean : (B,) float
        Estimated error (K) of each block's max and mean on its layer, fine solution.
    peak : float
        Estimated error of the peak temperature (K).
    rect_max, rect_mean : (R,) float
        The same for the critical rectangles (:mod:`thermal.critical`), if any.
    """

    tri_indicator: np.ndarray
    block_max: np.ndarray
    block_mean: np.ndarray
    peak: float
    rect_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rect_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def value(self) -> float:
        """The largest estimated error of any block's max or mean, or of the peak (K)."""
        return float(np.nanmax(np.r_[self.block_max, self.block_mean, self.peak]))


def two_level_estimate(coarse: Mesh, theta_coarse: np.ndarray, fine: Mesh, theta_fine: np.ndarray,
                       prolongation, power_layer: int = 0, rect_cover: sp.spmatrix | None = None,
                       block_layer: np.ndarray | None = None) -> ErrorEstimate:
    """Compare a solution with the one on the red refinement of its mesh.

    Parameters
    ----------
    coarse, fine : Mesh
        ``fine = refined_uniform(coarse)`` (coarse nodes first, then edge midpoints).
    theta_coarse : (L, N_coarse), theta_fine : (L, N_fine)
        Nodal temperature rise per layer, NaN outside footprints.
    prolongation : (N_fine, N_coarse) sparse
        :func:`thermal.refine.node_prolongation` of ``coarse``.
    power_layer : int
        Layer whose block values are estimated.
    rect_cover : (M_coarse, R) sparse, optional
        Critical rectangles, as the coarse triangles in each
        (:func:`thermal.critical.rect_cover`), whose max and mean are estimated too (on
        ``power_layer``).
    block_layer : (B,) int, optional
        Stack layer of each block, whose max and mean are estimated there; default: every
        block on ``power_layer``.

    Returns
    -------
    ErrorEstimate
    """
    interpolated = (prolongation @ np.nan_to_num(theta_coarse).T).T
    # only where a layer has the fine node: a midpoint just outside a footprint (a die edge
    # above a larger spreader) would compare "nothing" with half the edge node's rise, a change
    # of ~14 K on ev6 that drew the marking off the die
    change = np.nan_to_num(np.abs(theta_fine - interpolated))                # (L, N_fine)
    _, tri2edge = coarse.edge_index
    n = coarse.n_nodes
    nodes = np.c_[coarse.triangles, tri2edge + n]                            # the 6 fine nodes
    tri_indicator = change.max(axis=0)[nodes].max(axis=1)

    def region_errors(cover_coarse, cover_fine, layers=None):
        hi_c, mean_c, _ = layer_block_stats(coarse, theta_coarse, layers, power_layer, cover_coarse)
        hi_f, mean_f, _ = layer_block_stats(fine, theta_fine, layers, power_layer, cover_fine)
        # A block's max is a point value whose location moves between levels, so the change of
        # the max alone can vanish by chance; the largest pointwise change on the block bounds
        # it from above but can be far larger. The estimate takes the larger of the two.
        sup_change, _, _ = layer_block_stats(fine, change, layers, power_layer, cover_fine)
        return (np.maximum(np.abs(hi_f - hi_c) / (MEAN_RATIO - 1.0), sup_change / (MAX_RATIO - 1.0)),
                np.abs(mean_f - mean_c) / (MEAN_RATIO - 1.0))

    block_max, block_mean = region_errors(None, None, block_layer)
    rect_max = rect_mean = np.zeros(0)
    if rect_cover is not None and rect_cover.shape[1]:
        rect_max, rect_mean = region_errors(rect_cover, red_children_cover(rect_cover))
    peak_change = abs(np.nanmax(theta_fine) - np.nanmax(theta_coarse))
    return ErrorEstimate(tri_indicator=tri_indicator, block_max=block_max, block_mean=block_mean,
                         peak=peak_change / (MEAN_RATIO - 1.0), rect_max=rect_max,
                         rect_mean=rect_mean)

