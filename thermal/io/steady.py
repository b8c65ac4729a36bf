"""HotSpot's steady outputs: the block ``.steady`` file and the grid steady file.

- ``.steady`` (``-steady_file``; also what ``-init_file`` reads): ``name<whitespace>kelvin`` per
  line, die blocks first, then the other layers' nodes with prefixes (``iface_``, ``hsp_``,
  ``hsink_``, ``inode_*``). HotSpot writes two decimals.
- grid steady (``-grid_steady_file``): for each layer a ``Layer N:`` line, then
  ``index<TAB>kelvin`` per cell, index = row x cols + col, row 0 at the die's top edge.

What goes into them (which nodes, how a block's temperature is taken from the field) is
:func:`thermal.io.hotspot.steady_rows` and :func:`thermal.io.hotspot.grid_temperatures`.

Examples
--------
>>> import pathlib, tempfile
>>> f = pathlib.Path(tempfile.mkdtemp()) / "run.steady"
>>> write(f, ["a", "hsp_a"], [330.0, 320.125])
>>> read(f)
{'a': 330.0, 'hsp_a': 320.12}
"""

from __future__ import annotations

import math
import os
import re
from typing import Iterable

import numpy as np

from ..errors import InputError
from .text import data_lines, parse_number, read_text, write_atomic

__all__ = ["read", "parse", "write", "is_grid", "read_grid", "parse_grid", "write_grid"]


def read(path: str | os.PathLike, what: str = "HotSpot .steady") -> dict[str, float]:
    """Read a ``.steady`` file: kelvin per node name, in file order.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file is for, in messages about an unreadable file ("initial temperatures").

    Raises
    ------
    InputError
        An empty file, a line without exactly two fields, a temperature that is not a positive
        finite number, or a name given twice; as ``FILE:LINE: message``.
    """
    file = os.fspath(path)
    return parse(read_text(file, what), file)


def parse(text: str, file: str) -> dict[str, float]:
    """:func:`read` on the file's text; ``file`` names it in messages."""
    lines = data_lines(text)
    if not lines:
        raise InputError("empty file: expected 'name temperature' lines (kelvin)", file=file)
    out: dict[str, float] = {}
    for number, fields in lines:
        if len(fields) != 2:
            raise InputError(f"expected 'name temperature' (kelvin), got {len(fields)} fields: "
                             f"{' '.join(fields)!r}", file=file, line=number)
        name, token = fields
        try:
            value = float(token)
        except ValueError:
            raise InputError(f"temperature of {name!r} is not a number: {token!r}", file=file,
                             line=number) from None
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"temperature of {name!r} must be a positive number of kelvin, "
                             f"got {token}", file=file, line=number)
        if name in out:
            raise InputError(f"{name!r} is given twice", file=file, line=number)
        out[name] = value
    return out


def write(path: str | os.PathLike, names: Iterable[str], temperatures_K: Iterable[float]
          ) -> None:
    """Write a ``.steady`` file, atomically: ``name<TAB>kelvin`` per line, two decimals as
    HotSpot writes.

    Raises
    ------
    InputError
        The file cannot be written.
    """
    text = "".join(f"{n}\t{float(t):.2f}\n" for n, t in zip(names, temperatures_K))
    write_atomic(path, text)


def is_grid(text: str) -> bool:
    """Whether ``text`` is a grid steady file rather than a ``.steady`` one: it has a
    ``Layer N:`` line, or every line starts with a cell index."""
    if any(re.match(r"^\s*layer\b", line, re.I) for line in text.splitlines()):
        return True
    return all(fields[0].isdigit() for _, fields in data_lines(text))


def read_grid(path: str | os.PathLike, grid_shape: tuple[int, int] | None = None
              ) -> np.ndarray:
    """Read the die (first layer) of a grid steady file.

    Parameters
    ----------
    path : str or path-like
    grid_shape : (rows, cols), optional
        Default: square.

    Returns
    -------
    ndarray, shape (rows, cols)
        Kelvin, row 0 at the die's top edge.

    Raises
    ------
    InputError
        A line that is not ``index kelvin``, cells out of order, a temperature that is not a
        positive number, or a cell count that does not fill the grid.
    """
    file = os.fspath(path)
    return parse_grid(read_text(file, "HotSpot grid steady"), file, grid_shape)


def parse_grid(text: str, file: str, grid_shape: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`read_grid` on the file's text; ``file`` names it in messages."""
    values, started = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        if re.match(r"^layer\b", stripped, re.I):
            if started:
                break  # the first layer only: the die
            started = True
            continue
        tokens = stripped.split()
        if len(tokens) != 2 or not tokens[0].isdigit():
            raise InputError("expected 'cell temperature' in a grid file", file=file,
                             line=number)
        if int(tokens[0]) != len(values):
            raise InputError(f"cell {tokens[0]} out of order (expected {len(values)})",
                             file=file, line=number)
        value = parse_number(tokens[1], "temperature", file=file, line=number)
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"temperature must be positive kelvin, got {tokens[1]}", file=file,
                             line=number)
        values.append(value)
        started = True
    n = len(values)
    rows, cols = grid_shape if grid_shape else (int(round(n ** 0.5)),) * 2
    if rows * cols != n:
        raise InputError(f"{n} cells do not make a {rows} x {cols} grid (give --grid ROWSxCOLS)",
                         file=file)
    return np.array(values).reshape(rows, cols)


def write_grid(path: str | os.PathLike, temperatures_K: np.ndarray) -> None:
    """Write a grid steady file, atomically: for each layer ``Layer <n>:`` then one
    ``index<TAB>kelvin`` line per cell (index = row x cols + col, row 0 at the top).

    Parameters
    ----------
    path : str or path-like
    temperatures_K : array_like, shape (L, rows, cols)

    Raises
    ------
    InputError
        The file cannot be written.
    """
    t = np.asarray(temperatures_K, dtype=np.float64)
    index = np.arange(t.shape[1] * t.shape[2])
    parts = []
    for n, layer in enumerate(t):
        parts.append(f"Layer {n}:\n")
        parts.append("".join(f"{i}\t{v:.2f}\n" for i, v in zip(index, layer.ravel())))
    write_atomic(path, "".join(parts))
