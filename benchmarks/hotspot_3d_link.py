"""Does HotSpot's spreader-sink link explain its 15-21 K gap to thermal on its .lcf examples?

In HotSpot's grid model (``temperature_grid.c``, commit f18831e4), the heat sink's vertical
resistance per cell ``rz`` has the cell's share of the convection, ``r_convec * s_sink^2 /
(cw * ch)``, added to it (``populate_R_model_grid``); with ``-detailed_3D on`` the resistance
between two stacked cells is ``rz_a / 2 + rz_b / 2`` (``find_res``), so between spreader and
sink under the die it includes half of the convection resistance: ``r_convec * s_sink^2 / 2``
m^2 K/W more than the metal's (1.8e-4 m^2 K/W for 0.1 K/W on a 60 mm sink, against the 1 mm
copper spreader's 2.5e-6). Without ``-detailed_3D`` the link is the spreader's own ``rz``.

This script solves each ``.lcf`` example with thermal twice at 0.1 K: as it is, and with that
extra resistance inserted between spreader and sink under the die (a die-sized block on the
sink layer marks the triangles; ``thermal.assemble.half_resistance`` is wrapped to add it), and
prints both against HotSpot's ``.steady`` (64², ``-detailed_3D on``) on every ``.lcf`` layer's
blocks, valued as the config's ``-grid_map_mode`` says (two-die-3d: block means; ev6-3d: the
block centre's temperature):

    PYTHONPATH=$PWD python benchmarks/hotspot_3d_link.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from harness import ROOT  # noqa: E402  (and this checkout's thermal first on the path)

import thermal.assemble as assemble  # noqa: E402
from thermal.inputs import load_inputs  # noqa: E402
from thermal.floorplan import Floorplan, make_floorplan  # noqa: E402
from thermal.layered import layered_floorplan  # noqa: E402
from thermal.io.hotspot import config_outputs, read_config, steady_rows  # noqa: E402
from thermal.solve import solve  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "hotspot"
CASES = {
    "two-die-3d": ("example.ptrace", "example.config", "example.materials", "example.lcf"),
    "ev6-3d": ("ev6_3D.ptrace", "example.config", None, "ev6_3D.lcf"),
}


def _case(name: str):
    power, config, materials, lcf = CASES[name]
    d = DATA / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_inputs(None, d / power, config=d / config, layers=d / lcf,
                           materials=None if materials is None else d / materials)


def _with_sink_marker(fp, stack, marker_k: float):
    """The stack's floorplans plus a die-sized block on the sink layer of conductivity
    ``marker_k`` (the sink's own, nudged, so that its triangles can be told apart)."""
    parts = []
    for layer in fp.layers:
        rows = fp.of_layer(layer)
        parts.append((int(layer), Floorplan(
            names=[fp.names[i] for i in rows], left_m=fp.left_m[rows], bottom_m=fp.bottom_m[rows],
            width_m=fp.width_m[rows], height_m=fp.height_m[rows],
            heat_capacity=fp.heat_capacity[rows], conductivity=fp.conductivity[rows])))
    x0, y0, x1, y1 = fp.bounds
    sink = len(stack.layers) - 1
    parts.append((sink, make_floorplan(["sink_under_die"], [x0], [y0], [x1 - x0], [y1 - y0],
                                       conductivity=[marker_k])))
    return layered_floorplan(parts, stack.power_layers)


def _versus(sol, reference: dict, map_mode: str) -> np.ndarray:
    """thermal − HotSpot on the ``.lcf`` layers' block rows both have (the config's
    ``-grid_map_mode``: a block's mean, or its centre's value)."""
    names, temps = steady_rows(sol, map_mode)
    return np.array([t - reference[n] for n, t in zip(names, temps)
                     if n in reference and n.startswith("layer_")])


def run(name: str) -> None:
    fp, power, stack = _case(name)
    sink = stack.layers[-1]
    marker = sink.conductivity * (1 + 1e-9)
    marked = _with_sink_marker(fp, stack, marker)
    extra = stack.r_convec * sink.size_m[0] * sink.size_m[1] / 2
    map_mode = config_outputs(read_config(DATA / name / CASES[name][1]))["grid_map_mode"]
    reference = {line.split()[0]: float(line.split()[1])
                 for line in (DATA / name / "hotspot-grid64.steady").read_text().splitlines()}
    plain = assemble.half_resistance

    def with_link(layer, tri_k):
        r = plain(layer, tri_k)
        if layer is sink and tri_k is not None:
            r = r + np.where(tri_k == marker, extra, 0.0)
        return r

    for label, half in (("thermal as it is", plain),
                        (f"+ HotSpot's link ({extra:.2g} m^2 K/W)", with_link)):
        assemble.half_resistance = half
        try:
            t = time.perf_counter()
            sol = solve(marked, power, stack, mesh="ml", tolerance=0.1)
            t = time.perf_counter() - t
        finally:
            assemble.half_resistance = plain
        d = _versus(sol, reference, map_mode)
        print(f"{name:<11} {label:<36} {len(d)} blocks ({map_mode}): "
              f"thermal - HotSpot mean {d.mean():+6.2f} K, "
              f"max |d| {np.abs(d).max():5.2f} K  ({sol.history[-1]['dofs']:,} DOFs, "
              f"estimate {sol.error_estimate_K:.3f} K, {t:.1f} s)")


if __name__ == "__main__":
    for case in CASES:
        run(case)
