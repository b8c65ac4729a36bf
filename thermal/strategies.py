"""The meshing strategies' building blocks: the initial mesh each starts from, the size
predictors, meshing to a prediction, and the uniform strategy's refinement ladder.

The adaptive loop the estimator and predicted strategies share is :mod:`thermal.adapt`; the
public driver that picks a strategy is :func:`thermal.solve.solve`.
"""

from __future__ import annotations

import time

import numpy as np

from .adapt import Adapted
from .assemble import dof_numbering
from .estimate import ErrorEstimate
from .errors import InputError
from .fields import block_stats, layer_block_stats, steady_field
from .linear import dof_prolongation
from .mesh import Mesh, initial_mesh
from .refine import node_prolongation, red_children_cover, refined_uniform

MAX_DOFS = 8_000_000
"""The uniform strategy stops refining before a level would pass this many unknowns."""

STRATEGIES = ("ml", "estimator", "uniform", "ml+estimator", "heuristic")
PREDICTED = ("ml", "ml+estimator", "heuristic")
"""Strategies that predict a size field, mesh to it, solve, and let the estimator check (and
correct where it must): "ml+estimator" is another name for "ml", which always checks;
"heuristic" predicts from the smoothed power density without a trained model (a baseline)."""


MESH_CHOICES = ("auto", *STRATEGIES)
"""What a user may ask for: a strategy, or "auto" (:func:`chosen_strategy`)."""


def chosen_strategy(strategy: str, model=None) -> str:
    """The strategy a request names: "auto" is "ml" when a model is given or shipped, else
    "estimator".

    Raises
    ------
    InputError
        An unknown strategy.
    """
    if strategy == "auto":
        strategy = "ml" if model is not None or shipped_model_exists() else "estimator"
    if strategy not in STRATEGIES:
        raise InputError(f"unknown mesh strategy {strategy!r}; choose from "
                         f"{', '.join(STRATEGIES)}", field="mesh")
    return strategy


def shipped_model_exists() -> bool:
    from importlib import resources

    from .predict import MODEL_FILE

    return (resources.files("thermal") / "models" / MODEL_FILE).is_file()


def predictor(strategy: str, model):
    """The size predictor of a strategy: the heuristic, a given model (or its path), or the
    shipped model."""
    from . import predict

    if strategy == "heuristic":
        return predict.HeuristicModel()
    if model is None:
        model = predict.default_model()
        if model is None:
            raise InputError("no trained model is installed (thermal/models/"
                             f"{predict.MODEL_FILE}); pass --model, or use --mesh estimator",
                             field="mesh")
    elif not isinstance(model, predict.ForestModel):
        model = predict.load_model(model)
    return model


def meshed_to_prediction(m, prediction, floorplan, regions, tolerance, max_dofs):
    """The initial mesh bisected to the predicted size (finer by √(tol_region / tol) on
    critical blocks and rectangles), within the unknowns the solve may use.

    Parameters
    ----------
    regions : thermal.critical.Resolved

    Returns
    -------
    mesh : Mesh
    steps : list
        The nested meshes in between (:func:`thermal.refine.refined_to_size`), for multigrid.
    """
    from .refine import refined_to_size, with_longest_edge_first

    size_fn = prediction.size_fn()
    tight = np.flatnonzero(regions.block_tolerance < tolerance)
    rects = np.r_[np.c_[floorplan.left_m, floorplan.bottom_m, floorplan.left_m + floorplan.width_m,
                        floorplan.bottom_m + floorplan.height_m][tight], regions.rects]
    if len(rects):
        factor = np.sqrt(np.r_[regions.block_tolerance[tight], regions.rect_tolerance] / tolerance)
        base = size_fn

        def size_fn(xy):
            inside = ((xy[:, None, 0] >= rects[:, 0]) & (xy[:, None, 0] <= rects[:, 2])
                      & (xy[:, None, 1] >= rects[:, 1]) & (xy[:, None, 1] <= rects[:, 3]))
            scale = np.where(inside, factor, 1.0).min(axis=1)
            return base(xy) * scale

    # the check solves the red refinement (4x), keep that within max_dofs
    limit = max(int(max_dofs / 4 / 1.3), m.n_triangles)
    steps: list = []
    try:
        return refined_to_size(with_longest_edge_first(m), size_fn, max_triangles=limit,
                               steps=steps), steps
    except ValueError:  # the prediction asks for more than the budget: keep what the loop can
        return with_longest_edge_first(m), []


