"""Transient cost over a long power trace: the ml mesh against the uniform strategy's mesh.

ev6 on the 3-layer stack (floorplans/ev6_3layer.toml, every layer on the die, so the exact
transient series of thermal/gallery.py applies), floorplans/gcc.ptrace repeated to SAMPLES rows
of 10 ms (HotSpot's example config's -sampling_intvl), backward Euler with dt = 10 ms. Each
strategy runs in its own process (clean peak memory):

- mesh: the strategy's mesh for the whole trace (thermal.transient.trace_mesh) and its time;
- factorisation time, ms per step over the trace (wall clock, the linear solves), CPU ms per
  row (process time of the whole loop: solves, loads, block statistics; less sensitive to other
  processes on a shared machine), peak resident memory of the process;
- accuracy: block max and mean of the same mesh with Crank-Nicolson at dt = 0.25 ms (so that
  the time error is small) against the exact transient at the end of the first CHECK_ROWS rows;
  backward Euler at dt = 10 ms itself is ~4 K off the exact series in gcc's first rows (its
  first-order time error; both meshes alike);
- the total time (mesh + assembly + factorisation + every step). The uniform mesh's steps are
  timed over --uniform-steps rows and its total is extrapolated to SAMPLES rows (stated so).

HotSpot's own figure is quoted from /work/shared/reference-inputs/hotspot/README.md (a transient
grid run, 64 x 64, 100 steps of 10 ms, -o: 192 s on a 2-core machine).

    python benchmarks/transient.py            # 10,000 samples (about 3 minutes)
    python benchmarks/transient.py --quick    # 200 samples
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from harness import ROOT  # noqa: E402  (and this checkout's thermal first on the path)

INTERVAL_S = 0.01
CHECK_ROWS = (1, 2)
HOTSPOT = ("HotSpot grid model, 64 x 64, 100 steps of 10 ms (-o): 192 s "
           "(/work/shared/reference-inputs/hotspot/README.md, 2-core machine)")


def inputs(samples: int):
    import thermal

    fp = thermal.read_floorplan(ROOT / "floorplans" / "ev6.flp")
    trace = thermal.read_ptrace(ROOT / "floorplans" / "gcc.ptrace")
    stack = thermal.Stack.read(ROOT / "floorplans" / "ev6_3layer.toml")
    column = {n: i for i, n in enumerate(trace.names)}
    rows = np.asarray(trace.samples_w)[:, [column[n] for n in fp.names]]
    reps = -(-samples // len(rows))
    return fp, np.tile(rows, (reps, 1))[:samples], stack


def one(strategy: str, samples: int, steps: int | None, accuracy: bool = True) -> dict:
    """Run one strategy; print a JSON line."""
    from thermal.gallery import exact_transient_for
    from thermal.transient import prepare

    fp, rows, stack = inputs(samples)
    t0 = time.perf_counter()
    run = prepare(fp, rows, stack, sampling_interval=INTERVAL_S, mesh=strategy)
    prepare_s = time.perf_counter() - t0
    n_run = len(rows) if steps is None else min(steps, len(rows))
    t1, c1 = time.perf_counter(), time.process_time()
    for k, frame in enumerate(run.frames()):
        if k + 1 >= n_run:
            break
    run_s, cpu_s = time.perf_counter() - t1, time.process_time() - c1
    step_s = run.step_s
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    errors = {"max": float("nan"), "mean": float("nan")}
    if accuracy:
        # the mesh's own error: the same mesh with Crank-Nicolson at dt = 0.25 ms (its time
        # error is ~1e-3 K there), against the exact series at the end of the first rows
        errors = {"max": 0.0, "mean": 0.0}
        fine = prepare(fp, rows[:max(CHECK_ROWS)], stack, sampling_interval=INTERVAL_S,
                       dt=2.5e-4, method="cn", mesh=run.mesh)
        exact = exact_transient_for(fp, rows[:max(CHECK_ROWS)], stack, INTERVAL_S)
        for f, (_, e) in zip(fine.frames(), exact):
            if f.index + 1 in CHECK_ROWS:
                for key, ours, theirs in (("max", f.block_max_K, e.block_max()),
                                          ("mean", f.block_mean_K, e.block_mean())):
                    errors[key] = max(errors[key], float(np.abs(ours - theirs).max()))
    per_row_s = run_s / n_run
    out = {"strategy": strategy, "dofs": run.n_dofs, "mesh_s": run.mesh_info["mesh_s"],
           "prepare_s": prepare_s, "assemble_s": run.assemble_s,
           "factorise_s": run.stepper.factorise_s, "ms_per_step": 1e3 * step_s / n_run,
           "ms_per_row": 1e3 * per_row_s, "cpu_ms_per_row": 1e3 * cpu_s / n_run,
           "rows_run": n_run, "rows": len(rows),
           "total_s": prepare_s + per_row_s * len(rows), "extrapolated": n_run < len(rows),
           "peak_mib": peak_mib, "err_max_K": errors["max"], "err_mean_K": errors["mean"],
           "check_dofs": run.mesh_info.get("check_dofs")}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="200 samples")
    ap.add_argument("--uniform-steps", type=int, default=5,
                    help="rows the uniform mesh is timed over (its total is extrapolated)")
    ap.add_argument("--uniform-accuracy", action="store_true",
                    help="also check the uniform mesh against the exact series (slow: 80 steps)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    samples = 200 if args.quick else args.samples
    if args.one:
        one(args.one, samples, args.steps, accuracy=args.one == "ml" or args.uniform_accuracy)
        return
    results = []
    for strategy, steps in (("ml", None), ("uniform", args.uniform_steps)):
        cmd = [sys.executable, __file__, "--one", strategy, "--samples", str(samples)]
        if steps is not None:
            cmd += ["--steps", str(steps)]
        if args.uniform_accuracy:
            cmd += ["--uniform-accuracy"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"{strategy} failed:\n{run.stderr[-2000:]}")
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
    ml, uni = results
    print(f"## Transient: ev6 (3-layer stack), gcc.ptrace repeated to {samples:,} rows of "
          f"{INTERVAL_S * 1e3:g} ms, backward Euler, dt {INTERVAL_S * 1e3:g} ms\n")
    print("| mesh | DOFs | mesh s | factorise s | ms/step | CPU ms/row | peak MiB "
          "| max error K | mean error K | total s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        note = f" (extrapolated from {r['rows_run']} rows)" if r["extrapolated"] else ""
        print(f"| {r['strategy']} | {r['dofs']:,} | {r['mesh_s']:.2f} | {r['factorise_s']:.2f} "
              f"| {r['ms_per_step']:.1f} | {r['cpu_ms_per_row']:.1f} | {r['peak_mib']:.0f} "
              f"| {r['err_max_K']:.3f} | {r['err_mean_K']:.3f} | {r['total_s']:.1f}{note} |")
    print()
    print(f"- ml total / uniform total: {ml['total_s'] / uni['total_s']:.3f} "
          f"(goal <= 1/3); DOFs {ml['dofs'] / uni['dofs']:.3f}")
    print(f"- ml ms per step at {ml['dofs']:,} DOFs: {ml['ms_per_step']:.1f} (goal < 20)")
    print(f"- errors: block max and mean of the mesh (Crank-Nicolson, dt 0.25 ms) against the "
          f"exact transient series at the end of rows {', '.join(map(str, CHECK_ROWS))} "
          f"(nan: not checked; the uniform mesh is the uniform strategy's converged mesh at "
          f"0.1 K, estimate from its steady check; --uniform-accuracy checks it too)")
    print(f"- 100 steps of ours on the ml mesh: {ml['ms_per_step'] * 100 / 1e3:.2f} s "
          f"(+ {ml['prepare_s']:.1f} s mesh and factorisation); {HOTSPOT}")


if __name__ == "__main__":
    main()
