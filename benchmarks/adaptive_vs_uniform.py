"""Adaptive (estimator) versus uniform meshing, side by side, against the exact solution.

For each case (a floorplan and its block powers on ``floorplans/ev6_3layer.toml``, whose layers
all share the die's footprint, so that the cosine series of ``thermal.gallery`` is exact) this
runs ``thermal.solve(fp, power, stack, mesh=..., tolerance=0.1)`` once with
``mesh="estimator"`` and once with ``mesh="uniform"``, one right after the other, each in a
freshly spawned process, and reports:

- final DOFs, number of linear solves (the estimator solves twice per round: the mesh and its
  red refinement), the DOFs of all solves together, wall time and peak memory (growth of the
  process's peak RSS over the ``thermal.solve`` call, as ``solver_scaling.py`` measures it),
- the reported estimate (``error_estimate_K``) and the true error of every block's max and mean
  temperature and of the peak, against the exact solution on the same (snapped) geometry,
- the uniform DOFs needed for the same accuracy: the coarsest uniform level whose true error
  (max over blocks of the block-max and block-mean errors) is within the tolerance, found by
  solving the uniform levels one by one,
- the effectivity (estimate / true error) of the estimator's per-block estimates of the block
  max and block mean, for blocks whose true error exceeds 0.01 K (from
  ``thermal.adapt.adaptive_solve``, which ``thermal.solve`` runs, called directly because the
  solution does not carry per-block estimates),
- for the hot-spot case, the convergence of both strategies: the estimator at tolerances 0.8 to
  0.05 K and the uniform levels, with fitted slopes of log error against log DOFs.

The cases: ev6 with gcc's mean power; random guillotine floorplans of 40, 100 and 1024 blocks
with seeded random power densities; a 10 mm die with a 0.3 mm hot block at 100x its neighbours'
power density; the 208-block many-core floorplan. Only the timed ``thermal.solve`` calls enter
the time and memory columns; the exact solutions, the uniform ladder and the effectivity run
come after them, in a separate process.

Usage::

    python benchmarks/adaptive_vs_uniform.py            # all cases, ~10 min on 2 busy cores
    python benchmarks/adaptive_vs_uniform.py --quick    # ev6 and random-40, < 1 min
    python benchmarks/adaptive_vs_uniform.py --skip-uniform-above 500 --cases ev6 random-1024
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shlex
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark, when imported
from harness import (DASH, FLOORPLANS, blas_description, environment, fastest,  # noqa: E402
                     hot_spot_case, random_case, shipped_case, source_digest)
from harness import cell as _g  # noqa: E402
from harness import load_average as _load_average  # noqa: E402
from harness import markdown_table as _rows_table  # noqa: E402
from solver_scaling import peak_rss_mib, reset_peak_rss  # noqa: E402

STACK = FLOORPLANS / "ev6_3layer.toml"

TOLERANCE_K = 0.1
CONVERGENCE_TOLERANCES_K = (0.8, 0.4, 0.2, 0.1, 0.05)
EFFECTIVITY_FLOOR_K = 0.01
"""Effectivities are taken over blocks whose true error is above this (smaller ones are noise
of the exact solution and of the estimate's own floor)."""

QUICK_CASES = ("ev6", "random-40")
FULL_CASES = ("ev6", "random-40", "random-100", "hot-spot", "manycore-208", "random-1024")
CONVERGENCE_CASE = "hot-spot"


# ------------------------------------------------------------------------------------------
# Cases


CASES = {
    "ev6": ("ev6, gcc mean power", lambda: shipped_case("ev6.flp", "gcc.ptrace")),
    "random-40": ("random guillotine, seed 11", lambda: random_case(40, 11)),
    "random-100": ("random guillotine, seed 12", lambda: random_case(100, 12)),
    "hot-spot": ("0.3 mm block at 100x density, 10 mm die", hot_spot_case),
    "manycore-208": ("manycore.flp, mean power", lambda: shipped_case("manycore.flp",
                                                                       "manycore.ptrace")),
    "random-1024": ("random guillotine, seed 2026", lambda: random_case(1024, 2026)),
}


def load(key: str):
    """The case ``key``: floorplan, block powers (W) and the 3-layer stack."""
    from thermal.stack import Stack

    floorplan, power_w = CASES[key][1]()
    return floorplan, np.asarray(power_w, dtype=np.float64), Stack.read(STACK)


def initial(floorplan, stack, strategy: str = "uniform"):
    """The production initial mesh of ``strategy`` (:func:`thermal.strategies.start_mesh`)."""
    from thermal.strategies import start_mesh

    return start_mesh(floorplan, stack, strategy)


# ------------------------------------------------------------------------------------------
# Measurements (each meant for a fresh process)


def timed_solve(key: str, strategy: str, tolerance: float, max_dofs: int, repeat: int) -> dict:
    """``thermal.solve`` of case ``key`` with one strategy: time, memory, and what it returned.

    Returns
    -------
    dict
        ``dofs`` (final), ``solves``, ``dofs_solved`` (all solves together), ``rounds``,
        ``seconds`` (the fastest of ``repeat`` calls), ``peak_mib`` (growth of the peak RSS over
        the calls), ``estimate_K``, ``block_max_K``, ``block_mean_K``, ``peak_K`` (absolute, the
        power layer), ``block_rects`` (the mesh's snapped blocks), ``history``, ``blas`` and
        ``memory_method``.
    """
    import thermal
    from thermal.fields import block_stats

    floorplan, power_w, stack = load(key)
    baseline, memory_method = reset_peak_rss()
    sol, seconds = fastest(repeat, thermal.solve, floorplan, power_w, stack, mesh=strategy,
                           tolerance=tolerance, max_dofs=max_dofs,
                           sublayers="off")  # one node per layer: the exact solution's model
    peak = peak_rss_mib() - baseline
    layer = stack.power_layers[0]
    hi, mean, _ = block_stats(sol.mesh, sol.theta[layer])
    history = [dict(h) for h in sol.history]
    per_round = [(h["dofs"] + h.get("coarse_dofs", 0), 2 if "coarse_dofs" in h else 1)
                 for h in history]
    return {"strategy": strategy, "dofs": history[-1]["dofs"], "rounds": len(history),
            "solves": sum(n for _, n in per_round), "dofs_solved": sum(d for d, _ in per_round),
            "seconds": seconds, "peak_mib": peak, "estimate_K": float(sol.error_estimate_K),
            "block_max_K": hi + stack.ambient_K, "block_mean_K": mean + stack.ambient_K,
            "peak_K": float(np.nanmax(sol.theta[layer])) + stack.ambient_K,
            "block_rects": np.array(sol.mesh.block_rects), "history": history,
            "blas": blas_description(), "memory_method": memory_method}


def exact_values(floorplan, power_w, stack, snapped_boxes) -> dict:
    """Exact block max, block mean and peak (K, power layer) on the snapped blocks, as boxes
    ``(x0, y0, x1, y1)``, and the seconds it took."""
    from thermal.gallery import exact_solution

    t = time.perf_counter()
    r = snapped_boxes
    exact = exact_solution(tuple(floorplan.bounds),
                           np.c_[r[:, 0], r[:, 1], r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]], power_w,
                           [(layer.thickness_m, layer.conductivity) for layer in stack.layers],
                           h=stack.h_bottom(floorplan.bounds), ambient_K=stack.ambient_K,
                           power_layer=stack.power_layers[0])
    return {"max": exact.block_max(), "mean": exact.block_mean(), "peak": exact.peak()[0],
            "modes": exact.modes, "seconds": time.perf_counter() - t}


