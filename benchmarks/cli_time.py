"""End-to-end wall time of ``thermal solve`` on a shipped floorplan, as a user runs it.

Each run is a fresh ``python -m thermal solve`` process (imports included), timed from outside.
The variants run interleaved, round by round, so that they share the machine's load:

- ``import``: ``python -c "import thermal.cli"`` alone (the floor of any command);
- ``no plots``: ``--no-plots`` (blocks.csv, summary.json, timings.json, field.vtu);
- ``plots``: the README's first command (heatmap.png, mesh.png and predicted.png too).

It prints the median and the range of each, and the medians of the phases thermal times
itself (timings.json). ev6 + gcc on HotSpot's default package is the README's first command;
``--stack floorplans/ev6_3layer.toml`` is the 3-layer stack of the accuracy tables.

Usage::

    python benchmarks/cli_time.py                  # ev6 + gcc, default package, 5 rounds
    python benchmarks/cli_time.py --rounds 3 --stack floorplans/ev6_3layer.toml
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import ROOT, interleaved, median


def _run(command: list[str]) -> None:
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    if run.returncode != 0:
        raise SystemExit(f"cli_time: {' '.join(command)} failed:\n{run.stderr[-2000:]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floorplan", default="floorplans/ev6.flp")
    parser.add_argument("--power", default="floorplans/gcc.ptrace")
    parser.add_argument("--stack", default=None, help="stack TOML (default: HotSpot's package)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    solve = [sys.executable, "-m", "thermal", "solve", args.floorplan, "--power", args.power]
    if args.stack:
        solve += ["--stack", args.stack]
    phases: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        count = {"bare": itertools.count(), "plots": itertools.count()}

        def solved(tag: str, *extra: str):
            return lambda: _run(solve + ["--out", str(Path(tmp) / f"{tag}{next(count[tag])}"),
                                         *extra])

        def after_round(r: int) -> None:
            timings = json.loads((Path(tmp) / f"plots{r}" / "timings.json").read_text())
            for k, v in timings["timings_s"].items():
                phases.setdefault(k, []).append(v)
            print(f"round {r + 1}/{args.rounds} done", flush=True)

        walls = interleaved({"import": lambda: _run([sys.executable, "-c", "import thermal.cli"]),
                             "no plots": solved("bare", "--no-plots"),
                             "plots": solved("plots")}, args.rounds, after_round)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n### `thermal solve {args.floorplan} --power {args.power}"
          f"{' --stack ' + args.stack if args.stack else ''}`, {args.rounds} rounds "
          f"(1-minute load {load:.2f} at the end)\n")
    print("| variant | median s | min s | max s |")
    print("| :-- | --: | --: | --: |")
    for k, v in walls.items():
        print(f"| {k} | {v['median_s']:.2f} | {v['min_s']:.2f} | {v['max_s']:.2f} |")
    print("\nPhases thermal times itself (median s, the `plots` runs): "
          + ", ".join(f"{k} {median(v):.2f}" for k, v in phases.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
