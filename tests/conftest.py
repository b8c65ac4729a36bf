"""Shared test helpers: the shipped ev6 inputs, floorplans built in code, random cases and
their exact solutions (the input files live in tests/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import thermal
from thermal.floorplan import make_floorplan
from thermal.gallery import exact_solution, slicing_rects
from thermal.stack import Stack

DATA = Path(__file__).parent / "data"

EV6 = thermal.read_floorplan(DATA / "ev6.flp")
"""HotSpot's ev6 floorplan (30 blocks on a 16 mm die)."""
GCC = thermal.read_ptrace(DATA / "gcc.ptrace")
"""HotSpot's gcc power trace for ev6."""
STACK3 = Stack.read(DATA / "ev6_3layer.toml")
"""Die / TIM / spreader, every layer on the die's footprint (the exact series applies)."""


def random_case(n_blocks: int, seed: int):
    """A random slicing floorplan of ``n_blocks`` on a 12 x 10 mm die and seeded block powers
    (0-4 W, about 30% of blocks off, block 0 at 3 W): ``(floorplan, power_w)``."""
    rects = random_slicing_rects(n_blocks, seed)
    fp = make_floorplan([f"b{i}" for i in range(n_blocks)], *rects.T)
    rng = np.random.default_rng(seed)
    power = rng.uniform(0.0, 4.0, n_blocks) * (rng.random(n_blocks) < 0.7)
    power[0] = 3.0  # at least one hot block
    return fp, power


def exact_on_mesh(mesh, fp, power_w, stack):
    """The cosine-series solution on the mesh's own (snapped) block rectangles."""
    r = mesh.block_rects
    return exact_solution(tuple(fp.bounds), np.c_[r[:, 0], r[:, 1], r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]],
                          power_w, [(l.thickness_m, l.conductivity) for l in stack.layers],
                          h=stack.h_bottom(fp.bounds), ambient_K=stack.ambient_K)


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