def true_errors(mesh, theta, ambient_K: float, exact: dict, layer: int = 0) -> dict:
    """Per-block |FEM − exact| of block max and mean (K, arrays) and of the peak (K)."""
    from thermal.fields import block_stats

    hi, mean, _ = block_stats(mesh, theta[layer])
    return {"max": np.abs(hi + ambient_K - exact["max"]),
            "mean": np.abs(mean + ambient_K - exact["mean"]),
            "peak": abs(float(np.nanmax(theta[layer])) + ambient_K - exact["peak"])}


def worst(errors: dict) -> float:
    """The accuracy criterion: the largest error of any block's max or mean."""
    return float(max(np.nanmax(errors["max"]), np.nanmax(errors["mean"])))


def uniform_ladder(mesh, stack, power_w, die, exact: dict, target_K: float, max_dofs: float):
    """Solve the uniform levels of ``mesh`` until the true error is within ``target_K``.

    Each level is solved as the uniform strategy does (geometric multigrid over the coarser
    levels). Stops at the first level within ``target_K``, or before a level would pass
    ``max_dofs`` unknowns.

    Returns
    -------
    list of dict
        Per level: ``level``, ``dofs``, ``err_max``, ``err_mean``, ``err_peak`` (K), ``seconds``.
    """
    from thermal.assemble import dof_numbering
    from thermal.refine import node_prolongation, refined_uniform
    from thermal.fields import steady_field
    from thermal.linear import dof_prolongation

    levels, coarse, guess = [], [], None
    while True:
        t = time.perf_counter()
        theta, info, system = steady_field(mesh, stack, power_w, None, die, x0=guess,
                                           coarse=coarse)
        errors = true_errors(mesh, theta, stack.ambient_K, exact, stack.power_layers[0])
        levels.append({"level": len(levels), "dofs": info["dofs"], "err_max": errors["max"].max(),
                       "err_mean": errors["mean"].max(), "err_peak": errors["peak"],
                       "seconds": time.perf_counter() - t})
        if worst(errors) <= target_K or 4 * info["dofs"] > max_dofs:
            return levels
        nodes = node_prolongation(mesh)
        guess = (nodes @ theta.T).T
        mesh = refined_uniform(mesh)
        step = dof_prolongation(nodes, dof_numbering(mesh, len(stack.layers)), system.node2dof)
        coarse = [(step, system.matrix)] + coarse
        del system, theta


