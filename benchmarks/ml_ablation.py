"""Ablation of the predictor: what the physics base and the learned corrections each bring.

On generated validation problems (seeds 20,000,000 + i, used neither for training nor by the
held-out benchmark ``ml_mesh.py``), side by side in one run, each at 0.1 K:

- ``heuristic``: the non-learned size ``sqrt(8·tol·k·t / q_λ)`` from the smoothed power density
  (``mesh="heuristic"``);
- ``physics``: the model's physics base alone — the one-layer screened-Poisson rise and the P1
  size ``sqrt(8·tol / |∇²θ|)`` times ``SIZE_SAFETY`` — i.e. the shipped model with both forests
  replaced by a single leaf predicting no correction;
- ``ml``: the shipped model, physics base plus the forests' corrections (``mesh="ml"``).

It prints DOFs, solves, wall time, the true error against the exact solution, and how far the
hottest predicted spot lies from the exact peak (for the two that predict temperatures).

Usage::

    python benchmarks/ml_ablation.py                 # 12 cases, ~3 min
    python benchmarks/ml_ablation.py --cases 4
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


def _peak_distance_mm(sol, fp, case) -> float | None:
    spots = sol.summary().get("predicted_hotspots") or []
    if not spots:
        return None
    _, x, y = exact_for(fp, case.power_w, case.stack).peak()
    return 1e3 * float(np.hypot(spots[0]["x_m"] - x, spots[0]["y_m"] - y))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--max-blocks", type=int, default=300)
    parser.add_argument("--tolerance", type=float, default=0.1)
    args = parser.parse_args(argv)
    shipped = predict.default_model()
    physics = predict.ForestModel(_no_correction(), _no_correction(), {}, name="physics")
    models = {"heuristic": None, "physics": physics, "ml": shipped}
    cases = [_case(i, args.max_blocks) for i in range(args.cases)]
    thermal.solve(cases[0][1], cases[0][0].power_w, cases[0][0].stack, mesh="ml")  # warm up
    rows = {v: [] for v in VARIANTS}
    for i, (case, fp) in enumerate(cases):
        for v in VARIANTS:
            sol, (dofs, solves, _, wall, error) = timed_run(
                case, fp, args.tolerance, mesh="heuristic" if v == "heuristic" else "ml",
                model=models[v])
            distance = _peak_distance_mm(sol, fp, case)
            rows[v].append((dofs, solves, wall, error, np.nan if distance is None else distance))
        print(f"case {i + 1}/{len(cases)} ({case.kind}, {len(fp.names)} blocks) done", flush=True)
    print(f"\n### Predictor ablation on {len(cases)} validation cases (seeds 20000000+), "
          f"{args.tolerance} K\n")
    print("| variant | median DOFs | total DOFs | median solves | median s | total s "
          "| max true error K | peak within 1 mm | median peak distance mm |")
    print("| :-- | --: | --: | --: | --: | --: | --: | --: | --: |")
    for v, r in rows.items():
        a = np.array(r, float)
        d = a[:, 4]
        near = "—" if np.isnan(d).all() else f"{int((d <= 1.0).sum())} / {len(d)}"
        med = "—" if np.isnan(d).all() else f"{np.nanmedian(d):.2f}"
        print(f"| {v} | {np.median(a[:, 0]):,.0f} | {a[:, 0].sum():,.0f} | {np.median(a[:, 1]):.0f} "
              f"| {np.median(a[:, 2]):.2f} | {a[:, 2].sum():.1f} | {a[:, 3].max():.3f} | {near} "
              f"| {med} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
