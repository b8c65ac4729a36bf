"""Linear solves and the steady solve driver (:func:`solve`, the ``thermal.solve`` of the API).

Small systems are factorised directly (SuperLU); large ones use conjugate gradients
preconditioned by multigrid: geometric, over the nested meshes of the refinement loop, when they
are known (14 iterations to 1e-11 on 1.7M unknowns of ev6's 3-layer stack), else pyamg's
smoothed aggregation. Every solve is checked: the relative
residual must be below :data:`RESIDUAL_LIMIT` and the heat balance must close, or a
:class:`~thermal.errors.SolverError` is raised instead of returning a wrong field.
"""

from __future__ import annotations

import os
import time
import warnings
import weakref
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .assemble import System, assemble, dof_numbering
from .errors import InputError, SolverError
from .mesh import Mesh, initial_mesh
from .refine import node_prolongation, red_children_cover, refined_uniform

DIRECT_MAX_DOFS = 30_000
"""Systems up to this size are factorised directly; larger ones use multigrid-preconditioned CG."""

DIRECT_FALLBACK_MAX_DOFS = 1_500_000
"""When CG fails, systems up to this size are factorised instead (a few GB at most)."""

COARSEST_DOFS = 5_000
"""Multigrid stops coarsening at the first level this small and factorises it."""

RESIDUAL_LIMIT = 1e-9
"""Largest accepted ``‖b − A x‖ / ‖b‖``."""

ENERGY_LIMIT = 1e-9
"""Largest accepted |power in − heat out| / power in."""

MAX_DOFS = 8_000_000
"""The uniform strategy stops refining before a level would pass this many unknowns."""

STRATEGIES = ("ml", "estimator", "uniform", "ml+estimator", "heuristic")
AVAILABLE = STRATEGIES
PREDICTED = ("ml", "ml+estimator", "heuristic")
"""Strategies that predict a size field, mesh to it, solve, and let the estimator check (and
correct where it must): "ml+estimator" is another name for "ml", which always checks;
"heuristic" predicts from the smoothed power density without a trained model (a baseline)."""


def solve_linear(matrix: sp.csr_matrix, rhs: np.ndarray, x0: np.ndarray | None = None,
                 method: str = "auto", rtol: float = 1e-11,
                 coarse: list[tuple[sp.csr_matrix, sp.csr_matrix]] | None = None
                 ) -> tuple[np.ndarray, dict]:
    """Solve the SPD system ``matrix @ x = rhs``.

    Parameters
    ----------
    matrix : (n, n) sparse SPD
    rhs : (n,)
    x0 : (n,), optional
        Initial guess for the iterative solvers.
    method : {"auto", "direct", "gmg", "amg"}
        "direct" factorises (SuperLU). "gmg" is conjugate gradients preconditioned by a
        geometric multigrid V-cycle over the nested meshes in ``coarse``; "amg" uses pyamg's
        smoothed aggregation instead. "auto" takes "gmg" when ``coarse`` is given and the
        system has more than :data:`COARSEST_DOFS` unknowns; without ``coarse`` it
        factorises up to :data:`DIRECT_MAX_DOFS` and takes "amg" above. (On ev6's estimator
        loop, GMG instead of SuperLU for the 5k–30k fine solves cut the solve time from 2.6 s
        to 1.0 s.)
    rtol : float
        Relative residual the iterative solvers aim for.
    coarse : list of (prolongation, matrix), optional
        The coarser levels, finest first: ``prolongation`` maps that level's unknowns onto the
        next finer level's, and ``matrix`` is that level's own system.

    Returns
    -------
    x : (n,) float64
    info : dict
        ``method``, ``iterations`` and ``residual_rel``.
    """
    n = len(rhs)
    if method == "auto":
        # with nested levels a V-cycle beats factorising above the coarsest level's size
        method = "direct" if n <= (COARSEST_DOFS if coarse else DIRECT_MAX_DOFS) else (
            "gmg" if coarse else "amg")
    info: dict = {"method": method, "iterations": 0}
    if method == "direct":
        with warnings.catch_warnings():
            warnings.simplefilter("error", spla.MatrixRankWarning)
            try:
                x = spla.spsolve(matrix.tocsc(), rhs, permc_spec="COLAMD")
            except spla.MatrixRankWarning:
                raise SolverError(f"linear solve (direct) failed: singular matrix on {n} unknowns"
                                  ) from None
    elif method in ("gmg", "amg"):
        from threadpoolctl import threadpool_limits

        # CG's vector operations are memory-bound: a second BLAS thread gains nothing alone
        # and costs 3x when the cores are shared (measured in benchmarks/solver_scaling.py)
        with threadpool_limits(limits=1, user_api="blas"):
            hierarchy = _geometric(matrix, coarse) if method == "gmg" else _aggregation(matrix)
            history: list[float] = []
            x = hierarchy.solve(rhs, x0=x0, tol=rtol, accel="cg", maxiter=200, residuals=history)
        info["iterations"] = len(history) - 1
    else:
        raise ValueError(f"unknown linear solver {method!r}")
    norm_b = np.linalg.norm(rhs)
    res = np.linalg.norm(rhs - matrix @ x) / (norm_b if norm_b > 0 else 1.0)
    info["residual_rel"] = float(res)
    if not np.all(np.isfinite(x)) or res > RESIDUAL_LIMIT:
        if method == "gmg":
            return solve_linear(matrix, rhs, x0, "amg", rtol)
        if method == "amg" and n <= DIRECT_FALLBACK_MAX_DOFS:
            return solve_linear(matrix, rhs, method="direct")
        raise SolverError(f"linear solve ({method}) failed: relative residual {res:.2e} "
                          f"> {RESIDUAL_LIMIT:.0e} on {n} unknowns")
    return x, info


