"""Four meshing strategies side by side against the exact solution: uniform, estimator,
heuristic and ml.

For every case this runs ``thermal.solve(fp, power_w, stack, mesh=S, tolerance=0.1)`` for S in
``uniform``, ``estimator``, ``heuristic`` and ``ml``, one after the other, each in a freshly
spawned process (the helpers of ``adaptive_vs_uniform.py``), and compares the answers with the
cosine-series exact solution of ``thermal.gallery`` on the mesh's snapped block rectangles. Per
case and strategy it reports:

- the true error of every block's max and mean temperature on the power layer (the largest
  over blocks of |block max − exact| and |block mean − exact|) and of the peak,
- the final DOFs (``sol.summary()["mesh"]["dofs"]``), the linear solves
  (``sol.summary()["solves"]``, else counted from ``sol.history``), the wall time of the
  ``thermal.solve`` call (``thermal`` and ``thermal.predict`` imported beforehand; loading the
  model file is inside it), the prediction's share of it (``timings_s["predict"]``), and for
  the predicted strategies the estimator's corrections (``summary()["corrections"]``),
- for strategies that predict hot spots (``summary()["predicted_hotspots"]``, ml): whether the
  hottest predicted spot lies within 1 mm of the exact peak or inside the block with the
  hottest exact block max,
- the uniform DOFs needed for the tolerance: the coarsest uniform level whose *true* error is
  within it (``adaptive_vs_uniform.uniform_ladder``), solved after the timed runs.

The cases:

1. Held-out generated problems, ``thermal.train.generate_case(10_000_000 + i,
   shared_footprint=True, max_blocks=300)`` for i < 50 (training draws small seeds), as
   generated except that a per-block conductivity, which ``generate_case`` draws for about a
   third of them and for which there is no exact solution, is replaced by the die's own
   (``--keep-conductivity`` keeps it; those cases then have no error columns).
   ``max_blocks=300`` caps the slicing layouts (up to 2,000 blocks otherwise) so that the
   default run takes about 25 minutes on 2 shared cores.
2. Every HotSpot example floorplan (``benchmarks/data/``, see its README, and ev6 from
   ``floorplans/``) solved alone as a 2-D die on ``floorplans/ev6_3layer.toml``: ev6 with gcc's
   mean power, the five ``ev6-3d`` layer floorplans and the two ``two-die-3d`` dies with their
   folder's trace mean for the blocks it names (other blocks 0 W; a floorplan the trace does
   not cover at all gets 1 W/mm² on every block, marked in the case list). The TSV blocks'
   resistivity column is a per-block conductivity and is replaced likewise. A floorplan that
   thermal refuses to read is listed as such.

Usage::

    python benchmarks/ml_mesh.py                  # 50 generated + 8 HotSpot, ~25 min on 2 cores
    python benchmarks/ml_mesh.py --quick          # 4 generated (<= 60 blocks) + ev6, ~1 min
    python benchmarks/ml_mesh.py --cases 10 --strategies estimator ml --no-reference

The report goes to stdout and, unless ``--quick`` (or ``--out -``), to
``benchmarks/results/ml_mesh.md`` at the end (the report so far to ``ml_mesh.md.partial`` after
every case, removed at the end); progress goes to stderr. Exit status 1 when a solve or an
analysis failed (a strategy that ``thermal.solve`` says is "not available yet" is marked as
such and does not count).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks
from adaptive_vs_uniform import (DASH, EFFECTIVITY_FLOOR_K, STACK, TOLERANCE_K, _g,  # noqa: E402
                                 _rows_table, in_fresh_process, initial, needed_uniform,
                                 run_errors, source_digest, uniform_ladder)
from harness import blas_description, environment, median  # noqa: E402
from harness import load_average as _load_average  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "hotspot"
RESULTS = Path(__file__).resolve().parent / "results" / "ml_mesh.md"

STRATEGIES = ("uniform", "estimator", "heuristic", "ml")
SEED_BASE = 10_000_000
"""Generated cases use seeds ``SEED_BASE + i``: training uses small seeds, these are held out."""
N_CASES, MAX_BLOCKS = 50, 300
QUICK_CASES, QUICK_MAX_BLOCKS = 4, 60
HIT_RADIUS_M = 1e-3
UNCOVERED_DENSITY_W_M2 = 1e6
"""1 W/mm², for a floorplan whose trace names none of its blocks."""
LADDER_MAX_DOFS = 3_000_000
"""The uniform ladder stops before a level would pass this many unknowns."""
RUN_TIMEOUT_S = 300
"""A timed solve that runs longer is stopped and reported as failed (``--run-timeout``)."""
UNAVAILABLE = "not available yet"


# ------------------------------------------------------------------------------------------
# Cases


def reference_specs() -> list[tuple]:
    """The HotSpot floorplans: (path of the .flp, path of its folder's .ptrace)."""
    specs = [("ref", str(ROOT / "floorplans" / "ev6.flp"), str(ROOT / "floorplans" / "gcc.ptrace"))]
    for folder, pattern in (("ev6-3d", "*.flp"), ("two-die-3d", "floorplan*.flp")):
        trace = next((DATA / folder).glob("*.ptrace"))
        specs += [("ref", str(flp), str(trace)) for flp in sorted((DATA / folder).glob(pattern))]
    return specs


def case_specs(args) -> list[tuple]:
    """Every case of the run, as picklable specs for :func:`load_case`."""
    specs = [("gen", SEED_BASE + i, args.max_blocks) for i in range(args.cases)]
    if args.reference:
        refs = reference_specs()
        specs += refs[:1] if args.quick else refs
    return specs


def _uniform_conductivity(floorplan):
    """The floorplan with every block on its layer's own conductivity."""
    return dataclasses.replace(floorplan, conductivity=np.full(floorplan.n_blocks, np.nan))


def load_case(spec: tuple, keep_conductivity: bool = False) -> dict:
    """Floorplan, block powers (W, floorplan order), stack and description of a case.

    Raises ``InputError`` when a reference floorplan or trace does not load.
    """
    import thermal
    from thermal.stack import Stack

    notes = []
    if spec[0] == "gen":
        from thermal.train import generate_case

        _, seed, max_blocks = spec
        case = generate_case(seed, shared_footprint=True, max_blocks=max_blocks)
        key, kind = f"gen {seed}", case.kind
        floorplan, power, stack = case.floorplan, case.power, case.stack
    else:
        _, flp, ptrace = spec
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            floorplan = thermal.read_floorplan(flp)
        notes += sorted({str(w.message).split("\n")[0][:120] for w in caught})
        mean = thermal.read_ptrace(ptrace).mean()
        covered = [name in mean for name in floorplan.names]
        key = f"{Path(flp).parent.name}/{Path(flp).name}"
        kind = f"HotSpot, {Path(ptrace).name} mean"
        if any(covered):
            power = np.array([mean.get(name, 0.0) for name in floorplan.names])
            if not all(covered):
                notes.append(f"{len(covered) - sum(covered)} block(s) not in the trace: 0 W")
        else:
            power = UNCOVERED_DENSITY_W_M2 * floorplan.width_m * floorplan.height_m
            notes.append("trace names none of its blocks: 1 W/mm² on every block")
            kind = "HotSpot, uniform 1 W/mm²"
        stack = Stack.read(STACK)
    if np.isfinite(floorplan.conductivity).any():
        n = int(np.isfinite(floorplan.conductivity).sum())
        if keep_conductivity:
            notes.append(f"{n} block(s) with their own conductivity (kept: no exact solution)")
        else:
            floorplan = _uniform_conductivity(floorplan)
            notes.append(f"{n} block(s) with their own conductivity, set to the die's")
    from thermal.power import power_load, power_sources

    return {"key": key, "kind": kind, "floorplan": floorplan, "power": power,
            "power_w": power_load(floorplan, power),
            "total_w": float(power_sources(floorplan, power)[1].sum()), "stack": stack,
            "notes": notes}


# ------------------------------------------------------------------------------------------
# Measurements (each meant for a fresh process)


def _solve_count(summary: dict, history: list[dict]) -> int:
    """Linear solves: the summary's count, else one per uniform level and two per adaptive round
    (the round's mesh and its red refinement, ``coarse_dofs`` in the history)."""
    if summary.get("solves") is not None:
        return int(summary["solves"])
    return sum(2 if "coarse_dofs" in h else 1 for h in history)


def _time_out(seconds: int) -> None:
    """Raise ``TimeoutError`` in this process after ``seconds``; 0 cancels (needs SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        return

    def stop(signum, frame):
        raise TimeoutError(f"thermal.solve ran past {seconds} s (--run-timeout)")

    signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)


def timed_run(spec: tuple, strategy: str, tolerance: float, max_dofs: int,
              keep_conductivity: bool, timeout_s: int = RUN_TIMEOUT_S) -> dict:
    """One timed ``thermal.solve`` of a case, and what it returned (for a fresh process)."""
    import thermal
    from thermal.errors import InputError
    from thermal.fields import block_stats

    try:
        import thermal.predict  # noqa: F401  (its import is not part of any strategy's cost)
    except ImportError:
        pass
    case = load_case(spec, keep_conductivity)
    stack = case["stack"]
    _time_out(timeout_s)
    t = time.perf_counter()
    try:
        # one node per layer: the model the exact solution is of
        sol = thermal.solve(case["floorplan"], case["power"], stack, mesh=strategy,
                            tolerance=tolerance, max_dofs=max_dofs, sublayers="off")
    except InputError as exc:
        if UNAVAILABLE in str(exc):
            return {"unavailable": str(exc)}
        raise
    seconds = time.perf_counter() - t
    _time_out(0)
    summary = sol.summary()
    history = [dict(h) for h in sol.history]
    layer = stack.power_layers[0]
    hi, mean, _ = block_stats(sol.mesh, sol.theta[layer])
    hotspots = summary.get("predicted_hotspots") or []
    return {"strategy": strategy, "dofs": int(summary["mesh"]["dofs"]),
            "solves": _solve_count(summary, history), "rounds": len(history),
            "corrections": summary.get("corrections"), "seconds": seconds,
            "predict_s": float(sol.timings_s.get("predict", 0.0)),
            "mesh_s": float(sol.timings_s.get("mesh", 0.0)),
            "estimate_K": float(sol.error_estimate_K),
            "block_max_K": hi + stack.ambient_K, "block_mean_K": mean + stack.ambient_K,
            "peak_K": float(np.nanmax(sol.theta[layer])) + stack.ambient_K,
            "hotspot": dict(hotspots[0]) if hotspots else None,
            "block_rects": np.array(sol.mesh.block_rects), "blas": blas_description()}


def analyse(spec: tuple, tolerance: float, ladder: bool, ladder_max_dofs: int,
            keep_conductivity: bool) -> dict:
    """The exact solution on the initial mesh's snapped blocks and the uniform ladder."""
    from thermal.gallery import exact_for

    case = load_case(spec, keep_conductivity)
    floorplan, power_w, stack = case["floorplan"], case["power_w"], case["stack"]
    mesh = initial(floorplan, stack)
    r = np.array(mesh.block_rects)  # (x0, y0, x1, y1), snapped as every strategy's mesh is
    t = time.perf_counter()
    try:
        exact = exact_for(floorplan, case["power"], stack, snapped_to=mesh)
    except ValueError as exc:  # per-block conductivity kept, or a layer off the footprint
        return {"no_exact": str(exc), "snapped_boxes": r}
    peak_K, peak_x, peak_y = exact.peak(stack.power_layers[0])
    values = {"max": exact.block_max(stack.power_layers[0]),
              "mean": exact.block_mean(stack.power_layers[0]), "peak": peak_K,
              "peak_xy": (peak_x, peak_y), "modes": exact.modes,
              "seconds": time.perf_counter() - t}
    levels = uniform_ladder(mesh, stack, power_w, floorplan.bounds, values, tolerance,
                            ladder_max_dofs) if ladder else []
    return {"exact": values, "snapped_boxes": r, "ladder": levels}


# ------------------------------------------------------------------------------------------
# Scoring


def _ok(run) -> bool:
    return bool(run) and "failed" not in run and "unavailable" not in run


def errors_of(run: dict, exact: dict) -> dict:
    """True errors (K) of one run: the worst block max, block mean, both, and the peak."""
    e = run_errors(run, exact)
    return {**e, "block": max(e["max"], e["mean"])}


def hotspot_hit(run: dict, analysis: dict) -> dict | None:
    """Whether the hottest predicted spot is within 1 mm of the exact peak or inside the block
    of the hottest exact block max; None without a prediction or an exact solution."""
    exact = analysis.get("exact")
    if not _ok(run) or run.get("hotspot") is None or exact is None:
        return None
    x, y = run["hotspot"]["x_m"], run["hotspot"]["y_m"]
    distance = float(np.hypot(x - exact["peak_xy"][0], y - exact["peak_xy"][1]))
    x0, y0, x1, y1 = analysis["snapped_boxes"][int(np.argmax(exact["max"]))]
    inside = bool(x0 <= x <= x1 and y0 <= y <= y1)
    return {"hit": distance <= HIT_RADIUS_M or inside, "distance_mm": 1e3 * distance,
            "inside": inside, "predicted_K": run["hotspot"]["temperature_K"],
            "exact_K": exact["peak"]}


# ------------------------------------------------------------------------------------------
# Report


def _status(run) -> str | None:
    """The cell text of a run that gave no result, None for one that did."""
    if run is None:
        return "not run"
    if "unavailable" in run:
        return "not available yet"
    if "failed" in run:
        return f"failed: {run['failed']}"
    return None


def summary_table(results: list[dict], strategies, tolerance: float) -> str:
    """(a) One row per strategy over all cases, and the uniform level truly within tolerance."""
    header = ["strategy", "cases ok / run", "max block error K vs exact (max / median)",
              f"cases within {tolerance:g} K", "median DOFs", "median solves",
              "median wall s", "median DOFs / uniform", "median time / uniform"]
    rows = []
    for s in strategies:
        runs = [(res, res["runs"].get(s)) for res in results if "load_failed" not in res]
        ok = [(res, run) for res, run in runs if _ok(run)]
        if runs and not ok and all(run and "unavailable" in run for _, run in runs):
            rows.append([s, f"0 / {len(runs)}", "not available yet"] + [DASH] * 6)
            continue
        err = [errors_of(run, res["analysis"]["exact"])["block"] for res, run in ok
               if "exact" in res["analysis"]]
        within = sum(e <= tolerance for e in err)
        ratios_dofs, ratios_time = [], []
        for res, run in ok:
            uni = res["runs"].get("uniform")
            if _ok(uni):
                ratios_dofs.append(run["dofs"] / uni["dofs"])
                ratios_time.append(run["seconds"] / uni["seconds"])
        failed = sum(1 for _, run in runs if run and "failed" in run)
        rows.append([s, f"{len(ok)} / {len(runs)}" + (f" (**{failed} failed**)" if failed else ""),
                     f"{_g(max(err))} / {_g(median(err))}" if err else DASH,
                     f"{within} / {len(err)}" if err else DASH,
                     f"{median([r['dofs'] for _, r in ok]):,.0f}" if ok else DASH,
                     _g(median([r["solves"] for _, r in ok]), 1) if ok else DASH,
                     _g(median([r["seconds"] for _, r in ok]), 2) if ok else DASH,
                     _g(median(ratios_dofs), 3), _g(median(ratios_time), 2)])
    need = [(res, needed_uniform(res["analysis"].get("ladder") or [], tolerance))
            for res in results if "load_failed" not in res]
    need = [(res, lv) for res, lv in need if lv is not None]
    if need:
        err = [max(lv["err_max"], lv["err_mean"]) for _, lv in need]
        ratio = [lv["dofs"] / res["runs"]["uniform"]["dofs"] for res, lv in need
                 if _ok(res["runs"].get("uniform"))]
        rows.append([f"uniform needed (first level ≤ {tolerance:g} K true)", f"{len(need)}",
                     f"{_g(max(err))} / {_g(median(err))}", f"{len(need)} / {len(need)}",
                     f"{median([lv['dofs'] for _, lv in need]):,.0f}",
                     _g(median([lv["level"] + 1 for _, lv in need]), 1), DASH,
                     _g(median(ratio), 3), DASH])
    return _rows_table(header, rows)


def limits_section(results: list[dict], strategies) -> list[str]:
    """What bounds the DOF and time ratios: how far each strategy's estimate sits above its
    true error, and ml's time without its prediction and meshing against uniform's."""
    lines = []
    pessimism = {}
    for s in strategies:
        ratios = [run["estimate_K"] / e for res in results if "exact" in res.get("analysis", {})
                  for run in [res["runs"].get(s)] if _ok(run)
                  for e in [errors_of(run, res["analysis"]["exact"])["block"]]
                  if e > EFFECTIVITY_FLOOR_K]  # not round-off (1e-12 K on one-block dies)
        if ratios:
            pessimism[s] = ratios
    if pessimism:
        lines.append("- Estimate over true error (the worst block max or mean, cases with an exact "
                     "solution and a true error above "
                     f"{EFFECTIVITY_FLOOR_K:g} K), median (min–max): " + "; ".join(
                         f"{s} {_g(median(r), 3)} ({_g(min(r), 3)}–{_g(max(r), 3)})"
                         for s, r in pessimism.items())
                     + ". An answer whose estimate meets the tolerance is this many times more "
                     "accurate than the tolerance asks, and a P1 mesh's error goes as 1 / DOFs.")
    if "ml" in strategies:
        rest, share = [], []
        for res in results:
            ml, uni = res.get("runs", {}).get("ml"), res.get("runs", {}).get("uniform")
            if _ok(ml) and _ok(uni):
                fixed = ml["predict_s"] + ml["mesh_s"]
                rest.append((ml["seconds"] - fixed) / uni["seconds"])
                share.append(fixed / ml["seconds"])
        if rest:
            lines.append(f"- ml's wall time less its prediction and meshing (the initial mesh "
                         f"included), over uniform's whole wall time: median {_g(median(rest), 2)} "
                         f"per case; prediction and meshing are a median {_g(median(share), 2)} "
                         f"of ml's own time.")
    return lines or ["- no runs to compare"]


def case_table(results: list[dict], strategies, tolerance: float) -> str:
    """(b) One row per case and strategy."""
    header = ["case", "kind", "blocks", "strategy", "final DOFs", "solves", "corrections",
              "wall s", "predict s", "estimate K", "true err block max K",
              "true err block mean K", "true err peak K", "hot spot (mm from exact peak)",
              f"uniform DOFs for ≤ {tolerance:g} K"]
    rows = []
    for res in results:
        first = [res["key"], res["kind"], str(res.get("n_blocks", DASH))]
        if "load_failed" in res:
            rows.append(first + [DASH, f"failed to load: {res['load_failed']}"] + [DASH] * 10)
            continue
        analysis = res["analysis"]
        exact = analysis.get("exact")
        ladder = analysis.get("ladder") or []
        need = needed_uniform(ladder, tolerance)
        need_cell = (f"{need['dofs']:,}" if need else
                     f"> {ladder[-1]['dofs']:,}" if ladder else DASH)
        for s in strategies:
            run = res["runs"].get(s)
            status = _status(run)
            if status is not None:
                rows.append(first + [s, status] + [DASH] * 10)
                continue
            e = errors_of(run, exact) if exact is not None else None
            hit = hotspot_hit(run, analysis)
            hit_cell = DASH if hit is None else (
                f"{'hit' if hit['hit'] else '**miss**'} ({hit['distance_mm']:.1f}"
                + (", in hottest block)" if hit["inside"] else ")"))
            corr = run.get("corrections")
            rows.append(first + [s, f"{run['dofs']:,}", str(run["solves"]),
                                 DASH if corr is None else str(corr), f"{run['seconds']:.2f}",
                                 f"{run['predict_s']:.2f}" if s in ("ml", "heuristic") else DASH,
                                 _g(run["estimate_K"]),
                                 *((_g(e["max"]), _g(e["mean"]), _g(e["peak"])) if e else
                                   (DASH, DASH, DASH)),
                                 hit_cell, need_cell if s == "uniform" else DASH])
    return _rows_table(header, rows, left=4)


def hotspot_section(results: list[dict], strategies) -> list[str]:
    """(c) The hit rate of the predicted peak location, per strategy that predicts one."""
    lines = []
    for s in strategies:
        hits = [hotspot_hit(res["runs"].get(s), res["analysis"]) for res in results
                if "load_failed" not in res]
        hits = [h for h in hits if h is not None]
        if not hits:
            continue
        n_hit = sum(h["hit"] for h in hits)
        dist = [h["distance_mm"] for h in hits]
        lines.append(f"- `{s}`: **{n_hit} / {len(hits)}** floorplans ({n_hit / len(hits):.0%}) "
                     f"have the hottest predicted spot within {1e3 * HIT_RADIUS_M:g} mm of the "
                     f"exact peak or inside the block with the hottest exact block max "
                     f"({sum(h['inside'] for h in hits)} inside it); distance to the exact peak "
                     f"median {np.median(dist):.2f} mm, max {max(dist):.2f} mm; predicted peak "
                     f"temperature − exact: median "
                     f"{np.median([h['predicted_K'] - h['exact_K'] for h in hits]):+.2f} K, "
                     f"largest |·| {max(abs(h['predicted_K'] - h['exact_K']) for h in hits):.2f} K.")
    return lines or ["- No strategy returned predicted hot spots with an exact solution to "
                     "compare (ml not run or not available)."]


def losses(results: list[dict], tolerance: float) -> list[str]:
    """(d) Cases where ml is worse than heuristic or estimator in DOFs or time, or misses the
    tolerance, or failed."""
    lines = []
    for res in results:
        if "load_failed" in res:
            continue
        ml = res["runs"].get("ml")
        if ml is None or "unavailable" in ml:
            continue
        if "failed" in ml:
            lines.append(f"- `{res['key']}`: ml failed: {ml['failed']}")
            continue
        why = []
        exact = res["analysis"].get("exact")
        if exact is not None and errors_of(ml, exact)["block"] > tolerance:
            why.append(f"true error {_g(errors_of(ml, exact)['block'])} K > {tolerance:g} K")
        for other in ("estimator", "heuristic"):
            run = res["runs"].get(other)
            if not _ok(run):
                continue
            if ml["dofs"] > run["dofs"]:
                why.append(f"DOFs {ml['dofs']:,} vs {other} {run['dofs']:,} "
                           f"({ml['dofs'] / run['dofs']:.1f}×)")
            if ml["seconds"] > run["seconds"]:
                why.append(f"time {ml['seconds']:.2f} s vs {other} {run['seconds']:.2f} s "
                           f"({ml['seconds'] / run['seconds']:.1f}×)")
        if why:
            lines.append(f"- `{res['key']}` ({res['kind']}, {res['n_blocks']} blocks): "
                         + "; ".join(why))
    return lines or ["- none"]


def case_lines(results: list[dict]) -> list[str]:
    """The case list with anything special about each."""
    lines = []
    for res in results:
        if "load_failed" in res:
            lines.append(f"- `{res['key']}`: **failed to load**: {res['load_failed']}")
            continue
        extra = "; ".join(res["notes"])
        lines.append(f"- `{res['key']}`: {res['kind']}, {res['n_blocks']} blocks, "
                     f"{res['power_w']:.1f} W, die {res['die_mm']}" + (f"; {extra}" if extra else ""))
    return lines


def notes(results: list[dict], args, strategies) -> list[str]:
    """Footnotes: what was measured, and the consistency checks."""
    tol = args.tolerance
    lines = [
        f"- Each timed `thermal.solve(fp, power_w, stack, mesh=S, tolerance={tol:g})` ran in "
        f"its own freshly spawned process, strategies in the order {', '.join(strategies)}, "
        "case by case, one process at a time; the wall time is that one call's (cold: a fresh "
        "process, `thermal` and `thermal.predict` imported before the clock starts; the model "
        "file is loaded inside the call). \"predict s\" is `timings_s[\"predict\"]`, the "
        "prediction's part of the wall time. A solve that ran past "
        f"{args.run_timeout} s (`--run-timeout`) was stopped and counts as failed.",
        "- Solves: `summary()[\"solves\"]` (one per uniform level, two per round of the "
        "adaptive strategies: the round's mesh and its red refinement). Corrections: "
        "`summary()[\"corrections\"]`, the estimator rounds after the predicted mesh.",
        "- True errors: largest |FEM − exact| over all blocks of the block max and of the block "
        "mean on the power layer, and of the peak; exact = `thermal.gallery.exact_for` (the "
        "tail-corrected cosine series, ~1e-4 K for block maxima) on the initial mesh's snapped "
        "block rectangles. \"max block error\" is the larger of the block-max and block-mean "
        "errors; \"within\" counts cases where it is at most the tolerance.",
        f"- Hot spot: the first of `summary()[\"predicted_hotspots\"]` is a hit when within "
        f"{1e3 * HIT_RADIUS_M:g} mm of the exact peak (`ExactSolution.peak`) or inside the "
        "snapped rectangle of the block with the largest exact block max.",
        f"- Uniform DOFs for ≤ {tol:g} K: uniform levels solved one by one (nested GMG, as the "
        "uniform strategy solves them) up to the first whose true error is within the "
        f"tolerance, stopping before {args.ladder_max_dofs:,} unknowns (\"> N\" when not "
        "reached); in the summary its \"solves\" column is the number of levels. Not timed.",
        "- Ratios to uniform: per case, strategy / the uniform strategy's own run "
        "(DOFs and wall time), median over the cases where both ran.",
        f"- Generated cases: `generate_case({SEED_BASE:_} + i, shared_footprint=True, "
        f"max_blocks={args.max_blocks})`, i < {args.cases}; per-block conductivities "
        + ("kept (no exact solution for those)." if args.keep_conductivity else
           "replaced by the die's (so every case has the exact solution)."),
    ]
    mismatch = [res["key"] for res in results if "load_failed" not in res
                and "snapped_boxes" in res["analysis"]
                for run in res["runs"].values() if _ok(run) and not np.allclose(
                    run["block_rects"], res["analysis"]["snapped_boxes"], rtol=0, atol=1e-12)]
    lines.append("- Consistency: every final mesh kept the initial mesh's snapped blocks"
                 + (" in every case." if not mismatch else
                    f" except in {', '.join(sorted(set(mismatch)))}."))
    no_exact = [f"{res['key']} ({res['analysis']['no_exact']})" for res in results
                if "load_failed" not in res and "no_exact" in res["analysis"]]
    if no_exact:
        lines.append(f"- No exact solution: {'; '.join(no_exact)}.")
    exact_s = [res["analysis"]["exact"]["seconds"] for res in results
               if "load_failed" not in res and "exact" in res["analysis"]]
    if exact_s:
        lines.append(f"- Exact solutions (not in any timing): {sum(exact_s):.0f} s in all, "
                     f"at most {max(exact_s):.1f} s per case.")
    return lines


# ------------------------------------------------------------------------------------------
# Driver


def parse_args(argv=None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_CASES} generated cases of at most {QUICK_MAX_BLOCKS} "
                             "blocks and ev6 only, one BLAS thread, no results file; ~1 min")
    parser.add_argument("--cases", type=int, default=None, metavar="N",
                        help=f"generated cases (default {N_CASES}, {QUICK_CASES} with --quick)")
    parser.add_argument("--max-blocks", type=int, default=None,
                        help=f"max_blocks of generate_case (default {MAX_BLOCKS}, "
                             f"{QUICK_MAX_BLOCKS} with --quick)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="leave out the HotSpot floorplans")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--tolerance", type=float, default=TOLERANCE_K,
                        help=f"tolerance of every strategy, K (default {TOLERANCE_K:g})")
    parser.add_argument("--keep-conductivity", action="store_true",
                        help="keep per-block conductivities (those cases get no exact solution)")
    parser.add_argument("--no-ladder", dest="ladder", action="store_false",
                        help="skip the uniform ladder (uniform DOFs needed for the tolerance)")
    parser.add_argument("--ladder-max-dofs", type=int, default=LADDER_MAX_DOFS)
    parser.add_argument("--run-timeout", type=int, default=RUN_TIMEOUT_S, metavar="SECONDS",
                        help="stop a timed solve after this long and report it as failed "
                             f"(default {RUN_TIMEOUT_S}; 0 for none)")
    parser.add_argument("--max-dofs", type=int, default=None,
                        help="max_dofs of every strategy (default: thermal.solve's)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS/OpenMP threads of the measuring processes (default: the "
                             "libraries' choice; 1 with --quick)")
    parser.add_argument("--out", default=None,
                        help=f"also write the report here (default {RESULTS.relative_to(ROOT)}, "
                             "none with --quick; '-' for none)")
    args = parser.parse_args(argv)
    if args.cases is None:
        args.cases = QUICK_CASES if args.quick else N_CASES
    if args.max_blocks is None:
        args.max_blocks = QUICK_MAX_BLOCKS if args.quick else MAX_BLOCKS
    if args.quick and args.blas_threads is None:
        args.blas_threads = 1
    if args.out is None:
        args.out = "-" if args.quick else str(RESULTS)
    if args.max_dofs is None:
        from thermal.strategies import MAX_DOFS

        args.max_dofs = MAX_DOFS
    return args


