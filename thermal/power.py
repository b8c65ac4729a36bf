"""Power inputs: power traces, per-block power vectors and raster power maps (the types; their
files are read and written by :mod:`thermal.io.ptrace` and :mod:`thermal.io.powermap`).

A :class:`PowerTrace` holds samples of the power of named blocks (W). Powers are checked the same
way whatever their source: NaN/inf or negative powers, and powers outside the physical range (a
block or map cell above :data:`MAX_POWER_W`, a row summing above :data:`MAX_TOTAL_POWER_W`), are
one :class:`~thermal.errors.InputError` naming the file and line where there is one; a positive
power below :data:`MIN_POWER_W` (denormal noise) is read as 0.

A :class:`PowerMap` is a raster of W per cell over a box of the die (its ``extent``; the die when
none), rows from the top edge. The solver spreads each cell's power uniformly over the cell,
exactly as it spreads a block's: the mesh conforms to the cell edges (:meth:`PowerMap.sources`
merges equal neighbouring cells first, so a map rasterised from blocks costs no more than the
blocks).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .errors import InputError

__all__ = ["PowerTrace", "PowerMap", "power_vector", "power_load", "power_sources"]


MAX_POWER_W = 1e6
"""Largest power of one block or map cell (1 MW; whole wafer-scale processors draw ~20 kW):
beyond it the answer is no chip's, and temperatures near 1e300 K overflow."""
MAX_TOTAL_POWER_W = 1e6
"""Largest total power of one sample row, W."""
MIN_POWER_W = 1e-30
"""Smallest positive power of a block or cell, W: a power below it (denormals such as 1e-320 W,
round-off in a resampled map) is read as 0, since its temperature rise underflows and the
energy balance could not be checked, and 1e-30 W heats nothing measurable."""


class _BlockPower(dict):
    """A ``dict`` of block name to W that remembers the trace it came from (for messages)."""

    def __init__(self, values, path: str | None = None, line: int | None = None):
        super().__init__(values)
        self.path = path
        self.line = line