_SMOOTHER = ("gauss_seidel", {"sweep": "symmetric"})


def _geometric(matrix, coarse):
    """pyamg multilevel solver whose levels are the nested meshes (rediscretised operators)."""
    from pyamg.multilevel import MultilevelSolver
    from pyamg.relaxation.smoothing import change_smoothers

    levels = []
    for prolongation, coarser in coarse:
        level = MultilevelSolver.Level()
        level.A, level.P, level.R = matrix, prolongation, prolongation.T.tocsr()
        levels.append(level)
        matrix = coarser
        if matrix.shape[0] <= COARSEST_DOFS:
            break
    if matrix.shape[0] > COARSEST_DOFS:
        # the initial mesh itself is large (many blocks, slivers): continue below it with
        # smoothed aggregation rather than factorising it at every solve
        levels.extend(_aggregation(matrix).levels)
    else:
        last = MultilevelSolver.Level()
        last.A = matrix
        levels.append(last)
    hierarchy = MultilevelSolver(levels, coarse_solver=coarsest_solve)
    change_smoothers(hierarchy, presmoother=_SMOOTHER, postsmoother=_SMOOTHER)
    return hierarchy


_FACTORS: dict[int, tuple] = {}
"""Factorisations of coarsest levels, by ``id`` of the matrix: (weak reference, SuperLU), kept
while the matrix lives."""


def coarsest_solve(matrix: sp.spmatrix, rhs: np.ndarray) -> np.ndarray:
    """Solve with a coarsest multigrid level, factorising each matrix once.

    The solves of an adaptive run or a uniform ladder share their coarsest level (the initial
    mesh's system, the same object; not when smoothed aggregation continues below a large
    initial mesh, whose coarsest level is rebuilt at every solve), so its LU factors are kept
    for as long as the matrix lives. ``thermal solve floorplans/ev6.flp --power
    floorplans/gcc.ptrace --stack floorplans/ev6_3layer.toml --mesh estimator`` (14 solves)
    took 0.56-0.61 s before (39ed4cb) and 0.45-0.50 s after (c4979ab), 3 runs each,
    interleaved. The systems are never modified in place, which this relies on.

    Parameters
    ----------
    matrix : (n, n) sparse
    rhs : (n,) or (n, 1)

    Returns
    -------
    (n,) float64
    """
    key = id(matrix)
    entry = _FACTORS.get(key)
    if entry is None or entry[0]() is not matrix:
        # the factors go when the matrix goes
        entry = (weakref.ref(matrix, lambda _: _FACTORS.pop(key, None)),
                 spla.splu(matrix.tocsc(), permc_spec="COLAMD"))
        _FACTORS[key] = entry
    return entry[1].solve(np.asarray(rhs, dtype=np.float64).ravel())


