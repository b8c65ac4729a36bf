"""Training the hotspot / mesh-size predictor (``thermal train``) on generated floorplans.

A seeded generator (:func:`generate_case`) draws realistic problems — guillotine layouts of 5 to
2,000 blocks, cores with caches and a small hot register file, many-core tiles with thin router
slivers, single very hot spots, raster power maps with sub-block hot spots, whitespace,
per-block conductivity — with power densities over more than three orders of magnitude, on
die/TIM/spreader stacks drawn from realistic ranges.
Each problem is solved by thermal's own estimator loop at a tolerance drawn from 0.03–0.3 K;
the labels are read from its final mesh and field (:func:`case_samples`):

- ``log_size``: log of the diameter of the final round's triangle (twice the returned mesh's
  triangle, which is its red refinement) minus ½·log(tolerance), since for P1 the needed size
  scales as √tolerance;
- ``log_rise``: log10 of the temperature rise over ambient on the power layer;

each less its physics base (the layered model solved on the raster by a cosine transform,
:func:`thermal.predict.layered_rise`): the forests learn corrections to physics, not the
physics itself. Two random forests (scikit-learn) are fitted on the physics-scaled features of
:mod:`thermal.predict` and saved as plain arrays (:func:`thermal.predict.save_model`).
Nothing from ``../shared/reference-inputs`` is ever used here: those are for testing.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .gallery import slicing_rects

__all__ = ["Case", "generate_case", "case_samples", "train_model"]

KINDS = ("slicing", "cores", "manycore", "hot_spot", "power_map")


@dataclass(frozen=True)
class Case:
    """One generated problem."""

    kind: str
    floorplan: object
    power_w: np.ndarray
    stack: object
    tolerance_K: float
    power_map: object = None
    """A :class:`thermal.power.PowerMap` the power comes from instead (kind "power_map"), in
    which case ``power_w`` is its power on each block, for reference."""

    @property
    def power(self):
        """What :func:`thermal.solve` takes: the power map, or the block powers."""
        return self.power_w if self.power_map is None else self.power_map


def _log_uniform(rng, lo, hi, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _split_box(rng, box, n):
    """Guillotine ``box`` (x0, y0, x1, y1) into ``n`` pieces: (n, 4) rects (left, bottom, w, h)."""
    return slicing_rects(n, int(rng.integers(2**31)), die=tuple(box))


def _slicing(rng, die_w, die_h):
    n = int(np.clip(_log_uniform(rng, 5, 2000), 5, 2000))
    rects = slicing_rects(n, int(rng.integers(2**31)), (0.0, 0.0, die_w, die_h))
    density = _log_uniform(rng, 2e3, 3e6, n) * (rng.random(n) < 0.7)
    return rects, density


def _cores(rng, die_w, die_h):
    """A grid of cores, each a guillotine of units with one small hot register file, beside a
    cache band along one edge."""
    cache_frac = rng.uniform(0.2, 0.45)
    nx, ny = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    rects = [np.array([[0.0, 0.0, die_w, cache_frac * die_h]])]
    density = [np.array([_log_uniform(rng, 5e3, 1e5)])]
    cw, ch = die_w / nx, (1 - cache_frac) * die_h / ny
    for i in range(nx):
        for j in range(ny):
            x0, y0 = i * cw, cache_frac * die_h + j * ch
            units = _split_box(rng, (x0, y0, x0 + cw, y0 + ch), int(rng.integers(4, 14)))
            d = _log_uniform(rng, 1e5, 1e6, len(units))
            hot = int(np.argmin(units[:, 2] * units[:, 3]))
            d[hot] = _log_uniform(rng, 1e6, 5e6)
            rects.append(units)
            density.append(d)
    return np.vstack(rects), np.concatenate(density)


def _manycore(rng, die_w, die_h):
    """n x n tiles, each a core, an L2 and a thin router sliver along the tile's edge."""
    n = int(rng.integers(3, 11))
    tw, th = die_w / n, die_h / n
    sliver = rng.uniform(0.02, 0.08) * th
    l2 = rng.uniform(0.3, 0.5) * tw
    rects, density = [], []
    core_d = _log_uniform(rng, 2e5, 2e6)
    l2_d, router_d = _log_uniform(rng, 2e4, 2e5), _log_uniform(rng, 5e5, 4e6)
    for i in range(n):
        for j in range(n):
            x0, y0 = i * tw, j * th
            rects += [(x0, y0, tw, sliver), (x0, y0 + sliver, l2, th - sliver),
                      (x0 + l2, y0 + sliver, tw - l2, th - sliver)]
            on = rng.random() < 0.8
            density += [router_d, l2_d, core_d * on * rng.uniform(0.5, 1.5)]
    return np.array(rects), np.array(density)


