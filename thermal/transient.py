"""Transient temperatures over a power trace (SPEC.md §2: ``c_l t_l ∂θ/∂t + K θ = q(t)``).

Each trace row is the power of every block over one sampling interval (piecewise constant);
the temperatures are reported at the end of each interval. Time stepping is the θ-method on
the lumped capacity matrix ``C`` (diagonal: ``c_l t_l`` times the lumped mass of each node, the
floorplan's own heat capacity per block on the power layer where it gives one, and HotSpot's
lumped convection capacitance spread over the bottom layer by area):

    (C/Δt + θ K) x_{n+1} = (C/Δt − (1 − θ) K) x_n + b_n

with θ = 1 (backward Euler, the default: L-stable, no overshoot after a power step) or 1/2
(Crank–Nicolson, second order); "bdf2" is the two-step backward differentiation formula
(L-stable; it restarts with a backward-Euler step, on a matrix of its own, at every trace row,
since across a power jump its two-step formula is only first order, so it is second order
overall when each row has many steps, and backward Euler when a row is one step).
The step ``Δt`` divides the sampling interval, so every step sees one constant power and no
power jump falls inside a step. The matrix is factorised once per (mesh, Δt) with SuperLU (or,
above :data:`DIRECT_MAX_DOFS`, a pyamg hierarchy is built once and every step is a warm-started
preconditioned CG solve), and every step reuses it.

HotSpot multiplies its capacitances by a fitting factor ``C_FACTOR`` = 0.333
(/work/shared/reference-inputs/hotspot/README.md); thermal uses the physical ``c·t``, so a
HotSpot transient settles about three times sooner than the same run here.

:func:`transient_frames` streams one :class:`Frame` per sampling interval (memory flat in the
trace length); :func:`transient` collects them into a :class:`TransientResult` of arrays.

Examples
--------
>>> import numpy as np, thermal
>>> from thermal.floorplan import make_floorplan
>>> fp = make_floorplan(["a"], [0.0], [0.0], [0.01], [0.01])
>>> trace = thermal.PowerTrace(("a",), np.full((3, 1), 2.0))
>>> stack = thermal.Stack((thermal.Layer("die", 1e-3, 100.0, 1.75e6, power=True),), h=1e4)
>>> r = thermal.transient(fp, trace, stack, sampling_interval=0.01, mesh="uniform")
>>> r.times_s.tolist()
[0.01, 0.02, 0.03]
>>> bool(np.all(np.diff(r.block_mean_K[:, 0]) > 0))   # heating up from ambient
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .assemble import System, assemble, lumped_mass
from .errors import InputError, SolverError
from .mesh import Mesh

__all__ = ["Frame", "Stepper", "TransientResult", "TransientRun", "capacity", "load_operator",
           "fill_reducing_order", "prepare", "trace_matrix", "transient", "transient_frames",
           "trace_mesh", "write_run", "METHODS", "read_init_file", "steady_fixed_point"]

METHODS = {"be": 1.0, "cn": 0.5, "bdf2": None}
"""Time-stepping schemes: the θ of the θ-method, or None for BDF2."""

DIRECT_MAX_DOFS = 200_000
"""Systems up to this size (DOFs) are factorised with SuperLU once; larger ones get a pyamg
hierarchy (built once) and a warm-started CG solve per step. Chosen in
benchmarks/results/transient.md ("Constants chosen on these runs")."""

DEFAULT_SAMPLING_INTERVAL_S = 3.333e-6
"""HotSpot's default ``-sampling_intvl`` (s)."""

MAX_PREDICTED_ROWS = 8
"""A trace's distinct rows are grouped into at most this many clusters (k-means on the power
densities, seeded) for the mesh prediction; each cluster is predicted at its members'
element-wise largest power."""


# -------------------------------------------------------------------------------------------
# Operators


def capacity(mesh: Mesh, stack, node2dof: np.ndarray, block_heat_capacity: np.ndarray | None = None,
             die_bounds=None) -> np.ndarray:
    """(n,) lumped heat capacity of each unknown, J/K.

    ``c_l t_l`` times the lumped mass of each node on layer ``l``; on the power layer a block's
    own volumetric heat capacity (the floorplan's 6th column) replaces the layer's where it is
    given (NaN keeps the layer's). The stack's lumped convection capacitance ``c_convec`` (J/K,
    HotSpot's ``-c_convec``) is spread over the bottom layer in proportion to area.
    """
    n = int(node2dof.max()) + 1
    out = np.zeros(n)
    in_layer = mesh.tri_in_layer
    power_layer = stack.power_layers[0]
    for l, layer in enumerate(stack.layers):
        c = np.full(mesh.n_triangles, layer.heat_capacity)
        if l == power_layer and block_heat_capacity is not None:
            blk = mesh.block_of_tri
            own = np.where(blk >= 0, np.asarray(block_heat_capacity, float)[np.maximum(blk, 0)],
                           np.nan)
            c = np.where(np.isnan(own), c, own)
        mask = in_layer[l]
        share = np.repeat(mesh.areas[mask] * c[mask] * layer.thickness_m / 3.0, 3)
        m = np.bincount(mesh.triangles[mask].ravel(), share, minlength=mesh.n_nodes)
        used = node2dof[l] >= 0
        out[node2dof[l, used]] += m[used]
    if getattr(stack, "c_convec", None):
        bottom = len(stack.layers) - 1
        m = lumped_mass(mesh, in_layer[bottom])
        used = node2dof[bottom] >= 0
        out[node2dof[bottom, used]] += stack.c_convec * m[used] / m.sum()
    return out