def adapted(mesh, stack, power_w, die, tolerance: float, exact: dict, max_dofs: int) -> dict:
    """``adaptive_solve`` as ``thermal.solve`` runs it, with per-block estimates and true errors."""
    from thermal.adapt import adaptive_solve

    t = time.perf_counter()
    result = adaptive_solve(mesh, stack, power_w, np.full(len(power_w), tolerance), tolerance,
                            None, die, max_dofs=max_dofs)
    seconds = time.perf_counter() - t
    errors = true_errors(result.mesh, result.theta, stack.ambient_K, exact,
                         stack.power_layers[0])
    return {"tolerance": tolerance, "dofs": result.history[-1]["dofs"],
            "rounds": len(result.history), "seconds": seconds,
            "estimate_K": result.estimate.value, "est_max": np.asarray(result.estimate.block_max),
            "est_mean": np.asarray(result.estimate.block_mean), "est_peak": result.estimate.peak,
            "err_max": errors["max"], "err_mean": errors["mean"], "err_peak": errors["peak"],
            "snapped_ok": bool(np.allclose(result.mesh.block_rects, mesh.block_rects,
                                           rtol=0, atol=1e-12))}


def analyse(key: str, tolerance: float, max_dofs: int, ladder: bool,
            convergence: tuple[float, ...]) -> dict:
    """Exact solution, the uniform ladder, the effectivity run and (optionally) the estimator at
    several tolerances, for case ``key``."""
    floorplan, power_w, stack = load(key)
    die = floorplan.bounds
    mesh = initial(floorplan, stack)
    exact = exact_values(floorplan, power_w, stack, mesh.block_rects)
    from thermal.strategies import start_fraction

    start = (mesh if start_fraction("estimator") == start_fraction("uniform")
             else initial(floorplan, stack, "estimator"))
    runs = {t: adapted(start, stack, power_w, die, t, exact, max_dofs)
            for t in sorted(set(convergence) | {tolerance}, reverse=True)}
    target = min((tolerance,) + tuple(convergence))
    return {"n_blocks": len(power_w), "power_w": float(power_w.sum()),
            "exact": exact, "snapped_boxes": np.array(mesh.block_rects),
            "ladder": uniform_ladder(mesh, stack, power_w, die, exact, target, max_dofs)
            if ladder else [], "adapted": runs}


