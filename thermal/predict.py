"""Predicting, before any solve, where the mesh must be fine and where the hotspots are.

Everything is computed on a raster over the die (at most :data:`RASTER_CELLS` cells along the
longer side), in the physics' own scales. The power layer spreads heat laterally over the
length ``λ = sqrt(k·t / g)`` (``k·t`` its lateral conductance, ``g`` its vertical coupling
downwards), so the features (:data:`FEATURES`) are, per cell:

- the block power density smoothed by Gaussians of width ½, 1, 2 and 4 λ, turned into kelvin
  by ``λ² / (k·t)`` (the rise a density bump of size λ causes), and the global mean density
  times the vertical resistance to ambient (the uniform part of the rise);
- the local contrast (raw minus λ-smoothed density) and the gradient of the smoothed density,
  in the same kelvin scale;
- the distance (in λ) to the nearest block edge, to the nearest jump in power density, and to
  the die's edge; the smallest block size around (in λ);
- the conductivity relative to the layer's, λ itself and λ relative to the die, and the
  smoothed densities relative to their maximum.

The tolerance is not a feature: the size is predicted per √K and scaled by √tolerance, the P1
rule, so that a tighter tolerance always gives a finer mesh (a forest given the tolerance
learned a non-monotone response from the estimator loop's noisy final meshes).

Two random forests trained by :mod:`thermal.train` map them to the log of the triangle size the
estimator loop ends with (per √K of tolerance) and to the log of the temperature rise. They
are stored as plain arrays in an ``.npz`` file (never a pickle: :func:`load_model` reads it with
``allow_pickle=False`` and checks every array) and evaluated here with numpy alone, so that
``thermal solve`` never imports scikit-learn.

:class:`HeuristicModel` is the non-learned baseline the forests are measured against: the
classic P1 size ``h = sqrt(8·tol / |∇²T|)`` with ``|∇²T| ≈ q_λ / (k·t)`` from the
λ-smoothed power density.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import ndimage

from .errors import InputError
from .layers import Couplings, mode_response

__all__ = ["FEATURES", "Raster", "Prediction", "ForestModel", "HeuristicModel", "load_model",
           "save_model", "default_model", "feature_rasters", "spreading_length"]

RASTER_CELLS = 192
"""Cells along the die's longer side of the feature raster."""

FEATURES = ("rise_half", "rise_1", "rise_2", "rise_4", "rise_uniform",
            "contrast", "gradient", "edge_distance", "jump_distance", "die_distance",
            "block_size", "log_conductivity_ratio", "log_lambda", "lambda_over_die",
            "relative_1", "relative_4", "layered_rise", "layered_curvature")

FORMAT = "thermal-forest"
FORMAT_VERSION = 5
MODEL_FILE = "hotspot_model.npz"
SIZE_SAFETY = 1.7
"""The forest's predicted element size is multiplied by this (dimensionless). The forest
predicts the typical (log-mean) size, the element count is dominated by where that is too small,
and bisection to a size bound overshoots by up to √2. Chosen in
``benchmarks/results/size_safety.md`` (``benchmarks/size_safety.py --factors``)."""

MAX_SIZE_FRACTION = 1 / 12
"""No predicted size (a triangle's longest edge) exceeds this fraction of the die's shorter side,
and the initial mesh the predicted strategies bisect to their size has this bound on its
triangles' circumradius (:func:`thermal.strategies.start_fraction`; the uniform and estimator
strategies start from :data:`thermal.strategies.START_FRACTION`). A predicted strategy answers on
the red refinement of a refined initial mesh, so never with fewer than ~4x the initial mesh's
unknowns: this bound sets that floor. Chosen in ``benchmarks/results/size_safety.md``
(``--cap``); the floor is measured in ``benchmarks/results/oracle_mesh.md``."""

OFF_DIE_SIZE_FRACTION = 1 / 24
"""The element size off the die (a spreader or sink larger than it) at the die's edge, as a
fraction of the die's shorter side; it grows by :data:`OFF_DIE_GRADING` times the distance
from the die. Chosen in ``benchmarks/results/size_safety.md`` (``--package --cap``)."""

OFF_DIE_GRADING = 0.3
"""Growth of the element size with the distance from the die, outside it (m per m). The model
predicts sizes on the die only; a too coarse spreader and sink shift the level of the whole die
field and cost a correction. Chosen in ``benchmarks/results/size_safety.md``
(``--package --grading``)."""