def load_operator(mesh: Mesh, stack, node2dof: np.ndarray) -> sp.csr_matrix:
    """(n, B) sparse: the nodal load vector of block powers ``p`` (W) is ``L @ p``.

    Each block's power is spread uniformly over its own (snapped) triangles of the power layer,
    densities adding where blocks overlap (as :func:`thermal.assemble.block_power_density`).
    """
    power_layer = stack.power_layers[0]
    mask = mesh.tri_in_layer[power_layer]
    cover = mesh.tri_cover().tocsr()
    block_area = cover.T @ mesh.areas
    scale = np.divide(1.0, block_area, out=np.zeros(len(block_area)), where=block_area > 0)
    tri = np.flatnonzero(mask)
    rows = mesh.triangles[tri].ravel()
    cols = np.repeat(tri, 3)
    vals = np.repeat(mesh.areas[tri] / 3.0, 3)
    node_tri = sp.csr_matrix((vals, (rows, cols)), shape=(mesh.n_nodes, mesh.n_triangles))
    node_load = (node_tri @ cover @ sp.diags(scale)).tocoo()
    dof = node2dof[power_layer, node_load.row]
    n = int(node2dof.max()) + 1
    return sp.csr_matrix((node_load.data, (dof, node_load.col)), shape=(n, cover.shape[1]))


@dataclass(frozen=True, eq=False)
class BlockReducer:
    """Block max and mean of the power layer from the unknowns, precomputed for speed.

    Attributes
    ----------
    mean_op : (B, n) sparse
        Exact integral of the P1 field over each block over its area.
    dofs : (k,) int
        Unknowns of each block's nodes, grouped by block.
    starts : (B,) int
        Where each block's group starts in ``dofs``.
    """

    mean_op: sp.csr_matrix
    dofs: np.ndarray
    starts: np.ndarray

    @classmethod
    def build(cls, mesh: Mesh, node2dof: np.ndarray, layer: int) -> "BlockReducer":
        cover = mesh.tri_cover().tocoo()
        tri, blk = cover.row, cover.col
        n_blocks = cover.shape[1]
        n = int(node2dof.max()) + 1
        area = mesh.areas[tri]
        total = np.bincount(blk, area, minlength=n_blocks)
        nodes = mesh.triangles[tri]                                  # (k, 3)
        dof = node2dof[layer][nodes]
        w = np.repeat((area / total[blk] / 3.0)[:, None], 3, axis=1)
        mean_op = sp.csr_matrix((w.ravel(), (np.repeat(blk, 3), dof.ravel())),
                                shape=(n_blocks, n))
        pairs = np.unique(np.c_[np.repeat(blk, 3), dof.ravel()], axis=0)
        if len(np.unique(pairs[:, 0])) != n_blocks:
            raise SolverError("a block has no triangle of the mesh")
        starts = np.searchsorted(pairs[:, 0], np.arange(n_blocks))
        return cls(mean_op=mean_op, dofs=pairs[:, 1], starts=starts)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block max and mean temperature rise (K) of the unknowns ``x``."""
        return np.maximum.reduceat(x[self.dofs], self.starts), self.mean_op @ x


class Stepper:
    """The θ-method (or BDF2) on one mesh and step, factorised once.

    Parameters
    ----------
    stiffness : (n, n) sparse SPD
        The steady matrix ``K``.
    capacity : (n,)
        Lumped heat capacity per unknown, J/K.
    dt : float
        Step, s.
    method : {"be", "cn", "bdf2"}
    order : (n,) int, optional
        Elimination order of the unknowns for SuperLU (:func:`fill_reducing_order`); default
        SuperLU's minimum degree on ``A + Aᵀ``.
    """

    def __init__(self, stiffness: sp.csr_matrix, capacity: np.ndarray, dt: float,
                 method: str = "be", order: np.ndarray | None = None):
        self.order = order
        if method not in METHODS:
            raise InputError(f"unknown time-stepping method {method!r}; choose from "
                             f"{', '.join(METHODS)}", field="method")
        if not (math.isfinite(dt) and dt > 0):
            raise InputError(f"time step must be a positive number of seconds, got {dt}",
                             field="dt")
        self.method, self.dt = method, float(dt)
        self.stiffness = stiffness.tocsr()
        self.capacity = np.asarray(capacity, float)
        theta = METHODS[method]
        t0 = time.perf_counter()
        if method == "bdf2":
            self._solve = self._factorised(1.5 * self.capacity / dt)
            self._first = None          # backward Euler for the first step, built on demand
            self.explicit = None
        else:
            self._solve = self._factorised(self.capacity / dt, theta)
            self.explicit = (sp.diags(self.capacity / dt)
                             - (1.0 - theta) * self.stiffness).tocsr() if theta < 1 else None
        self.factorise_s = time.perf_counter() - t0
        self._previous = None

    def _factorised(self, diagonal: np.ndarray, theta: float = 1.0):
        a = (sp.diags(diagonal) + theta * self.stiffness).tocsc()
        n = a.shape[0]
        if n <= DIRECT_MAX_DOFS:
            options = dict(diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            if self.order is None:
                lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", **options)
                return lambda rhs, guess: lu.solve(rhs)
            p = self.order
            lu = spla.splu(a[p][:, p].tocsc(), permc_spec="NATURAL", **options)

            def solve_permuted(rhs, guess):
                out = np.empty_like(rhs)
                out[p] = lu.solve(rhs[p])
                return out

            return solve_permuted
        from .linear import _aggregation

        hierarchy = _aggregation(a.tocsr())

        def solve(rhs, guess):
            return hierarchy.solve(rhs, x0=guess, tol=1e-12, accel="cg", maxiter=100)

        return solve

    def reset(self) -> None:
        """Forget the previous step (BDF2 restarts with a backward-Euler step)."""
        self._previous = None

    def step(self, x: np.ndarray, load: np.ndarray) -> np.ndarray:
        """``x`` one step later under the nodal load ``load`` (W), constant over the step."""
        if self.method == "bdf2":
            if self._previous is None:
                if self._first is None:
                    self._first = self._factorised(self.capacity / self.dt)
                new = self._first(self.capacity / self.dt * x + load, x)
            else:
                rhs = self.capacity / (2 * self.dt) * (4 * x - self._previous) + load
                new = self._solve(rhs, 2 * x - self._previous)
            self._previous = x
            return new
        rhs = (self.capacity / self.dt * x if self.explicit is None else self.explicit @ x) + load
        return self._solve(rhs, x)


def fill_reducing_order(mesh: Mesh, node2dof: np.ndarray) -> np.ndarray:
    """(n,) elimination order of the unknowns: SuperLU's minimum degree on the mesh's node
    graph, each node's layers kept together.

    Every layer couples the same neighbours and a node's layers couple each other, so ordering
    the nodes and not the unknowns loses nothing and lets minimum degree see the planar graph,
    with smaller factors than SuperLU's own order on the unknowns (measured in
    benchmarks/results/transient.md, "Constants chosen on these runs").
    """
    edges = mesh.edges
    n_nodes = mesh.n_nodes
    graph = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                          shape=(n_nodes, n_nodes))
    graph = (graph + graph.T + 10.0 * sp.eye(n_nodes)).tocsc()
    lu = spla.splu(graph, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                   options={"SymmetricMode": True})
    nodes = np.argsort(lu.perm_c)
    dofs = node2dof[:, nodes].T.ravel()
    return dofs[dofs >= 0]


# -------------------------------------------------------------------------------------------
# Traces and initial fields


def trace_matrix(floorplan, trace) -> np.ndarray:
    """(rows, B) W: the trace's samples in floorplan block order (names checked)."""
    from .power import PowerTrace, power_vector

    if isinstance(trace, PowerTrace):
        power_vector(floorplan, trace.mean())     # names and values, with the file's line
        column = {name: i for i, name in enumerate(trace.names)}
        return np.asarray(trace.samples_w)[:, [column[n] for n in floorplan.names]]
    a = np.atleast_2d(np.asarray(trace, dtype=np.float64))
    if a.shape[1] != len(floorplan.names):
        raise InputError(f"the power trace has {a.shape[1]} columns, the floorplan "
                         f"{len(floorplan.names)} blocks")
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise InputError("powers must be finite and non-negative")
    return a


