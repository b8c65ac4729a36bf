"""The steady solve driver: :func:`solve`, the ``thermal.solve`` of the API.

It reads the power, resolves the critical regions, builds the chosen strategy's initial mesh
(:mod:`thermal.strategies`), predicts and meshes to the prediction where the strategy does,
runs the adaptive loop (:mod:`thermal.adapt`) or the uniform ladder, and wraps the answer in a
:class:`~thermal.solution.Solution`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from .adapt import adaptive_solve
from .errors import InputError
from .strategies import (MAX_DOFS, PREDICTED, chosen_strategy, meshed_to_prediction, predictor,
                         start_mesh, uniform_solve)

if TYPE_CHECKING:
    from .options import MeshingOptions


def solve(floorplan, power, stack=None, *, mesh: str = "auto", tolerance: float = 0.1,
          row: int | None = None, critical=None, max_dofs: int = MAX_DOFS,
          progress: Callable[[dict], None] | None = None, model=None,
          options: MeshingOptions | None = None, sublayers="off"):
    """Steady temperatures of a floorplan on a layered stack, to a requested accuracy.

    Parameters
    ----------
    floorplan : Floorplan
    power : Mapping[str, float] or PowerTrace or (B,) array or PowerMap
        Block powers in W (a PowerTrace is averaged over its rows, or ``row`` is taken), or a
        raster power map (:func:`thermal.io.powermap.read`) whose cells' power is spread
        over the cells instead of the blocks.
    stack : Stack, optional
        Default: HotSpot's default package (:meth:`Stack.default`).
    mesh : {"auto", "ml", "ml+estimator", "estimator", "uniform", "heuristic"}
        Meshing strategy. "ml" (the default "auto" when a model is available) predicts the
        mesh size with the trained model, solves once on that mesh and its red refinement,
        and refines further only where the error estimate says so ("ml+estimator" is the
        same). "estimator" starts from the initial mesh and adapts round by round;
        "uniform" refines every triangle; "heuristic" is "ml" with the non-learned size
        ``sqrt(8·tol·k·t / q)`` instead of the model.
    tolerance : float
        Target error of every block's max and mean temperature, in K.
    row : int, optional
        0-based row of a power trace to use instead of the mean.
    critical : Mapping, iterable of str or of CriticalRegion, optional
        Temperature-sensitive blocks (by name) or rectangles and their own (tighter)
        tolerance in K (:func:`thermal.critical.critical_regions`); None or a bare name takes
        :data:`~thermal.critical.CRITICAL_FRACTION` of ``tolerance``. They add to (and by
        name override) the stack's ``[critical]`` regions.
    max_dofs : int
        Refinement stops before exceeding this many unknowns; the solution then reports an
        error estimate above the tolerance.
    progress : callable, optional
        Called with a dict (``level``, ``dofs``, ``estimate_K``, ``elapsed_s``) after each solve.
    sublayers : "off", "auto" or int
        "off" (the default): one node per layer, mid-plane values (the layered model of SPEC
        §2, which :mod:`thermal.gallery` solves exactly). "auto": thick layers as several
        sub-layers and the power layer's active face reported
        (:func:`thermal.sublayers.sublayer_plan`), which converges to 3D conduction (ev6:
        every block within 0.14 K of a converged 3D solution, against 2.07 K with "off";
        ``benchmarks/results/vs_3d.md``) at 1.3x the time on ev6 but up to 8x on a 1,000-block
        die, whose sub-layers slow the multigrid; an int: that many equal sub-layers. Per-layer
        floorplans (a 3D stack) are solved with one node per layer: "auto" is "off" there, a
        number is refused.
    options : MeshingOptions, optional
        The meshing strategies' tuning (:class:`thermal.options.MeshingOptions`); default the
        shipped settings.
    model : ForestModel or path, optional
        The predictor for "ml" (:func:`thermal.predict.load_model`); default: the shipped one.

    Returns
    -------
    Solution
    """
    from .critical import critical_regions, resolved
    from .power import PowerTrace, power_load
    from .raster_load import RasterPower
    from .solution import Solution
    from .stack import Stack

    t_start = time.perf_counter()
    mesh = chosen_strategy(mesh, model)
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise InputError(f"tolerance must be a positive number of kelvin, got {tolerance}",
                         field="tolerance")
    stack = Stack.default() if stack is None else stack
    if isinstance(power, PowerTrace):
        power = power.mean() if row is None else power.row(row)
    block_layer = _checked_layers(floorplan, stack, power)
    if block_layer is not None and isinstance(power, Mapping):
        spread = floorplan.power_vector(power)
    else:
        spread = power_load(floorplan, power)  # W per block, or a power map's RasterPower
    regions = resolved(floorplan, tolerance, stack.critical + critical_regions(critical))
    block_tolerance = regions.block_tolerance
    die = floorplan.bounds
    conductivity = floorplan.conductivity if np.isfinite(floorplan.conductivity).any() else None
    t_load = time.perf_counter()

    from .sublayers import sublayer_plan

    if block_layer is not None and sublayers != "auto" and sublayers != "off":
        raise InputError("sub-layers are not available for per-layer floorplans (a 3D stack) "
                         "yet: use --sublayers auto or off", field="sublayers")
    plan = sublayer_plan(stack, die, "off" if block_layer is not None else sublayers,
                         floorplan=floorplan, power_w=spread, tolerance=tolerance,
                         per_block_conductivity=conductivity is not None)
    m = start_mesh(floorplan, plan.stack, mesh, options)
    t_mesh = time.perf_counter() - t_load
    t_predict, prediction, steps = 0.0, None, None
    if mesh in PREDICTED:
        t = time.perf_counter()
        prediction = predictor(mesh, model).predict(floorplan, spread, stack, tolerance,
                                                    options)
        t_predict = time.perf_counter() - t
        m, steps = meshed_to_prediction(m, prediction, floorplan, regions, tolerance, max_dofs)
        t_mesh += time.perf_counter() - t - t_predict
    if mesh in PREDICTED or mesh == "estimator":
        result = adaptive_solve(m, plan.stack, spread, block_tolerance, tolerance, conductivity, die,
                                max_dofs=max_dofs, progress=progress, steps=steps,
                                rects=regions.rects, rect_tolerance=regions.rect_tolerance,
                                scaled=mesh in PREDICTED, block_layer=block_layer,
                                options=options)
    else:
        result = uniform_solve(m, plan.stack, spread, conductivity, die, regions, tolerance,
                               max_dofs, progress, t_start, block_layer)
    m, theta, info, history = result.mesh, result.theta, result.info, result.history
    m, theta = plan.report(m, theta, spread, conductivity, die)
    block_error = np.maximum(result.estimate.block_max, result.estimate.block_mean)
    rect_error = np.maximum(result.estimate.rect_max, result.estimate.rect_mean)
    estimate = result.estimate.value
    timings = {"assemble": result.timings["assemble"], "solve": result.timings["solve"]}
    t_mesh += result.timings["mesh"] + result.timings["estimate"]
    timings.update(load=t_load - t_start, predict=t_predict, mesh=t_mesh,
                   total=time.perf_counter() - t_start)
    region_error = np.r_[block_error[regions.block_index], rect_error]
    converged = bool(estimate <= tolerance and not (block_error > block_tolerance).any()
                     and not (rect_error > regions.rect_tolerance).any())
    critical_report = [{**entry, "estimate_K": float(e)}
                       for entry, e in zip(regions.report, region_error)]
    return Solution(floorplan=floorplan, stack=stack, mesh=m,
                    power_w=spread.watts if isinstance(spread, RasterPower) else spread,
                    theta=theta, strategy=mesh, tolerance_K=tolerance, error_estimate_K=estimate,
                    energy_balance_rel=info["energy_balance_rel"], history=history,
                    timings_s=timings, solver=info, prediction=prediction,
                    critical=critical_report, converged=converged, max_dofs=max_dofs)


def _checked_layers(floorplan, stack, power) -> np.ndarray | None:
    """The stack layer of each block of a :class:`~thermal.layered.LayeredFloorplan` (None for
    a plain floorplan), checked against the stack.

    Raises
    ------
    InputError
        Two power layers but one plain floorplan (whose power would go to one of them only); a
        floorplan layer the stack does not have; a power map on a layered floorplan.
    """
    from .power import PowerMap

    block_layer = getattr(floorplan, "block_layer", None)
    if block_layer is None:
        marked = [layer.name for layer in stack.layers if layer.power]
        if len(marked) > 1:
            raise InputError(f"{len(marked)} layers take power ({', '.join(marked)}) but the "
                             f"floorplan is one layer's: give each power layer its own floorplan "
                             f"(thermal.layered.layered_floorplan, or floorplan = in the stack)",
                             file=stack.path)
        return None
    if block_layer.size and not 0 <= block_layer.min() <= block_layer.max() < len(stack.layers):
        raise InputError(f"the floorplan has blocks on layer {int(block_layer.max())} but the "
                         f"stack has {len(stack.layers)} layers", file=stack.path)
    if isinstance(power, PowerMap):
        raise InputError("a power map applies to a single power layer, not to per-layer "
                         "floorplans: give a power trace", file=stack.path)
    return np.asarray(block_layer)


def solve_with_leakage(floorplan, power, stack=None, leakage=None, **options):
    """Steady solve with temperature-dependent leakage, to the fixed point.

    The mesh comes from :func:`thermal.solve` at the powers of the fixed point found on the
    mesh of the dynamic power (Picard, one factorisation); the returned Solution is that
    solve, at the fixed point's block powers.

    Returns
    -------
    solution : Solution
    info : dict
        ``leakage_w`` per block, ``iterations``.

    Raises
    ------
    SolverError
        Thermal runaway.
    """
    from .power import PowerTrace, power_load
    from .stack import Stack
    from .leakage import from_stack_file
    from .transient import prepare, steady_fixed_point

    stack = Stack.default() if stack is None else stack
    leakage = leakage or from_stack_file(stack.path)
    if isinstance(power, PowerTrace):
        power = power.mean() if options.get("row") is None else power.row(options["row"])
    options.pop("row", None)
    p_dyn = np.asarray(power_load(floorplan, power), dtype=float)
    if leakage is None:
        return solve(floorplan, p_dyn, stack, **options), {"iterations": 0}
    block = leakage.for_floorplan(floorplan)
    first = solve(floorplan, p_dyn + block.power(np.full(len(p_dyn), stack.ambient_K)), stack,
                  **options)
    run = prepare(floorplan, p_dyn[None, :], stack, sampling_interval=1.0, mesh=first.mesh,
                  leakage=block)
    _, total, iterations = steady_fixed_point(run, p_dyn)
    sol = solve(floorplan, total, stack, **options)
    return sol, {"iterations": iterations, "leakage_w": (total - p_dyn).tolist(),
                 "leakage_total_w": float((total - p_dyn).sum())}