def in_fresh_process(fn, *args) -> dict:
    """``fn(*args)`` in a newly spawned interpreter (its peak RSS is its own).

    Returns ``{"failed": message}`` when the call raised or the process died.
    """
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(fn, *args).result()
    except BrokenProcessPool:
        return {"failed": "process died (out of memory?)"}
    except Exception as exc:  # a SolverError or a bug: report it, go on with the other cases
        traceback.print_exception(exc, file=sys.stderr)
        return {"failed": f"{type(exc).__name__}: {exc}"}


# ------------------------------------------------------------------------------------------
# Report


def run_errors(run: dict, exact: dict) -> dict:
    """True errors (K) of a timed run against the exact values."""
    return {"max": float(np.nanmax(np.abs(run["block_max_K"] - exact["max"]))),
            "mean": float(np.nanmax(np.abs(run["block_mean_K"] - exact["mean"]))),
            "peak": abs(run["peak_K"] - exact["peak"])}


def needed_uniform(ladder: list[dict], tolerance: float) -> dict | None:
    """The coarsest uniform level within ``tolerance`` (true error), None if none was."""
    return next((lv for lv in ladder if max(lv["err_max"], lv["err_mean"]) <= tolerance), None)


def main_table(results: list[dict]) -> str:
    """One row per case and strategy."""
    header = ["case", "blocks", "strategy", "final DOFs", "solves", "DOFs solved", "wall s",
              "peak RSS MiB", "estimate K", "true err block max K", "true err block mean K",
              "true err peak K", "estimate / true"]
    rows = []
    for res in results:
        exact = res["analysis"].get("exact")
        for strategy in ("estimator", "uniform"):
            run = res["runs"].get(strategy)
            first = [res["key"], str(res["n_blocks"]), strategy]
            if run is None:
                rows.append(first + ["skipped"] + [DASH] * 9)
                continue
            if "failed" in run:
                rows.append(first + [f"failed: {run['failed']}"] + [DASH] * 9)
                continue
            e = run_errors(run, exact) if exact is not None else {"max": None, "mean": None,
                                                                   "peak": None}
            true = max(e["max"], e["mean"]) if exact is not None else None
            ratio = _g(run["estimate_K"] / true, 2) if true else DASH
            if true is not None and run["estimate_K"] < true:
                ratio = f"**{ratio}** (below)"
            rows.append(first + [f"{run['dofs']:,}", str(run["solves"]), f"{run['dofs_solved']:,}",
                                 f"{run['seconds']:.2f}", f"{run['peak_mib']:,.0f}",
                                 _g(run["estimate_K"]), _g(e["max"]), _g(e["mean"]),
                                 _g(e["peak"]), ratio])
    return _rows_table(header, rows, left=3)