def read_init_file(path, floorplan, stack) -> dict[str, float]:
    """Read an initial-temperature file: HotSpot's ``-init_file`` format, ``name temperature_K``
    per line (its ``.steady`` files), ``#`` comments allowed.

    Returns
    -------
    dict of str to float
        Kelvin per name: the floorplan's blocks (the power layer) and, where given, the other
        layers' blocks with a prefix (HotSpot's ``iface_``, ``hsp_``, ``hsink_``, or our layer
        names followed by ``_``).

    Raises
    ------
    InputError
        A malformed line, a temperature that is not a positive finite number, or a floorplan
        block missing.
    """
    from .io import steady

    values = steady.read(path, "initial temperatures")
    missing = [n for n in floorplan.names if n not in values]
    if missing:
        raise InputError(f"no initial temperature for block(s) {', '.join(missing[:8])}"
                         + (" ..." if len(missing) > 8 else ""), file=str(path))
    return values


_HOTSPOT_PREFIXES = ("", "iface_", "hsp_", "hsink_")


def initial_from_blocks(mesh: Mesh, stack, node2dof: np.ndarray, values: Mapping[str, float],
                        names) -> np.ndarray:
    """(n,) initial temperature rise from block temperatures (K).

    On each layer every node takes the mean of the blocks that cover it; a layer's nodes outside
    every block, and layers the file does not give, take the area-weighted mean of the nearest
    layer above that is given.
    """
    n = int(node2dof.max()) + 1
    x = np.zeros(n)
    cover = mesh.tri_cover().tocsr()
    block_area = np.asarray(cover.T @ mesh.areas).ravel()
    last_mean = None
    ambient = stack.ambient_K
    for l, layer in enumerate(stack.layers):
        prefixes = [f"{layer.name}_"] + ([_HOTSPOT_PREFIXES[l]] if l < 4 else [])
        if l == stack.power_layers[0]:
            prefixes = [""] + prefixes
        given = None
        for prefix in prefixes:
            t = [values.get(prefix + b) for b in names]
            if all(v is not None for v in t):
                given = np.asarray(t, float) - ambient
                break
        used = node2dof[l] >= 0
        if given is None:
            x[node2dof[l, used]] = last_mean if last_mean is not None else 0.0
            continue
        last_mean = float(given @ block_area / block_area.sum())
        tri_val = np.asarray(cover @ given).ravel()
        tri_n = np.asarray(cover.sum(axis=1)).ravel()
        inside = tri_n > 0
        area = mesh.areas * inside
        num = np.bincount(mesh.triangles.ravel(), np.repeat(area * np.divide(
            tri_val, tri_n, out=np.zeros_like(tri_val), where=inside), 3), minlength=mesh.n_nodes)
        den = np.bincount(mesh.triangles.ravel(), np.repeat(area, 3), minlength=mesh.n_nodes)
        node_val = np.where(den > 0, num / np.where(den > 0, den, 1.0), last_mean)
        x[node2dof[l, used]] = node_val[used]
    return x


