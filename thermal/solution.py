"""The result of a steady solve: nodal fields, block table, peak, and the files it writes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from .mesh import Mesh

KELVIN_TO_CELSIUS = 273.15


class Peak(NamedTuple):
    """Hottest point of the solution."""

    temperature_K: float
    x_m: float
    y_m: float
    layer: str


@dataclass(frozen=True)
class BlockTable:
    """Per-block temperatures on the power layer, floorplan order; in a 3D stack, one row per
    (layer, block), layer by layer, ``row_layers`` naming each row's layer."""

    names: tuple[str, ...]
    layer: str
    max_K: np.ndarray
    mean_K: np.ndarray
    min_K: np.ndarray
    row_layers: tuple[str, ...] = ()

    def layer_of(self, i: int) -> str:
        """The layer of row ``i``."""
        return self.row_layers[i] if self.row_layers else self.layer

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> dict:
        i = self.names.index(name)
        return {"max_K": float(self.max_K[i]), "mean_K": float(self.mean_K[i]),
                "min_K": float(self.min_K[i])}

    def hottest(self, n: int = 5) -> list[tuple[str, float, float, float]]:
        """The ``n`` blocks with the highest max, hottest first: (name, max_K, mean_K, min_K)."""
        order = np.argsort(-self.max_K, kind="stable")[:n]
        return [(self.names[i], float(self.max_K[i]), float(self.mean_K[i]), float(self.min_K[i]))
                for i in order]

    def __repr__(self) -> str:
        top = ", ".join(f"{name} {hi:.2f} K" for name, hi, _, _ in self.hottest(3))
        return f"BlockTable({len(self)} blocks on {self.layer!r}; hottest: {top})"


