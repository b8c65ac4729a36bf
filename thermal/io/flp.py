"""HotSpot floorplans (``.flp``), read into and written from :class:`thermal.floorplan.Floorplan`.

A line is ``name width height left-x bottom-y [heat-capacity resistivity]`` in SI units
(metres, J/(m^3 K), m K/W): each block as a *rect* (:mod:`thermal.floorplan`), width and height
first. ``#`` starts a comment. The checks on the values (sizes, overlaps, the die's extent...)
are the floorplan's own and shared with :func:`thermal.floorplan.make_floorplan`.

Examples
--------
>>> import pathlib, tempfile
>>> from thermal.floorplan import make_floorplan
>>> f = pathlib.Path(tempfile.mkdtemp()) / "two.flp"
>>> write(f, make_floorplan(["a", "b"], [0, 1e-3], [0, 0], [1e-3, 1e-3], [2e-3, 2e-3]))
>>> read(f).rects.tolist()
[[0.0, 0.0, 0.001, 0.002], [0.001, 0.0, 0.001, 0.002]]
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..floorplan import Floorplan, _validated
from .text import data_lines, parse_number, read_text, write_atomic

__all__ = ["read", "write"]

_COLUMNS = ("width", "height", "left-x", "bottom-y", "heat capacity", "resistivity")


def read(path: str | os.PathLike) -> Floorplan:
    """Read and validate a HotSpot ``.flp`` floorplan.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Floorplan

    Raises
    ------
    InputError
        Any malformed input, as ``FILE:LINE: message``.

    Warns
    -----
    InputWarning
        Thin overlaps between blocks; whitespace not covered by any block.
    """
    file = os.fspath(path)
    text = read_text(file, "floorplan")
    names, lines, rows, seen = [], [], [], {}
    for number, fields in data_lines(text):
        if len(fields) not in (5, 7):
            raise InputError(f"expected 5 or 7 columns (name width height left-x bottom-y "
                             f"[heat-capacity resistivity]), got {len(fields)}", file=file,
                             line=number)
        name = fields[0]
        if name in seen:
            raise InputError(f"duplicate block name {name!r} (first on line {seen[name]})",
                             file=file, line=number, field=name)
        seen[name] = number
        values = [parse_number(tok, f"{what} of block {name!r}", file, number, what)
                  for tok, what in zip(fields[1:], _COLUMNS)]
        for value, tok, what in zip(values, fields[1:], _COLUMNS):
            if not np.isfinite(value):
                raise InputError(f"{what} of block {name!r} is not finite: {tok}", file=file,
                                 line=number, field=what)
        names.append(name)
        lines.append(number)
        rows.append(values + [np.nan] * (6 - len(values)))
    if not names:
        raise InputError("no blocks: the floorplan file is empty or only comments", file=file)
    a = np.array(rows, dtype=np.float64)
    bad = np.nonzero(a[:, 5] <= 0)[0]
    if bad.size:
        i = bad[0]
        raise InputError(f"resistivity of block {names[i]!r} must be positive, got {a[i, 5]:g}",
                         file=file, line=lines[i], field="resistivity")
    with np.errstate(divide="ignore"):
        conductivity = 1.0 / a[:, 5]
    return _validated(names, a[:, 2], a[:, 3], a[:, 0], a[:, 1], conductivity, a[:, 4], file,
                      lines)


def write(path: str | os.PathLike, floorplan: Floorplan) -> None:
    """Write ``floorplan`` as a ``.flp`` file, atomically, with every digit of each number.

    A block with its own material gets the 6th and 7th columns (heat capacity, and resistivity
    = 1/conductivity, as HotSpot reads them); a block without gets five.

    Raises
    ------
    ValueError
        A block has a conductivity but no heat capacity or the other way round: the format
        holds both or neither.
    InputError
        The file cannot be written.
    """
    fp = floorplan
    own = np.isfinite(fp.heat_capacity)
    half = np.flatnonzero(own != np.isfinite(fp.conductivity))
    if half.size:
        raise ValueError(f"block {fp.names[half[0]]!r} has only one of heat capacity and "
                         f"conductivity: a .flp line holds both or neither")
    out = ["# name\twidth\theight\tleft-x\tbottom-y\t[heat-capacity\tresistivity] (SI units)"]
    for i, name in enumerate(fp.names):
        values = [fp.width_m[i], fp.height_m[i], fp.left_m[i], fp.bottom_m[i]]
        if own[i]:
            values += [fp.heat_capacity[i], 1.0 / fp.conductivity[i]]
        out.append("\t".join([name] + [repr(float(v)) for v in values]))
    write_atomic(path, "\n".join(out) + "\n")