def initial_from_vtu(path, mesh: Mesh, stack, node2dof: np.ndarray) -> np.ndarray:
    """(n,) initial temperature rise from a previous run's ``final.vtu`` (fields ``T_<layer>_K``),
    interpolated linearly onto this mesh (nearest value outside the other mesh's layer)."""
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    from .io.vtu import read_vtu

    try:
        points, triangles, point_data, _ = read_vtu(path)
    except Exception as e:  # meshio raises many kinds on a damaged file
        raise InputError(f"cannot read the field: {e}", file=str(path)) from None
    n = int(node2dof.max()) + 1
    x = np.zeros(n)
    for l, layer in enumerate(stack.layers):
        key = f"T_{layer.name}_K"
        if key not in point_data:
            raise InputError(f"no field {key!r} for layer {layer.name!r} (has "
                             f"{', '.join(sorted(point_data))})", file=str(path))
        values = np.asarray(point_data[key], float)
        ok = np.isfinite(values)
        used = node2dof[l] >= 0
        xy = mesh.points[used]
        inner = LinearNDInterpolator(points[ok], values[ok])(xy)
        miss = ~np.isfinite(inner)
        if miss.any():
            inner[miss] = NearestNDInterpolator(points[ok], values[ok])(xy[miss])
        x[node2dof[l, used]] = inner - stack.ambient_K
    return x


# -------------------------------------------------------------------------------------------
# Mesh for a trace


class _MinimumPrediction:
    """The smallest of several predicted size fields (duck-types a prediction for
    :func:`thermal.strategies.meshed_to_prediction`)."""

    def __init__(self, predictions):
        self.predictions = list(predictions)

    def size_fn(self):
        fns = [p.size_fn() for p in self.predictions]
        return lambda xy: np.min([f(xy) for f in fns], axis=0)


def representative_rows(samples_w: np.ndarray, block_area: np.ndarray,
                        most: int = MAX_PREDICTED_ROWS, seed: int = 0) -> np.ndarray:
    """(k, B) W: at most ``most`` rows that stand for a trace's distinct rows.

    The distinct rows are clustered by power density (k-means, seeded) and each cluster is
    represented by its members' element-wise maximum, so that every block is at least as hot in
    some representative as in any row.
    """
    distinct = np.unique(samples_w, axis=0)
    if len(distinct) <= most:
        return distinct
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=most, n_init=3, random_state=seed).fit_predict(
        distinct / block_area)
    return np.array([distinct[labels == k].max(axis=0) for k in range(most)])


def trace_mesh(floorplan, samples_w: np.ndarray, stack, strategy: str = "ml",
               tolerance: float = 0.1, model=None, max_dofs: int | None = None):
    """One mesh for a whole trace, fine wherever any sample is hot.

    "ml" / "heuristic": the predicted size is the minimum over the trace's representative rows
    (:func:`representative_rows`), then the estimator checks (and corrects) it on the steady
    solution of the row-wise maximum power, as ``thermal solve`` does for one power.
    "estimator" and "uniform" run their own loop on that maximum power.

    Returns
    -------
    mesh : Mesh
    info : dict
        ``strategy``, ``rows_predicted``, ``dofs`` of the check, ``error_estimate_K``,
        ``mesh_s``.
    """
    from .critical import resolved
    from .strategies import (MAX_DOFS, PREDICTED, chosen_strategy, meshed_to_prediction,
                             predictor, start_mesh)

    t0 = time.perf_counter()
    max_dofs = MAX_DOFS if max_dofs is None else max_dofs
    strategy = chosen_strategy(strategy, model)
    peak_row = samples_w.max(axis=0)
    regions = resolved(floorplan, tolerance, stack.critical)
    conductivity = floorplan.conductivity if np.isfinite(floorplan.conductivity).any() else None
    die = floorplan.bounds
    m = start_mesh(floorplan, stack, strategy)
    info = {"strategy": strategy, "rows_predicted": 0}
    if strategy == "uniform":
        from .strategies import uniform_solve

        out = uniform_solve(m, stack, peak_row, conductivity, die, regions, tolerance, max_dofs,
                             None, t0)
        m, estimate, dofs = out.mesh, out.estimate.value, out.history[-1]["dofs"]
    else:
        steps = None
        if strategy in PREDICTED:
            rows = representative_rows(samples_w, floorplan.area_m2)
            model_ = predictor(strategy, model)
            prediction = _MinimumPrediction(model_.predict(floorplan, r, stack, tolerance)
                                            for r in rows)
            info["rows_predicted"] = len(rows)
            m, steps = meshed_to_prediction(m, prediction, floorplan, regions, tolerance,
                                            max_dofs)
        from .adapt import adaptive_solve

        result = adaptive_solve(m, stack, peak_row, regions.block_tolerance, tolerance,
                                conductivity, die, max_dofs=max_dofs, steps=steps,
                                rects=regions.rects, rect_tolerance=regions.rect_tolerance,
                                scaled=strategy in PREDICTED)
        m, estimate, dofs = result.mesh, result.estimate.value, result.info["dofs"]
    info.update(check_dofs=int(dofs), error_estimate_K=float(estimate),
                mesh_s=time.perf_counter() - t0)
    return m, info


