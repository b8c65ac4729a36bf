"""Differences between two steady results: ``thermal compare A B``.

Each side is one of

- a folder written by ``thermal solve --out`` (blocks.csv, field.vtu): block max and mean, and
  the temperature field of the power layer;
- a HotSpot ``.steady`` file (``name<TAB>kelvin`` per line): block temperatures, which HotSpot
  computes as the mean over the block's grid cells (``-grid_map_mode avg``, its default), so
  they are compared with the block means;
- a HotSpot grid file (``-grid_steady_file``: ``index<TAB>kelvin`` per cell, row by row from
  the die's top edge, as HotSpot's own map script draws it; a ``Layer N:`` line starts each
  layer and the first layer, the die, is used). The grid is square unless ``grid_shape`` says
  otherwise.

The result is A − B: per block (the blocks the two sides share, in A's order), and as a map
where both sides have a field (folder vs folder: B interpolated linearly onto A's mesh; folder
vs grid: A sampled at the grid's cell centres).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["Side", "Comparison", "read_side", "compare"]


@dataclass(frozen=True, eq=False)
class Side:
    """One side of a comparison.

    Attributes
    ----------
    path : str
    kind : {"run", "steady", "grid"}
    names : tuple of str
        Block names (empty for a grid file).
    max_K, mean_K : (B,) float
        Block maxima (NaN when unknown, as in a ``.steady`` file) and means.
    points : (N, 2) float or None
        A run's mesh nodes, m.
    triangles : (M, 3) int or None
        The power layer's triangles.
    values_K : (N,) float or None
        The power layer's temperature at the nodes.
    block_of_tri : (M,) int or None
        Each triangle's block (-1: none).
    grid_K : (rows, cols) float or None
        A grid file's temperatures, row 0 at the top.
    """

    path: str
    kind: str
    names: tuple = ()
    max_K: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean_K: np.ndarray = field(default_factory=lambda: np.zeros(0))
    points: np.ndarray | None = None
    triangles: np.ndarray | None = None
    values_K: np.ndarray | None = None
    block_of_tri: np.ndarray | None = None
    grid_K: np.ndarray | None = None

    def block_rects(self) -> np.ndarray:
        """(B, 4) ``(left, bottom, width, height)`` of each block of a run: the box of its
        triangles (the mesh follows every block edge, so this is the block)."""
        b = self.block_of_tri
        keep = b >= 0
        corners = self.points[self.triangles[keep]]  # (K, 3, 2)
        lo = np.full((len(self.names), 2), np.inf)
        hi = np.full((len(self.names), 2), -np.inf)
        np.minimum.at(lo, b[keep], corners.min(axis=1))
        np.maximum.at(hi, b[keep], corners.max(axis=1))
        return np.column_stack([lo, hi - lo])

    def die_box(self) -> tuple[float, float, float, float]:
        rects = self.block_rects()
        ok = np.isfinite(rects).all(axis=1)
        r = rects[ok]
        return (float(r[:, 0].min()), float(r[:, 1].min()), float((r[:, 0] + r[:, 2]).max()),
                float((r[:, 1] + r[:, 3]).max()))


def read_side(path, grid_shape: tuple[int, int] | None = None) -> Side:
    """Read one side: a ``thermal solve`` folder, a ``.steady`` file or a grid file
    (:mod:`thermal.io.steady`).

    Raises
    ------
    InputError
        Missing, unreadable or malformed.
    """
    path = Path(path)
    if path.is_dir():
        return _read_run(path)
    from .io import steady
    from .io.text import data_lines, read_text

    text = read_text(path, "HotSpot result")
    if not data_lines(text):
        raise InputError("no temperatures in this file", file=str(path))
    if steady.is_grid(text):
        return Side(str(path), "grid", grid_K=steady.parse_grid(text, str(path), grid_shape))
    values = steady.parse(text, str(path))
    return Side(str(path), "steady", tuple(values), np.full(len(values), np.nan),
                np.array(list(values.values())))


def _read_run(folder: Path) -> Side:
    blocks = folder / "blocks.csv"
    vtu = folder / "field.vtu"
    if not blocks.is_file():
        raise InputError("not a 'thermal solve --out' folder: no blocks.csv", file=str(folder))
    from .io import blocks_csv
    from .io.vtu import read_vtu

    table = blocks_csv.read(blocks)
    names, max_K, mean_K = table.names, table.max_K, table.mean_K
    layer = table.layers[0] if table.layers else ""
    if not vtu.is_file():
        return Side(str(folder), "run", names, max_K, mean_K)
    try:
        points, triangles, point_data, cell_data = read_vtu(vtu)
    except ValueError as e:
        raise InputError(str(e).removeprefix(f"{vtu}: "), file=str(vtu)) from None
    key = f"T_{layer}_K"
    for name, data in ((key, point_data), ("block", cell_data)):
        if name not in data:
            raise InputError(f"field.vtu has no {name}", file=str(vtu))
    values = np.asarray(point_data[key], dtype=np.float64)
    block = np.asarray(cell_data["block"], dtype=np.int64)
    on_layer = np.isfinite(values[triangles]).all(axis=1)
    return Side(str(folder), "run", names, max_K, mean_K, np.asarray(points, float),
                triangles[on_layer], values, block[on_layer])


@dataclass(frozen=True, eq=False)
class Comparison:
    """A − B.

    Attributes
    ----------
    a, b : Side
    names : tuple of str
        The blocks both sides have, in A's order.
    a_max_K, b_max_K, a_mean_K, b_mean_K : (B,) float
        NaN where a side does not know it.
    field_diff_K : (N,) float or None
        A − B at A's nodes (folder vs folder).
    grid_diff_K : (rows, cols) float or None
        A − B at the grid's cells (folder vs grid), row 0 at the top.
    """

    a: Side
    b: Side
    names: tuple
    a_max_K: np.ndarray
    b_max_K: np.ndarray
    a_mean_K: np.ndarray
    b_mean_K: np.ndarray
    field_diff_K: np.ndarray | None = None
    grid_diff_K: np.ndarray | None = None

    @property
    def max_diff_K(self) -> np.ndarray:
        return self.a_max_K - self.b_max_K

    @property
    def mean_diff_K(self) -> np.ndarray:
        return self.a_mean_K - self.b_mean_K

    def table_csv(self) -> str:
        """differences.csv: ``block, A_max_K, B_max_K, max_diff_K, A_mean_K, B_mean_K,
        mean_diff_K`` (empty where unknown)."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["block", "A_max_K", "B_max_K", "max_diff_K", "A_mean_K", "B_mean_K",
                    "mean_diff_K"])
        for i, name in enumerate(self.names):
            w.writerow([name] + [("" if not np.isfinite(v) else f"{v:.4f}") for v in
                                 (self.a_max_K[i], self.b_max_K[i], self.max_diff_K[i],
                                  self.a_mean_K[i], self.b_mean_K[i], self.mean_diff_K[i])])
        return out.getvalue()

    def summary(self) -> dict:
        """Largest and RMS differences of the block means and maxima, and of the map."""
        out: dict = {"A": self.a.path, "B": self.b.path, "blocks_compared": len(self.names)}
        for what, diff in (("mean", self.mean_diff_K), ("max", self.max_diff_K)):
            ok = np.isfinite(diff)
            if ok.any():
                i = int(np.nanargmax(np.abs(np.where(ok, diff, np.nan))))
                out[f"block_{what}"] = {"largest_K": float(diff[i]), "block": self.names[i],
                                        "rms_K": float(np.sqrt(np.mean(diff[ok] ** 2)))}
        field = self.field_diff_K if self.field_diff_K is not None else self.grid_diff_K
        if field is not None and np.isfinite(field).any():
            f = field[np.isfinite(field)]
            out["map"] = {"largest_K": float(f[np.argmax(np.abs(f))]),
                          "rms_K": float(np.sqrt(np.mean(f ** 2)))}
        return out

    def plot(self, path=None):
        """difference.png: the A − B map (or each block's mean difference, when one side has
        only block values), blue where A is cooler, red where hotter, zero white."""
        from . import plot

        run = self.a if self.a.kind == "run" and self.a.points is not None else (
            self.b if self.b.kind == "run" and self.b.points is not None else None)
        if run is None:
            raise ValueError("neither side has a temperature field to draw on")
        sign = 1.0 if run is self.a else -1.0
        rects, names = run.block_rects(), list(run.names)
        title = f"Temperature difference A − B\nA: {_short(self.a.path)}   B: {_short(self.b.path)}"
        if self.field_diff_K is not None:
            return plot.plot_difference(path, run.points, run.triangles, self.field_diff_K, rects,
                                        names, title=title)
        if self.grid_diff_K is not None:
            return plot.plot_difference(path, None, None, self.grid_diff_K, rects, names,
                                        title=title, grid_box=run.die_box())
        per_block = np.full(len(run.names), np.nan)
        index = {n: i for i, n in enumerate(run.names)}
        for i, name in enumerate(self.names):
            per_block[index[name]] = self.mean_diff_K[i]
        tri_values = np.where(run.block_of_tri >= 0, per_block[np.maximum(run.block_of_tri, 0)],
                              np.nan) * sign
        return plot.plot_difference(path, run.points, run.triangles, tri_values, rects, names,
                                    title=title.replace("difference", "difference of the block "
                                                        "means"), per_triangle=True)


