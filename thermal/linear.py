"""Sparse linear solves of the assembled systems, checked before they are returned.

Small systems are factorised directly (SuperLU); large ones use conjugate gradients
preconditioned by multigrid: geometric, over the nested meshes of the refinement loop, when they
are known, else pyamg's smoothed aggregation. Every solve is checked: the relative residual must
be below :data:`RESIDUAL_LIMIT`, or the temperature error it implies negligible
(:data:`ERROR_LIMIT_K`), or a :class:`~thermal.errors.SolverError` is raised instead of returning
a wrong field. Iteration counts and memory per unknown: ``benchmarks/results/solver_scaling.md``.
"""

from __future__ import annotations

import os
import warnings
import weakref

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import SolverError

DIRECT_MAX_DOFS = 30_000
"""Systems up to this size are factorised directly; larger ones use multigrid-preconditioned CG."""

DIRECT_FALLBACK_MAX_DOFS = 1_500_000
"""When CG fails, systems up to this size are factorised instead (a few GB at most)."""

COARSEST_DOFS = 5_000
"""Multigrid stops coarsening at the first level this small and factorises it."""

RESIDUAL_LIMIT = 1e-9
"""Largest ``‖b − A x‖ / ‖b‖`` accepted without further check; above it a solve is still
accepted when its residual's temperature error is negligible (:data:`ERROR_LIMIT_K`)."""

ERROR_LIMIT_K = 1e-6
"""Largest accepted bound on the temperature error a residual implies, K (times the largest
temperature rise in K when that is below 1 K, so that tiny powers keep 6 digits), or
:data:`ERROR_LIMIT_REL` of the largest rise when that is more. The system matrix is
an M-matrix, so ``A⁻¹ ≥ 0`` and ``|x − x*| = |A⁻¹ (b − A x)| ≤ A⁻¹ |b − A x|``: the bound is
rigorous (and sharp where the residual has one sign), and one more solve gives it. It accepts a 200k-unknown
direct solve of a 0.6 mm die whose relative residual (4.2e-9) stops above :data:`RESIDUAL_LIMIT`
although its temperatures are exact to far below the tolerance."""


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
    residual = rhs - matrix @ x
    res = np.linalg.norm(residual) / (norm_b if norm_b > 0 else 1.0)
    if method == "direct" and res > RESIDUAL_LIMIT and np.all(np.isfinite(x)):
        x = x + spla.spsolve(matrix.tocsc(), residual, permc_spec="COLAMD")  # refine once
        residual = rhs - matrix @ x
        res = np.linalg.norm(residual) / (norm_b if norm_b > 0 else 1.0)
    info["residual_rel"] = float(res)
    if np.all(np.isfinite(x)) and res > RESIDUAL_LIMIT and _negligible(matrix, residual, x,
                                                                      method, info):
        return x, info
    if not np.all(np.isfinite(x)) or res > RESIDUAL_LIMIT:
        if method == "gmg":
            return solve_linear(matrix, rhs, x0, "amg", rtol)
        if method == "amg" and n <= DIRECT_FALLBACK_MAX_DOFS:
            return solve_linear(matrix, rhs, method="direct")
        raise SolverError(f"linear solve ({method}) failed: relative residual {res:.2e} "
                          f"> {RESIDUAL_LIMIT:.0e} on {n} unknowns")
    return x, info


def _negligible(matrix, residual: np.ndarray, x: np.ndarray, method: str, info: dict) -> bool:
    """Whether the temperature error that ``residual`` implies is below :data:`ERROR_LIMIT_K`.

    ``A⁻¹ |r|`` comes from one more solve (direct after a direct solve, else smoothed-
    aggregation CG to 1e-6: a loose value of a bound), and is taken 10% larger. Records
    ``error_bound_K`` in ``info``.
    """
    size = np.abs(residual)
    try:
        if method == "direct":
            spread = spla.spsolve(matrix.tocsc(), size, permc_spec="COLAMD")
        else:
            spread = _aggregation(matrix).solve(size, tol=1e-6, accel="cg", maxiter=200)
    except (RuntimeError, ValueError, ArithmeticError):
        return False
    if not np.all(np.isfinite(spread)) or spread.min() < -1e-6 * np.abs(spread).max():
        return False  # not an M-matrix after all: no bound
    bound = 1.1 * float(spread.max())
    info["error_bound_K"] = bound
    rise = float(np.abs(x).max())
    return bound <= max(ERROR_LIMIT_K * min(1.0, rise), ERROR_LIMIT_REL * rise)


ERROR_LIMIT_REL = 1e-7
"""See :data:`ERROR_LIMIT_K`: 1e-5 K on a 390 K rise (a 40 µm die of µm blocks) is accepted."""


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
