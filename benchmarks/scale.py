"""Scale: the meshing share of a solve and the time of its plots as block counts grow (issue 22).

Goals: meshing (the initial mesh and all refinement: timings.json's ``mesh``) at most 10% of
the solve's total, and each plot (heatmap.png, mesh.png) at most 2 s, at any block count.

The floorplans are generated here, seeded:

- ``tiles:N`` -- a HotSniper-like die of N x N identical tiles of 21 blocks (rows of 6, 5, 5
  and 5 blocks of random widths), 4.25 mm a tile: ``tiles:8`` is 1,344 blocks on 34 mm, on a
  60 mm spreader and a 100 mm sink (HotSpot's default package is smaller than that die);
- ``grid:K`` -- an OpenROAD-like 0.6 mm die of K x K equal tiles, on HotSpot's default package:
  ``grid:128`` is 16,384 blocks.

Each block gets a random power of up to 1 W/mm². The plots are timed after one small warm-up
plot (matplotlib's imports and font cache, paid once per run). Every case runs in a fresh interpreter
(``--worker``); with ``--baseline PATH`` the same case also runs with ``PYTHONPATH=PATH`` (an
older checkout), interleaved, and the ratios are printed beside the times.

Usage::

    python benchmarks/scale.py                                 # tiles:4, tiles:8, grid:128
    python benchmarks/scale.py --cases grid:128 --baseline ../main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ROWS = ((0.3, 6), (0.25, 5), (0.2, 5), (0.25, 5))   # a tile's rows: height fraction, blocks


def tiles(n: int, tile_m: float = 4.25e-3, seed: int = 0):
    """Names and (left, bottom, width, height) of n x n identical 21-block tiles."""
    rng = np.random.default_rng(seed)
    pattern, y = [], 0.0
    for frac, count in ROWS:
        cuts = np.r_[0.0, np.cumsum(rng.uniform(0.5, 1.5, count))]
        cuts /= cuts[-1]
        pattern += [(cuts[k], y, cuts[k + 1] - cuts[k], frac) for k in range(count)]
        y += frac
    names, rects = [], []
    for j in range(n):
        for i in range(n):
            for k, (x, yy, w, h) in enumerate(pattern):
                names.append(f"t{j}_{i}_b{k}")
                rects.append(((i + x) * tile_m, (j + yy) * tile_m, w * tile_m, h * tile_m))
    return names, np.array(rects)


def grid(k: int, die_m: float = 0.6e-3):
    """Names and rectangles of a die cut into k x k equal tiles."""
    s = die_m / k
    j, i = np.divmod(np.arange(k * k), k)
    return [f"g{a}_{b}" for a, b in zip(j, i)], np.c_[i * s, j * s, np.full(k * k, s),
                                                       np.full(k * k, s)]


def _package(die_m: float) -> dict | None:
    """HotSpot's default package, or a 60 mm spreader and a 100 mm sink for a die above 25 mm."""
    if die_m <= 25e-3:
        return None
    layer = {"heat_capacity": 3.55e6, "conductivity": 400.0}
    return {"ambient": 318.15, "convection": {"r": 0.1}, "layer": [
        {"name": "die", "thickness": 150e-6, "conductivity": 100.0, "heat_capacity": 1.75e6,
         "power": True},
        {"name": "tim", "thickness": 20e-6, "conductivity": 4.0, "heat_capacity": 4.0e6},
        {"name": "spreader", "thickness": 1e-3, "size": [60e-3, 60e-3], **layer},
        {"name": "sink", "thickness": 6.9e-3, "size": [100e-3, 100e-3], **layer}]}


def worker(case: str) -> dict:
    """Solve one case and draw its plots; the numbers as a dict (run in a fresh interpreter)."""
    import matplotlib

    matplotlib.use("Agg")
    import thermal
    from thermal.floorplan import make_floorplan
    from thermal.stack import Stack

    kind, size = case.split(":")
    names, r = tiles(int(size)) if kind == "tiles" else grid(int(size))
    rng = np.random.default_rng(1)
    power = dict(zip(names, (rng.uniform(0, 1, len(names)) * r[:, 2] * r[:, 3] * 1e6).tolist()))
    fp = make_floorplan(names, r[:, 0], r[:, 1], r[:, 2], r[:, 3])
    package = _package(float(np.ptp(np.r_[r[:, 0], r[:, 0] + r[:, 2]])))
    stack = Stack.from_dict(package) if package else Stack.default()
    t = time.perf_counter()
    sol = thermal.solve(fp, power, stack, mesh="ml")
    total = time.perf_counter() - t
    plots = {}
    with tempfile.TemporaryDirectory() as folder:
        # matplotlib's imports and font cache once, outside the timings (the CLI pays them once)
        from thermal.plot import plot_mesh

        plot_mesh(Path(folder) / "warm.png", np.eye(3)[:, :2], np.array([[0, 1, 2]]),
                  np.array([[0.0, 0.0, 0.5, 0.5]]), ["warm"])
        for kind_ in ("heatmap", "mesh"):
            t = time.perf_counter()
            sol.plot(Path(folder) / f"{kind_}.png", kind_)
            plots[kind_] = time.perf_counter() - t
    return {"case": case, "blocks": len(names), "nodes": sol.mesh.n_nodes,
            "dofs": sol.history[-1]["dofs"], "error_K": sol.error_estimate_K,
            "mesh_s": sol.timings_s["mesh"], "total_s": total,
            "heatmap_s": plots["heatmap"], "mesh_png_s": plots["mesh"]}


def _run(case: str, pythonpath: str) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath, "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, __file__, "--worker", case], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"scale.py: {case} with PYTHONPATH={pythonpath} failed:\n"
                         f"{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _row(tag: str, r: dict) -> str:
    share = r["mesh_s"] / r["total_s"]
    return (f"{r['case']:<10} {tag:<8} {r['blocks']:>7,} {r['nodes']:>9,} {r['dofs']:>10,} "
            f"{r['error_K']:>8.3g} {r['mesh_s']:>7.1f} {r['total_s']:>7.1f} {share:>6.0%} "
            f"{r['heatmap_s']:>7.2f} {r['mesh_png_s']:>7.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="tiles:4,tiles:8,grid:128")
    parser.add_argument("--baseline", default=None,
                        help="another checkout's root: run each case with it too, for ratios")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    here = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    print(f"{'case':<10} {'code':<8} {'blocks':>7} {'nodes':>9} {'DOFs':>10} {'err K':>8} "
          f"{'mesh s':>7} {'total s':>7} {'mesh%':>6} {'heat s':>7} {'mesh.png':>7}")
    goals = []
    for case in args.cases.split(","):
        this = _run(case, here)
        print(_row("this", this), flush=True)
        goals.append(this["mesh_s"] <= 0.1 * this["total_s"])
        goals.append(max(this["heatmap_s"], this["mesh_png_s"]) <= 2.0)
        if args.baseline:
            base = _run(case, str(Path(args.baseline).resolve()))
            print(_row("baseline", base))
            print(f"{case:<10} {'ratio':<8} {'':>7} {'':>9} {'':>10} {'':>8} "
                  f"{this['mesh_s'] / base['mesh_s']:>7.2f} {this['total_s'] / base['total_s']:>7.2f}"
                  f" {'':>6} {this['heatmap_s'] / base['heatmap_s']:>7.2f} "
                  f"{this['mesh_png_s'] / base['mesh_png_s']:>7.2f}", flush=True)
    print(f"goals (meshing <= 10% of the run, each plot <= 2 s): {sum(goals)} of {len(goals)} met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