def _short(path: str) -> str:
    p = Path(path)
    return p.name or str(p)


def compare(a, b, grid_shape: tuple[int, int] | None = None) -> Comparison:
    """Compare two steady results (paths or :class:`Side`): A − B.

    Raises
    ------
    InputError
        A side cannot be read, or the two have nothing in common (no shared block names, and
        no field on one side to sample the other's grid).
    """
    a = a if isinstance(a, Side) else read_side(a, grid_shape)
    b = b if isinstance(b, Side) else read_side(b, grid_shape)
    if a.kind == "grid" and b.kind == "grid":
        raise InputError("two grid files: compare a 'thermal solve' folder with a grid file")
    grid_side, run_side = (a, b) if a.kind == "grid" else (b, a) if b.kind == "grid" else (None, None)
    grid_diff = None
    if grid_side is not None:
        if run_side.kind != "run" or run_side.points is None:
            raise InputError("a grid file is compared with a 'thermal solve' folder that has "
                             "field.vtu", file=grid_side.path)
        sampled = _sampled_on_grid(run_side, grid_side.grid_K.shape)
        grid_diff = (sampled - grid_side.grid_K) * (1.0 if run_side is a else -1.0)
        grid_side = Side(grid_side.path, "grid", run_side.names, np.full(len(run_side.names), np.nan),
                         _block_means_of_grid(run_side, grid_side.grid_K), grid_K=grid_side.grid_K)
        a, b = (run_side, grid_side) if run_side is a else (grid_side, run_side)
    shared = [n for n in a.names if n in set(b.names)]
    if not shared:
        raise InputError(f"{a.path} and {b.path} have no block names in common")
    ia = {n: i for i, n in enumerate(a.names)}
    ib = {n: i for i, n in enumerate(b.names)}
    pa = np.array([ia[n] for n in shared])
    pb = np.array([ib[n] for n in shared])
    field_diff = None
    if a.kind == "run" and b.kind == "run" and a.points is not None and b.points is not None:
        field_diff = a.values_K - _interpolated(b, a.points)
    return Comparison(a, b, tuple(shared), a.max_K[pa], b.max_K[pb], a.mean_K[pa], b.mean_K[pb],
                      field_diff_K=field_diff, grid_diff_K=grid_diff)