def ratio_table(results: list[dict], tolerance: float) -> str:
    """Estimator against uniform per case, and the uniform level that really reaches the
    tolerance."""
    header = ["case", "DOFs est/uni", "time est/uni", "memory est/uni",
              f"uniform DOFs for true err ≤ {tolerance:g} K (level)", "its true err K",
              "est DOFs / that", "est true err K"]
    rows = []
    for res in results:
        est, uni = res["runs"].get("estimator"), res["runs"].get("uniform")
        ok_est = est is not None and "failed" not in est
        ok_uni = uni is not None and "failed" not in uni
        cells = [res["key"]]
        if ok_est and ok_uni:
            cells += [f"{est['dofs'] / uni['dofs']:.3f}", f"{est['seconds'] / uni['seconds']:.2f}",
                      f"{est['peak_mib'] / uni['peak_mib']:.2f}" if uni["peak_mib"] > 0 else DASH]
        else:
            cells += [DASH] * 3
        ladder = res["analysis"].get("ladder") or []
        need = needed_uniform(ladder, tolerance)
        if need is not None:
            cells += [f"{need['dofs']:,} ({need['level']})",
                      _g(max(need["err_max"], need["err_mean"]))]
        elif ladder:
            last = ladder[-1]
            cells += [f"> {last['dofs']:,} (not reached)", _g(max(last["err_max"],
                                                                   last["err_mean"]))]
        else:
            cells += [DASH, DASH]
        exact = res["analysis"].get("exact")
        if ok_est and need is not None:
            cells.append(f"{est['dofs'] / need['dofs']:.3f}")
        else:
            cells.append(DASH)
        cells.append(_g(max(run_errors(est, exact)["max"], run_errors(est, exact)["mean"]))
                     if ok_est and exact is not None else DASH)
        rows.append(cells)
    return _rows_table(header, rows)


def _effectivity(estimate: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, int]:
    """Effectivities over blocks with a true error above the floor, and how many blocks (of all)
    have an estimate below their true error."""
    big = true > EFFECTIVITY_FLOOR_K
    return estimate[big] / true[big], int((estimate < true).sum())


def _range(values: np.ndarray) -> str:
    return f"{values.min():.2f}–{values.max():.2f}" if len(values) else DASH


def effectivity_table(results: list[dict], tolerance: float) -> str:
    """Per-block effectivity of the estimator's final solution, per case and overall."""
    header = ["case", "blocks > 0.01 K (max / mean)", "effectivity block max",
              "effectivity block mean", "median max / mean", "blocks with estimate < true",
              "largest true err where below K"]
    rows, all_max, all_mean, all_below, all_worst = [], [], [], 0, 0.0
    for res in results:
        run = res["analysis"].get("adapted", {}).get(tolerance)
        if run is None:
            rows.append([res["key"]] + [DASH] * 6)
            continue
        eff_max, below_max = _effectivity(run["est_max"], run["err_max"])
        eff_mean, below_mean = _effectivity(run["est_mean"], run["err_mean"])
        below = np.r_[run["err_max"][run["est_max"] < run["err_max"]],
                      run["err_mean"][run["est_mean"] < run["err_mean"]]]
        worst_below = float(below.max()) if len(below) else 0.0
        all_max.append(eff_max)
        all_mean.append(eff_mean)
        all_below += below_max + below_mean
        all_worst = max(all_worst, worst_below)
        med = (f"{np.median(eff_max):.2f} / " if len(eff_max) else f"{DASH} / ") + (
            f"{np.median(eff_mean):.2f}" if len(eff_mean) else DASH)
        rows.append([res["key"], f"{len(eff_max)} / {len(eff_mean)}", _range(eff_max),
                     _range(eff_mean), med, f"{below_max} max, {below_mean} mean",
                     _g(worst_below) if worst_below else DASH])
    eff_max, eff_mean = np.concatenate(all_max or [[]]), np.concatenate(all_mean or [[]])
    rows.append(["**all**", f"{len(eff_max)} / {len(eff_mean)}", _range(eff_max),
                 _range(eff_mean), DASH, str(all_below), _g(all_worst) if all_worst else DASH])
    return _rows_table(header, rows)


