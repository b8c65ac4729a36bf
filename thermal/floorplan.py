"""Floorplans: named rectangular blocks on the die (HotSpot's ``.flp`` is :mod:`thermal.io.flp`).

Geometry vocabulary, used throughout thermal:

- a **rect** is ``(left, bottom, width, height)`` in metres, HotSpot's form (a ``.flp`` line,
  :attr:`Floorplan.rects`, a critical region's ``rect``); ``rects`` is an (N, 4) array of them;
- a **box** is ``(x0, y0, x1, y1)``, the lower-left and upper-right corners in metres
  (``boxes``: an (N, 4) array of them). ``bounds`` (:attr:`Floorplan.bounds`, ``die_bounds``)
  always names the die's box; a power map's ``extent`` and a layer's footprint are boxes.

Validation (SPEC §3) turns every malformed floorplan into one :class:`~thermal.errors.InputError`
naming the file and line: wrong column counts, non-numbers, NaN/inf, non-positive sizes or
material values or ones outside :data:`thermal.stack.RANGES`, duplicate names, no blocks, a die
outside 10 µm .. 10 cm (a units mistake), blocks too thin to mesh (thinner than 5e-5 of the die's
longer side, or flattened by the mesher's snapping), and blocks overlapping by more than half of
the smaller one. Thin overlaps (rounding slivers) and
whitespace between blocks are accepted with one :class:`~thermal.errors.InputWarning` each, and
so is a die so far from the origin that its coordinates lack the digits the mesh needs (it is
moved to the origin). Limits are compared with a rounding tolerance (:data:`ROUNDING_REL`).
Overlaps are found by a sort-and-sweep (:func:`overlapping_pairs`), vectorised in chunks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from .errors import InputError, InputWarning
from .limits import RANGES
from .mesh import MIN_FEATURE_REL, snap_distance, snapped

__all__ = ["Floorplan", "make_floorplan", "MAX_DIE_M", "MIN_DIE_M"]

MAX_DIE_M = 0.1
"""A die side above this (10 cm) is taken for a units mistake (mm or µm written as metres)."""
MIN_DIE_M = 10e-6
"""A die side below this (10 µm) is taken for a units mistake."""
TOUCH_REL = 1e-12
"""Overlaps thinner than this fraction of the die's longer side are floating-point noise of
abutting blocks (``0.0049 + 0.001033`` against ``0.005933``), not overlaps."""
GAP_SNAP_REL = 1e-4
"""For the whitespace check, coordinates closer than this fraction of the die's longer side are
the same line (as the mesher merges them): 1 µm rounding gaps on a 16 mm die are not whitespace."""
GAP_REL = 1e-6
"""Whitespace above this fraction of the die's area draws an :class:`InputWarning`."""
MAX_OVERLAP_FRACTION = 0.5
"""An overlap covering more than this fraction of the smaller block is an error."""
ROUNDING_REL = 1e-9
"""Relative tolerance of the size and overlap limits: a floorplan is never refused by float
rounding (HotSniper's Gainestown cores overlap a 20 µm block by 0.5000000000000230 of it,
which HotSpot accepts as half)."""
ORIGIN_DIGITS_REL = 1e-6
"""Coordinates must resolve this fraction of the die's longer side (1e-2 of the mesher's snapping
distance). A die placed so far from the origin that the float spacing of its coordinates is
coarser (beyond ~4.5e9 die sizes: 4.5e7 m for a 1 cm die) is moved to the origin, with a
warning, before anything else: its file coordinates carry no more digits than that."""

_API_FILE = "<floorplan>"