# -------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Frame:
    """The temperatures at the end of one sampling interval.

    Attributes
    ----------
    index : int
        0-based trace row.
    time_s : float
    block_max_K, block_mean_K : (B,) float
        Power layer, floorplan order.
    peak : (float, float, float, int)
        ``(temperature_K, x_m, y_m, layer)``: the hottest node of any layer.
    theta : (n,) float
        The unknowns (temperature rise, K); do not keep every frame's.
    power_w : (B,) float
        Block powers over the interval (dynamic plus leakage), W.
    """

    index: int
    time_s: float
    block_max_K: np.ndarray
    block_mean_K: np.ndarray
    peak: tuple
    theta: np.ndarray
    power_w: np.ndarray


@dataclass(frozen=True, eq=False)
class TransientResult:
    """Every output time of a transient run as arrays.

    Attributes
    ----------
    times_s : (T,)
    block_max_K, block_mean_K : (T, B)
    peak_K : (T,)
    peak_xy_m : (T, 2)
    peak_layer : (T,) int
    names : tuple of str
    mesh : Mesh
    final_K : (L, N) the last temperature field per layer (NaN outside footprints).
    info : dict
        ``dofs``, ``dt_s``, ``steps``, ``method``, ``factorise_s``, ``step_ms`` and the mesh's
        info.
    """

    times_s: np.ndarray
    block_max_K: np.ndarray
    block_mean_K: np.ndarray
    peak_K: np.ndarray
    peak_xy_m: np.ndarray
    peak_layer: np.ndarray
    names: tuple
    mesh: Mesh
    final_K: np.ndarray
    info: dict


class TransientRun:
    """A prepared transient: mesh, operators and factorisation; :meth:`frames` runs it.

    Build with :func:`prepare`; see :func:`transient` for the parameters.
    """

    def __init__(self, floorplan, samples_w, stack, mesh, sampling_interval, dt, method, init,
                 init_values, leakage, mesh_info):
        from .fields import layer_fields

        self.floorplan, self.stack, self.mesh = floorplan, stack, mesh
        self.samples_w = samples_w
        self.interval = float(sampling_interval)
        dt = self.interval if dt is None else float(dt)
        if not (math.isfinite(dt) and dt > 0):
            raise InputError(f"time step must be a positive number of seconds, got {dt}",
                             field="dt")
        self.substeps = max(1, math.ceil(self.interval / dt * (1 - 1e-9)))
        self.dt = self.interval / self.substeps
        t0 = time.perf_counter()
        conductivity = floorplan.conductivity if np.isfinite(floorplan.conductivity).any() \
            else None
        heat_capacity = floorplan.heat_capacity if np.isfinite(floorplan.heat_capacity).any() \
            else None
        system: System = assemble(mesh, stack, np.zeros(len(floorplan.names)), conductivity,
                                  floorplan.bounds)
        self.system = system
        self.load = load_operator(mesh, stack, system.node2dof)
        self.capacity = capacity(mesh, stack, system.node2dof, heat_capacity, floorplan.bounds)
        self.reduce = BlockReducer.build(mesh, system.node2dof, stack.power_layers[0])
        self.assemble_s = time.perf_counter() - t0
        order = fill_reducing_order(mesh, system.node2dof) \
            if system.n_dofs <= DIRECT_MAX_DOFS else None
        self.stepper = Stepper(system.matrix, self.capacity, self.dt, method, order)
        self.method = method
        self.leakage = leakage
        self._layer_fields = lambda x: layer_fields(system, x)
        used = system.node2dof >= 0
        self.dof_node = np.empty(system.n_dofs, np.int64)
        self.dof_layer = np.empty(system.n_dofs, np.int64)
        self.dof_node[system.node2dof[used]] = np.nonzero(used)[1]
        self.dof_layer[system.node2dof[used]] = np.nonzero(used)[0]
        self.x0 = self._initial(init, init_values)
        self.mesh_info = mesh_info

    def _initial(self, init, values) -> np.ndarray:
        n = self.system.n_dofs
        if init == "ambient":
            return np.zeros(n)
        if init == "steady":
            from .linear import solve_linear

            p = self.samples_w.mean(axis=0)
            if self.leakage is not None:
                return steady_fixed_point(self, p)[0]
            x, _ = solve_linear(self.system.matrix, self.load @ p)
            return x
        if init == "blocks":
            return initial_from_blocks(self.mesh, self.stack, self.system.node2dof, values,
                                       self.floorplan.names)
        if init == "vtu":
            return initial_from_vtu(values, self.mesh, self.stack, self.system.node2dof)
        raise InputError(f"unknown initial condition {init!r}; choose ambient or steady",
                         field="init")

    @property
    def n_dofs(self) -> int:
        return self.system.n_dofs

    def block_mean_rise(self, x: np.ndarray) -> np.ndarray:
        return self.reduce.mean_op @ x

    def fields(self, x: np.ndarray) -> np.ndarray:
        """(L, N) temperature (K) per layer of the unknowns ``x``."""
        return self._layer_fields(x) + self.stack.ambient_K

    def frames(self, progress: Callable[[int, int], None] | None = None) -> Iterator[Frame]:
        """One :class:`Frame` per trace row, streamed."""
        x = self.x0.copy()
        ambient = self.stack.ambient_K
        rows = len(self.samples_w)
        self.stepper.reset()
        step_time = 0.0
        pts = self.mesh.points
        for k in range(rows):
            p = self.samples_w[k]
            t = time.perf_counter()
            if self.method == "bdf2":
                self.stepper.reset()   # the power jumps: BDF2 across the kink is first order
            for _ in range(self.substeps):
                total = p if self.leakage is None else \
                    p + self.leakage.power(self.block_mean_rise(x) + ambient)
                x = self.stepper.step(x, self.load @ total)
            step_time += time.perf_counter() - t
            if not np.all(np.isfinite(x)):
                raise SolverError(f"the transient diverged at row {k} (t = "
                                  f"{(k + 1) * self.interval:.6g} s)")
            hi, mean = self.reduce(x)
            j = int(np.argmax(x))
            node = self.dof_node[j]
            self.step_s = step_time
            yield Frame(index=k, time_s=(k + 1) * self.interval, block_max_K=hi + ambient,
                        block_mean_K=mean + ambient,
                        peak=(float(x[j] + ambient), float(pts[node, 0]), float(pts[node, 1]),
                              int(self.dof_layer[j])),
                        theta=x, power_w=total)
            if progress is not None:
                progress(k + 1, rows)

    def info(self) -> dict:
        return {"dofs": self.n_dofs, "nodes": self.mesh.n_nodes,
                "triangles": self.mesh.n_triangles, "dt_s": self.dt,
                "substeps": self.substeps, "method": self.method,
                "factorise_s": self.stepper.factorise_s, "assemble_s": self.assemble_s,
                **({"mesh": self.mesh_info} if self.mesh_info else {})}