@dataclass(frozen=True)
class Raster:
    """A cell-centred grid over the die: ``nx`` x ``ny`` cells of ``dx`` x ``dy`` from (x0, y0)."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int

    @classmethod
    def over(cls, bounds, cells: int = RASTER_CELLS) -> "Raster":
        x0, y0, x1, y1 = bounds
        w, h = x1 - x0, y1 - y0
        nx = max(int(round(cells * w / max(w, h))), 8)
        ny = max(int(round(cells * h / max(w, h))), 8)
        return cls(x0, y0, w / nx, h / ny, nx, ny)

    @property
    def centres(self) -> np.ndarray:
        """(ny * nx, 2) cell centres, row-major from the bottom row."""
        x = self.x0 + (np.arange(self.nx) + 0.5) * self.dx
        y = self.y0 + (np.arange(self.ny) + 0.5) * self.dy
        return np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2)

    def overlaps(self, lo: np.ndarray, hi: np.ndarray, axis: int) -> np.ndarray:
        """(B, n) length of each interval [lo, hi) inside each cell column (axis 0) or row (1)."""
        start, step, n = (self.x0, self.dx, self.nx) if axis == 0 else (self.y0, self.dy, self.ny)
        edges = start + step * np.arange(n + 1)
        inside = np.clip(edges[None, :], lo[:, None], hi[:, None])
        return np.diff(inside, axis=1)

    def area_weighted(self, rects: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(ny, nx) sum over rectangles (left, bottom, width, height) of value x covered fraction
        of each cell: the cell average of a piecewise-constant field, exactly."""
        ox = self.overlaps(rects[:, 0], rects[:, 0] + rects[:, 2], 0)
        oy = self.overlaps(rects[:, 1], rects[:, 1] + rects[:, 3], 1)
        return (oy.T * values) @ ox / (self.dx * self.dy)

    def grid_average(self, grid) -> np.ndarray:
        """(ny, nx) cell averages of the power per area of a
        :class:`thermal.raster_load.RasterPower`, exactly (its columns and rows overlap the
        raster's as intervals: two small matrix products)."""
        gx0, gy0, _, _ = grid.extent
        gdx, gdy = grid.cell_size
        gny, gnx = grid.watts.shape
        lo_x, lo_y = gx0 + gdx * np.arange(gnx), gy0 + gdy * np.arange(gny)
        ox = self.overlaps(lo_x, lo_x + gdx, 0)           # (gnx, nx)
        oy = self.overlaps(lo_y, lo_y + gdy, 1)           # (gny, ny)
        return oy.T @ (grid.watts / (gdx * gdy)) @ ox / (self.dx * self.dy)

    def sample(self, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of (..., ny, nx) rasters at points (P, 2): (..., P)."""
        cx = (xy[:, 0] - self.x0) / self.dx - 0.5
        cy = (xy[:, 1] - self.y0) / self.dy - 0.5
        flat = grid.reshape(-1, self.ny, self.nx)
        out = np.stack([ndimage.map_coordinates(g, [cy, cx], order=1, mode="nearest")
                        for g in flat])
        return out.reshape(grid.shape[:-2] + (len(xy),))


def spreading_length(stack, die_bounds) -> tuple[float, float, float]:
    """``(λ, k·t, vertical resistance to ambient per area)`` of the power layer, with the
    stack's own couplings (:meth:`~thermal.stack.Stack.couplings` over the die ``die_bounds``:
    ``λ = sqrt(k t / g)``, ``g`` the power layer's whole vertical conductance per area)."""
    p = stack.power_layers[0]
    couplings = stack.couplings(die_bounds)
    kt, g = couplings.sheet[p], couplings.total[p]
    h = stack.h_bottom(die_bounds)
    resistance = sum(l.thickness_m / l.conductivity for l in stack.layers[p:]) + 1.0 / h
    return float(np.sqrt(kt / g)), float(kt), float(resistance)


def layered_rise(raster: Raster, density: np.ndarray, stack, die_bounds
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The power layer's rise in the layered model, solved on the raster: the physics base of
    the forests' predictions.

    Every layer conducts laterally with its ``k·t`` and is coupled to the next by
    :meth:`~thermal.stack.Stack.g_between`, the last to ambient by
    :meth:`~thermal.stack.Stack.g_ambient`. The cosine transform (DCT-II, the cell-centred
    Neumann Laplacian) diagonalises the lateral part, leaving an L x L system per mode
    (:func:`_layered_modes`). Where every layer has the die's footprint this is the layered
    model itself, exact up to the raster's resolution (the cosine series of
    :mod:`thermal.gallery`, for cell-averaged power).

    A spreader or sink larger than the die (HotSpot's package) carries heat beyond it and
    cools the whole die: on ev6 over the die's footprint alone the peak rise came out 84.6 K
    against the solved 28.4 K. That part is smooth on the die, so it is added from two coarse
    solves on the same cells (:func:`_footprint_correction`): over the union of the footprints
    minus over the die alone. With it the rise is within 1.2% of the solved field's peak rise
    at every node of ev6's die (median 0.3%).

    Returns
    -------
    rise : (ny, nx) K, at least 1e-3 of its maximum
    curvature : (ny, nx) K/m², ``|∇²θ|`` on the power layer from the layer's balance
        ``k·t ∇²θ = Σ g (θ − θ_neighbour) − q``, at least 1e-3 of its maximum: for P1 the
        element size a tolerance ``τ`` needs is about ``sqrt(8 τ / |∇²θ|)``.
    """
    n, p = len(stack.layers), stack.power_layers[0]
    couplings = stack.couplings(die_bounds)
    kt = couplings.sheet
    g_below = couplings.below                           # layer l to l + 1 (the last: ambient)
    g_above = couplings.above                           # layer l to l - 1
    theta = _layered_modes(raster, density, couplings, p)
    theta = theta + _footprint_correction(raster, density, stack, die_bounds, couplings, p)
    balance = (g_below[p] * theta[p] + g_above[p] * theta[p] - density
               - (g_below[p] * theta[p + 1] if p + 1 < n else 0.0)
               - (g_above[p] * theta[p - 1] if p > 0 else 0.0))
    rise, curvature = theta[p], np.abs(balance) / kt[p]
    rise = np.maximum(rise, 1e-3 * max(rise.max(), 1e-30))
    curvature = np.maximum(curvature, 1e-3 * max(curvature.max(), 1e-30))
    return rise, curvature


def _layered_modes(raster: Raster, density, couplings: Couplings, p) -> np.ndarray:
    """(L, ny, nx) rise of every layer on ``raster`` with adiabatic edges, power on layer ``p``:
    the layer system of each DCT mode (:func:`thermal.layers.mode_response`)."""
    from scipy import fft

    n = couplings.n_layers
    wy = (2 - 2 * np.cos(np.pi * np.arange(raster.ny) / raster.ny)) / raster.dy ** 2
    wx = (2 - 2 * np.cos(np.pi * np.arange(raster.nx) / raster.nx)) / raster.dx ** 2
    w = wy[:, None] + wx[None, :]
    modes = mode_response(couplings, w, p) * fft.dctn(density, type=2, norm="ortho")
    return fft.idctn(modes.reshape(n, raster.ny, raster.nx), type=2, norm="ortho", axes=(1, 2))


def _on_die(boxes: np.ndarray, die_bounds) -> np.ndarray:
    """(L,) whether each footprint (x0, y0, x1, y1) is the die's, to 1e-9 of its size."""
    die = np.array([float(v) for v in die_bounds])
    return (np.abs(np.asarray(boxes, float) - die) <= 1e-9 * max(die[2] - die[0], die[3] - die[1])
            ).all(axis=1)


def layered_model_is_exact(floorplan, stack) -> bool:
    """Whether :func:`layered_rise` solves the problem itself (up to the raster): every layer
    on the die's footprint and no per-block conductivity."""
    boxes = [stack.footprint(l, floorplan.bounds) for l in range(len(stack.layers))]
    return bool(_on_die(boxes, floorplan.bounds).all()
                and not np.isfinite(np.asarray(floorplan.conductivity, float)).any())


FOOTPRINT_CELLS = (16, 96)
"""Coarse cells of :func:`_footprint_correction`: at least this many across the die's longer
side, unless the union of footprints would then pass the second number across its own. On ev6
under HotSpot's package the largest error against the solved rise was 3.5%, 1.2%, 1.5% and 1.9%
of the peak rise with 12, 16, 24 and 32 cells across the die."""


def _footprint_correction(raster: Raster, density, stack, die_bounds, couplings: Couplings,
                          p) -> np.ndarray:
    """(L, ny, nx) what layers larger than the die change in the die-footprint rise (zero when
    every layer has the die's footprint): the rise over the union of the footprints minus the
    rise over the die alone, both on the same coarse cells, interpolated onto ``raster``."""
    x0, y0, x1, y1 = (float(v) for v in die_bounds)
    boxes = np.array([stack.footprint(l, die_bounds) for l in range(len(stack.layers))])
    ux0, uy0 = boxes[:, 0].min(), boxes[:, 1].min()
    ux1, uy1 = boxes[:, 2].max(), boxes[:, 3].max()
    kt = couplings.sheet
    if _on_die(boxes, die_bounds).all():
        return np.zeros((len(kt), raster.ny, raster.nx))
    cell = max(max(x1 - x0, y1 - y0) / FOOTPRINT_CELLS[0],
               max(ux1 - ux0, uy1 - uy0) / FOOTPRINT_CELLS[1])
    mx, my = max(int(np.ceil((x1 - x0) / cell)), 2), max(int(np.ceil((y1 - y0) / cell)), 2)
    die = Raster(x0, y0, (x1 - x0) / mx, (y1 - y0) / my, mx, my)
    # whole cells of the die's size around it, as many as cover the union
    left, right = (int(round(v / die.dx)) for v in (x0 - ux0, ux1 - x1))
    below, above = (int(round(v / die.dy)) for v in (y0 - uy0, uy1 - y1))
    union = Raster(x0 - left * die.dx, y0 - below * die.dy, die.dx, die.dy,
                   mx + left + right, my + below + above)
    coarse = _averaged(raster, density, die)
    padded = np.pad(coarse, ((below, above), (left, right)))
    # Layers on the die's footprint do not conduct in either coarse solve: the fine solve has
    # their lateral spreading, and extended beyond the die they would carry heat out of its
    # edges (a hotspot at the die's edge then came out 13-25% too cool on ev6).
    far = dataclasses.replace(couplings, sheet=np.where(_on_die(boxes, die_bounds), 0.0, kt))
    over_union = _layered_modes(union, padded, far, p)
    over_die = _layered_modes(die, coarse, far, p)
    difference = over_union[:, below:below + my, left:left + mx] - over_die
    return die.sample(difference, raster.centres).reshape(len(kt), raster.ny, raster.nx)


def _averaged(fine: Raster, values: np.ndarray, coarse: Raster) -> np.ndarray:
    """Cell averages of a (ny, nx) raster on a coarser one over the same box (conservative)."""
    fx = fine.x0 + fine.dx * np.arange(fine.nx + 1)
    fy = fine.y0 + fine.dy * np.arange(fine.ny + 1)
    wx = coarse.overlaps(fx[:-1], fx[1:], 0).T / coarse.dx    # (coarse nx, fine nx)
    wy = coarse.overlaps(fy[:-1], fy[1:], 1).T / coarse.dy
    return wy @ values @ wx.T


def base_log_size(curvature: np.ndarray) -> np.ndarray:
    """log of the P1 size per √K of tolerance, ``log sqrt(8 / |∇²θ|)``: the base the size
    forest corrects."""
    return 0.5 * np.log(8.0 / curvature)


def _log(x, floor=1e-4):
    return np.log10(floor + np.abs(x))


def feature_rasters(floorplan, power_w, stack, raster: Raster | None = None
                    ) -> tuple[Raster, np.ndarray, dict]:
    """The features of :data:`FEATURES` on a raster over the die.

    ``power_w`` is what the solver spreads (:func:`thermal.power.power_load`): W per block, or
    a power map as a :class:`thermal.raster_load.RasterPower`, averaged onto the raster cell
    by cell (exactly, and in time independent of how many unequal cells the map has).

    Returns
    -------
    raster : Raster
    features : (F, ny, nx) float64
    extra : dict
        ``density`` (ny, nx) W/m², ``lam`` m, ``kt`` W/K, ``smoothed`` (ny, nx) λ-smoothed
        density (the heuristic's), and the physics bases the forests correct:
        ``rise`` (ny, nx) K and ``base_log_size`` (ny, nx) (:func:`layered_rise`,
        :func:`base_log_size`).
    """
    from .raster_load import RasterPower

    raster = Raster.over(floorplan.bounds) if raster is None else raster
    rects = floorplan.rects
    if isinstance(power_w, RasterPower):
        density, total_w = raster.grid_average(power_w), power_w.total_w
    else:
        power_w = np.asarray(power_w, float)
        density, total_w = raster.area_weighted(rects, power_w / floorplan.area_m2), power_w.sum()
    lam, kt, resistance = spreading_length(stack, floorplan.bounds)
    to_kelvin = lam ** 2 / kt
    sigma = (lam / raster.dy, lam / raster.dx)
    smooth = {s: ndimage.gaussian_filter(density, (s * sigma[0], s * sigma[1]), mode="reflect",
                                         truncate=3.0) for s in (0.5, 1, 2, 4)}
    gy, gx = np.gradient(smooth[1], raster.dy, raster.dx)
    # block edges and power-density jumps, as boolean rasters of the cells they cross
    edge = np.zeros((raster.ny, raster.nx), bool)
    for lo, hi, axis in ((0, 2, 0), (1, 3, 1)):
        start, step, n = (raster.x0, raster.dx, raster.nx) if axis == 0 else (raster.y0, raster.dy, raster.ny)
        # the cells each block spans the other way: where its edges on this axis run
        other = raster.overlaps(*((rects[:, 1], rects[:, 1] + rects[:, 3]) if axis == 0 else
                                  (rects[:, 0], rects[:, 0] + rects[:, 2])), 1 - axis) > 0
        b, o = np.nonzero(other)
        for side in (rects[:, lo], rects[:, lo] + rects[:, hi]):
            idx = np.clip(((side - start) / step).astype(int), 0, n - 1)
            if axis == 0:
                edge[o, idx[b]] = True
            else:
                edge[idx[b], o] = True
    scale = max(density.max(), 1e-30)
    jump = np.zeros_like(edge)
    for axis in (0, 1):
        d = np.abs(np.diff(density, axis=axis)) > 0.2 * np.maximum(
            np.maximum(np.delete(density, 0, axis), np.delete(density, -1, axis)), 1e-3 * scale)
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, 1)
        jump |= np.pad(d, pad)
    sampling = (raster.dy, raster.dx)
    edge_d = (ndimage.distance_transform_edt(~edge, sampling=sampling) if edge.any()
              else np.full(edge.shape, 10 * lam))
    jump_d = (ndimage.distance_transform_edt(~jump, sampling=sampling) if jump.any()
              else np.full(edge.shape, 100 * lam))
    c = raster.centres.reshape(raster.ny, raster.nx, 2)
    x0, y0, x1, y1 = floorplan.bounds
    die_d = np.minimum.reduce([c[..., 0] - x0, x1 - c[..., 0], c[..., 1] - y0, y1 - c[..., 1]])
    covered = raster.area_weighted(rects, np.ones(len(rects)))
    block_size = raster.area_weighted(rects, np.log10(np.minimum(rects[:, 2], rects[:, 3]) / lam))
    block_size = np.where(covered > 0, block_size / np.maximum(covered, 1e-12), 2.0)
    k_layer = stack.layers[stack.power_layers[0]].conductivity
    k_b = np.nan_to_num(np.asarray(floorplan.conductivity, float), nan=k_layer)
    k_ratio = raster.area_weighted(rects, np.log10(k_b / k_layer))
    diag = float(np.hypot(x1 - x0, y1 - y0))
    mean_density = float(total_w) / ((x1 - x0) * (y1 - y0))
    full = np.ones((raster.ny, raster.nx))
    contrast = (density - smooth[1]) * to_kelvin
    rise, curvature = layered_rise(raster, density, stack, floorplan.bounds)
    features = np.stack([
        _log(smooth[0.5] * to_kelvin), _log(smooth[1] * to_kelvin), _log(smooth[2] * to_kelvin),
        _log(smooth[4] * to_kelvin),
        full * _log(mean_density * resistance),
        np.sign(contrast) * np.log10(1 + np.abs(contrast) / 0.01),
        _log(np.hypot(gx, gy) * lam * to_kelvin),
        np.log10(0.01 + edge_d / lam), np.log10(0.01 + jump_d / lam),
        np.log10(0.01 + die_d / lam),
        block_size, k_ratio,
        full * np.log10(lam), full * np.log10(lam / diag),
        smooth[1] / max(smooth[1].max(), 1e-30), smooth[4] / max(smooth[4].max(), 1e-30),
        np.log10(rise), np.log10(curvature * lam ** 2),
    ])
    extra = {"density": density, "lam": lam, "kt": kt, "smoothed": smooth[1], "rise": rise,
             "base_log_size": base_log_size(curvature)}
    return raster, features, extra


# ---------------------------------------------------------------- predictions


@dataclass(frozen=True, eq=False)
class Prediction:
    """What a model predicts for one problem, on its raster.

    Attributes
    ----------
    raster : Raster
    size_m : (ny, nx)
        Largest triangle diameter wanted, m.
    rise_K : (ny, nx) or None
        Predicted temperature rise over ambient on the power layer, K (None: not predicted).
    ambient_K : float
    locate_K : (ny, nx) or None
        The field whose local maxima are the hotspots (:meth:`hotspots`); default ``rise_K``.
        The trained model passes its physics base: on 12 validation floorplans its hottest
        maximum lay within 1 mm of the exact peak on 10, the corrected rise's on 8–9
        (``benchmarks/ml_ablation.py``), while the corrected rise gives the better
        temperatures.
    """

    raster: Raster
    size_m: np.ndarray
    rise_K: np.ndarray | None
    ambient_K: float
    locate_K: np.ndarray | None = None
    off_die_size_fraction: float = OFF_DIE_SIZE_FRACTION
    off_die_grading: float = OFF_DIE_GRADING

    def size_fn(self, scale: np.ndarray | None = None):
        """``size_fn(xy) -> (P,)`` for :func:`thermal.refine.refined_to_size`: log-bilinear
        interpolation of :attr:`size_m` on the die; outside it (a spreader or sink larger than
        the die) :attr:`off_die_size_fraction` of the die's shorter side, growing by
        :attr:`off_die_grading` times the distance from the die."""
        r = self.raster
        log_size = np.log(self.size_m)
        x1, y1 = r.x0 + r.nx * r.dx, r.y0 + r.ny * r.dy
        eps = 1e-9 * max(x1 - r.x0, y1 - r.y0)
        edge = self.off_die_size_fraction * min(x1 - r.x0, y1 - r.y0)
        grading = self.off_die_grading

        def size(xy):
            gap_x = np.maximum(np.maximum(r.x0 - xy[:, 0], xy[:, 0] - x1), 0.0)
            gap_y = np.maximum(np.maximum(r.y0 - xy[:, 1], xy[:, 1] - y1), 0.0)
            inside = (gap_x <= eps) & (gap_y <= eps)
            out = edge + grading * np.hypot(gap_x, gap_y)
            if inside.any():
                out[inside] = np.exp(r.sample(log_size, xy[inside]))
            return out

        return size

    def hotspots(self, n: int = 5) -> list[dict]:
        """The ``n`` hottest local maxima of :attr:`locate_K` (else of the predicted rise):
        dicts of x_m, y_m and the predicted temperature_K there (hottest first); empty when
        the model predicts no temperatures."""
        if self.rise_K is None:
            return []
        r = self.raster
        field = self.rise_K if self.locate_K is None else self.locate_K
        window = max(3, int(round(0.05 * max(r.nx, r.ny))) | 1)
        peaks = (field == ndimage.maximum_filter(field, size=window, mode="nearest"))
        iy, ix = np.nonzero(peaks)
        order = np.lexsort((ix, iy, -field[iy, ix]))[:n]
        return [{"x_m": float(r.x0 + (ix[i] + 0.5) * r.dx), "y_m": float(r.y0 + (iy[i] + 0.5) * r.dy),
                 "temperature_K": float(self.ambient_K + self.rise_K[iy[i], ix[i]])} for i in order]


def _largest_size(bounds, fraction: float = MAX_SIZE_FRACTION) -> float:
    """The largest size predicted on a die (x0, y0, x1, y1): ``fraction`` (default
    :data:`MAX_SIZE_FRACTION`) of its shorter side, m."""
    x0, y0, x1, y1 = bounds
    return fraction * min(x1 - x0, y1 - y0)


def _bounded_size(size, floorplan, options=None) -> np.ndarray:
    """Sizes clipped to [1e-4 of the die's longer side, :func:`_largest_size`]."""
    x0, y0, x1, y1 = floorplan.bounds
    fraction = MAX_SIZE_FRACTION if options is None else options.max_size_fraction
    return np.clip(size, 1e-4 * max(x1 - x0, y1 - y0), _largest_size(floorplan.bounds, fraction))


def _prediction(raster, size, floorplan, rise, stack, options, locate_K=None) -> Prediction:
    """A :class:`Prediction` with the sizes bounded and the off-die grading of ``options``
    (None: the module's defaults)."""
    off_die = {} if options is None else {"off_die_size_fraction": options.off_die_size_fraction,
                                          "off_die_grading": options.off_die_grading}
    return Prediction(raster, _bounded_size(size, floorplan, options), rise, stack.ambient_K,
                      locate_K=locate_K, **off_die)


@dataclass(frozen=True, eq=False)
class HeuristicModel:
    """The non-learned baseline: ``h = sqrt(8·tol·k·t / q_λ)`` from the λ-smoothed density."""

    name: str = "heuristic"

    def predict(self, floorplan, power_w, stack, tolerance: float, options=None) -> Prediction:
        raster, _, extra = feature_rasters(floorplan, power_w, stack)
        q = np.maximum(extra["smoothed"], 1e-3 * max(extra["smoothed"].max(), 1e-30))
        size = np.sqrt(8.0 * tolerance * extra["kt"] / q)
        return _prediction(raster, size, floorplan, None, stack, options)


@dataclass(frozen=True, eq=False)
class Forest:
    """A regression forest as flat arrays (nodes of all trees concatenated).

    ``left[i] < 0`` marks a leaf; ``roots`` are the trees' first nodes; the prediction is the
    mean over trees of the leaf values.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(P,) mean leaf value for feature rows ``x`` (P, F): all trees, vectorised by depth."""
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                return self.value[node].mean(axis=1)
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)

    @classmethod
    def from_sklearn(cls, forest) -> "Forest":
        parts, offset = [], 0
        for est in forest.estimators_:
            t = est.tree_
            leaf = t.children_left < 0
            parts.append((np.where(leaf, 0, t.feature), t.threshold,
                          np.where(leaf, -1, t.children_left + offset),
                          np.where(leaf, -1, t.children_right + offset), t.value[:, 0, 0], offset))
            offset += t.node_count
        cat = lambda k, dt: np.concatenate([p[k] for p in parts]).astype(dt)  # noqa: E731
        return cls(cat(0, np.int32), cat(1, np.float64), cat(2, np.int32), cat(3, np.int32),
                   cat(4, np.float64), np.array([p[5] for p in parts], np.int32))


