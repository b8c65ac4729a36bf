"""Block powers: HotSpot ``.ptrace`` power traces and per-block power vectors.

A ``.ptrace`` has the block names on its first line and one line of powers in W per sample after
it (whitespace-separated; blank lines and ``#`` comments are skipped). Every malformed trace
becomes one :class:`~thermal.errors.InputError` naming the file and line: duplicate or numeric
header names, ragged rows, non-numbers, NaN/inf or negative powers, no samples.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .errors import InputError
from .io.hotspot import data_lines, parse_number, read_text

__all__ = ["PowerTrace", "read_ptrace", "power_vector"]


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


def read_ptrace(path: str | os.PathLike) -> PowerTrace:
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


def _check_values(rows: np.ndarray, names, file: str | None, lines) -> None:
    """NaN/inf and negative powers, reported at the first offending row and block."""
    for mask, what in ((~np.isfinite(rows), "is not finite"), (rows < 0, "is negative")):
        bad = np.argwhere(mask)
        if bad.size:
            r, b = bad[0]
            raise InputError(f"power of block {names[b]!r} {what}: {rows[r, b]:g} W", file=file,
                             line=lines[r] if lines else None, field=names[b])


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