@dataclass(frozen=True, eq=False)
class Solution:
    """A solved steady problem.

    Attributes
    ----------
    floorplan, stack, mesh
        The inputs and the final mesh.
    power_w : (B,) or (ny, nx) float
        Block powers in W, or a power map's W per cell (rows from the bottom).
    theta : (L, N) float
        Temperature rise over ambient per layer and node, NaN outside a layer's footprint.
    strategy : str
        Meshing strategy used.
    tolerance_K, error_estimate_K : float
        Requested and estimated error of every block's max and mean.
    energy_balance_rel : float
        |power in − heat out| / power in.
    history : list of dict
        ``dofs`` and ``estimate_K`` of each solve.
    timings_s : dict
        Seconds spent loading, predicting, meshing, assembling, solving, in total.
    solver : dict
        Linear solver information of the last solve.
    prediction : thermal.predict.Prediction or None
        What the predictor said before the solve (strategies "ml" and "heuristic").
    critical : list of dict
        ``name``, ``tolerance_K`` and ``estimate_K`` of each critical block.
    converged : bool
        Whether every block and region met its tolerance (False: refinement stopped at
        ``max_dofs``).
    max_dofs : int or None
        The cap on unknowns the solve ran under.
    """

    floorplan: object
    stack: object
    mesh: Mesh
    power_w: np.ndarray
    theta: np.ndarray
    strategy: str
    tolerance_K: float
    error_estimate_K: float
    energy_balance_rel: float
    history: list = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    solver: dict = field(default_factory=dict)
    prediction: object = None
    critical: list = field(default_factory=list)
    converged: bool = True
    max_dofs: int | None = None

    @property
    def ambient_K(self) -> float:
        return float(self.stack.ambient_K)

    @property
    def power_layer(self) -> int:
        return self.stack.power_layers[0]

    @property
    def temperature_K(self) -> np.ndarray:
        """(L, N) nodal temperatures in K, NaN outside each layer's footprint."""
        return self.theta + self.ambient_K

    @cached_property
    def blocks(self) -> BlockTable:
        from .fields import layer_block_stats

        block_layer = getattr(self.floorplan, "block_layer", None)
        hi, mean, lo = layer_block_stats(self.mesh, self.theta, block_layer, self.power_layer)
        amb = self.ambient_K
        names = [layer.name for layer in self.stack.layers]
        rows = () if block_layer is None else tuple(names[l] for l in block_layer)
        return BlockTable(tuple(self.floorplan.names), names[self.power_layer],
                          hi + amb, mean + amb, lo + amb, rows)

    @cached_property
    def peak(self) -> Peak:
        flat = np.where(np.isnan(self.theta), -np.inf, self.theta)
        layer, node = np.unravel_index(int(np.argmax(flat)), flat.shape)
        x, y = self.mesh.points[node]
        return Peak(float(self.theta[layer, node] + self.ambient_K), float(x), float(y),
                    self.stack.layers[layer].name)

    @property
    def error_estimate(self) -> float:
        return self.error_estimate_K

    def __repr__(self) -> str:
        p = self.peak
        return (f"Solution(peak {p.temperature_K:.2f} K at ({p.x_m * 1e3:.3f}, {p.y_m * 1e3:.3f}) mm "
                f"on {p.layer!r}, ±{self.error_estimate_K:.2g} K, {self.strategy} mesh, "
                f"{self.history[-1]['dofs']:,} DOFs, {len(self.blocks)} blocks)")

    def summary(self, units: str = "C") -> dict:
        """The content of summary.json: everything about the answer, nothing about the run.

        The same inputs give the same summary, byte for byte once written; how long the run
        took is in :meth:`timings` (``timings.json``) instead. ``units`` is the temperature
        unit of the plots ("C" or "K"), noted under ``"units"``; the files hold kelvin.
        """
        from . import __version__

        q = self.mesh.quality()
        peak = self.peak
        return {
            "peak": {"temperature_K": peak.temperature_K, "x_m": peak.x_m, "y_m": peak.y_m,
                     "layer": peak.layer},
            "mesh": {"strategy": self.strategy, "nodes": self.mesh.n_nodes,
                     "triangles": self.mesh.n_triangles, "dofs": int(self.history[-1]["dofs"]),
                     "min_angle_deg": q["min_angle_deg"], "max_aspect_ratio": q["max_aspect_ratio"],
                     "refinement_iterations": len(self.history) - 1,
                     "history": [{"dofs": int(h["dofs"]), "estimate_K": _json_float(h["estimate_K"])}
                                 for h in self.history]},
            "solves": _solves(self.strategy, self.history),
            "critical": self.critical,
            **self._prediction_summary(),
            "tolerance_K": self.tolerance_K,
            "error_estimate_K": _json_float(self.error_estimate_K),
            "converged": self.converged,
            "energy_balance_rel": self.energy_balance_rel,
            "power_W": float(np.sum(self.power_w)),
            "ambient_K": self.ambient_K,
            "stack": self.stack.to_dict(),
            "solver": {k: v for k, v in self.solver.items() if k in ("method", "iterations")},
            "units": units_note(units),
            "version": __version__,
        }

    def _prediction_summary(self) -> dict:
        if self.prediction is None:
            return {}
        return {"predicted_hotspots": self.prediction.hotspots(5),
                "corrections": len(self.history) - 1}

    def timings(self) -> dict:
        """The content of timings.json: seconds spent loading, predicting, meshing, assembling,
        solving and in total (different on every run, so kept out of summary.json)."""
        return {"timings_s": {k: round(float(v), 4) for k, v in self.timings_s.items()}}

    def blocks_csv(self) -> str:
        """The content of blocks.csv (:mod:`thermal.io.blocks_csv`)."""
        from .io import blocks_csv

        b = self.blocks
        return blocks_csv.dumps(b.names, [b.layer_of(i) for i in range(len(b.names))], b.max_K,
                                b.mean_K, b.min_K)

    def plot(self, path=None, kind: str = "heatmap", units: str = "C"):
        """Draw the power layer's temperature (``kind="heatmap"``), the mesh (``"mesh"``), or
        the prediction beside the answer (``"predicted"``), temperatures in ``units`` ("C" for
        degrees Celsius or "K").

        Returns the matplotlib Figure; saves it to ``path`` when given.
        """
        from . import plot

        fp = self.floorplan
        rects = fp.rects
        block_layer = getattr(fp, "block_layer", None)
        if kind == "heatmap" and block_layer is not None:
            return self._plot_power_layers(path, block_layer)
        if kind == "heatmap":
            tri = self.mesh.triangles[self.mesh.tri_in_layer[self.power_layer]]
            peak = self.peak
            shown = peak.temperature_K - (KELVIN_TO_CELSIUS if units == "C" else 0.0)
            return plot.plot_heatmap(path, self.mesh.points, tri, self.temperature_K[self.power_layer],
                                     rects, fp.names, peak=(peak.temperature_K, peak.x_m, peak.y_m),
                                     units=units,
                                     title=f"Temperature of the {self.stack.layers[self.power_layer].name}"
                                           f" layer: peak {shown:.2f} {plot.unit_label(units)}, "
                                           f"accurate to about ±{self.error_estimate_K:.2g} K")
        if kind == "mesh":
            return plot.plot_mesh(path, self.mesh.points, self.mesh.triangles, rects, fp.names,
                                  footprints=[tuple(r) for r in self.mesh.layer_rects],
                                  footprint_names=[layer.name for layer in self.stack.layers],
                                  critical=self._critical_boxes(),
                                  title=f"Mesh {MESH_HOW.get(self.strategy, self.strategy)}: "
                                        f"{self.mesh.n_triangles:,} triangles")
        if kind == "predicted":
            if self.prediction is None:
                raise ValueError("this solution has no prediction (strategy "
                                 f"{self.strategy!r}); use mesh='ml'")
            r = self.prediction.raster
            tri = self.mesh.triangles[self.mesh.tri_in_layer[self.power_layer]]
            peak = self.peak
            corrections = len(self.history) - 1
            return plot.plot_prediction(
                path, (r.x0, r.y0, r.x0 + r.nx * r.dx, r.y0 + r.ny * r.dy), self.prediction.size_m,
                self.prediction.rise_K, self.ambient_K, rects, self.prediction.hotspots(5),
                final=(self.mesh.points, tri, self.temperature_K[self.power_layer],
                       (peak.temperature_K, peak.x_m, peak.y_m)), units=units,
                title="What the predictor expected before solving, and the answer ("
                      + ("no refinement needed after it)" if corrections == 0 else
                         f"{corrections} more refinement round{'' if corrections == 1 else 's'})"))
        raise ValueError(f"unknown plot kind {kind!r}")

    def _plot_power_layers(self, path, block_layer):
        """The heatmap of a 3D stack: every power layer (each with its own blocks) a panel."""
        from . import plot

        fp, peak = self.floorplan, self.peak
        layers = [l for l in np.unique(block_layer) if l in self.stack.power_layers] or \
            [self.power_layer]
        panels = []
        for l in layers:
            rows = np.flatnonzero(block_layer == l)
            panels.append((self.stack.layers[l].name,
                           self.mesh.triangles[self.mesh.tri_in_layer[l]],
                           self.temperature_K[l], fp.rects[rows], [fp.names[i] for i in rows]))
        return plot.plot_heatmap_layers(
            path, self.mesh.points, panels, peak=(peak.temperature_K, peak.x_m, peak.y_m,
                                                  peak.layer),
            title=f"power layers: {self.strategy} mesh, ±{self.error_estimate_K:.2g} K")

    def _critical_boxes(self) -> list:
        """(x0, y0, x1, y1) of each critical block and rectangle, for the mesh plot."""
        fp, index = self.floorplan, {n: i for i, n in enumerate(self.floorplan.names)}
        boxes = []
        for c in self.critical:
            if c.get("kind") == "rect":
                x, y, w, h = c["rect_m"]
            else:
                i = index[c["name"]]
                x, y, w, h = fp.left_m[i], fp.bottom_m[i], fp.width_m[i], fp.height_m[i]
            boxes.append((x, y, x + w, y + h))
        return boxes

    def write(self, directory, plots: bool = True, parallel: bool = False, units: str = "C") -> Path:
        """Write blocks.csv, summary.json, timings.json, field.vtu, heatmap.png and mesh.png
        (and predicted.png after a prediction) into ``directory``.

        With ``parallel`` (what ``thermal solve`` does), field.vtu and mesh.png are written by
        a forked child process while this one draws the other pictures (the time it saves:
        benchmarks/results/cli_time.md). The files are the same either way. It forks only on
        Linux, from the main thread of a process that runs no other Python thread
        (:func:`thermal.parallel.in_parallel`); off by default, since forking a caller's program
        is the caller's choice.

        The files are written into a temporary directory beside it and moved into place only
        when all of them are complete, so an interrupted write leaves nothing behind. Into an
        existing directory the files are replaced one by one, and the outputs of an earlier run
        that this one does not write (the plots, after ``plots=False``) are removed. blocks.csv
        and summary.json are byte-identical for identical inputs. ``units`` ("C" or "K") is
        the temperature unit of the plots, noted in summary.json; the files hold kelvin.

        Raises
        ------
        OSError
            The directory cannot be created or written.
        """
        from .io.vtu import write_vtu
        from .parallel import in_parallel

        directory = Path(directory)
        with writing_into(directory, owned=OUTPUT_FILES) as tmp:
            (tmp / "blocks.csv").write_text(self.blocks_csv(), encoding="utf-8")
            (tmp / "summary.json").write_text(json.dumps(self.summary(units), indent=2) + "\n",
                                              encoding="utf-8")
            (tmp / "timings.json").write_text(json.dumps(self.timings(), indent=2) + "\n",
                                              encoding="utf-8")
            names = [layer.name for layer in self.stack.layers]

            def write_field():
                write_vtu(tmp / "field.vtu", self.mesh.points, self.mesh.triangles,
                          {f"T_{name}_K": self.temperature_K[l] for l, name in enumerate(names)},
                          {"block": self.mesh.block_of_tri})

            if not plots:
                write_field()
            else:
                import matplotlib.backends.backend_agg  # noqa: F401  (imported once, for both
                import matplotlib.figure  # noqa: F401             sides of the fork)

                def draw(kind):
                    return lambda: self.plot(tmp / f"{kind}.png", kind, units)

                others = ["heatmap"] + (["predicted"] if self.prediction is not None else [])
                in_parallel([write_field, draw("mesh")], [draw(k) for k in others], fork=parallel)
        return directory