def ladder_table(results: list[dict]) -> str:
    """The true error of every uniform level solved."""
    header = ["case", "level", "DOFs", "true err block max K", "true err block mean K",
              "true err peak K", "level s"]
    rows = [[res["key"], str(lv["level"]), f"{lv['dofs']:,}", _g(lv["err_max"]),
             _g(lv["err_mean"]), _g(lv["err_peak"]), f"{lv['seconds']:.2f}"]
            for res in results for lv in res["analysis"].get("ladder") or []]
    return _rows_table(header, rows)


def slope(dofs, errors) -> float:
    """Fitted slope of log error against log DOFs (-1 is second order in h in 2-D)."""
    if len(dofs) < 2:
        return math.nan
    return float(np.polyfit(np.log(dofs), np.log(errors), 1)[0])


def convergence_section(res: dict) -> list[str]:
    """The estimator at several tolerances and the uniform levels of one case, with slopes."""
    runs = [r for t, r in sorted(res["analysis"]["adapted"].items(), reverse=True)
            if t in CONVERGENCE_TOLERANCES_K]
    ladder = res["analysis"].get("ladder") or []
    header = ["strategy", "tolerance K / level", "DOFs", "rounds", "estimate K",
              "true err K (max of block max, mean)", "true err peak K", "s"]
    rows = [["estimator", f"{r['tolerance']:g}", f"{r['dofs']:,}", str(r["rounds"]),
             _g(r["estimate_K"]), _g(worst({"max": r["err_max"], "mean": r["err_mean"]})),
             _g(r["err_peak"]), f"{r['seconds']:.2f}"] for r in runs]
    rows += [["uniform", f"level {lv['level']}", f"{lv['dofs']:,}", DASH, DASH,
              _g(max(lv["err_max"], lv["err_mean"])), _g(lv["err_peak"]),
              f"{lv['seconds']:.2f}"] for lv in ladder]
    est_slope = slope([r["dofs"] for r in runs],
                      [worst({"max": r["err_max"], "mean": r["err_mean"]}) for r in runs])
    uni = ladder[1:]  # level 0 is before the asymptotic range
    uni_slope = slope([lv["dofs"] for lv in uni],
                      [max(lv["err_max"], lv["err_mean"]) for lv in uni])
    uni_all = slope([lv["dofs"] for lv in ladder],
                    [max(lv["err_max"], lv["err_mean"]) for lv in ladder])
    return [f"### Convergence on `{res['key']}` ({CASES[res['key']][0]})", "",
            _rows_table(header, rows), "",
            f"Fitted slope of log(true error) vs log(DOFs) (`np.polyfit`, -1 = O(h²)): estimator "
            f"{est_slope:.2f} over its {len(runs)} tolerances; uniform {uni_slope:.2f} over "
            f"levels 1–{len(ladder) - 1} ({uni_all:.2f} with level 0)."]


