"""Write ev6_gcc_map.csv: a 32 x 32 raster power map of ev6 under gcc, with sub-block hot spots.

Each block's mean gcc power (HotSpot's ev6.flp and gcc.ptrace, beside this file) is spread over
the cells it covers, area-weighted. Then two hot spots that a per-block trace cannot express
are added: 30% more of IntExec's power in a 0.4 mm Gaussian at its lower-left ALUs, and 30% more
of FPMul_0's at its centre. Rerun with ``python floorplans/make_ev6_map.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import thermal
from thermal.predict import Raster

HERE = Path(__file__).resolve().parent
CELLS = 32
SPOT_M = 0.4e-3
SPOTS = (("IntExec", 0.3, (0.3, 0.3)), ("FPMul_0", 0.3, (0.5, 0.5)))
"""(block, extra fraction of its power, spot centre as a fraction of its width and height)."""


def ev6_map(cells: int = CELLS) -> np.ndarray:
    """(cells, cells) W per cell, rows from the bottom edge (``benchmarks/power_map.py`` draws
    the same map at other resolutions)."""
    fp = thermal.read_floorplan(HERE / "ev6.flp")
    mean = thermal.read_ptrace(HERE / "gcc.ptrace").mean()
    power = np.array([mean[n] for n in fp.names])
    x0, y0, x1, y1 = fp.bounds
    raster = Raster(x0, y0, (x1 - x0) / cells, (y1 - y0) / cells, cells, cells)
    rects = np.c_[fp.left_m, fp.bottom_m, fp.width_m, fp.height_m]
    watts = raster.area_weighted(rects, power / fp.area_m2) * raster.dx * raster.dy
    centres = raster.centres.reshape(cells, cells, 2)
    for name, fraction, (fx, fy) in SPOTS:
        i = fp.index(name)
        cx, cy = fp.left_m[i] + fx * fp.width_m[i], fp.bottom_m[i] + fy * fp.height_m[i]
        g = np.exp(-((centres[..., 0] - cx) ** 2 + (centres[..., 1] - cy) ** 2) / (2 * SPOT_M ** 2))
        watts += fraction * power[i] * g / g.sum()
    return watts


def main() -> None:
    x0, y0, x1, y1 = thermal.read_floorplan(HERE / "ev6.flp").bounds
    watts = ev6_map(CELLS)
    header = [f"Power map of ev6 under HotSpot's gcc trace (mean of its rows), W per cell, "
              f"{CELLS} x {CELLS} cells,",
              "rows from the top edge: each block's power over the cells it covers, plus 30% more",
              "of IntExec's power in a 0.4 mm spot at its lower left and 30% more of FPMul_0's at",
              "its centre. Derived from HotSpot's ev6.flp and gcc.ptrace (see LICENSE-HotSpot);",
              "written by make_ev6_map.py.",
              f"extent {x0:g} {y0:g} {x1:g} {y1:g}"]
    np.savetxt(HERE / "ev6_gcc_map.csv", watts[::-1], fmt="%.6g", delimiter=",",
               header="\n".join(header))


if __name__ == "__main__":
    main()