_FOREST_FIELDS = ("feature", "threshold", "left", "right", "value", "roots")


@dataclass(frozen=True, eq=False)
class ForestModel:
    """The trained predictor: a size forest and a rise forest over :data:`FEATURES`."""

    size: Forest
    rise: Forest
    meta: dict
    path: str | None = None
    name: str = "ml"

    def predict(self, floorplan, power_w, stack, tolerance: float, options=None) -> Prediction:
        """The prediction for one problem; ``options`` (:class:`thermal.options.MeshingOptions`,
        default the shipped settings) scale and bound the sizes."""
        raster, features, extra = feature_rasters(floorplan, power_w, stack)
        # where the raster's layered model is the problem itself, its rise is exact up to the
        # raster (within 0.2% of the exact peak on ev6) and a learned correction can only add
        # error: on 12 validation floorplans it moved the predicted peak by up to 2.5 K
        exact = layered_model_is_exact(floorplan, stack)
        size_residual, rise_residual = self.residuals(features, rise=not exact)
        safety = SIZE_SAFETY if options is None else options.size_safety
        size = np.exp(extra["base_log_size"] + size_residual) * np.sqrt(tolerance) * safety
        rise = extra["rise"] if exact else extra["rise"] * 10.0 ** rise_residual
        return _prediction(raster, size, floorplan, rise, stack, options, locate_K=extra["rise"])

    def residuals(self, features: np.ndarray, rise: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """(ny, nx) corrections of the log size and of the log10 rise (None unless ``rise``),
        from the features (F, ny, nx): the forests evaluated on every :data:`FOREST_STRIDE`-th
        cell each way, spread to the cells around it and smoothed over
        :data:`CORRECTION_SMOOTHING` cells (the corrections vary on the scale of λ, not of a
        cell)."""
        ny, nx = features.shape[1:]
        k = FOREST_STRIDE
        iy = np.minimum(np.arange(0, ny, k) + k // 2, ny - 1)
        ix = np.minimum(np.arange(0, nx, k) + k // 2, nx - 1)
        x = features[:, iy[:, None], ix[None, :]]
        shape = x.shape[1:]
        rows = x.reshape(len(FEATURES), -1).T
        out = []
        for forest in (self.size, self.rise) if rise else (self.size,):
            coarse = forest.predict(rows).reshape(shape)
            spread = np.repeat(np.repeat(coarse, k, axis=0), k, axis=1)[:ny, :nx]
            out.append(ndimage.gaussian_filter(spread, CORRECTION_SMOOTHING, mode="nearest"))
        return out[0], out[1] if rise else None


CORRECTION_SMOOTHING = 5.0
"""Gaussian width (raster cells) of the forests' corrections. A forest's output is piecewise
constant, and its steps put spurious small elements and peaks into the prediction. Chosen in
``benchmarks/results/size_safety.md`` (constants' history)."""

FOREST_STRIDE = 2
"""The forests are evaluated on every ``FOREST_STRIDE``-th cell of the feature raster each way
(a quarter of the cost at 2; ``benchmarks/results/size_safety.md``, constants' history)."""


def save_model(path, size: Forest, rise: Forest, meta: dict) -> None:
    """Write a model as plain arrays (``np.savez_compressed``), written atomically."""
    path = Path(path)
    meta = {**meta, "format": FORMAT, "version": FORMAT_VERSION, "features": list(FEATURES)}
    arrays = {f"{name}_{f}": getattr(forest, f) for name, forest in (("size", size), ("rise", rise))
              for f in _FOREST_FIELDS}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def load_model(path) -> ForestModel:
    """Read a model written by :func:`save_model`, trusting nothing in it.

    Only plain numeric arrays are read (``allow_pickle=False``); the format name, version and
    feature list must match, and every node index and feature index must be in range with
    children after their parent (so that evaluation always ends).

    Raises
    ------
    InputError
        Naming the file: missing, not an ``.npz`` of this format, or inconsistent.
    """
    name = str(path)

    def bad(message):
        return InputError(f"not a usable thermal model: {message}", file=name)

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError("no such model file", file=name) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise bad(f"cannot be read as plain arrays ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(bytes(data.pop("meta")).decode())
    except (KeyError, ValueError, TypeError):
        raise bad("no readable 'meta' record") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad(f"format is not {FORMAT!r}")
    if meta.get("version") != FORMAT_VERSION:
        raise bad(f"format version {meta.get('version')!r}, this thermal reads {FORMAT_VERSION}")
    if meta.get("features") != list(FEATURES):
        raise bad("trained on other features than this thermal computes")
    forests = {}
    for model in ("size", "rise"):
        try:
            arrays = {f: data[f"{model}_{f}"] for f in _FOREST_FIELDS}
        except KeyError as e:
            raise bad(f"array {e.args[0]} is missing") from None
        forests[model] = _checked_forest(arrays, bad, model)
    return ForestModel(forests["size"], forests["rise"], meta, path=name)


def _checked_forest(a: dict, bad, model: str) -> Forest:
    n = len(a["feature"])
    kinds = {"feature": "i", "left": "i", "right": "i", "roots": "i", "threshold": "f", "value": "f"}
    for f, kind in kinds.items():
        if a[f].ndim != 1 or a[f].dtype.kind != kind:
            raise bad(f"{model}_{f} is not a 1-D {'integer' if kind == 'i' else 'float'} array")
        if f != "roots" and len(a[f]) != n:
            raise bad(f"{model}_{f} has {len(a[f])} entries, expected {n}")
    if n == 0 or len(a["roots"]) == 0:
        raise bad(f"{model} forest is empty")
    idx = np.arange(n)
    inner = a["left"] >= 0
    ok = ((a["roots"] >= 0).all() and (a["roots"] < n).all()
          and ((a["feature"] >= 0) & (a["feature"] < len(FEATURES)) | ~inner).all()
          and (a["left"][inner] > idx[inner]).all() and (a["left"][inner] < n).all()
          and (a["right"][inner] > idx[inner]).all() and (a["right"][inner] < n).all()
          and np.isfinite(a["value"]).all() and np.isfinite(a["threshold"][inner]).all())
    if not ok:
        raise bad(f"{model} forest has node or feature indices out of range")
    return Forest(a["feature"].astype(np.int64), a["threshold"].astype(np.float64),
                  a["left"].astype(np.int64), a["right"].astype(np.int64),
                  a["value"].astype(np.float64), a["roots"].astype(np.int64))


def default_model() -> ForestModel | None:
    """The model shipped in the package, or None when it is not there.

    Read once per process and file version (path, size, modification time) and shared by every
    later call, with its arrays read-only: reading and checking it takes 19 ms (``python -m
    timeit -s "import thermal.predict as p; from importlib import resources; path =
    resources.files('thermal') / 'models' / p.MODEL_FILE" "p.load_model(path)"``), which a
    script that solves many cases paid at every ``thermal.solve``.
    """
    ref = resources.files("thermal") / "models" / MODEL_FILE
    if not ref.is_file():
        return None
    with resources.as_file(ref) as path:
        stat = os.stat(path)
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if _DEFAULT_MODEL.get("key") != key:
            model = load_model(path)
            for forest in (model.size, model.rise):
                for array in vars(forest).values():
                    array.flags.writeable = False
            _DEFAULT_MODEL.update(key=key, model=model)
        return _DEFAULT_MODEL["model"]


_DEFAULT_MODEL: dict = {}
""":func:`default_model`'s model and the file version it was read from."""
