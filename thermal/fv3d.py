"""A 3D finite-volume conduction solver: the physics the layered model approximates (a test and
benchmark oracle, issue 21).

A box of layers, top (0) to bottom, each a rectangle centred on the die with its own uniform
conductivity; every block's power enters as a uniform flux through the top face of the power
layer (its active face); the bottom layer's lower face loses heat to ambient through ``h``;
every other face is adiabatic (also the parts of a layer's faces its neighbour does not cover).

Cells form a tensor grid whose x and y faces include every block edge and footprint edge, at
most ``dx`` apart on the die and growing by at most 1.3 per cell beyond it, and whose z faces
split each layer into ``cells_z`` equal cells. Face conductances are harmonic
(``A / (d₁/2k₁ + d₂/2k₂)``), so the matrix is a symmetric M-matrix, factorised up to
:data:`DIRECT_MAX` unknowns and above solved by conjugate gradients with pyamg's smoothed
aggregation to a relative residual of 1e-10. It is second-order accurate
in the cell size; :func:`richardson` extrapolates two grids (``refine`` 1 and 2) to remove the
leading term.

Reported per block: the mean over the power layer's top face (the cell temperature plus
``q dz / 2k``, the flux entering that face) and the mean over the power layer's volume.

Examples
--------
One layer, uniform power: the top face is ``P/A (t/k + 1/h)`` above ambient, exactly.

>>> r = conduction_3d((0, 0, 1e-3, 1e-3), [[0, 0, 1e-3, 1e-3]], [0.1], [(2e-4, 100.0, None)],
...                   h=1e4, dx=2.5e-4, cells_z=2)
>>> round(float(r.top_mean[0]), 9) == round(0.1 / 1e-6 * (2e-4 / 100 + 1e-4), 9)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["Conduction3D", "conduction_3d", "richardson"]

DIRECT_MAX = 40_000
"""Systems up to this size are factorised; larger ones use CG with smoothed aggregation."""


@dataclass(frozen=True)
class Conduction3D:
    """Block temperatures of a 3D solve, as rises over ambient (K).

    Attributes
    ----------
    top_mean : (B,) mean over the block on the power layer's top face
    vol_mean : (B,) mean over the power layer's volume under the block
    unknowns : int
    energy_balance_rel : float
    """

    top_mean: np.ndarray
    vol_mean: np.ndarray
    unknowns: int
    energy_balance_rel: float


def _axis(lines, lo_die, hi_die, dx) -> np.ndarray:
    """Face coordinates through every line, at most ``dx`` apart on [lo_die, hi_die], growing
    by at most 1.3 per cell outside."""
    lines = np.unique(np.round(np.asarray(lines, float), 12))
    faces = [lines[0]]
    for a, b in zip(lines[:-1], lines[1:]):
        if a >= lo_die - 1e-12 and b <= hi_die + 1e-12:
            n = max(1, int(np.ceil((b - a) / dx - 1e-9)))
            faces.extend(np.linspace(a, b, n + 1)[1:])
            continue
        # outside the die: graded away from the die side of the interval
        toward_die = b <= lo_die + 1e-12        # the interval ends at the die: fine at b
        length, sizes, s = b - a, [], dx
        while sum(sizes) < length:
            sizes.append(s)
            s *= 1.3
        sizes = np.array(sizes) * length / sum(sizes)
        steps = np.cumsum(sizes[::-1] if toward_die else sizes)
        faces.extend(a + steps[:-1])
        faces.append(b)
    return np.array(faces)


def conduction_3d(die, block_rects, block_power_w, layers, h: float, power_layer: int = 0,
                  dx: float | None = None, cells_z=4, refine: int = 1) -> Conduction3D:
    """Steady 3D conduction of a layered box.

    Parameters
    ----------
    die : (x0, y0, x1, y1)
        m.
    block_rects : (B, 4)
        ``(left, bottom, width, height)`` of each block, m.
    block_power_w : (B,)
        W, entering through the power layer's top face.
    layers : sequence of (thickness_m, conductivity, size_m or None)
        Top to bottom; ``size_m`` (w, h) centred on the die, None: the die.
    h : float
        W/(m² K) at the bottom layer's lower face.
    power_layer : int
    dx : float, optional
        Largest cell side on the die at ``refine`` 1 (default 1/40 of its shorter side).
    cells_z : int or sequence of int
        Cells through each layer at ``refine`` 1.
    refine : int
        Divides ``dx`` and multiplies ``cells_z`` (2: eight times the cells).

    Returns
    -------
    Conduction3D
    """
    x0, y0, x1, y1 = (float(v) for v in die)
    blocks = np.asarray(block_rects, float).reshape(-1, 4)
    power = np.asarray(block_power_w, float)
    t = np.array([layer[0] for layer in layers], float)
    k = np.array([layer[1] for layer in layers], float)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    foot = np.array([(x0, y0, x1, y1) if s is None else
                     (cx - s[0] / 2, cy - s[1] / 2, cx + s[0] / 2, cy + s[1] / 2)
                     for s in (layer[2] for layer in layers)])
    dx = (min(x1 - x0, y1 - y0) / 40 if dx is None else dx) / refine
    xs = _axis(np.r_[foot[:, [0, 2]].ravel(), blocks[:, 0], blocks[:, 0] + blocks[:, 2]], x0, x1, dx)
    ys = _axis(np.r_[foot[:, [1, 3]].ravel(), blocks[:, 1], blocks[:, 1] + blocks[:, 3]], y0, y1, dx)
    nz = np.broadcast_to(np.asarray(cells_z, int), t.shape) * refine
    zl = np.repeat(np.arange(len(t)), nz)                       # layer of each z cell
    hz = np.repeat(t / nz, nz)
    wx, wy = np.diff(xs), np.diff(ys)
    mx, my = 0.5 * (xs[1:] + xs[:-1]), 0.5 * (ys[1:] + ys[:-1])
    f = foot[zl]                                                 # (nz, 4)
    active = ((mx[None, :, None] > f[:, None, None, 0]) & (mx[None, :, None] < f[:, None, None, 2])
              & (my[None, None, :] > f[:, None, None, 1]) & (my[None, None, :] < f[:, None, None, 3]))
    kc = np.broadcast_to(k[zl][:, None, None], active.shape)
    index = np.full(active.shape, -1)
    index[active] = np.arange(active.sum())
    n = int(active.sum())
    rows, cols, vals = [], [], []
    diag = np.zeros(n)

    def couple(a_sl, b_sl, g):
        ia, ib = index[a_sl], index[b_sl]
        ok = (ia >= 0) & (ib >= 0)
        ia, ib, g = ia[ok], ib[ok], np.broadcast_to(g, ok.shape)[ok]
        rows.extend([ia, ib])
        cols.extend([ib, ia])
        vals.extend([-g, -g])
        np.add.at(diag, ia, g)
        np.add.at(diag, ib, g)

    area_yz = hz[:, None, None] * wy[None, None, :]
    d = wx[None, :, None]
    g = area_yz / (d[:, :-1] / (2 * kc[:, :-1]) + d[:, 1:] / (2 * kc[:, 1:]))
    couple((slice(None), slice(None, -1)), (slice(None), slice(1, None)), g)
    area_xz = hz[:, None, None] * wx[None, :, None]
    d = wy[None, None, :]
    g = area_xz / (d[:, :, :-1] / (2 * kc[:, :, :-1]) + d[:, :, 1:] / (2 * kc[:, :, 1:]))
    couple((slice(None), slice(None), slice(None, -1)), (slice(None), slice(None), slice(1, None)), g)
    area_xy = wx[:, None] * wy[None, :]
    d = hz[:, None, None]
    g = area_xy[None] / (d[:-1] / (2 * kc[:-1]) + d[1:] / (2 * kc[1:]))
    couple((slice(None, -1),), (slice(1, None),), g)
    bottom = index[-1][active[-1]]
    g_conv = (area_xy / (hz[-1] / (2 * k[-1]) + 1.0 / h))[active[-1]]
    np.add.at(diag, bottom, g_conv)
    # power: block fluxes on the power layer's top cells (block edges are grid lines)
    top_z = int(np.flatnonzero(zl == power_layer)[0])
    ox = np.clip(np.minimum(xs[1:, None], (blocks[:, 0] + blocks[:, 2])[None])
                 - np.maximum(xs[:-1, None], blocks[:, 0][None]), 0, None)     # (nx, B)
    oy = np.clip(np.minimum(ys[1:, None], (blocks[:, 1] + blocks[:, 3])[None])
                 - np.maximum(ys[:-1, None], blocks[:, 1][None]), 0, None)     # (ny, B)
    density = power / (blocks[:, 2] * blocks[:, 3])
    q = np.einsum("ib,jb,b->ij", ox, oy, density) / area_xy                 # W/m² per column
    rhs = np.zeros(n)
    on_top = active[top_z]
    rhs[index[top_z][on_top]] = (q * area_xy)[on_top]
    matrix = sp.csr_matrix((np.concatenate(vals + [diag]),
                            (np.concatenate(rows + [np.arange(n)]),
                             np.concatenate(cols + [np.arange(n)]))), shape=(n, n))
    if n <= DIRECT_MAX:
        theta = spla.spsolve(matrix.tocsc(), rhs)
    else:
        import pyamg
        from threadpoolctl import threadpool_limits

        state = np.random.get_state()
        np.random.seed(0)           # pyamg's spectral radius estimates draw np.random vectors
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                ml = pyamg.smoothed_aggregation_solver(matrix, symmetry="hermitian",
                                                       max_coarse=2000, coarse_solver="splu",
                                                       strength=("symmetric", {"theta": 0.1}))
                theta = ml.solve(rhs, tol=1e-10, accel="cg", maxiter=500)
        finally:
            np.random.set_state(state)
    full = np.zeros(active.shape)
    full[active] = theta
    balance = abs(g_conv @ theta[bottom] - rhs.sum()) / rhs.sum()
    face = full[top_z] + q * hz[top_z] / (2 * k[power_layer])
    in_die = zl == power_layer
    vol = (full[in_die] * hz[in_die, None, None]).sum(axis=0) / hz[in_die].sum()
    weights = ox[:, None, :] * oy[None, :, :]                                # (nx, ny, B)
    top_mean = np.einsum("ijb,ij->b", weights, face) / weights.sum(axis=(0, 1))
    vol_mean = np.einsum("ijb,ij->b", weights, vol) / weights.sum(axis=(0, 1))
    return Conduction3D(top_mean, vol_mean, n, float(balance))


def richardson(coarse: Conduction3D, fine: Conduction3D, order: float = 2.0) -> Conduction3D:
    """Extrapolate two grids (the fine one with half the cell size) to zero cell size."""
    r = 2.0 ** order - 1.0
    return Conduction3D(fine.top_mean + (fine.top_mean - coarse.top_mean) / r,
                        fine.vol_mean + (fine.vol_mean - coarse.vol_mean) / r,
                        fine.unknowns, max(coarse.energy_balance_rel, fine.energy_balance_rel))
