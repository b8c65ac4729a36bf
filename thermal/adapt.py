"""The adaptive loop: solve → estimate → mark (Dörfler) → refine (newest-vertex bisection).

Each round solves on the current mesh and on its red refinement (the second solve starts from
the first and uses it as its multigrid coarse level), compares the two
(:func:`thermal.estimate.two_level_estimate`), and stops when every block's max and mean — with
a tighter tolerance on critical blocks — is estimated within tolerance. The answer is the finer
solution of the last round. Otherwise the triangles holding the largest share of the error are
bisected and the next round starts from the interpolated solution.

The estimator strategy marks, in a block over its tolerance, the triangles with at least half
its largest indicator, and bisects each marked triangle once per round. A predicted mesh is
meant to be nearly right, and a block it leaves over its tolerance is mostly too coarse over
much of its area, so its corrections (``scaled=True``) mark down to a tenth
(:data:`CORRECTION_BLOCK_FRACTION`), and may bisect each marked triangle as often as its excess
over the tolerance asks (:func:`correction_bisections`, up to :data:`MAX_BISECTIONS`, which the
validation set put at 1). The whole marking rule is :func:`mark`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .assemble import dof_numbering
from .estimate import MAX_RATIO, ErrorEstimate, two_level_estimate
from .mesh import Mesh
from .refine import (bisection_prolongation, node_prolongation, refined, refined_times,
                     refined_uniform, with_longest_edge_first)
from .fields import steady_field
from .linear import dof_prolongation

DORFLER = 0.5
"""Dörfler parameter: mark the fewest triangles holding this fraction of the squared excess."""

COARSEN_RATIO = 0.85
"""A multigrid level is kept only if it has at most this fraction of the next finer one's unknowns.

Between kept levels a triangle may have been bisected several times, and a smoothing sweep
cannot bridge that local jump in h: with 0.5 GMG-CG took 20-31 iterations on ev6's predicted
meshes, against 10-11 on uniform levels. Keeping every level restores 10-11 but a V-cycle then
visits many levels of nearly the same size. Side by side on ev6 (two stacks) and four generated
validation cases (total of the best of two runs each): ml 14.7 s at 0.5, 14.1 s at 0.7, 12.9 s
at 0.85, 16.0 s keeping all; the estimator loop 26.3 s at 0.5, 24.1 s at 0.85."""


@dataclass
class Adapted:
    """The result of :func:`adaptive_solve`: the finer mesh and field of the last round."""

    mesh: Mesh
    theta: np.ndarray
    estimate: ErrorEstimate
    coarse_mesh: Mesh
    coarse_theta: np.ndarray
    info: dict
    history: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def marked_dorfler(indicator: np.ndarray, target: np.ndarray, theta: float = DORFLER) -> np.ndarray:
    """Fewest triangles whose squared excess ``(indicator / target)²`` (counting only where it
    is above 1) holds the fraction ``theta`` of the total: bool mask (M,)."""
    excess = np.where(indicator > target, (indicator / target) ** 2, 0.0)
    total = excess.sum()
    marked = np.zeros(len(indicator), bool)
    if total == 0:
        return marked
    order = np.argsort(-excess, kind="stable")
    count = int(np.searchsorted(np.cumsum(excess[order]), theta * total)) + 1
    marked[order[:count]] = True
    return marked


MAX_BISECTIONS = 1
"""The most bisections one scaled correction (:func:`correction_bisections`) gives a triangle
(1: bisect each marked triangle once, as the estimator loop does).
``python benchmarks/size_safety.py --cases 36 --factors 1.7 --bisections 1 4 --block-fraction
0.5 0.1`` (36 generated validation cases, ml at 0.1 K, side by side;
``benchmarks/results/size_safety.md``): marking a tenth of a block's largest indicator
(:data:`CORRECTION_BLOCK_FRACTION`), one bisection takes 102 solves and 21.4 s in all and up to
4 take 102 and 24.9 s (more DOFs, at most 3 corrections against 2; worst true error 0.081
against 0.079 K); marking half, up to 4 took 106 solves and 25.4 s against one bisection's 112
and 28.3 s. Broad marking does what deep bisection did, at fewer DOFs. With a spreader 1.5–3x
the die (``--package``, 12 cases, block fraction 0.1) 1 / 4 bisections: 38 / 36 solves, 7.7 /
7.9 s."""


def correction_bisections(indicator: np.ndarray, target: np.ndarray, marked: np.ndarray,
                          region_excess: np.ndarray | None = None,
                          most: int = MAX_BISECTIONS) -> np.ndarray:
    """Bisections each marked triangle needs for its error to reach its target in one round.

    A triangle's error in the finer solution is estimated as its indicator over
    ``MAX_RATIO − 1`` (as a block max is), and each bisection halves the area and so, for P1,
    the error: ``ceil(log2(excess))`` with ``excess = indicator / ((MAX_RATIO − 1) · target)``,
    or the excess of the region the triangle lies in if larger.

    Parameters
    ----------
    indicator, target : (M,) float
        Each triangle's indicator and error target (K).
    marked : (M,) bool
        The triangles to bisect.
    region_excess : (M,) float, optional
        The estimate over the tolerance of the block or critical rectangle each triangle lies
        in (its largest); NaN counts as no excess.
    most : int
        The most bisections of one triangle (default :data:`MAX_BISECTIONS`).

    Returns
    -------
    (M,) int
        At least 1 and at most ``most`` on a marked triangle, 0 elsewhere.
    """
    excess = indicator / ((MAX_RATIO - 1.0) * target)
    if region_excess is not None:
        excess = np.fmax(excess, region_excess)
    needed = np.ceil(np.log2(np.maximum(np.nan_to_num(excess), 1.0)))
    return np.where(marked, np.clip(needed, 1, most), 0).astype(np.int64)


BLOCK_FRACTION = 0.5
"""In a block still over its tolerance, triangles whose indicator is at least this fraction of
the block's largest are marked too."""


