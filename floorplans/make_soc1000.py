"""Write soc1000.flp and soc1000.ptrace: a synthetic 1,000-block SoC on a 20 mm x 16 mm die.

The die is cut into 1,000 blocks by random guillotine cuts (:func:`thermal.gallery.slicing_rects`,
seeded). Most blocks dissipate a background 0.05-0.2 W/mm²; three clusters (a CPU complex, a
GPU and an accelerator) run at 0.5-1.5 W/mm² with a few 2-3 W/mm² hot spots inside them, as
the power maps of large SoCs look. The trace has 10 samples in which the clusters' activity
varies (seeded, so the files are reproducible). Rerun with ``python floorplans/make_soc1000.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thermal.gallery import slicing_rects

BLOCKS = 1000
DIE_M = (0.0, 0.0, 20e-3, 16e-3)
SAMPLES = 10
SEED = 20261204
# cluster centre (m), radius (m), density range W/mm²
CLUSTERS = [((5e-3, 11e-3), 3.5e-3, (0.5, 1.5)),
            ((14e-3, 10e-3), 4.0e-3, (0.4, 1.0)),
            ((12e-3, 3.5e-3), 2.5e-3, (0.6, 1.2))]


def build():
    """Names, rectangles (left, bottom, width, height in m) and the (SAMPLES, B) power trace."""
    rng = np.random.default_rng(SEED)
    rects = slicing_rects(BLOCKS, SEED, DIE_M)
    centre = rects[:, :2] + 0.5 * rects[:, 2:]
    area_mm2 = rects[:, 2] * rects[:, 3] * 1e6
    density = rng.uniform(0.05, 0.2, BLOCKS)
    cluster = np.full(BLOCKS, -1)
    for c, ((cx, cy), radius, (lo, hi)) in enumerate(CLUSTERS):
        inside = np.hypot(centre[:, 0] - cx, centre[:, 1] - cy) < radius
        density[inside] = rng.uniform(lo, hi, inside.sum())
        cluster[inside] = c
    hot = rng.choice(np.flatnonzero(cluster >= 0), 12, replace=False)
    density[hot] = rng.uniform(2.0, 3.0, len(hot))
    activity = rng.uniform(0.6, 1.0, (SAMPLES, len(CLUSTERS)))
    scale = np.where(cluster >= 0, activity[:, np.maximum(cluster, 0)], 1.0)
    trace = density * area_mm2 * scale
    names = [f"b{i:04d}" for i in range(BLOCKS)]
    return names, rects, trace


def main() -> None:
    names, rects, trace = build()
    here = Path(__file__).parent
    with open(here / "soc1000.flp", "w") as f:
        f.write("# synthetic 1,000-block SoC, written by make_soc1000.py\n"
                "# name\twidth\theight\tleft-x\tbottom-y (m)\n")
        # whole nanometres, so that neighbours' edges are the same number (no rounding
        # slivers between blocks)
        nm = np.round(np.c_[rects[:, :2], rects[:, :2] + rects[:, 2:]] * 1e9).astype(np.int64)
        for name, (x0, y0, x1, y1) in zip(names, nm):
            f.write(f"{name}\t{(x1 - x0) * 1e-9:.9f}\t{(y1 - y0) * 1e-9:.9f}\t"
                    f"{x0 * 1e-9:.9f}\t{y0 * 1e-9:.9f}\n")
    with open(here / "soc1000.ptrace", "w") as f:
        f.write("\t".join(names) + "\n")
        for row in trace:
            f.write("\t".join(f"{p:.6g}" for p in row) + "\n")


if __name__ == "__main__":
    main()