MESH_HOW = {"ml": "sized by the trained predictor", "ml+estimator": "sized by the trained predictor",
            "heuristic": "sized by a rule of thumb",
            "estimator": "refined where the estimated error was largest",
            "uniform": "refined evenly"}
"""How each meshing strategy made the mesh, in words (the mesh plot's title)."""


def units_note(units: str = "C") -> dict:
    """summary.json's ``"units"``: the files' units, and the plots' temperature unit."""
    if units not in ("C", "K"):
        raise ValueError(f"units must be 'C' or 'K', got {units!r}")
    return {"temperature": "K", "length": "m", "power": "W",
            "plots": "°C" if units == "C" else "K"}


OUTPUT_FILES = ("blocks.csv", "summary.json", "timings.json", "field.vtu", "heatmap.png",
                "mesh.png", "predicted.png")
"""Every file that :meth:`Solution.write` may write."""


@contextmanager
def writing_into(directory, owned: tuple[str, ...] = ()) -> Iterator[Path]:
    """A temporary directory beside ``directory`` whose files land in ``directory`` at the end.

    Write the files into the yielded folder. When the ``with`` block ends normally they are
    moved into ``directory``: by renaming the folder when ``directory`` is new, else file by
    file, removing the files named in ``owned`` (what an earlier run of the same writer may
    have left) that were not written again.
    When it ends with any exception (Ctrl-C included), the folder and any parents made for it
    are removed and ``directory`` is left as it was.

    Raises
    ------
    OSError
        The folder cannot be created.
    """
    directory = Path(directory)
    parent = directory.absolute().parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        while True:  # named before it is made, so that a signal at any point can't leak it
            tmp = parent / f".{directory.name}.{secrets.token_hex(4)}"
            try:
                tmp.mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
        yield tmp
        _move_into(tmp, directory, owned)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # absent if the mkdir or rename got there
        for folder in created:  # parents made for a directory that never came
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _move_into(tmp: Path, directory: Path, owned: tuple[str, ...]) -> None:
    """Move the finished files of ``tmp`` into ``directory`` (renamed whole when it is new),
    removing the ``owned`` files of an earlier run that ``tmp`` does not replace."""
    if not directory.exists():
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # made private while half-written; a results folder is not
        os.rename(tmp, directory)
        return
    written = sorted(tmp.iterdir())
    for f in written:
        os.replace(f, directory / f.name)
    for name in sorted(set(owned) - {f.name for f in written}):
        if (directory / name).is_file():
            (directory / name).unlink()
    tmp.rmdir()


def _solves(strategy: str, history: list) -> int:
    """Linear solves made: one per uniform level; two per round of the adaptive strategies (the
    mesh and its red refinement)."""
    return len(history) if strategy == "uniform" else 2 * len(history)


def _json_float(x: float):
    return None if not np.isfinite(x) else float(x)
