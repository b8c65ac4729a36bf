"""How few DOFs can any refinement of the initial mesh reach 0.1 K with? An oracle bound.

Issue 6 asks the ml strategy for a median of at most 10% of uniform's DOFs at the same accuracy.
This script asks what a mesh built with *perfect knowledge* of the answer needs: it refines the
uniform strategy's initial mesh by newest-vertex bisection (:func:`thermal.refine.refined`, the
same refinement every strategy uses), marking from the **true** pointwise error (the exact
cosine-series solution of :mod:`thermal.gallery`, tabulated on a fine grid, against the FEM
solution, at every node and edge midpoint of the power layer), and stops as soon as the
**true** error of every block's max and mean is within the tolerance. No estimate is
involved: it is a lower bound for what a predictor plus an error estimate can reach with this
refinement, not something a user could run.

Marking rules (each run on every case; the oracle is the fewest DOFs of them):

- ``sup``: every triangle whose pointwise error (largest over its 3 nodes and 3 edge
  midpoints) exceeds the tolerance.
- ``block 0.5`` and ``block 0.1``: in every block whose true max or mean error is over the
  tolerance, the triangles whose pointwise error is at least that fraction of the block's
  largest.

Beside it, in the same run: the uniform strategy's DOFs (``thermal.solve(mesh="uniform")``,
stopped by the two-level estimate, the denominator of ``ml_mesh.py``'s ratios), the coarsest
uniform level whose true error is within the tolerance, and the estimator and ml strategies'
final DOFs. The cases are ``ml_mesh.py``'s (held-out generated seeds 10,000,000+, at most 300
blocks, conductivity set uniform; and the HotSpot floorplans on the 3-layer stack).

Usage::

    python benchmarks/oracle_mesh.py                 # 50 generated + 8 HotSpot cases
    python benchmarks/oracle_mesh.py --cases 5 --no-reference --out -
    python benchmarks/oracle_mesh.py --first 2 --cases 1 --no-reference --out -   # one case

The report goes to stdout and, unless ``--out -``, to ``benchmarks/results/oracle_mesh.md``;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks
from adaptive_vs_uniform import (initial, source_digest, true_errors, uniform_ladder,  # noqa: E402
                                 worst)
from ml_mesh import MAX_BLOCKS, N_CASES, SEED_BASE, load_case, reference_specs  # noqa: E402
from harness import blas_description, environment, markdown_table, median  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "oracle_mesh.md"
TOLERANCE_K = 0.1
RULES = ("sup", "block 0.5", "block 0.1")
MAX_ROUNDS = 40
MAX_DOFS = 3_000_000


GRID_POINTS = 2048
"""Grid points along the die's longer side on which the exact solution is tabulated for the
marking indicator (bilinear in between: about 4e-4 K at the sharpest hot spot of
``adaptive_vs_uniform.py``, whose curvature is ~1.3e8 K/m², with 5 µm spacing on a 10 mm die;
the stopping test uses the exact block statistics, not the grid)."""


class ExactGrid:
    """The exact temperature rise of one layer on a fine tensor grid over the die, bilinearly
    interpolated: cheap at any number of points, where the series itself costs points x modes
    (x power-map cells) multiply-adds each."""

    def __init__(self, exact, layer: int, points: int = GRID_POINTS):
        from scipy.interpolate import RegularGridInterpolator

        x0, y0, x1, y1 = exact.bounds
        longer = max(x1 - x0, y1 - y0)
        xs = np.linspace(x0, x1, max(int(round(points * (x1 - x0) / longer)), 2))
        ys = np.linspace(y0, y1, max(int(round(points * (y1 - y0) / longer)), 2))
        self.lo, self.hi = (x0, y0), (x1, y1)
        self._interp = RegularGridInterpolator(
            (ys, xs), exact.temperature_grid(xs, ys, layer) - exact.ambient_K)

    def at(self, xy: np.ndarray) -> np.ndarray:
        """Rise (K) at points (P, 2) on the die."""
        return self._interp(np.clip(xy, self.lo, self.hi)[:, ::-1])


def pointwise_error(mesh, theta: np.ndarray, grid: ExactGrid) -> np.ndarray:
    """Per triangle, the largest |FEM − exact| (K) at its nodes and edge midpoints."""
    node_err = np.abs(theta - grid.at(mesh.points))
    edges, tri2edge = mesh.edge_index
    mid_fem = 0.5 * (theta[edges[:, 0]] + theta[edges[:, 1]])
    mid_err = np.abs(mid_fem - grid.at(0.5 * (mesh.points[edges[:, 0]]
                                              + mesh.points[edges[:, 1]])))
    return np.maximum(node_err[mesh.triangles].max(axis=1), mid_err[tri2edge].max(axis=1))


def marked(rule: str, mesh, indicator: np.ndarray, over: np.ndarray, tol: float) -> np.ndarray:
    """Triangles to bisect under ``rule`` (see the module notes)."""
    from thermal.adapt import Regions, mark

    if rule == "sup":   # only the third rule of mark(), at once the target
        return mark(indicator, tol, fraction=None, theta=None, above=1.0).mask
    # only the region rule; blocks as block_stats counts them (overlaps included)
    cover = mesh.tri_cover()
    regions = [Regions(cover, np.full(cover.shape[1], tol), np.where(over, 2.0, 0.0))]  # 2: over
    return mark(indicator, tol, regions, fraction=float(rule.split()[1]), theta=None,
                above=None).mask


def oracle_run(mesh0, stack, power_w, die, grid: ExactGrid, exact: dict, rule: str,
               tol: float) -> dict:
    """Refine ``mesh0`` by ``rule`` until the true error of every block's max and mean is within
    ``tol``; the final DOFs, rounds and true error."""
    from thermal.refine import bisection_prolongation, refined, with_longest_edge_first
    from thermal.fields import steady_field

    layer = stack.power_layers[0]
    mesh, guess = with_longest_edge_first(mesh0), None
    t = time.perf_counter()
    for rounds in range(1, MAX_ROUNDS + 1):
        theta, info, _ = steady_field(mesh, stack, power_w, None, die, x0=guess)
        errors = true_errors(mesh, theta, stack.ambient_K, exact, layer)
        err = worst(errors)
        if err <= tol:
            return {"dofs": info["dofs"], "rounds": rounds, "err": err, "ok": True,
                    "seconds": time.perf_counter() - t}
        indicator = pointwise_error(mesh, np.nan_to_num(theta[layer]), grid)
        over = (errors["max"] > tol) | (errors["mean"] > tol)
        mark = marked(rule, mesh, indicator, over, tol)
        if not mark.any() or 4 * info["dofs"] > MAX_DOFS:  # a round, closure included, < 4x
            break
        finer = refined(mesh, mark)
        guess = (bisection_prolongation(mesh, finer) @ np.nan_to_num(theta).T).T
        mesh = finer
    return {"dofs": info["dofs"], "rounds": rounds, "err": err, "ok": False,
            "seconds": time.perf_counter() - t}


def _red_dofs(mesh, n_layers: int) -> int:
    """Unknowns of the red refinement of ``mesh``: the fewest any answer checked by the two-level
    estimate can have when it starts from ``mesh``."""
    from thermal.assemble import dof_numbering
    from thermal.refine import refined_uniform

    return int((dof_numbering(refined_uniform(mesh), n_layers) >= 0).sum())


def run_case(spec: tuple, tol: float) -> dict:
    """Every measurement of one case."""
    import thermal
    from thermal.gallery import exact_for

    case = load_case(spec)
    fp, power_w, stack = case["floorplan"], case["power_w"], case["stack"]
    layer = stack.power_layers[0]
    mesh0 = initial(fp, stack)
    res = {"key": case["key"], "kind": case["kind"], "n_blocks": fp.n_blocks}
    try:
        exact_obj = exact_for(fp, case["power"], stack, snapped_to=mesh0)
    except ValueError as exc:
        res["no_exact"] = str(exc)
        return res
    exact = {"max": exact_obj.block_max(layer), "mean": exact_obj.block_mean(layer),
             "peak": exact_obj.peak(layer)[0]}
    for strategy in ("uniform", "estimator", "ml"):
        sol = thermal.solve(fp, case["power"], stack, mesh=strategy, tolerance=tol,
                            sublayers="off")  # the exact solution's model
        res[strategy] = int(sol.summary()["mesh"]["dofs"])
    ladder = uniform_ladder(mesh0, stack, power_w, fp.bounds, exact, tol, MAX_DOFS)
    last = ladder[-1]
    res["needed"] = last["dofs"] if max(last["err_max"], last["err_mean"]) <= tol else None
    res["initial"] = ladder[0]["dofs"]
    res["initial_err"] = max(ladder[0]["err_max"], ladder[0]["err_mean"])
    res["floor"] = {strategy: _red_dofs(initial(fp, stack, strategy), len(stack.layers))
                    for strategy in ("uniform", "ml")}
    grid = ExactGrid(exact_obj, layer)
    res["rules"] = {rule: oracle_run(mesh0, stack, power_w, fp.bounds, grid, exact, rule, tol)
                    for rule in RULES}
    ok = [run["dofs"] for run in res["rules"].values() if run["ok"]]
    res["oracle"] = min(ok) if ok else None
    return res


def _ratio(a, b) -> str:
    return f"{a / b:.3f}" if a and b else "—"


def _n(v) -> str:
    return f"{v:,}" if v else "—"


def summary_lines(results: list[dict]) -> list[str]:
    """Medians: the strategies' and floors' over every case with an exact solution, the
    oracle's over the cases where a rule reached the tolerance."""
    have = [r for r in results if "no_exact" not in r]
    ok = [r for r in have if r["oracle"]]

    def share(key):
        return lambda r: r[key] / r["uniform"]

    def floor(strategy):
        return lambda r: r["floor"][strategy] / r["uniform"]

    rows = [
        ("oracle / uniform strategy DOFs", ok, share("oracle")),
        ("oracle / uniform needed DOFs", ok,
         lambda r: r["oracle"] / r["needed"] if r["needed"] else None),
        ("ml / oracle DOFs", ok, lambda r: r["ml"] / r["oracle"]),
        ("estimator / uniform strategy DOFs", have, share("estimator")),
        ("ml / uniform strategy DOFs", have, share("ml")),
        ("floor 1/24 / uniform strategy DOFs", have, floor("uniform")),
        ("floor ml / uniform strategy DOFs", have, floor("ml")),
    ]
    lines = [f"### Medians ({len(have)} cases with an exact solution, the oracle reached the "
             f"tolerance on {len(ok)})", "", "| quantity | cases | median |", "| :-- | --: | --: |"]
    lines += [f"| {name} | {len(rs)} | {median(map(fn, rs)):.3f} |" for name, rs, fn in rows]
    counts = [("floor 1/24 above 10% of the uniform strategy", have,
               lambda r: r["floor"]["uniform"] > 0.1 * r["uniform"]),
              ("floor ml above 10% of the uniform strategy", have,
               lambda r: r["floor"]["ml"] > 0.1 * r["uniform"]),
              ("oracle within 10% of the uniform strategy", ok,
               lambda r: r["oracle"] <= 0.1 * r["uniform"]),
              ("ml within 10% of the uniform strategy", have,
               lambda r: r["ml"] <= 0.1 * r["uniform"])]
    lines += ["", "| cases where | count |", "| :-- | --: |"]
    lines += [f"| {name} | {sum(map(fn, rs))} / {len(rs)} |" for name, rs, fn in counts]
    return lines + [""]