CORRECTION_BLOCK_FRACTION = 0.1
""":data:`BLOCK_FRACTION` in a scaled correction (a predicted mesh's): a block a predicted mesh
leaves over its tolerance is mostly too coarse over much of its area, not only where the
indicator peaks. ``benchmarks/results/size_safety.md`` (36 generated validation cases, ml at
0.1 K, side by side): at the shipped one bisection, 0.5 / 0.1 took 112 / 102 solves and
28.3 / 21.4 s in all, worst true error 0.071 / 0.081 K; at 4 bisections 0.5 / 0.25 / 0.1 took
106 / 104 / 102 solves and 23.8 / 22.4 / 21.5 s, and 0.03 and 0 took 102 solves too with more
DOFs. With a spreader 1.5-3x the die (``--package``, 12 cases, 4 bisections) 0.5 / 0.1: 40 / 36
solves, 9.1 / 7.1 s."""


def marked_in_regions(cover, indicator: np.ndarray, over: np.ndarray,
                      fraction: float = BLOCK_FRACTION) -> np.ndarray:
    """:func:`marked_in_blocks` for regions given by a (M, R) sparse ``cover``."""
    cover = cover.tocoo()
    tri, region = cover.row, cover.col
    keep = over[region]
    tri, region = tri[keep], region[keep]
    marked = np.zeros(len(indicator), bool)
    if tri.size:
        largest = np.zeros(len(over))
        np.maximum.at(largest, region, indicator[tri])
        marked[tri[indicator[tri] >= fraction * largest[region]]] = True
    return marked


def marked_in_blocks(mesh: Mesh, indicator: np.ndarray, over: np.ndarray,
                     fraction: float = BLOCK_FRACTION) -> np.ndarray:
    """Triangles of the blocks flagged in ``over`` (B,) whose indicator is at least
    ``fraction`` of their block's largest: bool mask (M,).

    Dörfler marking alone follows the largest pointwise changes, which can lie elsewhere (the
    coarse spreader and sink around the die) while a block's max, estimated from the change of
    the max, stays above tolerance: on ev6 with HotSpot's default package the estimate stalled
    at 0.144 K for 10 rounds until this was added.
    """
    return marked_in_regions(own_block_cover(mesh, len(over)), indicator, over, fraction)


def own_block_cover(mesh: Mesh, n_blocks: int) -> sp.csr_matrix:
    """(M, B) 0/1 matrix: each triangle in its own block (:attr:`Mesh.block_of_tri`, the last of
    overlapping blocks), none for a triangle outside every block."""
    tri = np.flatnonzero(mesh.block_of_tri >= 0)
    return sp.csr_matrix((np.ones(len(tri), bool), (tri, mesh.block_of_tri[tri])),
                         shape=(mesh.n_triangles, n_blocks))


