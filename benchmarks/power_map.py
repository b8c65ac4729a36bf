"""What a raster power map costs, by its resolution: ev6 under gcc as block power and as maps.

The maps are ``floorplans/make_ev6_map.py``'s (each block's gcc power over the cells it covers,
plus two sub-block hot spots) at 32 x 32 to 1024 x 1024 cells (the largest accepted); the
block-power row is the plain gcc trace. A map's cells are not mesh features: its load is
integrated exactly on whatever triangles the prediction asks for (:mod:`thermal.raster_load`),
so the cost should not grow with the cells. Side by side in one run, each solve timed in this
process after a warm-up (the best of ``--repeat``), on two stacks:

- the 3-layer die-sized stack ``floorplans/ev6_3layer.toml``, with the true error of every
  block's max and mean against the exact solution (:func:`thermal.gallery.exact_for`, up to
  ``--exact-cells`` cells: its cost grows with the merged rectangles);
- HotSpot's default package (the README's first command), where the error column is the
  solver's own estimate.

Usage::

    python benchmarks/power_map.py               # 32..1024 cells, ml, ~1 min
    python benchmarks/power_map.py --cells 32 64 --strategies ml estimator
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from harness import FLOORPLANS, fastest  # this checkout's thermal first on the path

import thermal
from thermal.gallery import exact_for

sys.path.insert(0, str(FLOORPLANS))
from make_ev6_map import ev6_map  # noqa: E402  (a script beside the shipped map)


def stacks() -> dict:
    return {"3-layer": thermal.Stack.read(FLOORPLANS / "ev6_3layer.toml"),
            "HotSpot package": thermal.Stack.default()}


def timed(fp, power, stack, strategy: str, repeat: int):
    """The solution and the best wall time of ``repeat`` solves."""
    return fastest(repeat, thermal.solve, fp, power, stack, mesh=strategy,
                   sublayers="off")  # exact's model


def true_error(sol, exact) -> float:
    return float(max(np.abs(sol.blocks.max_K - exact.block_max()).max(),
                     np.abs(sol.blocks.mean_K - exact.block_mean()).max()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    parser.add_argument("--strategies", nargs="+", default=["ml"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--exact-cells", type=int, default=128)
    args = parser.parse_args(argv)
    fp = thermal.read_floorplan(FLOORPLANS / "ev6.flp")
    powers = [("blocks (gcc.ptrace)", thermal.read_ptrace(FLOORPLANS / "gcc.ptrace").mean(), 0)]
    powers += [(f"map {n} x {n}", thermal.PowerMap(ev6_map(n)[::-1].copy()), n) for n in args.cells]
    thermal.solve(fp, powers[0][1], stacks()["3-layer"])  # warm-up: imports, caches
    print("| stack | power | strategy | DOFs | solves | s | error K | error is |")
    print("| :-- | :-- | :-- | --: | --: | --: | --: | :-- |")
    for stack_name, stack in stacks().items():
        for name, power, cells in powers:
            exact = None
            if stack_name == "3-layer" and cells <= args.exact_cells:
                exact = exact_for(fp, power, stack)
            for strategy in args.strategies:
                sol, seconds = timed(fp, power, stack, strategy, args.repeat)
                error, kind = ((true_error(sol, exact), "true") if exact is not None else
                               (sol.error_estimate_K, "estimate"))
                print(f"| {stack_name} | {name} | {strategy} | {sol.history[-1]['dofs']:,} | "
                      f"{sol.summary()['solves']} | {seconds:.2f} | {error:.3f} | {kind} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
