"""Shared test fixtures: floorplans built in code (the shipped ones live in tests/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


def random_slicing_rects(n_blocks: int, seed: int, die=(0.0, 0.0, 0.012, 0.010)) -> np.ndarray:
    """A random guillotine floorplan filling ``die``: (B, 4) rows of (left, bottom, width, height)."""
    rng = np.random.default_rng(seed)
    rects = [tuple(die)]
    while len(rects) < n_blocks:
        areas = [(r[2] - r[0]) * (r[3] - r[1]) for r in rects]
        x0, y0, x1, y1 = rects.pop(int(np.argmax(areas)))
        f = rng.uniform(0.3, 0.7)
        if x1 - x0 >= y1 - y0:
            xm = x0 + f * (x1 - x0)
            rects += [(x0, y0, xm, y1), (xm, y0, x1, y1)]
        else:
            ym = y0 + f * (y1 - y0)
            rects += [(x0, y0, x1, ym), (x0, ym, x1, y1)]
    r = np.array(rects)
    return np.c_[r[:, 0], r[:, 1], r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]]


def sliver_rects(tiles: int = 4) -> np.ndarray:
    """Many-core tiles of millimetre blocks with 10 µm x 1.6 mm slivers and thin rounding overlaps.

    Each 2 mm x 2 mm tile has a core (1.6 mm x 1.2 mm), a 10 µm wide sliver beside it, a cache
    below and a router strip; neighbouring tiles overlap by 20 nm (rounding noise).
    """
    out = []
    for i in range(tiles):
        for j in range(tiles):
            x, y = 2e-3 * i, 2e-3 * j
            out += [
                (x, y + 0.8e-3, 1.6e-3, 1.2e-3),            # core
                (x + 1.6e-3, y + 0.4e-3, 10e-6, 1.6e-3),    # sliver
                (x + 1.61e-3, y + 0.4e-3, 0.39e-3, 1.6e-3),  # router column
                (x, y, 1.6e-3, 0.8e-3),                     # cache
                (x + 1.6e-3, y, 0.4e-3 + 2e-8, 0.4e-3),     # corner cell, 20 nm overlap
            ]
    return np.array(out)


@pytest.fixture
def data_dir() -> Path:
    return DATA