@dataclass(frozen=True)
class Regions:
    """Regions (blocks, critical rectangles) held to their own tolerance, for :func:`mark`.

    Attributes
    ----------
    cover : (M, R) sparse
        The triangles in each region: a triangle's error target is the tightest tolerance of
        the regions it lies in.
    tolerance : (R,) float
        Each region's tolerance, K.
    over : (R,) float
        Each region's estimated error over its tolerance (over 1: not yet within it).
    own : (M, R) sparse, optional
        The triangles whose indicator is compared with their region's largest (default
        ``cover``; the estimator loop gives each triangle of a one-layer floorplan only its
        own block, :func:`own_block_cover`).
    """

    cover: sp.spmatrix
    tolerance: np.ndarray
    over: np.ndarray
    own: sp.spmatrix | None = None


class Marking(NamedTuple):
    """What :func:`mark` returns: the triangles to bisect and each one's error target."""

    mask: np.ndarray
    target: np.ndarray


def mark(indicator: np.ndarray, tolerance: float, regions=(),
           fraction: float | None = BLOCK_FRACTION, theta: float | None = DORFLER,
           above: float | None = 2.0) -> Marking:
    """The marking rule: which triangles to bisect, from their error indicators.

    Each triangle's target is ``tolerance``, or the tightest tolerance of the ``regions`` it
    lies in; while any region is over its tolerance every target is at most that region's.
    A triangle is marked when any of these holds:

    * it lies in a region over its tolerance and its indicator is at least ``fraction`` of the
      region's largest (:func:`marked_in_regions`);
    * it is among the fewest triangles holding the fraction ``theta`` of the squared excess
      over the targets (Dörfler, :func:`marked_dorfler`);
    * its indicator is over ``above`` times its target.

    A rule given as None is left out (the oracle benchmark compares them one by one).

    Parameters
    ----------
    indicator : (M,) float
        Each triangle's error indicator, K.
    tolerance : float
        The global tolerance, K.
    regions : sequence of Regions
        Blocks and critical rectangles with their own tolerances and estimates.
    fraction, theta, above : float or None
        The three rules' parameters (defaults: :data:`BLOCK_FRACTION`, :data:`DORFLER`, 2).

    Returns
    -------
    Marking
        ``mask`` (M,) bool, ``target`` (M,) float K.
    """
    indicator = np.asarray(indicator, dtype=np.float64)
    target = np.full(len(indicator), float(tolerance))
    mask = np.zeros(len(indicator), bool)
    still_over = []
    for region in regions:
        over = np.asarray(region.over) > 1
        r = region.cover.tocoo()
        np.minimum.at(target, r.row, np.asarray(region.tolerance, dtype=np.float64)[r.col])
        if fraction is not None:
            own = region.cover if region.own is None else region.own
            mask |= marked_in_regions(own, indicator, over, fraction)
        still_over.append(np.asarray(region.tolerance, dtype=np.float64)[over])
    # a region's mean also moves with the error elsewhere (the level of the whole field):
    # while a region is over its tolerance, hold every triangle to it
    still_over = np.concatenate(still_over) if still_over else np.zeros(0)
    if still_over.size:
        target = np.minimum(target, still_over.min())
    if theta is not None:
        mask |= marked_dorfler(indicator, target, theta)
    if above is not None:
        mask |= indicator > above * target
    return Marking(mask=mask, target=target)


