"""thermal's ``blocks.csv``: the block temperatures of a solve (SPEC §4).

Header ``block,layer,max_K,mean_K,min_K``, then one row per block in floorplan order: its name,
the layer it is on, and its max, mean and min temperature in kelvin with four decimals.
:meth:`thermal.solution.Solution.write` writes it; ``thermal compare`` reads it back.

Examples
--------
>>> import pathlib, tempfile
>>> f = pathlib.Path(tempfile.mkdtemp()) / "blocks.csv"
>>> _ = f.write_text(dumps(["a"], ["die"], [331.0], [330.5], [330.0]))
>>> read(f).mean_K.tolist()
[330.5]
"""

from __future__ import annotations

import csv
import io
import os
from typing import NamedTuple, Sequence

import numpy as np

from ..errors import InputError

__all__ = ["HEADER", "BlockTable", "dumps", "read"]

HEADER = ("block", "layer", "max_K", "mean_K", "min_K")
"""The columns, in order."""


class BlockTable(NamedTuple):
    """A ``blocks.csv`` read back: names and layers (tuples of str), temperatures (B,) in K."""

    names: tuple
    layers: tuple
    max_K: np.ndarray
    mean_K: np.ndarray
    min_K: np.ndarray


def dumps(names: Sequence[str], layers: Sequence[str], max_K, mean_K, min_K) -> str:
    """The text of a ``blocks.csv`` for blocks ``names`` on ``layers`` (K)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for row in zip(names, layers, max_K, mean_K, min_K):
        w.writerow([row[0], row[1]] + [f"{float(v):.4f}" for v in row[2:]])
    return out.getvalue()


def read(path: str | os.PathLike) -> BlockTable:
    """Read a ``blocks.csv`` written by ``thermal solve``.

    Raises
    ------
    InputError
        A column missing or a temperature that is not a number.
    """
    file = os.fspath(path)
    with open(file, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    try:
        names = tuple(r["block"] for r in table)
        layers = tuple(r["layer"] for r in table)
        max_K, mean_K, min_K = (np.array([float(r[k]) for r in table]) for k in HEADER[2:])
    except (KeyError, ValueError) as e:
        raise InputError(f"blocks.csv is not thermal's ({e})", file=file) from None
    return BlockTable(names, layers, max_K, mean_K, min_K)