def _hot_spot(rng, die_w, die_h):
    """A few background blocks and one small block at 30–1000x their density."""
    size = _log_uniform(rng, 0.05, 0.15) * min(die_w, die_h)
    cx, cy = rng.uniform(0.1, 0.9) * die_w, rng.uniform(0.1, 0.9) * die_h
    x0, x1 = max(cx - size / 2, 0.0), min(cx + size / 2, die_w)
    y0, y1 = max(cy - size / 2, 0.0), min(cy + size / 2, die_h)
    # the 3 x 3 guillotine around the hot block, then each outer piece split further
    xs, ys = [0.0, x0, x1, die_w], [0.0, y0, y1, die_h]
    rects, density = [], []
    base = _log_uniform(rng, 1e4, 2e5)
    for i in range(3):
        for j in range(3):
            if xs[i + 1] - xs[i] <= 1e-9 or ys[j + 1] - ys[j] <= 1e-9:
                continue
            if (i, j) == (1, 1):
                rects.append(np.array([[x0, y0, x1 - x0, y1 - y0]]))
                density.append(np.array([base * _log_uniform(rng, 30, 1000)]))
            else:
                pieces = _split_box(rng, (xs[i], ys[j], xs[i + 1], ys[j + 1]), int(rng.integers(1, 4)))
                rects.append(pieces)
                density.append(base * rng.uniform(0.2, 1.5, len(pieces)))
    return np.vstack(rects), np.concatenate(density)


def _power_map(rng, die_w, die_h, rects, density):
    """A raster of 16-64 cells along the longer side: the blocks' own densities, modulated by
    one to three broad activity bumps, plus one to four hot spots of 0.5-5% of the die's size at
    10-300x the median density (a sub-block hot spot that per-block power cannot express)."""
    from .power import PowerMap
    from .predict import Raster

    cells = int(rng.integers(16, 65))
    raster = Raster.over((0.0, 0.0, die_w, die_h), cells)
    field = raster.area_weighted(rects, density)
    centres = raster.centres.reshape(raster.ny, raster.nx, 2)
    size = max(die_w, die_h)

    def bump(sigma):
        cx, cy = rng.uniform(0, die_w), rng.uniform(0, die_h)
        return np.exp(-((centres[..., 0] - cx) ** 2 + (centres[..., 1] - cy) ** 2) / (2 * sigma ** 2))

    for _ in range(int(rng.integers(1, 4))):
        field = field * (1.0 + rng.uniform(0.5, 3.0) * bump(rng.uniform(0.1, 0.3) * size))
    reference = np.median(field[field > 0]) if (field > 0).any() else 1e5
    for _ in range(int(rng.integers(1, 5))):
        field = field + reference * _log_uniform(rng, 10, 300) * bump(_log_uniform(rng, 0.005, 0.05) * size)
    return PowerMap(field[::-1] * raster.dx * raster.dy)  # rows from the top edge


def _stack(rng, die_w, die_h, shared_footprint: bool):
    from .stack import Layer, Stack

    die = Layer("die", _log_uniform(rng, 50e-6, 750e-6), rng.uniform(100, 150),
                rng.uniform(1.6e6, 1.8e6), power=True)
    tim = Layer("tim", _log_uniform(rng, 10e-6, 60e-6), _log_uniform(rng, 1.0, 10.0), 4e6)
    size = None if shared_footprint else (die_w * rng.uniform(1.5, 3.0), die_h * rng.uniform(1.5, 3.0))
    spreader = Layer("spreader", _log_uniform(rng, 0.5e-3, 2e-3), rng.uniform(300, 400), 3.55e6,
                     size_m=size)
    return Stack(layers=(die, tim, spreader), h=float(_log_uniform(rng, 3e3, 1e5)))