def uniform_solve(m, stack, power_w, conductivity, die, regions, tolerance, max_dofs,
                   progress, t_start, block_layer=None):
    """Red-refine until the level-to-level estimate meets every block's and critical
    rectangle's tolerance."""
    from .critical import rect_cover

    block_tolerance = np.r_[regions.block_tolerance, regions.rect_tolerance]
    n_blocks = len(regions.block_tolerance)
    power_layer = stack.power_layers[0]
    history, previous, theta, info, t_mesh = [], None, None, {}, 0.0
    coarse = (m, None)
    timings = {"assemble": 0.0, "solve": 0.0}
    levels: list = []  # (prolongation onto the next level, matrix), finest first
    # the rectangles as the same region on every level: the initial triangles whose centroid
    # is inside, then their red children (consecutive, four each); by each level's centroids
    # the region would move by a band of half a triangle between levels, a change of first
    # order in h that no refinement makes vanish
    in_rects = rect_cover(m, regions.rects) if len(regions.rects) else None
    while True:
        theta, info, system = steady_field(m, stack, power_w, conductivity, die, x0=theta,
                                           coarse=levels, block_layer=block_layer)
        timings["assemble"] += info["assemble_s"]
        timings["solve"] += info["solve_s"]
        stats = layer_block_stats(m, theta, block_layer, power_layer)
        if in_rects is not None:
            stats = tuple(np.r_[a, b] for a, b in
                          zip(stats, block_stats(m, theta[power_layer], in_rects)))
        peak_now = np.nanmax(theta)
        estimate = change = np.inf
        block_error = np.full(len(block_tolerance), np.inf)
        if previous is not None:
            block_change = np.maximum(np.abs(stats[0] - previous[0]), np.abs(stats[1] - previous[1]))
            change = float(np.nanmax(np.r_[block_change, abs(peak_now - previous[2])]))
            estimate = level_estimate(change, history[-1]["change_K"])
            # the same ratio scales every block's change into its own estimate
            block_error = block_change * (estimate / change if change > 0 else 0.0)
        history.append({"dofs": info["dofs"], "estimate_K": estimate, "change_K": change})
        if progress is not None:
            progress({"level": len(history) - 1, "dofs": info["dofs"], "estimate_K": estimate,
                      "elapsed_s": time.perf_counter() - t_start})
        converged = estimate <= tolerance and not (block_error > block_tolerance).any()
        if converged or 4 * info["dofs"] > max_dofs:
            # the same result type as the adaptive loop's: the last two levels and the
            # estimate, block by block (the ladder's estimate is its largest entry)
            est = ErrorEstimate(tri_indicator=np.zeros(0), block_max=block_error[:n_blocks],
                                block_mean=block_error[:n_blocks], peak=estimate,
                                rect_max=block_error[n_blocks:], rect_mean=block_error[n_blocks:])
            return Adapted(mesh=m, theta=theta, estimate=est, coarse_mesh=coarse[0],
                           coarse_theta=coarse[1], info=info, history=history,
                           timings={**timings, "mesh": t_mesh, "estimate": 0.0})
        previous = (stats[0], stats[1], peak_now)
        coarse = (m, theta)
        t = time.perf_counter()
        nodes = node_prolongation(m)
        theta = (nodes @ theta.T).T
        m = refined_uniform(m)
        if in_rects is not None:
            in_rects = red_children_cover(in_rects)
        fine_node2dof = dof_numbering(m, len(stack.layers))
        levels.insert(0, (dof_prolongation(nodes, fine_node2dof, system.node2dof), system.matrix))
        t_mesh += time.perf_counter() - t


def level_estimate(change: float, previous_change: float) -> float:
    """Error bound of the finer of two uniform levels from the change between them.

    For P1 elements the error of block values falls as h², by 4 per red refinement, so the
    error left on the finer level would be ``change / 3`` once that rate holds exactly. It
    rarely does: block maxima are nodal values whose location jumps between levels, and before
    the asymptotic range the changes shrink more slowly. With ``r`` the observed ratio of the
    last two changes the estimate is ``change / (r − 1)``, and ``r`` is clamped to [1.5, 2.5]:
    never more optimistic than ``change / 1.5``, never more pessimistic than ``2 × change``.
    (``change / 3`` fell 20–25% below the true error on ev6 and a 208-block floorplan, and
    ``change / 2`` 5–20% below it on random 40- and 100-block floorplans; this form stayed
    above it on all of them, benchmarks/adaptive_vs_uniform.py.)

    Parameters
    ----------
    change : float
        Largest change of any block's max or mean (or the peak) between the last two levels, K.
    previous_change : float
        The same between the two levels before (``inf`` when there were none).
    """
    ratio = np.clip(previous_change / change, 1.5, 2.5) if change > 0 else 2.5
    return float(change / (ratio - 1.0))


START_FRACTION = 1 / 24
"""Initial mesh of the uniform and estimator strategies: circumradius at most this fraction of
the die's shorter side. The estimator loop needs it: from 1/8 it took 59,229 DOFs on ev6
(3-layer stack, ``benchmarks/adaptive_vs_uniform.py``'s case) against 29,868
(its Dörfler and block marking refine too broadly from a coarse start)."""


def start_fraction(strategy: str, options=None) -> float:
    """The initial mesh's size bound of a meshing strategy (its triangles' circumradius), as a
    fraction of the die's shorter side: for the predicted strategies (:data:`PREDICTED`) the
    largest size they may predict (:data:`thermal.predict.MAX_SIZE_FRACTION`), as they bisect
    the mesh to their predicted size anyway; else :data:`START_FRACTION`; or as ``options``
    (:class:`thermal.options.MeshingOptions`) say."""
    if options is not None:
        return options.start_fraction(strategy)
    if strategy in PREDICTED:
        from .predict import MAX_SIZE_FRACTION

        return MAX_SIZE_FRACTION
    return START_FRACTION


def start_mesh(floorplan, stack, strategy: str, options=None) -> Mesh:
    """The initial mesh a meshing strategy starts from: every block and layer-footprint edge,
    triangles bounded by :func:`start_fraction` on the die (a power map's cells are not mesh
    features: its load is integrated exactly on any mesh)."""
    die = floorplan.bounds
    layer_rects = np.array([stack.footprint(l, die) for l in range(len(stack.layers))])
    return initial_mesh(floorplan.rects, layer_rects,
                        size_fn=_die_size_fn(die, start_fraction(strategy, options)))


def _die_size_fn(die, fraction: float = START_FRACTION):
    """Size bound for the initial mesh: circumradius ≤ ``fraction`` of the die's shorter side on
    the die, unbounded outside it (Ruppert's grading coarsens towards spreader and sink)."""
    x0, y0, x1, y1 = die
    h = fraction * min(x1 - x0, y1 - y0)

    def size(xy):
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        return np.where(inside, h, np.inf)

    return size