def prepare(floorplan, trace, stack=None, *, sampling_interval: float | None = None,
            dt: float | None = None, method: str = "be", init: str = "ambient",
            init_file=None, mesh="auto", tolerance: float = 0.1, model=None,
            leakage=None, max_dofs: int | None = None) -> TransientRun:
    """Mesh, assemble and factorise a transient run (see :func:`transient`)."""
    from .stack import Stack

    stack = Stack.default() if stack is None else stack
    samples = trace_matrix(floorplan, trace)
    if sampling_interval is None:
        sampling_interval = DEFAULT_SAMPLING_INTERVAL_S
    if not (math.isfinite(sampling_interval) and sampling_interval > 0):
        raise InputError(f"sampling interval must be a positive number of seconds, got "
                         f"{sampling_interval}", field="sampling_interval")
    if method not in METHODS:
        raise InputError(f"unknown time-stepping method {method!r}; choose from "
                         f"{', '.join(METHODS)}", field="method")
    if leakage is None:
        from .leakage import from_stack_file

        leakage = from_stack_file(stack.path)
    if leakage is not None:
        leakage = leakage.for_floorplan(floorplan)
    init_values = None
    if init_file is not None:
        from pathlib import Path

        if Path(init_file).suffix.lower() == ".vtu":
            init, init_values = "vtu", init_file
        else:
            init, init_values = "blocks", read_init_file(init_file, floorplan, stack)
    elif init not in ("ambient", "steady"):
        raise InputError(f"unknown initial condition {init!r}; choose ambient or steady",
                         field="init")
    if isinstance(mesh, Mesh):
        m, mesh_info = mesh, {"strategy": "given"}
    else:
        m, mesh_info = trace_mesh(floorplan, samples, stack, mesh, tolerance, model, max_dofs)
    return TransientRun(floorplan, samples, stack, m, sampling_interval, dt, method, init,
                        init_values, leakage, mesh_info)


def transient_frames(floorplan, trace, stack=None, *, progress=None, **options
                     ) -> Iterator[Frame]:
    """Stream the transient one :class:`Frame` per trace row (memory flat in the trace length).

    Parameters as :func:`transient`; ``progress(done_rows, total_rows)`` is called after each.
    """
    return prepare(floorplan, trace, stack, **options).frames(progress)


