"""Pick ``thermal.predict.SIZE_SAFETY``, the factor on the forest's predicted element size, and
``OFF_DIE_GRADING``, the growth of the size off the die, and ``MAX_SIZE_FRACTION``, the cap on
the predicted size (``--cap``), ``thermal.adapt.MAX_BISECTIONS``, how far one correction
may bisect a triangle (``--bisections``), and ``thermal.adapt.CORRECTION_BLOCK_FRACTION``, how
much of a block over its tolerance a correction marks (``--block-fraction``).

Too small a factor and the predicted mesh is finer than needed everywhere; too large and the
estimator has to correct it (each correction is another pair of solves). This solves a set of
generated *validation* problems — seeds 20,000,000 + i, used neither for training (small seeds)
nor by the held-out benchmark (10,000,000 + i) — with ``mesh="ml"`` at 0.1 K for each factor,
side by side in one run, and prints DOFs, solves, corrections and wall time (medians and sums),
plus the true error against the exact solution (shared-footprint stacks, die conductivity).

``--package`` draws the same seeds with a spreader 1.5-3x larger than the die instead (no exact
solution: no error column); ``--grading`` then compares values of ``OFF_DIE_GRADING`` (``inf``:
the initial mesh's sizes off the die), each with every factor.

Usage::

    python benchmarks/size_safety.py                       # 12 cases x 5 factors, ~5 min
    python benchmarks/size_safety.py --cases 4 --factors 1.5 2.4
    python benchmarks/size_safety.py --package --factors 1.7 --grading inf 0.5 0.3 0.2
    python benchmarks/size_safety.py --factors 1.7 --cap 24 12 --bisections 1 4
    python benchmarks/size_safety.py --factors 1.7 2.0 --models A.npz B.npz
    python benchmarks/size_safety.py --factors 1.7 --block-fraction 0.5 0.25 0.1
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import thermal
from thermal import adapt, predict
from thermal.gallery import exact_for
from thermal.options import MeshingOptions
from thermal.fields import block_stats
from thermal.train import generate_case

SEED0 = 20_000_000


def _case(i: int, max_blocks: int, shared_footprint: bool = True):
    case = generate_case(SEED0 + i, shared_footprint=shared_footprint, max_blocks=max_blocks)
    fp = case.floorplan
    if shared_footprint and np.isfinite(fp.conductivity).any():
        # no exact solution with per-block conductivity
        fp = dataclasses.replace(fp, conductivity=np.full(len(fp.names), np.nan))
    return case, fp


def exact_blocks(fp, case):
    """(block max K, block mean K) of the exact solution."""
    exact = exact_for(fp, case.power, case.stack)
    return exact.block_max(), exact.block_mean()


def _true_error(sol, fp, case, reference=None) -> float:
    if reference == ():  # no reference (a package larger than the die)
        return float("nan")
    block_max, block_mean = exact_blocks(fp, case) if reference is None else reference
    hi, mean, _ = block_stats(sol.mesh, sol.theta[sol.power_layer])
    amb = case.stack.ambient_K
    return float(np.nanmax(np.r_[np.abs(hi + amb - block_max), np.abs(mean + amb - block_mean)]))


def timed_run(case, fp, tolerance: float, reference=None, **solve_args):
    """One ``thermal.solve`` of a validation case: the solution and (DOFs, solves,
    corrections, wall s, true error K). The error is against ``reference`` (block max, block
    mean) when given, else against the exact solution; NaN when ``reference`` is ``()``."""
    t = time.perf_counter()
    sol = thermal.solve(fp, case.power, case.stack, tolerance=tolerance, sublayers="off",
                        **solve_args)  # one node per layer: the exact solution's model
    wall = time.perf_counter() - t
    s = sol.summary()
    return sol, (s["mesh"]["dofs"], s["solves"], s.get("corrections", 0), wall,
                 _true_error(sol, fp, case, reference))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--factors", type=float, nargs="+", default=[1.2, 1.7, 2.4, 3.4, 4.8])
    parser.add_argument("--grading", type=float, nargs="+", default=[predict.OFF_DIE_GRADING],
                        help="values of OFF_DIE_GRADING (matter only with --package)")
    parser.add_argument("--cap", type=float, nargs="+", default=[1 / predict.MAX_SIZE_FRACTION],
                        help="values of 1 / MAX_SIZE_FRACTION (the largest predicted size, and "
                             "the initial mesh's bound, is the die's shorter side over this)")
    parser.add_argument("--bisections", type=int, nargs="+", default=[adapt.MAX_BISECTIONS],
                        help="values of thermal.adapt.MAX_BISECTIONS (1: a correction bisects "
                             "each marked triangle once)")
    parser.add_argument("--block-fraction", type=float, nargs="+",
                        default=[adapt.CORRECTION_BLOCK_FRACTION],
                        help="values of thermal.adapt.CORRECTION_BLOCK_FRACTION")
    parser.add_argument("--package", action="store_true",
                        help="spreader 1.5-3x larger than the die (errors not computed)")
    parser.add_argument("--max-blocks", type=int, default=300)
    parser.add_argument("--models", nargs="+", default=None,
                        help="model files to compare (default: the shipped model)")
    parser.add_argument("--tolerance", type=float, default=0.1)
    args = parser.parse_args(argv)
    models = ({"shipped": predict.default_model()} if args.models is None else
              {path: predict.load_model(path) for path in args.models})
    cases = [_case(i, args.max_blocks, shared_footprint=not args.package)
             for i in range(args.cases)]
    thermal.solve(cases[0][1], cases[0][0].power, cases[0][0].stack, mesh="ml")  # warm up
    variants = [(f, g, c, b, x, m) for m in models for x in args.block_fraction
                for b in args.bisections for c in args.cap for g in args.grading
                for f in args.factors]
    rows = {v: [] for v in variants}
    for i, (case, fp) in enumerate(cases):
        for f, g, c, b, x, m in variants:  # the variants side by side on each case
            options = MeshingOptions(size_safety=f, off_die_grading=g, max_size_fraction=1 / c,
                                     max_bisections=b, correction_block_fraction=x)
            with np.errstate(invalid="ignore"):  # inf x 0 on the die's edge, overwritten there
                rows[f, g, c, b, x, m].append(timed_run(case, fp, args.tolerance, reference=()
                                            if args.package else None, mesh="ml",
                                            model=models[m], options=options)[1])
        print(f"case {i + 1}/{len(cases)} ({case.kind}, {len(fp.names)} blocks) done",
              flush=True)
    stacks = "a spreader 1.5-3x the die" if args.package else "die-sized layers"
    print(f"\n### SIZE_SAFETY, OFF_DIE_GRADING, MAX_SIZE_FRACTION, MAX_BISECTIONS and "
          f"CORRECTION_BLOCK_FRACTION on "
          f"{len(cases)} validation cases (seeds {SEED0}+), {stacks}, ml at {args.tolerance} K\n")
    print("| factor | off-die grading | size cap (die /) | bisections | block fraction "
          "| median DOFs | total DOFs "
          "| median solves | total solves | max corrections | median s | total s "
          "| max true error K | model |")
    print("| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | :-- |")
    for (f, g, c, b, x, m), r in rows.items():
        a = np.array(r, float)
        error = "—" if args.package else f"{a[:, 4].max():.3f}"
        print(f"| {f:g} | {g:g} | {c:g} | {b} | {x:g} | {np.median(a[:, 0]):,.0f} | "
              f"{a[:, 0].sum():,.0f} | "
              f"{np.median(a[:, 1]):.0f} | {a[:, 1].sum():.0f} | {a[:, 2].max():.0f} | "
              f"{np.median(a[:, 3]):.2f} | {a[:, 3].sum():.1f} | {error} | {m} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