def _aggregation(matrix):
    """pyamg smoothed aggregation. A strength threshold of 0.1 keeps the thin, weakly conducting
    layers (TIM) from being lumped with their neighbours: with pyamg's default (0) CG needed
    200+ iterations on a 3-layer ev6 system, with 0.1 it needs about 40."""
    import pyamg

    # pyamg estimates spectral radii from np.random.rand vectors: seeded, reruns are identical
    state = np.random.get_state()
    np.random.seed(0)
    try:
        return pyamg.smoothed_aggregation_solver(matrix, symmetry="hermitian", max_coarse=2000,
                                                 strength=("symmetric", {"theta": 0.1}),
                                                 coarse_solver="splu")
    finally:
        np.random.set_state(state)


def dof_prolongation(node_prolongation: sp.csr_matrix, fine_node2dof: np.ndarray,
                     coarse_node2dof: np.ndarray) -> sp.csr_matrix:
    """Lift a node-to-node prolongation (N_f, N_c) to the layered unknowns of two systems."""
    coo = node_prolongation.tocoo()
    rows, cols, vals = [], [], []
    for fine, coarse in zip(fine_node2dof, coarse_node2dof):
        r, c = fine[coo.row], coarse[coo.col]
        ok = (r >= 0) & (c >= 0)
        rows.append(r[ok])
        cols.append(c[ok])
        vals.append(coo.data[ok])
    shape = (int(fine_node2dof.max()) + 1, int(coarse_node2dof.max()) + 1)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=shape)


def prolonged(coarse: Mesh, values: np.ndarray) -> np.ndarray:
    """Nodal values on ``refined_uniform(coarse)``: old nodes keep theirs, midpoints average.

    ``values`` is (..., N) and may hold NaN (nodes outside a footprint).
    """
    return (node_prolongation(coarse) @ np.asarray(values).T).T


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


BYTES_PER_DOF = 900
"""Peak memory of an assembled and solved unknown with its multigrid hierarchy: 985 MiB for
1.73M DOFs measured (benchmarks/results/solver_scaling.md), about 600 B each; 900 leaves
headroom."""