def run_case(spec: tuple, args, strategies) -> dict:
    """The timed runs of every strategy, then the analysis, of one case."""
    from thermal.errors import InputError

    try:
        case = load_case(spec, args.keep_conductivity)
    except InputError as exc:
        key = f"{Path(spec[1]).parent.name}/{Path(spec[1]).name}"
        print(f"{key}: failed to load: {exc}", file=sys.stderr, flush=True)
        return {"key": key, "kind": "HotSpot", "load_failed": str(exc)}
    x0, y0, x1, y1 = case["floorplan"].bounds
    res = {"key": case["key"], "kind": case["kind"], "n_blocks": case["floorplan"].n_blocks,
           "power_w": case["total_w"], "notes": case["notes"],
           "die_mm": f"{1e3 * (x1 - x0):.2f} × {1e3 * (y1 - y0):.2f} mm", "runs": {}}
    for s in strategies:
        t = time.perf_counter()
        run = in_fresh_process(timed_run, spec, s, args.tolerance, args.max_dofs,
                               args.keep_conductivity, args.run_timeout)
        res["runs"][s] = run
        what = _status(run) or (f"{run['dofs']:,} DOFs, {run['solves']} solves, "
                                f"{run['seconds']:.2f} s")
        print(f"{res['key']} {s}: {what} ({time.perf_counter() - t:.0f} s with start-up)",
              file=sys.stderr, flush=True)
    t = time.perf_counter()
    res["analysis"] = in_fresh_process(analyse, spec, args.tolerance,
                                       args.ladder and "uniform" in strategies,
                                       args.ladder_max_dofs, args.keep_conductivity)
    print(f"{res['key']} analysis: {res['analysis'].get('failed', 'done')} "
          f"({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
    if "failed" in res["analysis"]:
        res["analysis_failed"] = res["analysis"]["failed"]
        res["analysis"] = {}
    return res


def report(results: list[dict], args, strategies, command: str, run: dict,
           of: int | None = None) -> str:
    """The Markdown report of ``results``; ``of``: the number of cases, when still running."""
    runs = [r for res in results for r in res.get("runs", {}).values() if _ok(r)]
    blas = runs[0]["blas"] if runs else "BLAS unknown"
    tol = args.tolerance
    failed_analyses = [f"{res['key']} ({res['analysis_failed']})" for res in results
                       if "analysis_failed" in res]
    now = source_digest()
    out = [f"## Meshing strategies {', '.join(strategies)} against the exact solution, "
           f"tolerance {tol:g} K", ""]
    if of is not None:
        out += [f"**Partial: {len(results)} of {of} cases so far (the run is still going, or "
                "was stopped).**", ""]
    out += [f"Command: `{command}`  ", f"Environment: {environment(blas)}  ",
            f"Run {run['started']}; 1-minute load average {run['load']} at the start, "
            f"{_load_average()} at the end (the machine's other users share its CPUs); total "
            f"{time.perf_counter() - run['t']:.0f} s; sources of `thermal/` {run['digest']}"
            + ("" if now == run["digest"] else f", **changed during the run** (now {now}): "
               "the runs may mix versions"), "",
            "### Summary over all cases", "", summary_table(results, strategies, tol), "",
            "### What bounds the ratios", "", *limits_section(results, strategies), "",
            "### Predicted hot spot against the exact peak", "",
            *hotspot_section(results, strategies), "",
            "### Where ml loses (more DOFs or time than heuristic or estimator, or error above "
            f"{tol:g} K)", "",
            *(losses(results, tol) if "ml" in strategies else ["- ml not run"]),
            "", "### Per case", "", case_table(results, strategies, tol), "",
            "### Cases", "", *case_lines(results), "", "### Method", "",
            *notes(results, args, strategies)]
    if failed_analyses:
        out += ["", f"**Analysis failed** (no errors for these cases): "
                    f"{'; '.join(failed_analyses)}"]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    """Run every case, print the report on stdout (and write it, after every case while
    running), progress on stderr.

    Returns 1 when a solve or an analysis failed, else 0.
    """
    args = parse_args(argv)
    strategies = list(args.strategies)
    run = {"t": time.perf_counter(), "load": _load_average(), "digest": source_digest(),
           "started": time.strftime("%Y-%m-%d %H:%M")}
    if args.blas_threads is not None:  # read by the spawned processes when numpy loads
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.blas_threads)
    command = "python " + shlex.join([os.path.relpath(sys.argv[0], Path.cwd())]
                                     + (sys.argv[1:] if argv is None else list(argv)))
    specs, results = case_specs(args), []
    for spec in specs:
        results.append(run_case(spec, args, strategies))
        if args.out != "-":  # the report so far, beside the results (a stopped run keeps it)
            Path(args.out + ".partial").write_text(report(results, args, strategies, command,
                                                          run, of=len(specs)))
    text = report(results, args, strategies, command, run)
    print(text, end="")
    if args.out != "-":
        Path(args.out).write_text(text)
        Path(args.out + ".partial").unlink(missing_ok=True)
        print(f"wrote {args.out}", file=sys.stderr)
    print(f"\nTotal wall time: {time.perf_counter() - run['t']:.0f} s", file=sys.stderr)
    failed = [res for res in results if "analysis_failed" in res
              or any(r and "failed" in r for r in res.get("runs", {}).values())]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
