"""Ablation of the predictor: what the physics base and the learned corrections each bring.

On generated validation problems (seeds 20,000,000 + i, used neither for training nor by the
held-out benchmark ``ml_mesh.py``), side by side in one run, each at 0.1 K:

- ``heuristic``: the non-learned size ``sqrt(8·tol·k·t / q_λ)`` from the smoothed power density
  (``mesh="heuristic"``);
- ``physics``: the model's physics base alone — the layered rise on the raster
  (:func:`thermal.predict.layered_rise`) and the P1 size ``sqrt(8·tol / |∇²θ|)`` times
  ``SIZE_SAFETY`` — i.e. the shipped model with both forests replaced by a single leaf
  predicting no correction;
- ``ml``: the shipped model, physics base plus the forests' corrections (``mesh="ml"``).

It prints DOFs, solves, wall time, the true error against the exact solution, how far the
hottest predicted spot lies from the exact peak and how far its predicted temperature is from
the exact peak temperature (for the two that predict temperatures).

``--package`` draws the validation stacks with a spreader 1.5–3x larger than the die (and the
floorplans' own per-block conductivities) instead: there is no exact solution, so the
reference is thermal's estimator loop at a tenth of the tolerance.

Usage::

    python benchmarks/ml_ablation.py                 # 12 cases, ~3 min
    python benchmarks/ml_ablation.py --cases 4
    python benchmarks/ml_ablation.py --package       # spreader larger than the die
"""

from __future__ import annotations

import argparse

import numpy as np

import thermal
from thermal import predict
from thermal.gallery import exact_for

from size_safety import _case, timed_run

VARIANTS = ("heuristic", "physics", "ml")


def _no_correction() -> predict.Forest:
    leaf = np.full(1, -1, np.int64)
    return predict.Forest(np.zeros(1, np.int64), np.zeros(1), leaf, leaf, np.zeros(1),
                          np.zeros(1, np.int64))


def _reference(case, fp, package: bool, tolerance: float):
    """((block max, block mean) K, (peak K, x, y)): exact, or thermal's estimator loop at
    ``tolerance / 10`` for a package larger than the die."""
    if not package:
        exact = exact_for(fp, case.power, case.stack)
        return (exact.block_max(), exact.block_mean()), exact.peak()
    sol = thermal.solve(fp, case.power, case.stack, mesh="estimator", tolerance=tolerance / 10)
    b, p = sol.blocks, sol.peak
    return (b.max_K, b.mean_K), (p.temperature_K, p.x_m, p.y_m)


def _predicted_peak(sol, peak) -> tuple[float, float]:
    """(mm from the reference peak, predicted − reference peak temperature K) of the hottest
    predicted spot, NaN for a strategy that predicts none."""
    spots = sol.summary().get("predicted_hotspots") or []
    if not spots:
        return np.nan, np.nan
    t, x, y = peak
    top = spots[0]
    return (1e3 * float(np.hypot(top["x_m"] - x, top["y_m"] - y)),
            float(max(s["temperature_K"] for s in spots) - t))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--max-blocks", type=int, default=300)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--package", action="store_true",
                        help="spreader larger than the die; reference: estimator at tol / 10")
    args = parser.parse_args(argv)
    shipped = predict.default_model()
    physics = predict.ForestModel(_no_correction(), _no_correction(), {}, name="physics")
    models = {"heuristic": None, "physics": physics, "ml": shipped}
    cases = [_case(i, args.max_blocks, shared_footprint=not args.package)
             for i in range(args.cases)]
    thermal.solve(cases[0][1], cases[0][0].power, cases[0][0].stack, mesh="ml")  # warm up
    rows = {v: [] for v in VARIANTS}
    for i, (case, fp) in enumerate(cases):
        blocks, peak = _reference(case, fp, args.package, args.tolerance)
        for v in VARIANTS:
            sol, (dofs, solves, _, wall, error) = timed_run(
                case, fp, args.tolerance, reference=blocks,
                mesh="heuristic" if v == "heuristic" else "ml", model=models[v])
            rows[v].append((dofs, solves, wall, error, *_predicted_peak(sol, peak)))
        print(f"case {i + 1}/{len(cases)} ({case.kind}, {len(fp.names)} blocks) done", flush=True)
    against = "thermal's estimator at tol / 10" if args.package else "the exact solution"
    print(f"\n### Predictor ablation on {len(cases)} validation cases (seeds 20000000+), "
          f"{args.tolerance} K, {'spreader larger than the die' if args.package else 'die-sized layers'}"
          f"; errors against {against}\n")
    error_column = "max error K vs reference" if args.package else "max true error K"
    print("| variant | median DOFs | total DOFs | median solves | median s | total s "
          f"| {error_column} | peak within 1 mm | median peak distance mm "
          "| predicted peak T error K (median / largest) |")
    print("| :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: |")
    for v, r in rows.items():
        a = np.array(r, float)
        d, dt = a[:, 4], a[:, 5]
        none = np.isnan(d).all()
        near = "—" if none else f"{int((d <= 1.0).sum())} / {len(d)}"
        med = "—" if none else f"{np.nanmedian(d):.2f}"
        t_err = "—" if none else (f"{np.nanmedian(dt):+.2f} / "
                                  f"{dt[np.nanargmax(np.abs(dt))]:+.2f}")
        print(f"| {v} | {np.median(a[:, 0]):,.0f} | {a[:, 0].sum():,.0f} | {np.median(a[:, 1]):.0f} "
              f"| {np.median(a[:, 2]):.2f} | {a[:, 2].sum():.1f} | {a[:, 3].max():.3f} | {near} "
              f"| {med} | {t_err} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