def available_memory() -> int | None:
    """Bytes of memory the operating system says are available, or None where it can't say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_unknowns: int, available: int | None = None) -> None:
    """Refuse, with the numbers, a solve that would not fit in memory (instead of being killed).

    Raises
    ------
    SolverError
        When ``n_unknowns`` x :data:`BYTES_PER_DOF` exceeds the available memory.
    """
    need = n_unknowns * BYTES_PER_DOF
    available = available_memory() if available is None else available
    if available is not None and need > available:
        raise SolverError(f"a solve of {n_unknowns:,} unknowns needs about {need / 2**30:.1f} GiB "
                          f"but only {available / 2**30:.1f} GiB of memory is available; loosen "
                          f"--tolerance or free memory")


def steady_field(mesh: Mesh, stack, power_w: np.ndarray, block_conductivity=None,
                 die_bounds=None, x0: np.ndarray | None = None, method: str = "auto",
                 coarse: list | None = None):
    """Assemble and solve one mesh; check the heat balance.

    Parameters
    ----------
    x0 : (L, N), optional
        Initial guess per layer (NaN outside footprints is ignored).
    method, coarse
        See :func:`solve_linear`.

    Returns
    -------
    theta : (L, N) temperature rise per layer (NaN outside footprints)
    info : dict
        ``dofs``, ``energy_balance_rel``, linear solver info, ``assemble_s``, ``solve_s``.
    system : System
    """
    t0 = time.perf_counter()
    check_memory(mesh.n_nodes * len(stack.layers))
    system = assemble(mesh, stack, power_w, block_conductivity, die_bounds)
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


def solve(floorplan, power, stack=None, *, mesh: str = "auto", tolerance: float = 0.1,
          row: int | None = None, critical=None, max_dofs: int = MAX_DOFS,
          progress: Callable[[dict], None] | None = None, model=None, sublayers="auto"):
    """Steady temperatures of a floorplan on a layered stack, to a requested accuracy.

    Parameters
    ----------
    floorplan : Floorplan
    power : Mapping[str, float] or PowerTrace or (B,) array or PowerMap
        Block powers in W (a PowerTrace is averaged over its rows, or ``row`` is taken), or a
        raster power map (:func:`thermal.power.read_power_map`) whose cells' power is spread
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
    model : ForestModel or path, optional
        The predictor for "ml" (:func:`thermal.predict.load_model`); default: the shipped one.
    sublayers : "auto", "off" or int
        Thick layers as several sub-layers and the power layer's active face reported
        (:func:`thermal.sublayers.sublayer_plan`); "off": one node per layer, mid-plane values.

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
    if mesh == "auto":
        mesh = "ml" if model is not None or shipped_model_exists() else "estimator"
    if mesh not in STRATEGIES:
        raise InputError(f"unknown mesh strategy {mesh!r}; choose from {', '.join(STRATEGIES)}",
                         field="mesh")
    if mesh not in AVAILABLE:
        raise InputError(f"mesh strategy {mesh!r} is not available yet; use --mesh "
                         f"{' or --mesh '.join(AVAILABLE)}", field="mesh")
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise InputError(f"tolerance must be a positive number of kelvin, got {tolerance}",
                         field="tolerance")
    stack = Stack.default() if stack is None else stack
    if isinstance(power, PowerTrace):
        power = power.mean() if row is None else power.row(row)
    spread = power_load(floorplan, power)  # W per block, or a power map's RasterPower
    regions = resolved(floorplan, tolerance, stack.critical + critical_regions(critical))
    block_tolerance = regions.block_tolerance
    die = floorplan.bounds
    conductivity = floorplan.conductivity if np.isfinite(floorplan.conductivity).any() else None
    t_load = time.perf_counter()

    from .sublayers import sublayer_plan
    plan = sublayer_plan(stack, die, sublayers, floorplan=floorplan, power_w=spread,
                         tolerance=tolerance, per_block_conductivity=conductivity is not None)
    m = start_mesh(floorplan, plan.stack, mesh)
    t_mesh = time.perf_counter() - t_load
    t_predict, prediction, steps = 0.0, None, None
    if mesh in PREDICTED:
        t = time.perf_counter()
        prediction = predictor(mesh, model).predict(floorplan, spread, stack, tolerance)
        t_predict = time.perf_counter() - t
        m, steps = meshed_to_prediction(m, prediction, floorplan, regions, tolerance, max_dofs)
        t_mesh += time.perf_counter() - t - t_predict
    if mesh in PREDICTED or mesh == "estimator":
        from .adapt import adaptive_solve

        result = adaptive_solve(m, plan.stack, spread, block_tolerance, tolerance, conductivity,
                                die, max_dofs=max_dofs, progress=progress, steps=steps,
                                rects=regions.rects, rect_tolerance=regions.rect_tolerance,
                                scaled=mesh in PREDICTED)
        m, theta, info, history = result.mesh, result.theta, result.info, result.history
        block_error = np.maximum(result.estimate.block_max, result.estimate.block_mean)
        rect_error = np.maximum(result.estimate.rect_max, result.estimate.rect_mean)
        estimate = result.estimate.value
        timings = {"assemble": result.timings["assemble"], "solve": result.timings["solve"]}
        t_mesh += result.timings["mesh"] + result.timings["estimate"]
    else:
        m, theta, info, history, block_error, rect_error, estimate, timings, t_refine = \
            _uniform_solve(m, plan.stack, spread, conductivity, die, regions, tolerance, max_dofs,
                           progress, t_start)
        t_mesh += t_refine
    m, theta = plan.report(m, theta, spread, conductivity, die)
    timings.update(load=t_load - t_start, predict=t_predict, mesh=t_mesh,
                   total=time.perf_counter() - t_start)
    region_error = np.r_[block_error[regions.block_index], rect_error]
    critical_report = [{**entry, "estimate_K": float(e)}
                       for entry, e in zip(regions.report, region_error)]
    return Solution(floorplan=floorplan, stack=stack, mesh=m,
                    power_w=spread.watts if isinstance(spread, RasterPower) else spread,
                    theta=theta, strategy=mesh, tolerance_K=tolerance, error_estimate_K=estimate,
                    energy_balance_rel=info["energy_balance_rel"], history=history,
                    timings_s=timings, solver=info, prediction=prediction,
                    critical=critical_report)


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


