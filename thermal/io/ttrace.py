"""HotSpot's transient formats: the ``.ttrace`` written by ``-o``, and the block temperatures of
``-init_file`` (the ``.steady`` format).

- ``.ttrace``: a header of block names, then one row of block temperatures (K, two decimals,
  tab separated) per power-trace row (/work/shared/reference-inputs/hotspot/README.md).
- ``-init_file`` / ``.steady``: ``name<whitespace>temperature_K`` per line; die blocks, then the
  other layers' nodes with prefixes (``iface_``, ``hsp_``, ``hsink_``, ``inode_*``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .hotspot import data_lines, read_text

__all__ = ["TtraceWriter", "read_block_temperatures", "read_ttrace"]


def read_block_temperatures(path: str | os.PathLike) -> dict[str, float]:
    """Read ``name temperature_K`` lines (HotSpot's ``-init_file`` / ``.steady`` format).

    Raises
    ------
    InputError
        An empty file, a line without exactly two fields, a temperature that is not a positive
        finite number, or a name given twice; as ``FILE:LINE: message``.
    """
    file = os.fspath(path)
    lines = data_lines(read_text(file, "initial temperatures"))
    if not lines:
        raise InputError("empty file: expected 'name temperature_K' lines", file=file)
    out: dict[str, float] = {}
    for number, fields in lines:
        if len(fields) != 2:
            raise InputError(f"expected 'name temperature_K', got {' '.join(fields)!r}",
                             file=file, line=number)
        name, text = fields
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"temperature of {name!r} is not a number: {text!r}", file=file,
                             line=number) from None
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"temperature of {name!r} must be a positive number of kelvin, "
                             f"got {text}", file=file, line=number)
        if name in out:
            raise InputError(f"{name!r} is given twice", file=file, line=number)
        out[name] = value
    return out


def read_ttrace(path: str | os.PathLike) -> tuple[list[str], list[list[float]]]:
    """Read a ``.ttrace``: the block names and one list of temperatures (K) per row."""
    file = os.fspath(path)
    lines = data_lines(read_text(file, "transient temperature trace"))
    if not lines:
        raise InputError("empty transient temperature trace", file=file)
    names = lines[0][1]
    rows = []
    for number, fields in lines[1:]:
        if len(fields) != len(names):
            raise InputError(f"{len(fields)} values for {len(names)} blocks", file=file,
                             line=number)
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise InputError("a temperature is not a number", file=file, line=number) from None
    return names, rows


class TtraceWriter:
    """Stream a ``.ttrace`` into a hidden file beside ``path``; :meth:`commit` renames it into
    place, :meth:`discard` (or leaving a ``with`` block by an exception) removes it.

    Parameters
    ----------
    path : str or path-like
    names : iterable of str
        Block names, the header.
    """

    def __init__(self, path: str | os.PathLike, names: Iterable[str]):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self._f = open(self.tmp, "w", encoding="utf-8")
        self._f.write("\t".join(names) + "\n")

    def write(self, temperatures_K: Iterable[float]) -> None:
        """One row (K, two decimals)."""
        self._f.write("\t".join(f"{float(t):.2f}" for t in temperatures_K) + "\n")

    def commit(self) -> None:
        self._f.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self._f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "TtraceWriter":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
