"""HotSpot against thermal, block by block, on every HotSpot example that has HotSpot's results.

For each example the HotSpot command of its ``run.sh`` was run by hand (HotSpot 6/7, commit
f18831e4; the ``.steady`` files in ``benchmarks/data/hotspot/*/hotspot-grid*.steady``, see
``benchmarks/data/README.md``); here ``thermal solve`` runs on the same inputs in this process
(``--steady-file``, each block valued as the config's ``-grid_map_mode`` says, as HotSpot's were:
``avg``, the block mean, for ev6 and two-die-3d; ``center`` for ev6-3d), and every row both
files share is printed with the difference, then the mean and largest |difference| and
thermal's time, DOFs and error estimate per example:

- ``ev6``: ev6 + gcc on ``floorplans/hotspot.config`` (HotSpot's grid model at 64², 512², 1024²);
- ``two-die-3d``: HotSpot's example3 ``.lcf`` stack (two power dies, 4 layers + spreader + sink);
- ``ev6-3d``: HotSpot's example4 (Boston University's 4-core ev6 with two cache layers and TSVs).

    python benchmarks/vs_hotspot.py [--tolerance 0.1] [--rows]

The 3D examples ran in HotSpot with ``-detailed_3D on`` (per-block materials of the floorplans'
columns 6-7), which thermal always applies.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path

from harness import ROOT  # noqa: E402  (and this checkout's thermal first on the path)
DATA = ROOT / "benchmarks" / "data" / "hotspot"

from thermal.cli import main  # noqa: E402

EXAMPLES = {
    "ev6": (["solve", str(ROOT / "floorplans" / "ev6.flp"), "--power",
             str(ROOT / "floorplans" / "gcc.ptrace"), "--config",
             str(ROOT / "floorplans" / "hotspot.config"), "--materials",
             str(ROOT / "floorplans" / "example.materials")],
            ["hotspot-grid64.steady", "hotspot-grid512.steady", "hotspot-grid1024.steady"]),
    "two-die-3d": (["solve", "--layers", str(DATA / "two-die-3d" / "example.lcf"), "--config",
                    str(DATA / "two-die-3d" / "example.config"), "--materials",
                    str(DATA / "two-die-3d" / "example.materials"), "--power",
                    str(DATA / "two-die-3d" / "example.ptrace"),
                    "--set", "detailed_3D=on"],
                   ["hotspot-grid64.steady"]),
    "ev6-3d": (["solve", "--layers", str(DATA / "ev6-3d" / "ev6_3D.lcf"), "--config",
                str(DATA / "ev6-3d" / "example.config"), "--power",
                str(DATA / "ev6-3d" / "ev6_3D.ptrace"),
                "--set", "detailed_3D=on"],
               ["hotspot-grid64.steady"]),
}


def read_steady(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        name, value = line.split()
        out[name] = float(value)
    return out


def run(name: str, tolerance: float, show_rows: bool) -> None:
    argv, references = EXAMPLES[name]
    with tempfile.TemporaryDirectory() as tmp:
        steady = Path(tmp) / "thermal.steady"
        summary = Path(tmp) / "out"
        t = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            status = main(argv + ["--tolerance", str(tolerance), "--steady-file", str(steady),
                                  "--out", str(summary), "--no-plots", "--format", "json"])
        wall = time.perf_counter() - t
        ours = read_steady(steady)
        import json

        s = json.loads((summary / "summary.json").read_text())
    print(f"\n## {name}: thermal {wall:.2f} s end to end (exit {status}), "
          f"{s['mesh']['dofs']:,} DOFs, error estimate {s['error_estimate_K']:.3f} K")
    tables = {ref: read_steady(DATA / name / ref) for ref in references}
    shared = [n for n in ours if all(n in t for t in tables.values())]
    if show_rows:
        head = "".join(f" {r.removeprefix('hotspot-').removesuffix('.steady'):>9}"
                       for r in references)
        print(f"{'row':<24}{head} {'thermal':>9} " + " ".join(
            f"{'d_' + r.removeprefix('hotspot-grid').removesuffix('.steady'):>8}"
            for r in references))
        for n in shared:
            hs = [tables[r][n] for r in references]
            print(f"{n:<24}" + "".join(f" {h:9.2f}" for h in hs) + f" {ours[n]:9.2f} "
                  + " ".join(f"{ours[n] - h:+8.2f}" for h in hs))
    for ref, table in tables.items():
        for kind, rows in (("blocks", [n for n in shared if not n.startswith(("hsp_", "hsink_",
                                                                                "iface_"))]),
                           ("all rows", shared)):
            d = [ours[n] - table[n] for n in rows]
            if d:
                print(f"{ref:<24} {kind:<9} {len(d):4d} rows: thermal - HotSpot mean "
                      f"{sum(d) / len(d):+.2f} K, mean |d| {sum(map(abs, d)) / len(d):.2f} K, "
                      f"max |d| {max(map(abs, d)):.2f} K")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tolerance", type=float, default=0.1)
    p.add_argument("--rows", action="store_true", help="print every row")
    p.add_argument("--only", choices=list(EXAMPLES), action="append")
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    for example in args.only or EXAMPLES:
        run(example, args.tolerance, args.rows)