def transient(floorplan, trace, stack=None, *, sampling_interval: float | None = None,
              dt: float | None = None, method: str = "be", init: str = "ambient",
              init_file=None, mesh="auto", tolerance: float = 0.1, model=None, leakage=None,
              progress: Callable[[int, int], None] | None = None) -> TransientResult:
    """Block temperatures over a power trace.

    Parameters
    ----------
    floorplan : Floorplan
    trace : PowerTrace or (rows, B) array
        Each row is the power (W) of every block over one sampling interval.
    stack : Stack, optional
        Default: HotSpot's default package.
    sampling_interval : float, optional
        Length of one row, s (default HotSpot's 3.333 µs).
    dt : float, optional
        Time step, s; default the sampling interval. Rounded down so that it divides the
        interval.
    method : {"be", "cn", "bdf2"}
        Backward Euler (default), Crank–Nicolson or BDF2.
    init : {"ambient", "steady"}
        Start at ambient, or at the steady state of the mean row.
    init_file : path, optional
        Start from a previous run's ``final.vtu``, or from HotSpot's ``-init_file`` block
        temperatures (``name temperature_K`` per line); overrides ``init``.
    mesh : str or Mesh
        Meshing strategy for the whole trace (:func:`trace_mesh`), or a mesh to use as is.
    tolerance : float
        Target error of the block temperatures of the steady check, K.
    model : optional
        The predictor for "ml".
    leakage : thermal.leakage.Leakage, optional
        Temperature-dependent leakage added to each block's power at every step (from the
        block mean temperature at the start of the step); default the stack's.
    progress : callable, optional
        ``progress(done_rows, total_rows)``.

    Returns
    -------
    TransientResult
    """
    run = prepare(floorplan, trace, stack, sampling_interval=sampling_interval, dt=dt,
                  method=method, init=init, init_file=init_file, mesh=mesh,
                  tolerance=tolerance, model=model, leakage=leakage)
    t0 = time.perf_counter()
    times, hi, mean, peak, x = [], [], [], [], run.x0
    for f in run.frames(progress):
        times.append(f.time_s)
        hi.append(f.block_max_K)
        mean.append(f.block_mean_K)
        peak.append(f.peak)
        x = f.theta
    total = time.perf_counter() - t0
    peak_a = np.array(peak, dtype=float).reshape(-1, 4)
    steps = len(times) * run.substeps
    info = {**run.info(), "steps": steps, "run_s": total,
            "step_ms": 1e3 * getattr(run, "step_s", 0.0) / max(steps, 1)}
    n = len(times)
    return TransientResult(times_s=np.array(times), block_max_K=np.array(hi).reshape(n, -1),
                           block_mean_K=np.array(mean).reshape(n, -1),
                           peak_K=peak_a[:, 0], peak_xy_m=peak_a[:, 1:3],
                           peak_layer=peak_a[:, 3].astype(int), names=tuple(floorplan.names),
                           mesh=run.mesh, final_K=run.fields(x), info=info)



# -------------------------------------------------------------------------------------------
# Streamed output (thermal transient --out DIR)


OUTPUT_FILES = ("transient.csv", "peak.csv", "summary.json", "transient.png", "final.vtu")
"""Files :func:`write_run` writes (and ``snapshot_*.vtu``)."""


class _Decimated:
    """A series of per-block values kept in at most ``2 * cap`` points: when full, neighbouring
    points merge (their max, times their last), so memory stays flat in the trace length."""

    def __init__(self, n_blocks: int, cap: int = 2000):
        self.cap = cap
        self.times = np.empty(2 * cap)
        self.values = np.empty((2 * cap, n_blocks))
        self.n = 0
        self.stride = 1
        self._pending = 0

    def add(self, t: float, v: np.ndarray) -> None:
        if self._pending:                      # merge into the current point
            self.values[self.n - 1] = np.maximum(self.values[self.n - 1], v)
            self.times[self.n - 1] = t
        else:
            self.times[self.n], self.values[self.n] = t, v
            self.n += 1
        self._pending = (self._pending + 1) % self.stride
        if self.n == 2 * self.cap and not self._pending:
            self.values[:self.cap] = np.maximum(self.values[0::2], self.values[1::2])
            self.times[:self.cap] = self.times[1::2]
            self.n, self.stride = self.cap, 2 * self.stride


