"""HotSpot power traces (``.ptrace``), read into and written from :class:`thermal.power.PowerTrace`.

The first line names the blocks; each line after it is one sample, the power of each block in W
(whitespace-separated; blank lines and ``#`` comments are skipped). Every malformed trace becomes
one :class:`~thermal.errors.InputError` naming the file and line: duplicate or numeric header
names, ragged rows, non-numbers, and the power checks of :mod:`thermal.power` (NaN/inf,
negative or out-of-range powers).

Examples
--------
>>> import pathlib, tempfile
>>> f = pathlib.Path(tempfile.mkdtemp()) / "t.ptrace"
>>> write(f, PowerTrace(("a", "b"), [[1.0, 2.0], [3.0, 0.5]]))
>>> read(f).mean()
{'a': 2.0, 'b': 1.25}
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..power import PowerTrace, _check_values
from .text import data_lines, parse_number, read_text, write_atomic

__all__ = ["read", "write"]


def read(path: str | os.PathLike) -> PowerTrace:
    """Read and validate a HotSpot ``.ptrace`` power trace.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    PowerTrace

    Raises
    ------
    InputError
        Any malformed input, as ``FILE:LINE: message``.
    """
    file = os.fspath(path)
    lines = data_lines(read_text(file, "power trace"))
    if not lines:
        raise InputError("empty power trace: expected a line of block names, then lines of "
                         "powers in W", file=file)
    header_line, names = lines[0]
    _check_header(names, file, header_line)
    if len(lines) == 1:
        raise InputError("no power samples after the line of block names", file=file,
                         line=header_line)
    rows = np.empty((len(lines) - 1, len(names)))
    for r, (number, fields) in enumerate(lines[1:]):
        if len(fields) != len(names):
            raise InputError(f"{len(fields)} values, but the first line names {len(names)} "
                             f"blocks", file=file, line=number)
        try:
            if any("_" in f for f in fields):
                raise ValueError
            rows[r] = np.array(fields, dtype=np.float64)
        except ValueError:
            rows[r] = [parse_number(tok, f"power of block {name!r}", file, number, name)
                       for tok, name in zip(fields, names)]
    row_lines = tuple(number for number, _ in lines[1:])
    _check_values(rows, names, file, row_lines)
    return PowerTrace(tuple(names), rows, path=file, lines=row_lines, header_line=header_line)


def _check_header(names: list[str], file: str, line: int) -> None:
    numeric = 0
    for name in names:
        try:
            float(name)
            numeric += 1
        except ValueError:
            pass
    if numeric == len(names):
        raise InputError("the first line must name the blocks, but it holds numbers (header "
                         "line missing?)", file=file, line=line)
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"duplicate block name {name!r} in the header", file=file, line=line,
                             field=name)
        seen.add(name)


def write(path: str | os.PathLike, trace: PowerTrace) -> None:
    """Write ``trace`` as a ``.ptrace`` file, atomically: the names tab-separated, then one row
    per sample with every digit of each power (W).

    Raises
    ------
    InputError
        The file cannot be written.
    """
    rows = ["\t".join(trace.names)]
    rows += ["\t".join(repr(float(p)) for p in row) for row in np.asarray(trace.samples_w)]
    write_atomic(path, "\n".join(rows) + "\n")