def adaptive_solve(mesh: Mesh, stack, power_w: np.ndarray, block_tolerance: np.ndarray,
                   tolerance: float, block_conductivity=None, die_bounds=None,
                   max_dofs: int = 8_000_000, progress=None, steps: list | None = None,
                   rects: np.ndarray | None = None, rect_tolerance: np.ndarray | None = None,
                   scaled: bool = False, block_layer: np.ndarray | None = None,
                   options=None) -> Adapted:
    """Refine ``mesh`` adaptively until every block's estimated error is within its tolerance.

    Parameters
    ----------
    mesh : Mesh
        Initial mesh.
    stack, power_w, block_conductivity, die_bounds
        As for :func:`thermal.assemble.assemble`.
    block_tolerance : (B,) float
        Target error of each block's max and mean, K (tighter on critical blocks).
    tolerance : float
        Target error of the peak, K.
    max_dofs : int
        Stop before the fine solve of a round would pass this many unknowns.
    progress : callable, optional
        Called with a dict after every round.
    steps : list, optional
        The nested meshes ``mesh`` was bisected from, as recorded by
        :func:`thermal.refine.refined_to_size`: the first solve's multigrid levels.
    rects, rect_tolerance : (R, 4), (R,), optional
        Critical rectangles (x0, y0, x1, y1) held to their own tolerance
        (:mod:`thermal.critical`).
    scaled : bool
        The correction of a predicted mesh, meant to be nearly right: mark blocks and critical
        rectangles over their tolerance down to :data:`CORRECTION_BLOCK_FRACTION`, and bisect
        each marked triangle as often as its indicator, or its block's or rectangle's estimate,
        asks (:func:`correction_bisections`, at most :data:`MAX_BISECTIONS` times). A round
        that would then outgrow ``max_dofs`` bisects once.
    block_layer : (B,) int, optional
        Stack layer of each block (a 3D stack's per-layer floorplans): its power and
        conductivity go there, and its max and mean are estimated there. Default: every block
        on the stack's first power layer.
    options : thermal.options.MeshingOptions, optional
        ``correction_block_fraction`` and ``max_bisections`` of the scaled corrections
        (default: :data:`CORRECTION_BLOCK_FRACTION`, :data:`MAX_BISECTIONS`).
    """
    correction_fraction = (CORRECTION_BLOCK_FRACTION if options is None
                           else options.correction_block_fraction)
    max_bisections = MAX_BISECTIONS if options is None else options.max_bisections
    from .critical import rect_cover

    rects = np.zeros((0, 4)) if rects is None else np.asarray(rects, float).reshape(-1, 4)
    rect_tolerance = np.zeros(0) if rect_tolerance is None else np.asarray(rect_tolerance, float)
    t_start = time.perf_counter()
    mesh = with_longest_edge_first(mesh)  # bisect longest edges first: angles stay ≥ ~21°
    n_layers = len(stack.layers)
    power_layer = stack.power_layers[0]
    guess, history = None, []
    timings = {"assemble": 0.0, "solve": 0.0, "estimate": 0.0, "mesh": 0.0}
    t = time.perf_counter()
    levels = _bisection_levels(mesh, steps, stack, power_w, block_conductivity, die_bounds,
                               block_layer)
    timings["mesh"] += time.perf_counter() - t

    def solved(m, x0, coarse):
        theta, info, system = steady_field(m, stack, power_w, block_conductivity, die_bounds,
                                           x0=x0, coarse=coarse, block_layer=block_layer)
        timings["assemble"] += info["assemble_s"]
        timings["solve"] += info["solve_s"]
        return theta, info, system

    while True:
        theta, info, system = solved(mesh, guess, levels)
        t = time.perf_counter()
        to_fine = node_prolongation(mesh)
        fine = refined_uniform(mesh)
        fine_levels = [(dof_prolongation(to_fine, dof_numbering(fine, n_layers), system.node2dof),
                        system.matrix)] + levels
        timings["mesh"] += time.perf_counter() - t
        theta_fine, info_fine, _ = solved(fine, (to_fine @ theta.T).T, fine_levels)
        t = time.perf_counter()
        in_rect = rect_cover(mesh, rects) if len(rects) else None
        est = two_level_estimate(mesh, theta, fine, theta_fine, to_fine, power_layer, in_rect,
                                 block_layer=block_layer)
        timings["estimate"] += time.perf_counter() - t
        over = np.maximum(est.block_max, est.block_mean) / block_tolerance
        rect_over = np.maximum(est.rect_max, est.rect_mean) / rect_tolerance
        history.append({"dofs": info_fine["dofs"], "coarse_dofs": info["dofs"],
                        "estimate_K": est.value,
                        "worst_ratio": float(np.nanmax(np.r_[over, rect_over, 0.0]))})
        if progress is not None:
            progress({"level": len(history) - 1, "dofs": info_fine["dofs"], "estimate_K": est.value,
                      "elapsed_s": time.perf_counter() - t_start})
        done = not (over > 1).any() and not (rect_over > 1).any() and est.peak <= tolerance
        if done or 4 * info_fine["dofs"] * 1.3 > max_dofs:
            return Adapted(mesh=fine, theta=theta_fine, estimate=est, coarse_mesh=mesh,
                           coarse_theta=theta, info=info_fine,
                           history=history, timings=timings)

        t = time.perf_counter()
        # a one-layer floorplan marks by each triangle's own block; blocks of several layers
        # overlap: each block's triangles from the cover
        regions = [Regions(mesh.tri_cover(), block_tolerance, over,
                           own_block_cover(mesh, len(over)) if block_layer is None else None)]
        if in_rect is not None:
            regions.append(Regions(in_rect, rect_tolerance, rect_over))
        marked, target = mark(est.tri_indicator, tolerance, regions,
                              correction_fraction if scaled else BLOCK_FRACTION)
        # one bisection each is what refined() does (max_bisections 1, the default)
        times = (_scaled_times(mesh, est.tri_indicator, target, marked, over, in_rect, rect_over,
                               info_fine["dofs"], max_dofs, max_bisections)
                 if scaled and max_bisections > 1 else None)
        if times is not None:
            new, to_new = refined_times(mesh, times)
        else:
            new = refined(mesh, marked)
            to_new = bisection_prolongation(mesh, new)
        guess = (to_new @ np.nan_to_num(theta).T).T
        step = dof_prolongation(to_new, dof_numbering(new, n_layers), system.node2dof)
        levels = _kept_levels([(step, system.matrix)] + levels, int(dof_numbering(new, n_layers).max()) + 1)
        mesh = new
        timings["mesh"] += time.perf_counter() - t


