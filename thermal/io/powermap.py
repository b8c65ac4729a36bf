"""Raster power maps (``.csv`` text or ``.npy``), read into and written from
:class:`thermal.power.PowerMap`.

A map is W per cell over a box of the die, rows from the top edge. A ``.csv`` holds one raster
row per line (numbers separated by commas or spaces) and may give the box in a comment,
``# extent X0 Y0 X1 Y1`` (metres); a ``.npy`` holds a 2-D array of numbers and no box. Without
a box the map covers the die. The checks on the values (shape, size, NaN/negative/out-of-range
powers) are :class:`~thermal.power.PowerMap`'s own.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..power import PowerMap
from .text import parse_number, read_text, write_atomic

__all__ = ["SUFFIXES", "read", "write"]

SUFFIXES = (".csv", ".npy")
"""File name endings read as power maps rather than power traces."""


def read(path: str | os.PathLike, extent=None) -> PowerMap:
    """Read a raster power map: ``.csv`` text or a 2-D ``.npy`` array of W per cell.

    Parameters
    ----------
    path : str or path-like
    extent : (x0, y0, x1, y1), optional
        The box the raster covers, metres; overrides a ``# extent`` line of a ``.csv``.
        Neither: the die.

    Returns
    -------
    PowerMap

    Raises
    ------
    InputError
        Any malformed input, as ``FILE[:LINE]: message``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "map.csv"
    >>> _ = f.write_text("# extent 0 0 2e-3 1e-3\\n1, 2\\n0, 3\\n")
    >>> m = read(f)
    >>> m.shape, m.total_w, m.extent
    ((2, 2), 6.0, (0.0, 0.0, 0.002, 0.001))
    """
    file = os.fspath(path)
    suffix = os.path.splitext(file)[1].lower()
    if suffix == ".npy":
        watts, found, line = _npy_map(file), None, None
    elif suffix == ".csv":
        watts, found, line = _csv_map(file)
    else:
        raise InputError(f"a power map must be a .csv or .npy file, not {suffix or 'no suffix'!r}",
                         file=file)
    if extent is not None:
        found, line = extent, None
    return PowerMap(watts, extent=found, path=file, extent_line=line)


def _npy_map(file: str) -> np.ndarray:
    try:
        a = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise InputError("no such power map file", file=file) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a power map file", file=file) from None
    except PermissionError:
        raise InputError("cannot read the power map file: permission denied", file=file) from None
    except (ValueError, OSError, EOFError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"not a readable .npy array ({reason})", file=file) from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise InputError(f"a power map must hold numbers, not {getattr(a, 'dtype', type(a))}",
                         file=file)
    return a


def _csv_map(file: str):
    text = read_text(file, "power map")
    extent, extent_line = None, None
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        body, _, comment = raw.partition("#")
        words = comment.replace(",", " ").replace(":", " ").split()
        if words and words[0].lower() == "extent":
            if extent is not None:
                raise InputError("a second extent line", file=file, line=number)
            if len(words) != 5:
                raise InputError("the extent line must give X0 Y0 X1 Y1 in metres", file=file,
                                 line=number)
            extent = [parse_number(t, "extent", file, number) for t in words[1:]]
            extent_line = number
        fields = body.replace(",", " ").split()
        if not fields:
            continue
        if rows and len(fields) != len(rows[0]):
            raise InputError(f"{len(fields)} values, but the first row of the map has "
                             f"{len(rows[0])}", file=file, line=number)
        values = []
        for column, token in enumerate(fields, start=1):
            v = parse_number(token, f"power of map cell (column {column})", file, number)
            if not np.isfinite(v) or v < 0:
                raise InputError(f"power of map cell (column {column}) is "
                                 f"{'negative' if v < 0 else 'not finite'}: {v:g} W",
                                 file=file, line=number)
            values.append(v)
        rows.append(values)
    if not rows:
        raise InputError("empty power map: expected rows of W per cell, from the top edge",
                         file=file)
    return np.array(rows), extent, extent_line


def write(path: str | os.PathLike, power_map: PowerMap) -> None:
    """Write ``power_map`` as a ``.csv`` (with its ``# extent`` line when it has one) or a
    ``.npy`` (the array only), chosen by the suffix of ``path``; every digit of each power.

    Raises
    ------
    ValueError
        Another suffix, or a map with an extent written as ``.npy`` (which cannot hold it).
    InputError
        The file cannot be written.
    """
    file = os.fspath(path)
    suffix = os.path.splitext(file)[1].lower()
    if suffix == ".npy":
        if power_map.extent is not None:
            raise ValueError("a .npy power map holds no extent: write a .csv")
        folder, name = os.path.split(file)
        tmp = os.path.join(folder or ".", f".{name}.tmp{os.getpid()}.npy")
        try:
            np.save(tmp, np.asarray(power_map.watts))
            os.replace(tmp, file)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise InputError(f"cannot write: {e.strerror or e}", file=file) from None
        return
    if suffix != ".csv":
        raise ValueError(f"a power map is written as .csv or .npy, not {suffix or 'no suffix'!r}")
    lines = []
    if power_map.extent is not None:
        lines.append("# extent " + " ".join(repr(v) for v in power_map.extent))
    lines += [", ".join(repr(float(v)) for v in row) for row in np.asarray(power_map.watts)]
    write_atomic(file, "\n".join(lines) + "\n")