def report(results: list[dict], command: str, started: str, seconds: float) -> str:
    lines = [f"## Oracle-marked refinement against the strategies, tolerance {TOLERANCE_K} K", "",
             f"Command: `{command}`  ",
             f"Environment: {environment(blas_description())}  ",
             f"Run {started}; total {seconds:.0f} s; sources of `thermal/` {source_digest()}", ""]
    header = (["case", "blocks", "initial DOFs (true err K)", "floor 1/24", "floor ml",
               "uniform strategy", "uniform needed", "estimator", "ml"]
              + [f"oracle {rule}" for rule in RULES]
              + ["oracle / uniform strategy", "oracle / uniform needed", "ml / oracle"])
    lines += markdown_table(header, []).split("\n")
    for r in results:
        if "no_exact" in r:
            lines.append(f"| {r['key']} | {r['n_blocks']} | no exact solution: {r['no_exact']} |")
            continue
        cells = [r["key"], str(r["n_blocks"]), f"{r['initial']:,} ({r['initial_err']:.2f})",
                 _n(r["floor"]["uniform"]), _n(r["floor"]["ml"]), _n(r["uniform"]),
                 _n(r["needed"]), _n(r["estimator"]), _n(r["ml"])]
        for rule in RULES:
            run = r["rules"][rule]
            cells.append(f"{run['dofs']:,}" + ("" if run["ok"] else " (not reached)"))
        cells += [_ratio(r["oracle"], r["uniform"]), _ratio(r["oracle"], r["needed"]),
                  _ratio(r["ml"], r["oracle"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + summary_lines(results)
    lines += [
        "- Oracle: the uniform strategy's initial mesh refined by newest-vertex bisection, "
        "marking from the true pointwise error on the power layer (at every node and edge "
        "midpoint, against `thermal.gallery`'s exact solution tabulated on "
        f"{GRID_POINTS} points along the die's longer side), stopping at the first mesh "
        "whose true error of every block's max and mean is within the tolerance; the fewest "
        "DOFs of the three rules. It answers on the mesh it marks (no red refinement), so a "
        "strategy that must also pass an error estimate cannot do better with this "
        "refinement from that start.",
        "- Floor: the unknowns of the red refinement of a strategy's initial mesh (the "
        "uniform and estimator strategies' circumradius bound of 1/24 of the die's shorter "
        "side, and the predicted strategies' `thermal.predict.MAX_SIZE_FRACTION`): every "
        "answer that the two-level estimate checks lives on the red refinement of a "
        "refinement of it, so has at least these DOFs.",
        "- Uniform strategy: `thermal.solve(mesh=\"uniform\")`, stopped by the two-level "
        "estimate (the denominator of ml_mesh.py's ratios). Uniform needed: the coarsest "
        "uniform level whose true error is within the tolerance.",
        f"- Caps: {MAX_ROUNDS} rounds, {MAX_DOFS:,} DOFs; \"not reached\" marks a rule that "
        "hit one (or marked nothing) before the tolerance.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=N_CASES, help="generated cases (default 50)")
    p.add_argument("--first", type=int, default=0,
                   help="index of the first generated case (seed 10,000,000 + this)")
    p.add_argument("--max-blocks", type=int, default=MAX_BLOCKS)
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the HotSpot floorplans")
    p.add_argument("--out", default=str(RESULTS), help="report file, or - for stdout only")
    args = p.parse_args(argv)
    specs = [("gen", SEED_BASE + args.first + i, args.max_blocks) for i in range(args.cases)]
    if args.reference:
        specs += reference_specs()
    command = "python benchmarks/oracle_mesh.py" + (" " + shlex.join(argv if argv is not None
                                                                    else sys.argv[1:])).rstrip()
    started, t0 = time.strftime("%Y-%m-%d %H:%M"), time.perf_counter()
    results = []
    for i, spec in enumerate(specs):
        t = time.perf_counter()
        res = run_case(spec, TOLERANCE_K)
        results.append(res)
        rules = ", ".join(f"{rule} {run['dofs']:,}{'' if run['ok'] else '!'}"
                          for rule, run in res.get("rules", {}).items())
        print(f"[{i + 1}/{len(specs)}] {res['key']}: uniform {res.get('uniform')}, needed "
              f"{res.get('needed')}, ml {res.get('ml')}; oracle {rules} "
              f"({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
    text = report(results, command, started, time.perf_counter() - t0)
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text + "\n")
    return 0 if all(r.get("oracle") for r in results if "no_exact" not in r) else 1


if __name__ == "__main__":
    sys.exit(main())