@dataclass(frozen=True, eq=False)
class PowerTrace:
    """Power samples of named blocks.

    Attributes
    ----------
    names : tuple of str
        Block names, in the trace's column order.
    samples_w : ndarray, shape (rows, blocks)
        Power of each block in each sample, W (read-only).
    path : str or None
        The source file.
    lines : tuple of int
        1-based source line of each sample row.
    header_line : int
        1-based line of the names.
    """

    names: tuple[str, ...]
    samples_w: np.ndarray
    path: str | None = None
    lines: tuple[int, ...] = ()
    header_line: int = 1

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        a = np.array(self.samples_w, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != len(self.names):
            raise InputError(f"samples_w has shape {a.shape}, expected (rows, {len(self.names)})",
                             file=self.path or "<power trace>")
        a.setflags(write=False)
        object.__setattr__(self, "samples_w", a)

    @property
    def n_rows(self) -> int:
        """Number of samples."""
        return self.samples_w.shape[0]

    def mean(self) -> dict[str, float]:
        """Average power of each block over all samples, W (what a steady solve uses)."""
        return _BlockPower(zip(self.names, self.samples_w.mean(axis=0).tolist()), self.path,
                           self.header_line)

    def row(self, n: int) -> dict[str, float]:
        """Power of each block in sample ``n`` (0-based), W.

        Raises
        ------
        InputError
            ``n`` is not a sample of the trace.
        """
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 0 <= n < self.n_rows:
            raise InputError(f"row {n} is out of range: the trace has {self.n_rows} sample rows "
                             f"(0 to {self.n_rows - 1})", file=self.path, field="row")
        line = self.lines[n] if n < len(self.lines) else None
        return _BlockPower(zip(self.names, self.samples_w[n].tolist()), self.path, line)


def _check_values(rows: np.ndarray, names, file: str | None, lines) -> None:
    """NaN/inf, negative and out-of-range powers, reported at the first offending row and
    block; powers below :data:`MIN_POWER_W` are set to 0 in ``rows`` (in place)."""
    allowed = f"allowed: up to {MAX_POWER_W:g} W"
    for mask, what in ((~np.isfinite(rows), "is not finite"), (rows < 0, "is negative"),
                       (rows > MAX_POWER_W, f"is out of range ({allowed})")):
        bad = np.argwhere(mask)
        if bad.size:
            r, b = bad[0]
            raise InputError(f"power of block {names[b]!r} {what}: {rows[r, b]:g} W", file=file,
                             line=lines[r] if lines else None, field=names[b])
    total = rows.sum(axis=1)
    bad = np.flatnonzero(total > MAX_TOTAL_POWER_W)
    if bad.size:
        r = int(bad[0])
        raise InputError(f"total power {total[r]:g} W is out of range (allowed: up to "
                         f"{MAX_TOTAL_POWER_W:g} W)", file=file, line=lines[r] if lines else None)
    rows[(rows > 0) & (rows < MIN_POWER_W)] = 0.0


def power_vector(floorplan, power: Mapping[str, float], source: str | None = None) -> np.ndarray:
    """Block powers in floorplan order.

    Parameters
    ----------
    floorplan : Floorplan
    power : mapping of str to float
        W per block name, e.g. :meth:`PowerTrace.mean`; every floorplan block exactly once.
    source : str, optional
        The file the powers came from, for messages; default: the trace that ``power`` came from.

    Returns
    -------
    ndarray, shape (B,)
        W.

    Raises
    ------
    InputError
        Names missing from ``power`` or not in the floorplan (all listed), or a power that is not
        a finite non-negative number.

    Examples
    --------
    >>> from thermal.floorplan import make_floorplan
    >>> fp = make_floorplan(["a", "b"], [0, 1e-3], [0, 0], [1e-3, 1e-3], [1e-3, 1e-3])
    >>> power_vector(fp, {"b": 2.0, "a": 1.0}).tolist()
    [1.0, 2.0]
    """
    line = getattr(power, "line", None)
    if source is None:
        source = getattr(power, "path", None)
    else:
        line = None
    source = source or "<power>"
    names = floorplan.names
    known = set(names)
    missing = [n for n in names if n not in power]
    extra = [n for n in power if n not in known]
    if missing or extra:
        where = f" {floorplan.path}" if floorplan.path else ""
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} floorplan block{'s' * (len(missing) > 1)}: "
                         f"{_listed(missing)}")
        if extra:
            hint = difflib.get_close_matches(extra[0], names, n=1)
            hint = f" (did you mean {hint[0]!r} for {extra[0]!r}?)" if hint else ""
            parts.append(f"{len(extra)} name{'s' * (len(extra) > 1)} not in the floorplan: "
                         f"{_listed(extra)}{hint}")
        raise InputError(f"power names do not match the floorplan{where}: {'; '.join(parts)}",
                         file=source, line=line)
    out = np.empty(len(names))
    for i, n in enumerate(names):
        try:
            out[i] = float(power[n])
        except (TypeError, ValueError):
            raise InputError(f"power of block {n!r} is not a number: {power[n]!r}", file=source,
                             line=line, field=n) from None
    _check_values(out[None, :], names, source, (line,) if line else ())
    return out


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


# ------------------------------------------------------------------------------ power maps

MAX_MAP_CELLS = 1024 * 1024
"""Largest power map accepted (cells), a bound on the memory its load and its merged rects
take; its solve times are in benchmarks/results/power_map.md."""