def plot_series(path, times_s: np.ndarray, values_K: np.ndarray, names, most: int = 6,
                title: str = "") -> None:
    """Temperature over time of the hottest ``most`` blocks (by their largest value)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    order = np.argsort(-values_K.max(axis=0))[:most]
    scale, unit = (1e3, "ms") if times_s[-1] < 1 else (1.0, "s")
    for b in order:
        ax.plot(times_s * scale, values_K[:, b] - 273.15, label=names[b], lw=1.2)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("block max temperature (°C)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)


def write_run(run: TransientRun, directory, *, ttrace=None, snapshots: int = 0,
              plots: bool = True, progress: Callable[[int, int], None] | None = None) -> dict:
    """Run a prepared transient, streaming its results into ``directory``.

    Writes ``transient.csv`` (``time_s,block,layer,max_K,mean_K``, one row per block per output
    time), ``peak.csv`` (``time_s,temperature_K,x_m,y_m,layer``), ``summary.json``,
    ``transient.png`` (the hottest blocks over time), ``final.vtu`` (the last field: a later
    run's ``init_file``) and ``snapshots`` evenly spaced ``snapshot_NNNN.vtu`` fields; and
    HotSpot's ``.ttrace`` (block means, K) at ``ttrace``. Everything appears only when the
    run completes (:func:`thermal.solution.writing_into`); an exception or Ctrl-C leaves
    nothing.

    Returns
    -------
    dict
        The summary.
    """
    import csv
    import json

    from . import __version__
    from .io.ttrace import TtraceWriter
    from .io.vtu import write_vtu
    from .solution import writing_into

    stack, mesh, names = run.stack, run.mesh, run.floorplan.names
    layer_name = stack.layers[stack.power_layers[0]].name
    rows = len(run.samples_w)
    snap_at = set(np.unique(np.linspace(0, rows - 1, snapshots).round().astype(int)).tolist()) \
        if snapshots > 0 else set()
    series = _Decimated(len(names))
    t0 = time.perf_counter()
    hottest = (-np.inf, 0.0, 0.0, 0.0, 0)
    block_peak = np.full(len(names), -np.inf)
    frame = None

    def vtu(path, x, t):
        fields = run.fields(x)
        write_vtu(path, mesh.points, mesh.triangles,
                  {f"T_{layer.name}_K": fields[l] for l, layer in enumerate(stack.layers)},
                  {"block": mesh.block_of_tri})

    with writing_into(directory, owned=OUTPUT_FILES) as tmp:
        tt = TtraceWriter(ttrace, names) if ttrace is not None else None
        try:
            with open(tmp / "transient.csv", "w", encoding="utf-8", newline="") as fc, \
                    open(tmp / "peak.csv", "w", encoding="utf-8", newline="") as fpk:
                wc, wp = csv.writer(fc, lineterminator="\n"), csv.writer(fpk, lineterminator="\n")
                wc.writerow(["time_s", "block", "layer", "max_K", "mean_K"])
                wp.writerow(["time_s", "temperature_K", "x_m", "y_m", "layer"])
                for frame in run.frames(progress):
                    t = f"{frame.time_s:.9g}"
                    wc.writerows([t, n, layer_name, f"{a:.4f}", f"{b:.4f}"] for n, a, b in
                                 zip(names, frame.block_max_K, frame.block_mean_K))
                    temp, x, y, layer = frame.peak
                    wp.writerow([t, f"{temp:.4f}", f"{x:.6e}", f"{y:.6e}",
                                 stack.layers[layer].name])
                    if temp > hottest[0]:
                        hottest = (temp, x, y, frame.time_s, layer)
                    np.maximum(block_peak, frame.block_max_K, out=block_peak)
                    series.add(frame.time_s, frame.block_max_K)
                    if tt is not None:
                        tt.write(frame.block_mean_K)
                    if frame.index in snap_at:
                        vtu(tmp / f"snapshot_{frame.index:06d}.vtu", frame.theta, frame.time_s)
            if frame is None:
                raise InputError("the power trace has no rows")
            vtu(tmp / "final.vtu", frame.theta, frame.time_s)
            elapsed = time.perf_counter() - t0
            steps = rows * run.substeps
            summary = {
                "peak": {"temperature_K": hottest[0], "x_m": hottest[1], "y_m": hottest[2],
                         "time_s": hottest[3], "layer": stack.layers[hottest[4]].name},
                "blocks_peak_K": {n: float(v) for n, v in zip(names, block_peak)},
                "final_block_mean_K": {n: float(v) for n, v in zip(names, frame.block_mean_K)},
                "rows": rows, "sampling_interval_s": run.interval, "dt_s": run.dt,
                "steps": steps, "method": run.method,
                "mesh": {"strategy": (run.mesh_info or {}).get("strategy"),
                         "nodes": mesh.n_nodes, "triangles": mesh.n_triangles,
                         "dofs": run.n_dofs,
                         "error_estimate_K": (run.mesh_info or {}).get("error_estimate_K")},
                "leakage": run.leakage.describe() if run.leakage is not None else None,
                "timings_s": {"mesh": (run.mesh_info or {}).get("mesh_s", 0.0),
                              "assemble": run.assemble_s,
                              "factorise": run.stepper.factorise_s,
                              "steps": getattr(run, "step_s", 0.0), "run": elapsed,
                              "ms_per_step": 1e3 * getattr(run, "step_s", 0.0) / max(steps, 1)},
                "version": __version__,
            }
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                              encoding="utf-8")
            if plots:
                plot_series(tmp / "transient.png", series.times[:series.n],
                            series.values[:series.n], names,
                            title=f"hottest blocks ({layer_name}), {run.method}, "
                                  f"dt {run.dt:.3g} s, {run.n_dofs:,} DOFs")
        except BaseException:
            if tt is not None:
                tt.discard()
            raise
        if tt is not None:
            tt.commit()
    return summary


def steady_fixed_point(run, p_dyn):
    """The leakage fixed point (:func:`thermal.leakage.fixed_point`) of the steady problem on a
    prepared run's mesh, with one factorisation: (temperatures, total block powers W,
    iterations)."""
    import scipy.sparse.linalg as spla

    from .leakage import fixed_point
    from .linear import solve_linear

    if run.n_dofs <= DIRECT_MAX_DOFS:
        lu = spla.splu(run.system.matrix.tocsc(), permc_spec="MMD_AT_PLUS_A",
                       diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        solve = lu.solve
    else:
        def solve(rhs):
            return solve_linear(run.system.matrix, rhs)[0]
    ambient = run.stack.ambient_K

    def mean(x):
        return np.full(len(p_dyn), ambient) if x is None else run.reduce.mean_op @ x + ambient

    return fixed_point(lambda p: solve(run.load @ p), mean, p_dyn, run.leakage)