@dataclass(frozen=True, eq=False)
class Floorplan:
    """Named rectangular blocks of one die, in file order.

    Arrays are float64 of shape (B,) and read-only. Construct with :func:`thermal.io.flp.read` or
    :func:`make_floorplan`, which validate; the constructor only converts.

    Attributes
    ----------
    names : tuple of str
    left_m, bottom_m, width_m, height_m : ndarray
        Lower-left corner and size of each block, metres.
    heat_capacity : ndarray
        Volumetric heat capacity, J/(m^3 K); NaN where the file gives none.
    conductivity : ndarray
        Thermal conductivity W/(m K) (the file's resistivity column inverted); NaN where none.
    path : str or None
        The source file.
    lines : tuple of int
        1-based source line of each block (for :func:`make_floorplan`, the block's 1-based index).
    """

    names: tuple[str, ...]
    left_m: np.ndarray
    bottom_m: np.ndarray
    width_m: np.ndarray
    height_m: np.ndarray
    heat_capacity: np.ndarray
    conductivity: np.ndarray
    path: str | None = None
    lines: tuple[int, ...] = ()

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        object.__setattr__(self, "names", names)
        for field in ("left_m", "bottom_m", "width_m", "height_m", "heat_capacity",
                      "conductivity"):
            a = np.array(getattr(self, field), dtype=np.float64)
            if a.shape != (len(names),):
                raise InputError(f"{field} has shape {a.shape}, expected ({len(names)},)",
                                 file=self.path or _API_FILE, field=field)
            a.setflags(write=False)
            object.__setattr__(self, field, a)
        lines = tuple(int(n) for n in self.lines) or tuple(range(1, len(names) + 1))
        object.__setattr__(self, "lines", lines)

    @property
    def n_blocks(self) -> int:
        """Number of blocks B."""
        return len(self.names)

    @property
    def right_m(self) -> np.ndarray:
        """Right edge of each block, m."""
        return self.left_m + self.width_m

    @property
    def top_m(self) -> np.ndarray:
        """Top edge of each block, m."""
        return self.bottom_m + self.height_m

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the die: the bounding box of all blocks, m."""
        return (float(self.left_m.min()), float(self.bottom_m.min()),
                float(self.right_m.max()), float(self.top_m.max()))

    @property
    def rects(self) -> np.ndarray:
        """(B, 4) each block as ``(left, bottom, width, height)``, m: what the mesh, the power
        raster and the exact solution take."""
        return np.c_[self.left_m, self.bottom_m, self.width_m, self.height_m]

    @property
    def area_m2(self) -> np.ndarray:
        """Area of each block, m^2."""
        return self.width_m * self.height_m

    @cached_property
    def _index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def index(self, name: str) -> int:
        """0-based position of the block called ``name``.

        Raises
        ------
        InputError
            No block has that name.
        """
        try:
            return self._index[name]
        except KeyError:
            raise InputError(f"no block named {name!r} in the floorplan",
                             file=self.path or _API_FILE) from None

    def __repr__(self) -> str:
        x0, y0, x1, y1 = self.bounds
        return (f"Floorplan({self.n_blocks} blocks, die {(x1 - x0) * 1e3:.4g} mm x "
                f"{(y1 - y0) * 1e3:.4g} mm, path={self.path!r})")


def make_floorplan(names: Sequence[str], left: Sequence[float], bottom: Sequence[float],
                   width: Sequence[float], height: Sequence[float],
                   conductivity: Sequence[float] | None = None,
                   heat_capacity: Sequence[float] | None = None) -> Floorplan:
    """A validated floorplan from arrays (metres), with the same checks as :func:`thermal.io.flp.read`.

    Errors name the file ``<floorplan>`` and, as the "line", the block's 1-based index.

    Parameters
    ----------
    names : sequence of str
    left, bottom, width, height : array_like, shape (B,)
        Metres.
    conductivity, heat_capacity : array_like, shape (B,), optional
        W/(m K) and J/(m^3 K); NaN (or omitted) for the layer's own.

    Returns
    -------
    Floorplan

    Examples
    --------
    >>> fp = make_floorplan(["a", "b"], [0, 1e-3], [0, 0], [1e-3, 1e-3], [2e-3, 2e-3])
    >>> fp.bounds
    (0.0, 0.0, 0.002, 0.002)
    """
    names = [str(n) for n in names]
    n = len(names)
    lines = list(range(1, n + 1))

    def column(values, field):
        if values is None:
            return np.full(n, np.nan)
        try:
            a = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{field} must be numbers", file=_API_FILE, field=field) from None
        if a.shape != (n,):
            raise InputError(f"{field} has shape {a.shape}, expected ({n},) for {n} names",
                             file=_API_FILE, field=field)
        return a

    cols = {f: column(v, f) for f, v in (("left", left), ("bottom", bottom), ("width", width),
                                         ("height", height), ("conductivity", conductivity),
                                         ("heat_capacity", heat_capacity))}
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name or name.split() != [name] or "#" in name:
            raise InputError(f"block name {name!r} must be non-empty, without whitespace or '#'",
                             file=_API_FILE, line=i + 1, field="names")
        if name in seen:
            raise InputError(f"duplicate block name {name!r} (first is block {seen[name]})",
                             file=_API_FILE, line=i + 1, field=name)
        seen[name] = i + 1
    for field in ("width", "height", "left", "bottom"):
        _first_bad(~np.isfinite(cols[field]), names, lines, _API_FILE,
                   lambda nm, i, f=field: f"{f} of block {nm!r} is not finite: {cols[f][i]}")
    for field in ("conductivity", "heat_capacity"):
        _first_bad(np.isinf(cols[field]), names, lines, _API_FILE,
                   lambda nm, i, f=field: f"{f} of block {nm!r} is not finite: {cols[f][i]}")
    if n == 0:
        raise InputError("no blocks: a floorplan needs at least one", file=_API_FILE)
    return _validated(names, cols["left"], cols["bottom"], cols["width"], cols["height"],
                      cols["conductivity"], cols["heat_capacity"], _API_FILE, lines)


def _first_bad(mask: np.ndarray, names, lines, file, message) -> None:
    """Raise ``InputError(message(name, i))`` at the first True of ``mask``."""
    bad = np.flatnonzero(mask)
    if bad.size:
        i = int(bad[0])
        raise InputError(message(names[i], i), file=file, line=lines[i], field=names[i])


def _validated(names, left, bottom, width, height, conductivity, heat_capacity, file, lines
               ) -> Floorplan:
    """Value, size, overlap and whitespace checks shared by both constructors."""
    _first_bad(width <= 0, names, lines, file,
               lambda nm, i: f"width of block {nm!r} must be positive, got {width[i]:g}")
    _first_bad(height <= 0, names, lines, file,
               lambda nm, i: f"height of block {nm!r} must be positive, got {height[i]:g}")
    _first_bad(heat_capacity <= 0, names, lines, file,
               lambda nm, i: f"heat capacity of block {nm!r} must be positive, got "
                             f"{heat_capacity[i]:g}")
    _first_bad(conductivity <= 0, names, lines, file,
               lambda nm, i: f"conductivity of block {nm!r} must be positive, got "
                             f"{conductivity[i]:g}")

    for values, key, unit in ((conductivity, "conductivity", "W/(m K)"),
                              (heat_capacity, "heat_capacity", "J/(m^3 K)")):
        lo, hi = RANGES[key]
        _first_bad((values < lo) | (values > hi), names, lines, file,
                   lambda nm, i, v=values, k=key, u=unit, lo=lo, hi=hi:
                   f"{k.replace('_', ' ')} of block {nm!r} is {v[i]:g} {u}, out of range "
                   f"(allowed: {lo:g} to {hi:g} {u})")
    right, top = left + width, bottom + height
    x0, y0, x1, y1 = left.min(), bottom.min(), right.max(), top.max()
    die_w, die_h = x1 - x0, y1 - y0
    size = f"{die_w:.4g} m x {die_h:.4g} m"
    far = max(abs(x0), abs(y0), abs(x1), abs(y1))
    if np.spacing(far) > ORIGIN_DIGITS_REL * max(die_w, die_h) and max(die_w, die_h) > 0:
        # Translate corners, not widths: abutting blocks share the rounded corner value in the
        # file, so their local corners stay equal (the differences are exact, Sterbenz).
        left, right, bottom, top = left - x0, right - x0, bottom - y0, top - y0
        width, height = right - left, top - bottom
        warnings.warn(InputWarning(
            f"{file}: the die's corner is at ({x0:.6g}, {y0:.6g}) m, too far from the origin for "
            f"the float digits the mesh needs: coordinates (and the reported peak) are taken "
            f"relative to that corner"), stacklevel=3)
    if max(die_w, die_h) > MAX_DIE_M * (1 + ROUNDING_REL):
        i = int(np.argmax(np.maximum(np.maximum(np.abs(right), np.abs(top)),
                                     np.maximum(np.abs(left), np.abs(bottom)))))
        raise InputError(f"the die is {size}, larger than 10 cm: floorplan dimensions must be "
                         f"in metres (mm or µm by mistake?)", file=file, line=lines[i],
                         field=names[i])
    if min(die_w, die_h) < MIN_DIE_M * (1 - ROUNDING_REL):
        raise InputError(f"the die is {size}, smaller than 10 µm on a side: floorplan "
                         f"dimensions must be in metres (scaled twice by mistake?)", file=file,
                         line=lines[0], field=names[0])
    longest = max(die_w, die_h)
    _check_thinnest(names, width, height, file, lines, longest)
    _check_resolvable(names, left, bottom, right, top, file, lines,
                      snap_distance(np.r_[longest, width], np.r_[longest, height]))
    _check_overlaps(names, left, bottom, right, top, file, lines, TOUCH_REL * longest)
    _check_whitespace(left, bottom, right, top, file, GAP_SNAP_REL * longest)
    return Floorplan(tuple(names), left, bottom, width, height, heat_capacity, conductivity,
                     path=file, lines=tuple(lines))


def overlapping_pairs(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray,
                      eps: float = 0.0, chunk: int = 1 << 20
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of rectangles whose interiors overlap by more than ``eps`` in x and in y.

    Sort by left edge, then for each rectangle the candidates are the rectangles after it in
    that order whose left edge is left of its right edge (``searchsorted``); candidate pairs are
    generated and tested in vectorised chunks of at most ``chunk`` pairs. The sweep runs along
    whichever axis gives fewer candidates (x for a row of tall blocks, y for stacked strips).

    Parameters
    ----------
    x0, y0, x1, y1 : ndarray, shape (B,)
        Rectangle corners.
    eps : float
        Overlaps not thicker than this in x or y are ignored (abutting edges).
    chunk : int
        Most candidate pairs tested at once (memory bound).

    Returns
    -------
    i, j : ndarray of int, shape (P,)
        Indices with ``i < j``, sorted by (i, j).
    area : ndarray, shape (P,)
        Overlap area.

    Examples
    --------
    >>> i, j, a = overlapping_pairs(np.r_[0., 1, 5], np.r_[0., 0, 0], np.r_[2., 3, 6],
    ...                             np.r_[1., 1, 1])
    >>> i.tolist(), j.tolist(), a.tolist()
    ([0], [1], [1.0])
    """
    n = len(x0)
    sweeps = []
    for a0, a1, b0, b1 in ((x0, x1, y0, y1), (y0, y1, x0, x1)):
        order = np.argsort(a0, kind="stable")
        end = np.searchsorted(a0[order], a1[order] - eps, side="left")
        counts = np.maximum(end - np.arange(1, n + 1), 0)
        sweeps.append((int(counts.sum()), order, counts, a0, a1, b0, b1))
    _, order, counts, a0, a1, b0, b1 = min(sweeps, key=lambda sweep: sweep[0])
    sx0, sx1, sy0, sy1 = a0[order], a1[order], b0[order], b1[order]
    found_i, found_j, found_a = [], [], []
    start = 0
    cum = np.cumsum(counts)
    while start < n:
        base = cum[start - 1] if start else 0
        stop = max(int(np.searchsorted(cum, base + chunk, side="right")), start + 1)
        c = counts[start:stop]
        total = int(c.sum())
        if total:
            ii = np.repeat(np.arange(start, stop), c)
            jj = ii + 1 + np.arange(total) - np.repeat(np.cumsum(c) - c, c)
            ox = np.minimum(sx1[ii], sx1[jj]) - np.maximum(sx0[ii], sx0[jj])
            oy = np.minimum(sy1[ii], sy1[jj]) - np.maximum(sy0[ii], sy0[jj])
            hit = (ox > eps) & (oy > eps)
            found_i.append(order[ii[hit]])
            found_j.append(order[jj[hit]])
            found_a.append(ox[hit] * oy[hit])
        start = stop
    if not found_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    a, b, area = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_a)
    i, j = np.minimum(a, b), np.maximum(a, b)
    srt = np.lexsort((j, i))
    return i[srt], j[srt], area[srt]