@dataclass(frozen=True, eq=False)
class PowerMap:
    """A raster of power over a box of the die.

    Attributes
    ----------
    watts : ndarray, shape (ny, nx)
        Power of each cell in W; row 0 is the top edge (largest y), column 0 the left edge
        (read-only).
    extent : (x0, y0, x1, y1) or None
        The box the raster covers, metres; None: the die (:attr:`Floorplan.bounds`).
    path : str or None
        The source file.
    extent_line : int or None
        1-based line of the extent in the source file, for messages.
    """

    watts: np.ndarray
    extent: tuple[float, float, float, float] | None = None
    path: str | None = None
    extent_line: int | None = None

    def __post_init__(self):
        where = self.path or "<power map>"
        a = np.array(self.watts, dtype=np.float64)
        if a.ndim != 2 or a.size == 0:
            raise InputError(f"a power map must be a non-empty 2-D raster, got shape {a.shape}",
                             file=where)
        if a.size > MAX_MAP_CELLS:
            raise InputError(f"the power map has {a.shape[0]} x {a.shape[1]} cells, more than "
                             f"{MAX_MAP_CELLS:,}: resample it coarser", file=where)
        allowed = f"allowed: up to {MAX_POWER_W:g} W"
        for mask, what in ((~np.isfinite(a), "is not finite"), (a < 0, "is negative"),
                           (a > MAX_POWER_W, f"is out of range ({allowed})")):
            bad = np.argwhere(mask)
            if bad.size:
                r, c = bad[0]
                raise InputError(f"power of map cell (row {r + 1}, column {c + 1}) {what}: "
                                 f"{a[r, c]:g} W", file=where)
        if a.sum() > MAX_TOTAL_POWER_W:
            raise InputError(f"total power {a.sum():g} W is out of range (allowed: up to "
                             f"{MAX_TOTAL_POWER_W:g} W)", file=where)
        a[(a > 0) & (a < MIN_POWER_W)] = 0.0  # denormal noise (MIN_POWER_W)
        a.setflags(write=False)
        object.__setattr__(self, "watts", a)
        if self.extent is not None:
            e = tuple(float(v) for v in np.ravel(self.extent))
            if len(e) != 4 or not all(np.isfinite(e)) or not (e[2] > e[0] and e[3] > e[1]):
                raise InputError(f"the power map's extent must be X0 Y0 X1 Y1 with X1 > X0 and "
                                 f"Y1 > Y0 (metres), got {self.extent!r}", file=where,
                                 line=self.extent_line)
            object.__setattr__(self, "extent", e)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` cells."""
        return self.watts.shape

    @property
    def total_w(self) -> float:
        """Total power, W."""
        return float(self.watts.sum())

    def extent_on(self, die) -> tuple[float, float, float, float]:
        """The map's box on a die whose box is ``die``, checked to lie on it.

        Raises
        ------
        InputError
            The box reaches outside the die (by more than 1e-6 of the die's size).
        """
        x0, y0, x1, y1 = (float(v) for v in die)
        if self.extent is None:
            return x0, y0, x1, y1
        e = self.extent
        slack = 1e-6 * max(x1 - x0, y1 - y0)
        if e[0] < x0 - slack or e[1] < y0 - slack or e[2] > x1 + slack or e[3] > y1 + slack:
            raise InputError(f"the power map's extent ({e[0]:g}, {e[1]:g}) to ({e[2]:g}, {e[3]:g}) "
                             f"m reaches outside the die ({x0:g}, {y0:g}) to ({x1:g}, {y1:g}) m",
                             file=self.path or "<power map>", line=self.extent_line)
        return (max(e[0], x0), max(e[1], y0), min(e[2], x1), min(e[3], y1))

    def sources(self, die) -> tuple[np.ndarray, np.ndarray]:
        """The map as uniform-power rects on the die whose box is ``die``: equal neighbouring
        cells merged.

        Cells of equal power along a row become one rectangle, and such runs that repeat in
        the rows below (same columns, same power per cell) merge into one; zero cells are left
        out. Power per area is unchanged, so the field is the same as the raster's. The exact
        solutions take the map in this form; the prediction and the solver take
        :meth:`raster_on`.

        Returns
        -------
        rects : (S, 4) float64
            ``(left, bottom, width, height)`` in metres.
        watts : (S,) float64
            Power of each rectangle, W (the sum is :attr:`total_w`).
        """
        x0, y0, x1, y1 = self.extent_on(die)
        ny, nx = self.shape
        w = self.watts
        # runs of equal values along each row: a run starts where the value changes
        starts = np.ones((ny, nx), bool)
        starts[:, 1:] = w[:, 1:] != w[:, :-1]
        row, c0 = np.nonzero(starts)
        flat = row * nx + c0
        ends = np.r_[flat[1:], ny * nx]
        c1 = np.where(row == np.r_[row[1:], ny], ends - row * nx, nx)  # exclusive end column
        value = w[row, c0]
        keep = value > 0
        row, c0, c1, value = row[keep], c0[keep], c1[keep], value[keep]
        # runs with the same columns and value in consecutive rows merge into one rectangle
        order = np.lexsort((row, value, c1, c0))
        row, c0, c1, value = row[order], c0[order], c1[order], value[order]
        new = np.ones(len(row), bool)
        new[1:] = ((c0[1:] != c0[:-1]) | (c1[1:] != c1[:-1]) | (value[1:] != value[:-1])
                   | (row[1:] != row[:-1] + 1))
        group = np.cumsum(new) - 1
        first = np.flatnonzero(new)
        rows_in = np.bincount(group)
        r0, c0, c1, value = row[first], c0[first], c1[first], value[first]
        xs = np.linspace(x0, x1, nx + 1)         # cell edges, left to right
        ys = np.linspace(y1, y0, ny + 1)         # cell edges, top to bottom
        left, right = xs[c0], xs[c1]
        top, bottom = ys[r0], ys[r0 + rows_in]
        rects = np.c_[left, bottom, right - left, top - bottom]
        watts = value * (c1 - c0) * rows_in
        return rects, watts

    def raster_on(self, die):
        """The map as the solver spreads it: a :class:`thermal.raster_load.RasterPower` on its
        extent over ``die``, rows from the bottom, loaded exactly on any mesh."""
        from .raster_load import RasterPower

        return RasterPower(self.extent_on(die), np.ascontiguousarray(self.watts[::-1]))

    def block_powers(self, floorplan) -> np.ndarray:
        """(B,) the power of the map falling on each block's rectangle, W (overlaps count for
        each block they belong to; power on whitespace counts for none)."""
        rects, watts = self.sources(floorplan.bounds)
        density = watts / (rects[:, 2] * rects[:, 3])
        ox = _overlap(rects[:, 0], rects[:, 0] + rects[:, 2], floorplan.left_m, floorplan.right_m)
        oy = _overlap(rects[:, 1], rects[:, 1] + rects[:, 3], floorplan.bottom_m, floorplan.top_m)
        return (ox * oy).T @ density


def _overlap(lo_a, hi_a, lo_b, hi_b) -> np.ndarray:
    """(A, B) length of the overlap of intervals a and b."""
    return np.clip(np.minimum(hi_a[:, None], hi_b[None, :]) - np.maximum(lo_a[:, None], lo_b[None, :]),
                   0.0, None)


def power_sources(floorplan, power) -> tuple[np.ndarray | None, np.ndarray]:
    """The power as rectangles: ``(None, block powers (B,))`` for per-block power (a mapping of
    names to W or a (B,) array), or ``(rects (S, 4), watts (S,))`` for a :class:`PowerMap`
    (:meth:`PowerMap.sources` on the floorplan's die). The exact solutions take the power in
    this form."""
    if isinstance(power, PowerMap):
        return power.sources(floorplan.bounds)
    if isinstance(power, Mapping):
        return None, power_vector(floorplan, power)
    watts = np.array(power, float)  # a copy: _check_values zeroes denormals in place
    if watts.shape == (floorplan.n_blocks,):
        _check_values(watts[None, :], floorplan.names, "<power>", ())
    return None, watts


def power_load(floorplan, power):
    """The power as the prediction and the solver spread it
    (:func:`thermal.predict.feature_rasters`' and :func:`thermal.assemble.assemble`'s
    ``power_w``):
    the (B,) block powers, or for a :class:`PowerMap` its
    :class:`~thermal.raster_load.RasterPower` on the die."""
    if isinstance(power, PowerMap):
        return power.raster_on(floorplan.bounds)
    return power_sources(floorplan, power)[1]
