"""HotSpot and thermal (one node per layer, and with sub-layers) against 3D conduction.

Part 1, ev6: HotSpot's ev6 example (floorplans/ev6.flp, gcc.ptrace mean, floorplans/hotspot.config
with example.materials) against the converged 3D finite-volume solution in
benchmarks/data/hotspot/ev6-3d-conduction.md (12.5M unknowns, Richardson-extrapolated, ~0.03 K),
variant b: the power enters through the die's top face (its active face), and the block
temperature is the mean over that face. Also shown: the one-node model against the die's volume
mean (what its single die node stands for), and block maxima against the top face's maxima.
HotSpot is the area-weighted 1024 x 1024 column of that file. thermal runs with the default
mesh strategy and tolerance (0.1 K), `sublayers="off"` (one node per layer) and "auto"
(thermal.sublayers), interleaved, ``--repeats`` times each; times are medians.

Part 2, other stacks: thermal against this project's own 3D finite-volume solver
(thermal/fv3d.py) on two grids, Richardson-extrapolated: a thin die on a spreader and a thick
sink larger than the die, a two-die stack, and a thick unthinned die on a copper plate;
thermal with sublayers off, 2, 4 and auto.

    python benchmarks/vs_3d.py            # ~3 min on 2 busy cores; writes results/vs_3d.md
    python benchmarks/vs_3d.py --quick    # coarse 3D grids, one repeat, off/auto only; prints
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

import numpy as np

from harness import ROOT  # noqa: E402  (and this checkout's thermal first on the path)

import thermal  # noqa: E402
from thermal.fv3d import conduction_3d, richardson  # noqa: E402
from thermal.stack import Layer, Stack  # noqa: E402
from thermal.sublayers import sublayer_plan  # noqa: E402

TABLE = ROOT / "benchmarks" / "data" / "hotspot" / "ev6-3d-conduction.md"
FLOORPLANS = ROOT / "floorplans"


def read_table(path: Path = TABLE) -> dict[str, dict[str, float]]:
    """The block table of the 3D solution: {block: {a_vol, a_top, a_max, b_vol, b_top, b_max,
    hs1024, hs_aw}}."""
    keys = ("a_vol", "a_top", "a_max", "b_vol", "b_top", "b_max", "hs1024", "hs_aw")
    out = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 15 and re.match(r"^[A-Za-z]", cells[0]) and cells[1][:1].isdigit():
            out[cells[0]] = dict(zip(keys, map(float, cells[1:9])))
    if len(out) != 30:
        raise SystemExit(f"{path}: expected 30 block rows, found {len(out)}")
    return out


def stats(d: np.ndarray) -> str:
    return f"{d.mean():+.3f} / {np.abs(d).mean():.3f} / {np.abs(d).max():.3f}"


def ev6(repeats: int, lines: list[str]) -> dict:
    table = read_table()
    fp = thermal.read_floorplan(FLOORPLANS / "ev6.flp")
    power = thermal.read_ptrace(FLOORPLANS / "gcc.ptrace")
    stack = Stack.from_hotspot_config(FLOORPLANS / "hotspot.config",
                                      FLOORPLANS / "example.materials")
    names = list(fp.names)
    ref = {k: np.array([table[n][k] for n in names]) for k in table[names[0]]}
    plan = sublayer_plan(stack, fp.bounds, floorplan=fp, power_w=power.mean(), tolerance=0.1)
    runs: dict[str, list] = {"off": [], "auto": []}
    thermal.solve(fp, power, stack, sublayers="off")        # warm: imports, model load
    for _ in range(repeats):
        for mode in runs:
            t = time.perf_counter()
            sol = thermal.solve(fp, power, stack, sublayers=mode)
            runs[mode].append((time.perf_counter() - t, sol))
    res = {}
    for mode, rs in runs.items():
        sol = rs[-1][1]
        res[mode] = dict(time=statistics.median(r[0] for r in rs), dofs=sol.history[-1]["dofs"],
                         mean=np.asarray(sol.blocks.mean_K), max=np.asarray(sol.blocks.max_K),
                         estimate=sol.error_estimate_K)
    off, auto = res["off"], res["auto"]
    hs = ref["hs_aw"]
    lines += ["## 1. ev6 (HotSpot's example) against the converged 3D solution", "",
              f"Stack `floorplans/hotspot.config` + `example.materials`: die 150 µm k 130 / TIM "
              f"20 µm k 4 / spreader 30 mm 1 mm k 237 / sink 60 mm 6.9 mm k 237, r_convec 0.1 K/W. "
              f"Sub-layers chosen by the rule (`auto`): "
              f"{dict(zip([l.name for l in stack.layers], plan.counts))}. "
              f"thermal: default mesh (ml), tolerance 0.1 K; median of {repeats} interleaved runs.", "",
              "3D = the 3D solution with the power on the die's top face (variant b): `top` the "
              "block's mean over that face, `vol` its mean through the die, `max` the face's "
              "maximum over the block. Differences in K, model − 3D.", "",
              "| block | 3D top | HotSpot 1024 − top | off − top | off − vol | auto − top | "
              "3D max | off max − max | auto max − max |",
              "|---|---|---|---|---|---|---|---|---|"]
    for i, n in enumerate(names):
        lines.append(f"| {n} | {ref['b_top'][i]:.3f} | {hs[i] - ref['b_top'][i]:+.2f} | "
                     f"{off['mean'][i] - ref['b_top'][i]:+.3f} | "
                     f"{off['mean'][i] - ref['b_vol'][i]:+.3f} | "
                     f"{auto['mean'][i] - ref['b_top'][i]:+.3f} | {ref['b_max'][i]:.3f} | "
                     f"{off['max'][i] - ref['b_max'][i]:+.3f} | {auto['max'][i] - ref['b_max'][i]:+.3f} |")
    lines += ["", "| model | compared with | mean signed / mean abs / worst, K | DOFs | time s |",
              "|---|---|---|---|---|",
              f"| HotSpot 1024² (area-weighted) | 3D top mean | {stats(hs - ref['b_top'])} | "
              f"1024²x4 | 381 (from the file) |",
              f"| HotSpot 1024² (area-weighted) | 3D vol mean | {stats(hs - ref['b_vol'])} | | |",
              f"| thermal, one node per layer (`--sublayers off`) | 3D top mean | "
              f"{stats(off['mean'] - ref['b_top'])} | {off['dofs']} | {off['time']:.2f} |",
              f"| thermal, one node per layer | 3D vol mean | {stats(off['mean'] - ref['b_vol'])} | | |",
              f"| thermal, sub-layers (`--sublayers auto`) | 3D top mean | "
              f"{stats(auto['mean'] - ref['b_top'])} | {auto['dofs']} | {auto['time']:.2f} |",
              f"| thermal, one node per layer | 3D top max | {stats(off['max'] - ref['b_max'])} | | |",
              f"| thermal, sub-layers (`auto`) | 3D top max | {stats(auto['max'] - ref['b_max'])} | | |",
              "", f"Time auto / off: **{auto['time'] / off['time']:.2f}x** "
              f"(DOFs {auto['dofs'] / off['dofs']:.2f}x); error estimates {off['estimate']:.3f} / "
              f"{auto['estimate']:.3f} K.", ""]
    return res


def _cases(quick: bool):
    """(name, die, blocks (l, b, w, h), powers, layers [(name, t, k, size, power)], h, cells_z)"""
    mm = 1e-3
    blocks4 = np.array([[0, 0, 4, 2], [0, 2, 1, 1], [1, 2, 3, 2], [0, 3, 1, 1]]) * mm
    p4 = [1.5, 3.0, 1.0, 0.8]
    hot = np.array([[0, 0, 3, 1.2], [0, 1.2, 1.2, 1.8], [1.2, 1.2, 0.5, 0.5], [1.7, 1.2, 1.3, 1.8],
                    [1.2, 1.7, 0.5, 1.3]]) * mm
    return [
        ("thin die, spreader and sink larger than the die", (0, 0, 4 * mm, 4 * mm), blocks4, p4,
         [("die", 150e-6, 130.0, None, True), ("tim", 20e-6, 4.0, None, False),
          ("spreader", 1 * mm, 400.0, (8 * mm, 8 * mm), False),
          ("sink", 4 * mm, 237.0, (16 * mm, 16 * mm), False)], 1 / (0.5 * (16 * mm) ** 2),
         [2, 1, 4, 6]),
        ("two dies (power in the upper), bond, TIM, sink", (0, 0, 4 * mm, 4 * mm), blocks4, p4,
         [("die1", 100e-6, 130.0, None, True), ("bond", 10e-6, 1.5, None, False),
          ("die2", 100e-6, 130.0, None, False), ("tim", 20e-6, 4.0, None, False),
          ("sink", 3 * mm, 237.0, None, False)], 2e4, [2, 1, 2, 1, 6]),
        ("thick (unthinned) die on a copper plate", (0, 0, 3 * mm, 3 * mm),
         hot, [0.3, 0.3, 1.5, 0.3, 0.3],
         [("die", 0.75 * mm, 150.0, None, True), ("plate", 2 * mm, 390.0, None, False)], 3e4,
         [6, 6]),
    ]


def own_3d(quick: bool, lines: list[str]) -> list[dict]:
    lines += ["## 2. Other stacks against this project's 3D finite volumes (thermal/fv3d.py)", "",
              "3D: the power through the power layer's top face, block means over that face; two "
              "grids (the second with half the cell size every way), Richardson-extrapolated "
              "(`Δ` = extrapolated − fine grid, an estimate of the reference's own error). thermal: "
              f"tolerance {0.05 if quick else 0.02} K, mesh ml; errors = thermal − 3D over the blocks, "
              "mean signed / worst, K.", ""]
    out = []
    for name, die, blocks, powers, layer_spec, h, cells_z in _cases(quick):
        layers = [(t, k, s) for _, t, k, s, _ in layer_spec]
        dx = min(die[2], die[3]) / (10 if quick else 24)
        tol = 0.05 if quick else 0.02
        t = time.perf_counter()
        grids = [conduction_3d(die, blocks, powers, layers, h, dx=dx, cells_z=cells_z, refine=r)
                 for r in (1, 2)]
        ref = richardson(*grids)
        t_fv = time.perf_counter() - t
        delta = np.abs(ref.top_mean - grids[1].top_mean).max()
        fp = _floorplan(blocks)
        stack = Stack(tuple(Layer(n, t_, k, 1.6e6, power=p, size_m=s)
                            for n, t_, k, s, p in layer_spec), ambient_K=300.0, h=h)
        row = {"name": name, "unknowns": ref.unknowns, "fv_s": t_fv, "delta": delta}
        cells = []
        modes = ("off", "auto") if quick else ("off", 2, 4, "auto")
        for mode in modes:
            t = time.perf_counter()
            sol = thermal.solve(fp, np.asarray(powers), stack, tolerance=tol, sublayers=mode)
            dt = time.perf_counter() - t
            d = np.asarray(sol.blocks.mean_K) - 300.0 - ref.top_mean
            row[str(mode)] = d
            counts = sublayer_plan(stack, fp.bounds, mode, floorplan=fp, power_w=powers,
                                   tolerance=tol).counts
            cells.append(f"{d.mean():+.3f} / {np.abs(d).max():.3f} ({'/'.join(map(str, counts))}, "
                         f"{sol.history[-1]['dofs']} DOFs, {dt:.2f} s)")
        out.append(row)
        lines += [f"### {name}", "",
                  "layers: " + ", ".join(f"{n} {t_ * 1e6:.0f} µm k {k:g}" + (
                      f" {s[0] * 1e3:g} mm" if s else "") for n, t_, k, s, _ in layer_spec)
                  + f"; h {h:.4g} W/(m² K); {len(blocks)} blocks, {sum(powers):g} W.", "",
                  f"3D: {grids[0].unknowns} and {grids[1].unknowns} unknowns, {t_fv:.1f} s, "
                  f"Δ {delta:.4f} K, energy balance {ref.energy_balance_rel:.1e}; top-face block "
                  f"means (rise, K) " + ", ".join(f"{v:.3f}" for v in ref.top_mean) + ".", "",
                  "| sub-layers | thermal − 3D top mean: mean / worst (sub-layers per layer, DOFs, time) |",
                  "|---|---|"]
        labels = {"off": "off (one node)", 2: "2 each", 4: "4 each", "auto": "auto"}
        lines += [f"| {labels[m]} | {c} |" for m, c in zip(modes, cells)]
        lines.append("")
    return out


def _floorplan(blocks):
    """A Floorplan of rectangles (l, b, w, h) in m via a temporary .flp file."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".flp", delete=False) as f:
        for i, (l, b, w, h) in enumerate(blocks):
            f.write(f"b{i}\t{float(w)!r}\t{float(h)!r}\t{float(l)!r}\t{float(b)!r}\n")
    return thermal.read_floorplan(f.name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small 3D grids, one repeat, no file")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vs_3d.md")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    t0 = time.perf_counter()
    lines = ["# thermal and HotSpot against 3D conduction", "",
             f"`python benchmarks/vs_3d.py{' --quick' if args.quick else ''}` "
             f"(thermal/sublayers.py, thermal/fv3d.py).", ""]
    res = ev6(repeats, lines)
    own = own_3d(args.quick, lines)
    lines.append(f"Total {time.perf_counter() - t0:.0f} s.")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        args.out.write_text(text)
    worst = np.abs(res["auto"]["mean"] - np.array(
        [read_table()[n]["b_top"] for n in thermal.read_floorplan(FLOORPLANS / "ev6.flp").names])).max()
    improved = all(np.abs(r["auto"]).max() < np.abs(r["off"]).max() for r in own)
    print(f"ev6 auto worst {worst:.3f} K; sub-layers improve every other stack: {improved}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