def _check_thinnest(names, width, height, file, lines, longest) -> None:
    """Refuse a block thinner than :data:`~thermal.mesh.MIN_FEATURE_REL` of the die's longer
    side (with a rounding tolerance): the mesh along it would need ~1e5+ triangles."""
    limit = MIN_FEATURE_REL * longest * (1 - ROUNDING_REL)
    _first_bad((width < limit) | (height < limit), names, lines, file,
               lambda nm, i: f"block {nm!r} is {width[i]:.3g} m x {height[i]:.3g} m: too thin to "
                             f"mesh, below {MIN_FEATURE_REL:g} of the die's longer side "
                             f"({MIN_FEATURE_REL * longest:.3g} m; a units mistake?)")


def _check_resolvable(names, x0, y0, x1, y1, file, lines, snap) -> None:
    """Refuse a block that the mesher's snapping would flatten to nothing.

    The mesher merges coordinates closer than ``snap`` (chains included) as rounding noise; a
    block whose two x (or y) edges land in one cluster would have no triangle, no temperature
    and would lose its power.
    """
    n = len(x0)
    xs, ys = snapped(np.r_[x0, x1], snap), snapped(np.r_[y0, y1], snap)
    _first_bad((xs[n:] <= xs[:n]) | (ys[n:] <= ys[:n]), names, lines, file,
               lambda nm, i: f"block {nm!r} is {x1[i] - x0[i]:.3g} m x {y1[i] - y0[i]:.3g} m: "
                             f"too thin to mesh, as edges closer than {snap:.3g} m are merged "
                             f"as rounding noise and other block edges lie between its own")