def _uniform_solve(m, stack, power_w, conductivity, die, regions, tolerance, max_dofs,
                   progress, t_start):
    """Red-refine until the level-to-level estimate meets every block's and critical
    rectangle's tolerance."""
    from .critical import rect_cover

    block_tolerance = np.r_[regions.block_tolerance, regions.rect_tolerance]
    n_blocks = len(regions.block_tolerance)
    power_layer = stack.power_layers[0]
    history, previous, theta, info, t_mesh = [], None, None, {}, 0.0
    timings = {"assemble": 0.0, "solve": 0.0}
    levels: list = []  # (prolongation onto the next level, matrix), finest first
    # the rectangles as the same region on every level: the initial triangles whose centroid
    # is inside, then their red children (consecutive, four each); by each level's centroids
    # the region would move by a band of half a triangle between levels, a change of first
    # order in h that no refinement makes vanish
    in_rects = rect_cover(m, regions.rects) if len(regions.rects) else None
    while True:
        theta, info, system = steady_field(m, stack, power_w, conductivity, die, x0=theta,
                                           coarse=levels)
        timings["assemble"] += info["assemble_s"]
        timings["solve"] += info["solve_s"]
        stats = block_stats(m, theta[power_layer])
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
            return (m, theta, info, history, block_error[:n_blocks], block_error[n_blocks:],
                    estimate, timings, t_mesh)
        previous = (stats[0], stats[1], peak_now)
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


def start_fraction(strategy: str) -> float:
    """The initial mesh's size bound of a meshing strategy (its triangles' circumradius), as a
    fraction of the die's shorter side: for the predicted strategies (:data:`PREDICTED`) the
    largest size they may predict, :data:`thermal.predict.MAX_SIZE_FRACTION`, as they bisect
    the mesh to their predicted size anyway; else :data:`START_FRACTION`."""
    if strategy in PREDICTED:
        from .predict import MAX_SIZE_FRACTION

        return MAX_SIZE_FRACTION
    return START_FRACTION


def start_mesh(floorplan, stack, strategy: str) -> Mesh:
    """The initial mesh a meshing strategy starts from: every block and layer-footprint edge,
    triangles bounded by :func:`start_fraction` on the die (a power map's cells are not mesh
    features: its load is integrated exactly on any mesh)."""
    die = floorplan.bounds
    layer_rects = np.array([stack.footprint(l, die) for l in range(len(stack.layers))])
    return initial_mesh(floorplan.rects, layer_rects,
                        size_fn=_die_size_fn(die, start_fraction(strategy)))


def _die_size_fn(die, fraction: float = START_FRACTION):
    """Size bound for the initial mesh: circumradius ≤ ``fraction`` of the die's shorter side on
    the die, unbounded outside it (Ruppert's grading coarsens towards spreader and sink)."""
    x0, y0, x1, y1 = die
    h = fraction * min(x1 - x0, y1 - y0)

    def size(xy):
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        return np.where(inside, h, np.inf)

    return size