def generate_case(seed: int, kind: str | None = None, shared_footprint: bool | None = None,
                  max_blocks: int = 2000) -> Case:
    """One seeded random problem: floorplan, block powers, stack and tolerance.

    Parameters
    ----------
    seed : int
        The same seed gives the same case.
    kind : {"slicing", "cores", "manycore", "hot_spot", "power_map"}, optional
        Default: drawn from the seed.
    shared_footprint : bool, optional
        Whether every layer has the die's footprint (so that :mod:`thermal.gallery` has the
        exact solution); default: drawn (half of the cases).
    max_blocks : int
        Slicing layouts are redrawn smaller than this.

    Returns
    -------
    Case
    """
    from .floorplan import make_floorplan

    rng = np.random.default_rng([seed, 0x7e4a])
    kind = KINDS[int(rng.integers(len(KINDS)))] if kind is None else kind
    if kind not in KINDS:
        raise ValueError(f"unknown case kind {kind!r}; choose from {', '.join(KINDS)}")
    die_w = _log_uniform(rng, 3e-3, 20e-3)
    die_h = die_w * _log_uniform(rng, 0.6, 1.6)
    rects, density = {"slicing": _slicing, "cores": _cores, "manycore": _manycore,
                      "hot_spot": _hot_spot, "power_map": _slicing}[kind](rng, die_w, die_h)
    if kind == "power_map" and len(rects) > 200:  # the map, not the blocks, carries the detail
        rects = slicing_rects(200, int(rng.integers(2**31)), (0.0, 0.0, die_w, die_h))
        density = _log_uniform(rng, 2e3, 3e6, 200) * (rng.random(200) < 0.7)
    if len(rects) > max_blocks:
        rects = slicing_rects(max_blocks, int(rng.integers(2**31)), (0.0, 0.0, die_w, die_h))
        density = _log_uniform(rng, 2e3, 3e6, max_blocks) * (rng.random(max_blocks) < 0.7)
    # whitespace: a few idle blocks left out (filled with the die's material)
    keep = np.ones(len(rects), bool)
    if len(rects) > 6 and rng.random() < 0.3:
        keep &= ~((rng.random(len(rects)) < 0.05) & (density < np.median(density)))
    rects, density = rects[keep], density[keep]
    conductivity = None
    if rng.random() < 0.3:  # per-block conductivity (e.g. metal density, doping)
        conductivity = np.where(rng.random(len(rects)) < 0.5, rng.uniform(60, 150, len(rects)), np.nan)
    shared = bool(rng.random() < 0.5) if shared_footprint is None else shared_footprint
    stack = _stack(rng, die_w, die_h, shared)
    names = [f"b{i}" for i in range(len(rects))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whitespace is meant
        fp = make_floorplan(names, *rects.T, conductivity=conductivity)
    power_w = density * rects[:, 2] * rects[:, 3]
    power_map = None
    if kind == "power_map":
        power_map = _power_map(rng, die_w, die_h, rects, density)
        power_w = power_map.block_powers(fp)
    tolerance = float(_log_uniform(rng, 0.03, 0.3))
    return Case(kind, fp, power_w, stack, tolerance, power_map)


# ---------------------------------------------------------------- labels and fitting

SAMPLES_PER_CASE = 1200
"""Triangles sampled per solved case: half by count (where the mesh is fine), half by area."""

LABEL_TOLERANCE_MAX_DOFS = 1_500_000
"""The labelling solves stop before this many unknowns (a case that needs more is skipped)."""


def case_samples(case: Case, seed: int, max_dofs: int = LABEL_TOLERANCE_MAX_DOFS
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Solve ``case`` with the estimator loop and read the labels off its final mesh.

    Returns
    -------
    features : (S, F)
    log_size : (S,)
        log(diameter of the final round's triangle) − ½ log(tolerance), less the physics
        base :func:`thermal.predict.base_log_size` there.
    log_rise : (S,)
        log10 of the temperature rise (K) at the sample, power layer, less log10 of the
        raster's layered model (:func:`thermal.predict.layered_rise`).
    info : dict
        ``dofs``, ``seconds``, ``blocks``, ``kind``.
    """
    from .power import power_load
    from .predict import feature_rasters
    from .solve import solve

    t0 = time.perf_counter()
    sol = solve(case.floorplan, case.power, case.stack, mesh="estimator",
                tolerance=case.tolerance_K, max_dofs=max_dofs)
    mesh = sol.mesh
    x0, y0, x1, y1 = case.floorplan.bounds
    c = mesh.centroids
    on_die = np.flatnonzero((c[:, 0] > x0) & (c[:, 0] < x1) & (c[:, 1] > y0) & (c[:, 1] < y1))
    rng = np.random.default_rng([seed, 0x5a3])
    half = SAMPLES_PER_CASE // 2
    area = mesh.areas[on_die]
    pick = np.r_[rng.choice(on_die, half), rng.choice(on_die, half, p=area / area.sum())]
    raster, features, extra = feature_rasters(case.floorplan,
                                              power_load(case.floorplan, case.power), case.stack)
    x = raster.sample(features, c[pick]).T
    base_size, base_rise = raster.sample(np.stack([extra["base_log_size"],
                                                   np.log10(extra["rise"])]), c[pick])
    diameter = 2.0 * mesh.diameters()[pick]  # the final round's triangle: parent of a red child
    log_size = np.log(diameter) - 0.5 * np.log(case.tolerance_K) - base_size
    layer = case.stack.power_layers[0]
    rise = np.nan_to_num(sol.theta[layer])[mesh.triangles[pick]].mean(axis=1)
    log_rise = np.log10(np.maximum(rise, 1e-3)) - base_rise
    info = {"dofs": int(sol.summary()["mesh"]["dofs"]), "seconds": time.perf_counter() - t0,
            "blocks": len(case.floorplan.names), "kind": case.kind}
    return x, log_size, log_rise, info


FOREST = {"n_estimators": 24, "max_depth": 13, "min_samples_leaf": 12, "max_features": 0.6}
"""Random-forest settings (scikit-learn) of both models: 24 trees keep the model file ~2 MB."""


def _labelled(case_seed: int, max_dofs: int = LABEL_TOLERANCE_MAX_DOFS):
    """(x, log_size, log_rise, info) of generated case ``case_seed``, or (None, ..., info) when
    the solver refuses it (a worker of :func:`train_model`)."""
    from .errors import InputError, SolverError

    case = generate_case(case_seed)
    try:
        return case_samples(case, case_seed, max_dofs)
    except (InputError, SolverError) as e:  # a generated case the solver refuses: skip it
        return None, None, None, {"kind": case.kind, "skipped": str(e)}


def train_model(samples: int, seed: int, out, progress=None, jobs: int = 1,
                max_dofs: int = LABEL_TOLERANCE_MAX_DOFS) -> dict:
    """Generate ``samples`` cases from ``seed``, label them, fit both forests, save to ``out``.

    Parameters
    ----------
    samples : int
        Number of generated problems (each solved once by the estimator loop).
    seed : int
        Case ``i`` uses seed ``seed * 1_000_003 + i``: the same arguments give the same model.
    out : path
        Model file (``.npz``, plain arrays; see :func:`thermal.predict.save_model`).
    progress : callable, optional
        Called with ``(done, total, info)`` after each case.
    jobs : int
        Worker processes labelling cases side by side; the model does not depend on it.
    max_dofs : int
        Cap on the labelling solves' unknowns (smaller: a quicker, coarser model, for tests).

    Returns
    -------
    dict
        The model's metadata (training set, fit scores).
    """
    from .errors import InputError
    from .predict import Forest, save_model

    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        raise InputError("training needs scikit-learn, which 'thermal solve' does not: "
                         "pip install 'thermal[train]'", field="train") from None

    xs, sizes, rises, infos = [], [], [], []
    seeds = [seed * 1_000_003 + i for i in range(samples)]
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_labelled, seeds, [max_dofs] * samples)
    else:
        pool, results = None, map(_labelled, seeds, [max_dofs] * samples)
    try:
        for i, (x, s, r, info) in enumerate(results):  # in seed order, whatever the workers
            if x is not None:
                xs.append(x)
                sizes.append(s)
                rises.append(r)
            infos.append(info)
            if progress is not None:
                progress(i + 1, samples, info)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if not xs:
        raise InputError("no training case could be solved")
    x, sizes, rises = np.vstack(xs), np.concatenate(sizes), np.concatenate(rises)
    models, scores = {}, {}
    for name, y in (("size", sizes), ("rise", rises)):
        forest = RandomForestRegressor(random_state=seed, n_jobs=1, **FOREST).fit(x, y)
        models[name] = Forest.from_sklearn(forest)
        residual = y - models[name].predict(x)
        scores[name] = {"rmse_train": float(np.sqrt(np.mean(residual ** 2))),
                        "std_of_labels": float(np.std(y))}
    meta = {"samples": samples, "seed": seed, "max_dofs": max_dofs, "cases_used": len(xs),
            "rows": int(len(x)),
            "scores": scores, "forest": FOREST,
            "kinds": {k: sum(1 for inf in infos if inf.get("kind") == k and "skipped" not in inf)
                      for k in KINDS}}
    save_model(out, models["size"], models["rise"], meta)
    return meta
