"""HotSpot's transient temperature trace, the ``.ttrace`` written by ``-o``: a header of block
names, then one row of block temperatures (K, two decimals, tab separated) per power-trace row.

The initial temperatures of ``-init_file`` are a ``.steady`` file: :mod:`thermal.io.steady`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .text import data_lines, read_text

__all__ = ["TtraceWriter", "read_ttrace"]


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