def notes(results: list[dict], args, tolerance: float) -> list[str]:
    """Footnotes: what was measured, and the consistency checks."""
    lines = []
    runs = [r for res in results for r in res["runs"].values() if r and "failed" not in r]
    memory_method = runs[0]["memory_method"] if runs else "?"
    lines.append(
        f"- Each timed `thermal.solve(..., tolerance={tolerance:g})` ran in its own freshly "
        "spawned process, estimator first and uniform right after, case by case; wall time is "
        f"the call's (fastest of {args.repeat}), peak RSS the growth of the peak resident set "
        f"over the call: {memory_method}.")
    lines.append(
        "- Solves: uniform solves once per level; the estimator solves each round's mesh and "
        "its red refinement (2 per round) and answers with the refined one. \"DOFs solved\" "
        "sums the unknowns of every solve, a machine-independent measure of the work.")
    lines.append(
        "- True errors: largest |FEM − exact| over all blocks of the block max and the block "
        "mean on the power layer, and of the peak; exact = tail-corrected cosine series "
        "(`thermal.gallery.exact_solution`, ~1e-4 K for block max, ~1e-6 K for means) on the "
        "mesh's snapped block rectangles. \"estimate / true\" divides `error_estimate_K` by "
        "the larger of the block max and mean errors; **(below)** marks an estimate under the "
        "true error.")
    lines.append(
        f"- Uniform DOFs for the same accuracy: uniform levels solved one by one (nested GMG, "
        f"as the uniform strategy does; \"level s\" is that level's assembly, solve and "
        f"block statistics) up to the first whose true error is ≤ {tolerance:g} K "
        "(for the hot-spot case, down to the smallest convergence tolerance).")
    lines.append(
        f"- Effectivity: estimate / true error per block, over blocks with true error > "
        f"{EFFECTIVITY_FLOOR_K:g} K, of `adaptive_solve`'s final per-block estimates (the run "
        "`thermal.solve(mesh=\"estimator\")` makes, repeated in the analysis process); the "
        "count of blocks with an estimate below the true error is over all blocks.")
    mismatch = []
    for res in results:
        est = res["runs"].get("estimator")
        ad = res["analysis"].get("adapted", {}).get(tolerance)
        if est and "failed" not in est and ad is not None and (
                est["dofs"] != ad["dofs"] or not math.isclose(est["estimate_K"], ad["estimate_K"],
                                                              rel_tol=1e-9, abs_tol=1e-12)):
            mismatch.append(f"{res['key']} (timed {est['dofs']:,} DOFs, estimate "
                            f"{est['estimate_K']:.4f} K; rerun {ad['dofs']:,} DOFs, "
                            f"{ad['estimate_K']:.4f} K)")
        for run in res["runs"].values():
            if run and "failed" not in run and "snapped_boxes" in res["analysis"] and not \
                    np.allclose(run["block_rects"], res["analysis"]["snapped_boxes"], rtol=0,
                                atol=1e-12):
                mismatch.append(f"{res['key']} (snapped blocks differ)")
    lines.append("- Consistency: the effectivity run reproduced the timed estimator run (final "
                 "DOFs and estimate) and every final mesh kept the initial mesh's snapped blocks "
                 + ("in every case." if not mismatch else f"except: {', '.join(mismatch)}."))
    exact_s = ", ".join(f"{res['key']} {res['analysis']['exact']['seconds']:.1f} s "
                        f"({res['analysis']['exact']['modes'][0]}x"
                        f"{res['analysis']['exact']['modes'][1]} modes)"
                        for res in results if "exact" in res["analysis"])
    lines.append(f"- Exact solutions (not in any timing): {exact_s}.")
    skipped = [res["key"] for res in results if res["runs"].get("uniform") is None]
    lines.append(f"- Uniform runs only on cases of at most {args.skip_uniform_above:,} blocks "
                 f"(`--skip-uniform-above`); skipped: {', '.join(skipped) or 'none'}.")
    return lines


def case_lines(results: list[dict]) -> str:
    """One line per case: what it is."""
    return "\n".join(f"- `{res['key']}`: {CASES[res['key']][0]}; {res['n_blocks']} blocks, "
                     f"{res['power_w']:.1f} W" for res in results)


# ------------------------------------------------------------------------------------------
# Driver


def parse_args(argv=None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {' and '.join(QUICK_CASES)}, one BLAS thread; < 1 min")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=None,
                        help="run these cases (default: all, or the quick ones)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE_K,
                        help=f"tolerance of both strategies, K (default {TOLERANCE_K:g})")
    parser.add_argument("--skip-uniform-above", type=int, default=5000, metavar="BLOCKS",
                        help="run the uniform strategy (and its ladder) only on cases with at "
                             "most this many blocks (default 5000: all)")
    parser.add_argument("--max-dofs", type=int, default=None,
                        help="max_dofs of both strategies and the uniform ladder (default: "
                             "thermal.solve's, 8e6)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each thermal.solve this many times, report the fastest")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS/OpenMP threads of the measuring processes (default: the "
                             "libraries' choice, as in production; 1 with --quick)")
    args = parser.parse_args(argv)
    if args.cases is None:
        args.cases = list(QUICK_CASES if args.quick else FULL_CASES)
    if args.quick and args.blas_threads is None:
        args.blas_threads = 1
    if args.max_dofs is None:
        from thermal.strategies import MAX_DOFS

        args.max_dofs = MAX_DOFS
    return args


