"""``thermal sweep`` on a 2-worker local Dask cluster against a serial loop, in one run.

The manifest: ev6 + gcc on HotSpot's default package, one case per power-trace row (20 rows by
default), at the default tolerance and mesh, plus one case whose floorplan does not exist (a
failure that must be recorded, not fatal). Three runs, one after the other in this process:

1. ``serial``: :func:`thermal.sweep.run_sweep` with ``serial=True``, the cases solved here one
   after the other (what a plain loop over :func:`thermal.solve` costs);
2. ``dask``: the same manifest into a fresh folder on a local cluster of ``--workers``
   processes with one thread each, the cluster's start included in the wall time;
3. ``rerun``: ``dask`` again into its own folder, which must skip every finished case.

Beside them, a control that needs no Dask: the same solves in ``--workers`` plain processes
started at once against one process alone. Its ratio is the parallelism the machine offers now
(2.0 for two idle cores); the sweep cannot beat it.

It prints a table of wall times, the sum of the cases' own wall and CPU times (equal CPU
times and longer wall times in the workers mean the cores were busy elsewhere), the speed-up
over serial,
the DOFs, and the largest difference of any peak or block maximum between the serial and the
Dask answers (0: the same computation).

Usage::

    python benchmarks/sweep.py                 # 20 cases, 2 workers
    python benchmarks/sweep.py --quick         # 4 cases
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT  # noqa: E402  (and this checkout's thermal first on the path)

from thermal.sweep import read_manifest, read_results, run_sweep  # noqa: E402


def _manifest(folder: Path, cases: int) -> Path:
    lines = ['[defaults]', f'floorplan = "{ROOT / "floorplans" / "ev6.flp"}"',
             f'power = "{ROOT / "floorplans" / "gcc.ptrace"}"', '']
    for row in range(cases):
        lines += ['[[case]]', f'name = "gcc row {row}"', f'row = {row}', '']
    lines += ['[[case]]', 'name = "missing floorplan"', 'floorplan = "no-such.flp"', '']
    path = folder / "cases.toml"
    path.write_text("\n".join(lines))
    return path


_LOOP = """
import sys, thermal
fp = thermal.read_floorplan(sys.argv[1]); trace = thermal.read_ptrace(sys.argv[2])
for row in range(int(sys.argv[3])):
    thermal.solve(fp, trace.row(row))
"""


def _control(processes: int, cases: int) -> float:
    """Machine parallelism: ``processes`` x the wall time of one process solving ``cases`` ev6
    rows, over the wall time of ``processes`` such processes started together."""
    command = [sys.executable, "-c", _LOOP, str(ROOT / "floorplans" / "ev6.flp"),
               str(ROOT / "floorplans" / "gcc.ptrace"), str(cases)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def timed(n):
        t = time.perf_counter()
        procs = [subprocess.Popen(command, env=env) for _ in range(n)]
        if any(p.wait() for p in procs):
            raise SystemExit("sweep: the control processes failed")
        return time.perf_counter() - t

    return processes * timed(1) / timed(processes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="4 cases")
    args = parser.parse_args(argv)
    n = 4 if args.quick else args.cases
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = read_manifest(_manifest(tmp, n))
        runs = {}
        for name, out, kwargs in (("serial", tmp / "serial", {"serial": True}),
                                  ("dask", tmp / "dask", {"workers": args.workers}),
                                  ("rerun", tmp / "dask", {"workers": args.workers})):
            t = time.perf_counter()
            result = run_sweep(cases, out, **kwargs)
            runs[name] = (result, time.perf_counter() - t)
        control = _control(args.workers, max(2, n // 4))
        serial_rows, serial_blocks = read_results(tmp / "serial")
        dask_rows, dask_blocks = read_results(tmp / "dask")
    peaks = [abs(a["peak_K"] - b["peak_K"]) for a, b in zip(serial_rows, dask_rows)
             if a["status"] == "ok"]
    blocks = [abs(a["max_K"] - b["max_K"]) for a, b in zip(serial_blocks, dask_blocks)]
    dofs = [r["dofs"] for r in serial_rows if r["status"] == "ok"]
    base = runs["serial"][1]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"### thermal sweep: {n} cases (ev6 + gcc rows 0-{n - 1}, default package, 0.1 K) "
          f"and 1 failing case\n")
    print("| run | workers | solved | skipped | failed | wall s | sum of case wall s "
          "| sum of case CPU s | speed-up over serial |")
    print("| :-- | --: | --: | --: | --: | --: | --: | --: | --: |")
    for name, (result, wall) in runs.items():
        fresh = [r for r in result.records if r["status"] == "ok"] if name != "rerun" else []
        case_s = sum(r["time_s"] or 0.0 for r in fresh)
        cpu_s = sum(r["cpu_s"] or 0.0 for r in fresh)
        print(f"| {name} | {result.workers or 'here'} | {result.solved} | {result.skipped} | "
              f"{result.failed} | {wall:.1f} | {case_s:.1f} | {cpu_s:.1f} | {base / wall:.2f} |")
    print()
    print(f"- DOFs per case: median {statistics.median(dofs):,.0f}, range {min(dofs):,} to "
          f"{max(dofs):,}")
    print(f"- Largest |serial - dask| of a peak: {max(peaks):.2e} K; of a block maximum: "
          f"{max(blocks):.2e} K")
    print(f"- Machine: {os.cpu_count()} CPUs; load average at the end {load[0]:.1f} (1 min), "
          f"{load[1]:.1f} (5 min). Control without Dask: {args.workers} plain processes solving "
          f"{max(2, n // 4)} cases each did {control:.2f}x the work of one in the same time "
          f"(the most any sweep could gain here)")
    failed = [r for r in dask_rows if r["status"] == "failed"]
    print(f"- Failed case recorded: {failed[0]['case']!r}: {failed[0]['error']}")
    ok = (runs["rerun"][0].solved == 0 and runs["rerun"][0].skipped == n
          and runs["dask"][0].solved == n and len(failed) == 1)
    if not ok:
        print("FAILED: the sweeps did not solve, skip and record what they should")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