def _check_overlaps(names, x0, y0, x1, y1, file, lines, eps) -> None:
    i, j, area = overlapping_pairs(x0, y0, x1, y1, eps)
    if not i.size:
        return
    smaller = np.minimum((x1 - x0)[i] * (y1 - y0)[i], (x1 - x0)[j] * (y1 - y0)[j])
    big = np.flatnonzero(area > MAX_OVERLAP_FRACTION * smaller * (1 + ROUNDING_REL))
    if big.size:
        k = big[np.argmin(j[big])]
        a, b = int(i[k]), int(j[k])
        raise InputError(f"block {names[b]!r} overlaps block {names[a]!r} (line {lines[a]}) over "
                         f"{area[k] / smaller[k]:.0%} of the smaller block ({area[k]:.3g} m²); "
                         f"more than half is likely a mistake", file=file, line=lines[b],
                         field=names[b])
    shown = [f"{names[a]!r} (line {lines[a]}) / {names[b]!r} (line {lines[b]}) {s:.3g} m²"
             for a, b, s in zip(i[:5].tolist(), j[:5].tolist(), area[:5].tolist())]
    more = f"; and {i.size - 5} more" if i.size > 5 else ""
    warnings.warn(InputWarning(
        f"{file}: {i.size} thin block overlap{'s' if i.size > 1 else ''} accepted (power "
        f"densities add, the later block's material wins): {'; '.join(shown)}{more}; total "
        f"{area.sum():.3g} m²"), stacklevel=4)


def _snapped(values: np.ndarray, tol: float) -> np.ndarray:
    """``values`` with every run of sorted values less than ``tol`` apart set to its first."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    first = np.r_[True, np.diff(v) > tol]
    out = np.empty_like(values)
    out[order] = v[first][np.cumsum(first) - 1]
    return out


def _check_whitespace(x0, y0, x1, y1, file, tol) -> None:
    n = len(x0)
    xs, ys = _snapped(np.r_[x0, x1], tol), _snapped(np.r_[y0, y1], tol)
    sx0, sx1, sy0, sy1 = xs[:n], xs[n:], ys[:n], ys[n:]
    die = (sx1.max() - sx0.min()) * (sy1.max() - sy0.min())
    covered = np.sum(np.maximum(sx1 - sx0, 0) * np.maximum(sy1 - sy0, 0))
    covered -= overlapping_pairs(sx0, sy0, sx1, sy1)[2].sum()
    gap = die - covered
    if gap > GAP_REL * die:
        warnings.warn(InputWarning(
            f"{file}: {100 * gap / die:.3g}% of the die ({gap:.3g} m²) is whitespace not covered by any "
            f"block; it gets the layer's material and no power"), stacklevel=4)