def run_case(key: str, args) -> dict:
    """The timed runs of both strategies, then the analysis, of one case."""
    floorplan, power_w, _ = load(key)
    n_blocks = len(power_w)
    res = {"key": key, "n_blocks": n_blocks, "power_w": float(power_w.sum()), "runs": {}}
    uniform = n_blocks <= args.skip_uniform_above
    for strategy in ("estimator", "uniform"):
        if strategy == "uniform" and not uniform:
            res["runs"][strategy] = None
            continue
        t = time.perf_counter()
        run = in_fresh_process(timed_solve, key, strategy, args.tolerance, args.max_dofs,
                               args.repeat)
        res["runs"][strategy] = run
        what = run.get("failed") or (f"{run['dofs']:,} DOFs, {run['solves']} solves, "
                                     f"{run['seconds']:.1f} s, {run['peak_mib']:,.0f} MiB")
        print(f"{key} {strategy}: {what} ({time.perf_counter() - t:.0f} s with start-up)",
              file=sys.stderr, flush=True)
    convergence = CONVERGENCE_TOLERANCES_K if key == CONVERGENCE_CASE else ()
    t = time.perf_counter()
    res["analysis"] = in_fresh_process(analyse, key, args.tolerance, args.max_dofs, uniform,
                                       convergence)
    print(f"{key} analysis: {res['analysis'].get('failed', 'done')} "
          f"({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
    return res


def main(argv=None) -> int:
    """Run every case, print the report on stdout and progress on stderr.

    Returns 1 when a run or an analysis failed, else 0.
    """
    args = parse_args(argv)
    t_start, load_start, digest = time.perf_counter(), _load_average(), source_digest()
    started = time.strftime("%Y-%m-%d %H:%M")
    if args.blas_threads is not None:  # read by the spawned processes when numpy loads
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.blas_threads)
    results = [run_case(key, args) for key in args.cases]

    command = "python " + shlex.join([os.path.relpath(sys.argv[0], Path.cwd())]
                                     + (sys.argv[1:] if argv is None else list(argv)))
    runs = [r for res in results for r in res["runs"].values() if r and "failed" not in r]
    blas = runs[0]["blas"] if runs else "BLAS unknown"
    tol = args.tolerance
    out = [f"## Adaptive (estimator) vs uniform meshing, tolerance {tol:g} K, 3-layer stack", "",
           f"Command: `{command}`  ", f"Environment: {environment(blas)}  ",
           f"Run {started}; 1-minute load average {load_start} at the start, "
           f"{_load_average()} at the end (the machine's other users share its CPUs); total "
           f"{time.perf_counter() - t_start:.0f} s; sources of `thermal/` {digest}"
           + ("" if source_digest() == digest else f", **changed during the run** (now "
              f"{source_digest()}): the runs may mix versions"), "", case_lines(results), "",
           "### Both strategies against the exact solution", "", main_table(results), "",
           ratio_table(results, tol), "", "### Effectivity of the estimator's per-block "
           "estimates (final solution)", "", effectivity_table(results, tol), "",
           "### Uniform levels against the exact solution", "", ladder_table(results), ""]
    conv = [res for res in results if res["key"] == CONVERGENCE_CASE
            and "failed" not in res["analysis"] and res["analysis"].get("ladder")]
    for res in conv:
        out += convergence_section(res) + [""]
    out += notes([res for res in results if "failed" not in res["analysis"]], args, tol)
    print("\n".join(out))
    print(f"\nTotal wall time: {time.perf_counter() - t_start:.0f} s", file=sys.stderr)
    failed = [res for res in results if "failed" in res["analysis"]
              or any(r and "failed" in r for r in res["runs"].values())]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
