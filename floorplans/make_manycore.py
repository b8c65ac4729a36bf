"""Write manycore.flp and manycore.ptrace: a synthetic 16-core chip with 208 blocks.

A 4 x 4 grid of 4 mm tiles on a 16 mm x 16 mm die. Each tile has 13 blocks: an L2 slab, L1
caches, a router, the core's pipeline blocks, a clock and a power-management block, and a
10 µm x 1.6 mm network-on-chip wire channel beside millimetre blocks, the kind of sliver real
many-core floorplans have. The power trace has 20 samples: each core runs its own phase of a
workload (seeded, so the files are reproducible). Rerun with ``python floorplans/make_manycore.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TILE_MM = 4.0
TILES = 4
SAMPLES = 20
SEED = 20261125

# name, x, y, width, height (mm within the tile), power density in W/mm² at full activity
BLOCKS = [
    ("L2", 0.0, 0.0, 4.0, 1.6, 0.08),
    ("L1I", 0.0, 1.6, 1.5, 0.8, 0.30),
    ("L1D", 1.5, 1.6, 1.5, 0.8, 0.40),
    ("Router", 3.0, 1.6, 1.0, 0.8, 0.50),
    ("Fetch", 0.0, 2.4, 0.9, 0.8, 0.70),
    ("Decode", 0.0, 3.2, 0.9, 0.8, 0.60),
    ("IntReg", 0.9, 2.4, 0.5, 1.6, 2.20),
    ("IntExec", 1.4, 2.4, 0.8, 1.6, 1.40),
    ("FPU", 2.2, 2.4, 0.8, 1.6, 0.90),
    ("NoC", 3.0, 2.4, 0.01, 1.6, 1.00),
    ("LSU", 3.01, 2.4, 0.99, 0.8, 0.80),
    ("Clock", 3.01, 3.2, 0.49, 0.8, 0.60),
    ("PMU", 3.5, 3.2, 0.5, 0.8, 0.20),
]


def build():
    """Names, rectangles (left, bottom, width, height in m) and the (SAMPLES, B) power trace."""
    rng = np.random.default_rng(SEED)
    names, rects, full = [], [], []
    for i in range(TILES):
        for j in range(TILES):
            for name, x, y, w, h, density in BLOCKS:
                names.append(f"c{TILES * j + i:02d}_{name}")
                rects.append(((i * TILE_MM + x) * 1e-3, (j * TILE_MM + y) * 1e-3, w * 1e-3, h * 1e-3))
                full.append(density * w * h)
    full = np.array(full)
    per_tile = len(BLOCKS)
    # each core's activity follows its own phase; L2 and PMU vary less than the pipeline
    phase = rng.uniform(0, 2 * np.pi, TILES * TILES)
    t = np.arange(SAMPLES)[:, None]
    activity = 0.55 + 0.4 * np.sin(2 * np.pi * t / SAMPLES + phase[None, :])
    activity = np.repeat(activity, per_tile, axis=1)
    jitter = rng.uniform(0.9, 1.1, (SAMPLES, len(names)))
    steady = np.tile([b[0] in ("L2", "PMU", "Clock") for b in BLOCKS], TILES * TILES)
    activity = np.where(steady[None, :], 0.8, activity) * jitter
    return names, np.array(rects), full[None, :] * activity


def main(folder: Path = Path(__file__).parent):
    names, rects, trace = build()
    lines = ["# Synthetic 16-core floorplan, 208 blocks, 16 mm x 16 mm (written by make_manycore.py)",
             "# <name> <width> <height> <left-x> <bottom-y>, metres"]
    lines += [f"{n}\t{w:.6e}\t{h:.6e}\t{x:.6e}\t{y:.6e}" for n, (x, y, w, h) in zip(names, rects)]
    (folder / "manycore.flp").write_text("\n".join(lines) + "\n")
    rows = ["\t".join(names)] + ["\t".join(f"{p:.6f}" for p in row) for row in trace]
    (folder / "manycore.ptrace").write_text("\n".join(rows) + "\n")
    print(f"{len(names)} blocks, mean total power {trace.sum(axis=1).mean():.2f} W")


if __name__ == "__main__":
    main()
