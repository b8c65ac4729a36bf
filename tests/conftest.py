"""Shared test fixtures: floorplans built in code (the shipped ones live in tests/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from thermal.gallery import slicing_rects

DATA = Path(__file__).parent / "data"


def random_slicing_rects(n_blocks: int, seed: int, die=(0.0, 0.0, 0.012, 0.010)) -> np.ndarray:
    """A random guillotine floorplan filling ``die``: (B, 4) rows of (left, bottom, width, height)."""
    return slicing_rects(n_blocks, seed, die)


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