def _interpolated(side: Side, points: np.ndarray) -> np.ndarray:
    """``side``'s P1 field at ``points`` (NaN outside its layer)."""
    from matplotlib.tri import LinearTriInterpolator, Triangulation

    used = np.unique(side.triangles)
    local = np.full(len(side.points), -1)
    local[used] = np.arange(len(used))
    tri = Triangulation(side.points[used, 0], side.points[used, 1], local[side.triangles])
    values = LinearTriInterpolator(tri, side.values_K[used])(points[:, 0], points[:, 1])
    return np.ma.filled(values.astype(np.float64), np.nan)


def _cell_centres(box, shape):
    x0, y0, x1, y1 = box
    rows, cols = shape
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    ys = y1 - (np.arange(rows) + 0.5) * (y1 - y0) / rows  # row 0 at the top
    return np.meshgrid(xs, ys)


def _sampled_on_grid(run: Side, shape) -> np.ndarray:
    """``run``'s field at the centres of a grid over its die, row 0 at the top."""
    x, y = _cell_centres(run.die_box(), shape)
    return _interpolated(run, np.column_stack([x.ravel(), y.ravel()])).reshape(shape)


def _block_means_of_grid(run: Side, grid_K: np.ndarray) -> np.ndarray:
    """Each of ``run``'s blocks' mean over the grid cells whose centre lies inside it."""
    x, y = _cell_centres(run.die_box(), grid_K.shape)
    rects = run.block_rects()
    left, bottom = rects[:, 0:1], rects[:, 1:2]
    inside = ((x.ravel() >= left) & (x.ravel() <= left + rects[:, 2:3])
              & (y.ravel() >= bottom) & (y.ravel() <= bottom + rects[:, 3:4]))
    counts = inside.sum(axis=1)
    sums = inside @ grid_K.ravel()
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def report(comparison: Comparison, top: int = 20) -> str:
    """The text ``thermal compare`` prints: the largest block differences first."""
    c = comparison
    s = c.summary()
    lines = [f"A − B, A = {c.a.path}, B = {c.b.path}: {len(c.names)} blocks in common"]
    for what in ("mean", "max"):
        if f"block_{what}" in s:
            d = s[f"block_{what}"]
            kind = "means" if what == "mean" else "maxima"
            lines.append(f"block {kind}: largest difference {d['largest_K']:+.3f} K "
                         f"({d['block']}), RMS {d['rms_K']:.3f} K")
    if "map" in s:
        lines.append(f"map: largest difference {s['map']['largest_K']:+.3f} K, RMS "
                     f"{s['map']['rms_K']:.3f} K")
    diff = np.where(np.isfinite(c.mean_diff_K), c.mean_diff_K, c.max_diff_K)
    order = np.argsort(-np.abs(np.nan_to_num(diff)), kind="stable")
    lines += ["", f"{'block':<20} {'A_mean_K':>9} {'B_mean_K':>9} {'diff_K':>8} {'A_max_K':>9} "
                  f"{'B_max_K':>9} {'diff_K':>8}"]

    def num(v, width, sign=False):
        return f"{'':>{width}}" if not np.isfinite(v) else (f"{v:>+{width}.3f}" if sign
                                                            else f"{v:>{width}.2f}")

    for i in order[:top]:
        lines.append(f"{c.names[i]:<20} {num(c.a_mean_K[i], 9)} {num(c.b_mean_K[i], 9)} "
                     f"{num(c.mean_diff_K[i], 8, True)} {num(c.a_max_K[i], 9)} "
                     f"{num(c.b_max_K[i], 9)} {num(c.max_diff_K[i], 8, True)}")
    if len(order) > top:
        lines.append(f"... {len(order) - top} more in differences.csv")
    return "\n".join(lines)


def write(comparison: Comparison, directory, plots: bool = True) -> list[str]:
    """Write differences.csv, compare.json and (when a side has a field) difference.png into
    ``directory``, all or nothing."""
    import json

    from .solution import writing_into

    names = []
    with writing_into(Path(directory), owned=("differences.csv", "compare.json",
                                              "difference.png")) as tmp:
        (tmp / "differences.csv").write_text(comparison.table_csv(), encoding="utf-8")
        (tmp / "compare.json").write_text(json.dumps(comparison.summary(), indent=2) + "\n",
                                          encoding="utf-8")
        names += ["differences.csv", "compare.json"]
        drawable = any(s.kind == "run" and s.points is not None
                       for s in (comparison.a, comparison.b))
        if plots and drawable:
            comparison.plot(tmp / "difference.png")
            names.append("difference.png")
    return names


def parse_grid_shape(text: str) -> tuple[int, int]:
    """``"64x64"`` → (64, 64)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise InputError(f"--grid expects ROWSxCOLS, e.g. 64x64, got {text!r}")
    return int(m.group(1)), int(m.group(2))