def _scaled_times(mesh: Mesh, indicator, target, marked, over, in_rect, rect_over,
                  fine_dofs: int, max_dofs: int, most: int) -> np.ndarray | None:
    """A scaled correction's bisections per triangle (:func:`correction_bisections`), from the
    excess of the block (``over``) and critical rectangles (``in_rect``, ``rect_over``) each
    triangle lies in; None (bisect once) if the next red refinement, at ``fine_dofs`` per
    ``mesh.n_triangles`` now, would outgrow ``max_dofs`` (2^n children a triangle, the closure
    not counted)."""
    region_excess = np.where(mesh.block_of_tri >= 0, over[np.maximum(mesh.block_of_tri, 0)], 0.0)
    if in_rect is not None:
        r = in_rect.tocoo()
        np.fmax.at(region_excess, r.row, rect_over[r.col])
    times = correction_bisections(indicator, target, marked, region_excess, most)
    triangles = mesh.n_triangles + float((2.0 ** times - 1.0).sum())
    if fine_dofs * triangles / mesh.n_triangles * 1.3 > max_dofs:
        return None
    return times


def _kept(size: int, last_kept: int, coarsest: bool) -> bool:
    """The rule of both level walks: a level is kept when it has at most :data:`COARSEN_RATIO`
    of the last kept level's size, and the coarsest always."""
    return coarsest or size <= COARSEN_RATIO * last_kept


def _bisection_levels(mesh: Mesh, steps, stack, power_w, block_conductivity, die_bounds,
                      block_layer=None) -> list:
    """Multigrid levels (finest first) for a solve on ``mesh`` from the meshes it was bisected
    from (``steps``, coarsest first, each with its node prolongation onto the next).

    Walking from the finest, a mesh becomes a level once it has at most :data:`COARSEN_RATIO`
    of the last level's nodes (the prolongations in between are multiplied); each level's
    system is assembled on its own mesh. Below ``COARSEST_DOFS`` unknowns the rest is dropped:
    that level is factorised.
    """
    from .assemble import assemble
    from .linear import COARSEST_DOFS

    if not steps:
        return []
    n_layers = len(stack.layers)
    levels, pending, finer = [], None, dof_numbering(mesh, n_layers)
    last = mesh.n_nodes
    for i, (coarser, prolongation) in enumerate(reversed(steps)):
        pending = prolongation if pending is None else (pending @ prolongation).tocsr()
        if not _kept(coarser.n_nodes, last, i == len(steps) - 1):
            continue
        system = assemble(coarser, stack, power_w, block_conductivity, die_bounds, block_layer)
        levels.append((dof_prolongation(pending, finer, system.node2dof), system.matrix))
        pending, finer, last = None, system.node2dof, coarser.n_nodes
        if system.n_dofs <= COARSEST_DOFS:
            break
    return levels


def _kept_levels(levels: list, n_finest: int) -> list:
    """Coarse levels for the multigrid of a system with ``n_finest`` unknowns.

    Bisecting a fraction of the triangles makes levels only a little smaller than the next, and
    a V-cycle through many such levels costs many times the finest. Walking from the finest, a
    level is kept only if it has at most :data:`COARSEN_RATIO` times the unknowns of the last
    kept one; skipped levels are bridged by multiplying their prolongations. The coarsest is
    always kept.
    """
    kept, pending, last = [], None, n_finest
    for i, (prolongation, matrix) in enumerate(levels):
        pending = prolongation if pending is None else (pending @ prolongation).tocsr()
        if _kept(matrix.shape[0], last, i == len(levels) - 1):
            kept.append((pending, matrix))
            pending, last = None, matrix.shape[0]
    return kept
