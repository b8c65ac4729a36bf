"""Critical regions: temperature-sensitive blocks or rectangles held to a tighter tolerance.

A user names them with ``--critical NAME[:KELVIN]``, in the stack TOML, or with ``critical=``
in :func:`thermal.solve`::

    [critical]                  # blocks by name: a tolerance in K, or true for the default
    PLL = 0.02
    ADC = true                  # CRITICAL_FRACTION of --tolerance

    [[critical_region]]         # a rectangle anywhere on the die (need not be a block)
    name = "sensor"
    rect = [4e-3, 2e-3, 0.5e-3, 0.5e-3]   # left, bottom, width, height, m
    tolerance = 0.02            # optional, as above

The estimator then holds the max and mean temperature over each region to its tolerance: a
block's over its triangles, a rectangle's over the triangles whose centroid lies inside it
(the rectangle is not meshed into the geometry, so its edge is resolved to one element).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import InputError

__all__ = ["CRITICAL_FRACTION", "CriticalRegion", "Resolved", "critical_regions", "resolved",
           "rect_cover"]

CRITICAL_FRACTION = 0.25
"""A critical region named without a tolerance gets this fraction of the global tolerance."""


@dataclass(frozen=True)
class CriticalRegion:
    """One critical region.

    Attributes
    ----------
    name : str
        The block's name, or the rectangle's label.
    tolerance_K : float or None
        Its own tolerance; None takes :data:`CRITICAL_FRACTION` of the global one.
    rect_m : (left, bottom, width, height) or None
        A rectangle in metres; None means the block called ``name``.
    """

    name: str
    tolerance_K: float | None = None
    rect_m: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        tol = self.tolerance_K
        if tol is not None and not (isinstance(tol, (int, float)) and not isinstance(tol, bool)
                                    and np.isfinite(tol) and tol > 0):
            raise InputError(f"critical region {self.name!r}: tolerance must be a positive number "
                             f"of kelvin, got {tol!r}", field="critical")
        if self.rect_m is not None:
            rect = tuple(self.rect_m) if isinstance(self.rect_m, (list, tuple)) else ()
            if (len(rect) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                          and np.isfinite(v) for v in rect)
                    or rect[2] <= 0 or rect[3] <= 0):
                raise InputError(f"critical region {self.name!r}: rect must be [left, bottom, "
                                 f"width, height] in m with positive width and height, got "
                                 f"{self.rect_m!r}", field="critical")
            object.__setattr__(self, "rect_m", tuple(float(v) for v in rect))

    def to_dict(self) -> dict:
        d: dict = {"name": self.name}
        if self.rect_m is not None:
            d["rect"] = list(self.rect_m)
        if self.tolerance_K is not None:
            d["tolerance"] = self.tolerance_K
        return d


def critical_regions(spec) -> tuple[CriticalRegion, ...]:
    """Normalise what :func:`thermal.solve` accepts as ``critical=``.

    Parameters
    ----------
    spec : None, Mapping, or iterable
        ``{name: tolerance or None}``, ``{name: ((left, bottom, width, height), tolerance)}``
        for a rectangle, an iterable of block names, or of :class:`CriticalRegion`.
    """
    if not spec:
        return ()
    if isinstance(spec, Mapping):
        out = []
        for name, value in spec.items():
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (list, tuple)):
                out.append(CriticalRegion(str(name), value[1], value[0]))
            else:
                out.append(CriticalRegion(str(name), value))
        return tuple(out)
    return tuple(c if isinstance(c, CriticalRegion) else CriticalRegion(str(c)) for c in spec)


@dataclass(frozen=True, eq=False)
class Resolved:
    """Critical regions resolved against a floorplan and a global tolerance.

    Attributes
    ----------
    block_tolerance : (B,) float
        Each block's tolerance (the global one, or its critical one when tighter).
    rects : (R, 4) float
        The critical rectangles' boxes (x0, y0, x1, y1), m.
    rect_tolerance : (R,) float
    report : list of dict
        ``name``, ``kind`` ("block" or "rect"), ``tolerance_K`` (and ``rect_m``), in order:
        blocks first (floorplan order), then rectangles.
    block_index : (Rb,) int
        The critical blocks, in the report's order.
    """

    block_tolerance: np.ndarray
    rects: np.ndarray
    rect_tolerance: np.ndarray
    report: list
    block_index: np.ndarray


def resolved(floorplan, tolerance: float, regions) -> Resolved:
    """Each block's and rectangle's tolerance; later regions of the same name win.

    Raises
    ------
    InputError
        A named block that the floorplan does not have, or a rectangle off the die.
    """
    index = {name: i for i, name in enumerate(floorplan.names)}
    own, rects = {}, {}
    for region in critical_regions(regions):
        tol = CRITICAL_FRACTION * tolerance if region.tolerance_K is None else region.tolerance_K
        tol = min(float(tol), tolerance)
        if region.rect_m is None:
            if region.name not in index:
                raise InputError(f"critical block {region.name!r} is not in the floorplan"
                                 f"{_did_you_mean(region.name, floorplan.names)}",
                                 field="critical")
            own[index[region.name]] = tol
        else:
            left, bottom, width, height = region.rect_m
            x0, y0, x1, y1 = floorplan.bounds
            slack = 1e-9 * max(x1 - x0, y1 - y0)
            if (left < x0 - slack or bottom < y0 - slack or left + width > x1 + slack
                    or bottom + height > y1 + slack):
                raise InputError(f"critical region {region.name!r} reaches outside the die "
                                 f"[{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] m", field="critical")
            rects[region.name] = (np.array([left, bottom, left + width, bottom + height]), tol,
                                  region.rect_m)
    block_tolerance = np.full(len(floorplan.names), float(tolerance))
    blocks = np.array(sorted(own), dtype=np.int64)
    block_tolerance[blocks] = [own[i] for i in blocks]
    report = [{"name": floorplan.names[i], "kind": "block", "tolerance_K": own[i]} for i in blocks]
    report += [{"name": name, "kind": "rect", "tolerance_K": tol, "rect_m": list(rect)}
               for name, (_, tol, rect) in rects.items()]
    return Resolved(block_tolerance=block_tolerance,
                    rects=np.array([r for r, _, _ in rects.values()]).reshape(-1, 4),
                    rect_tolerance=np.array([t for _, t, _ in rects.values()], float),
                    report=report, block_index=blocks)


def _did_you_mean(name: str, names) -> str:
    """``"; did you mean 'Icache'?"`` for the closest block name (case ignored first), or ``""``.

    >>> _did_you_mean("icache", ["Icache", "Dcache"])
    "; did you mean 'Icache'?"
    """
    import difflib

    folded = {n.casefold(): n for n in names}
    if name.casefold() in folded:
        return f"; did you mean {folded[name.casefold()]!r}?"
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def rect_cover(mesh, rects: np.ndarray) -> sp.csr_matrix:
    """(M, R) boolean: triangle ``t`` belongs to box ``r`` (x0, y0, x1, y1) when its
    centroid lies inside it. A rectangle smaller than its triangles gets the one holding its
    centre, so that no region is empty."""
    c = mesh.centroids
    r = np.asarray(rects, float).reshape(-1, 4)
    inside = ((c[:, None, 0] >= r[:, 0]) & (c[:, None, 0] <= r[:, 2])
              & (c[:, None, 1] >= r[:, 1]) & (c[:, None, 1] <= r[:, 3]))
    empty = np.flatnonzero(~inside.any(axis=0))
    if empty.size:
        centre = 0.5 * (r[empty, :2] + r[empty, 2:])
        nearest = np.argmin(((c[:, None, :] - centre[None]) ** 2).sum(axis=2), axis=0)
        inside[nearest, empty] = True
    return sp.csr_matrix(inside)


def critical_arguments(items) -> dict:
    """``--critical NAME[:KELVIN]`` arguments as ``{name: tolerance or None}``.

    >>> critical_arguments(["PLL", "ADC:0.02"])
    {'PLL': None, 'ADC': 0.02}
    """
    out = {}
    for item in items:
        name, sep, tol = item.rpartition(":") if ":" in item else (item, "", "")
        if not name:
            raise InputError(f"--critical expects NAME[:KELVIN], got {item!r}")
        if sep:
            try:
                value = float(tol)
            except ValueError:
                raise InputError(f"--critical {item}: tolerance not a number: {tol!r}") from None
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"--critical {item}: tolerance must be a positive number, "
                                 f"got {tol!r}")
        out[name] = value if sep else None
    return out
