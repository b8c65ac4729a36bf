"""Floorplans of several layers of a 3D stack, as one set of blocks (SPEC §2, §3).

A 3D stack names a floorplan per layer (the native TOML's ``[[layer]] floorplan = ...``, or a
HotSpot ``.lcf``). The solver sees them as one :class:`LayeredFloorplan`: every layer's blocks
concatenated, layer by layer, each tagged with the stack layer it lies in
(:attr:`LayeredFloorplan.block_layer`). The mesh conforms to the union of all their edges; each
block's power is dissipated, and its own conductivity (columns 6–7 of its ``.flp``) applies, in
its own layer only; block statistics are taken on each block's own layer.

The power trace names the blocks of every power layer in one header (HotSpot's convention), so
their names must be unique across the power layers; blocks of layers without power (a TIM's
TSV regions) take no power and may repeat names of other layers (HotSpot's examples reuse a
die's floorplan for the TIM beneath it).

A plain :class:`~thermal.floorplan.Floorplan` is the one-layer case: all its blocks on the
stack's (first) power layer (:func:`block_layers`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

import numpy as np

from .errors import InputError
from .floorplan import Floorplan

__all__ = ["LayeredFloorplan", "layered_floorplan", "block_layers", "read_layer_floorplans"]

SAME_DIE_REL = 1e-6
"""Layer floorplans whose outlines differ by less than this fraction of the die's longer side
have the same die (HotSpot requires the same width and height for every layer)."""


@dataclass(frozen=True, eq=False)
class LayeredFloorplan(Floorplan):
    """The blocks of every layer that has a floorplan, layer by layer (top first).

    A :class:`~thermal.floorplan.Floorplan` (names, rectangles, per-block materials of all
    blocks concatenated; :attr:`bounds` is the die) with, per block, the stack layer it lies in.

    Attributes
    ----------
    block_layer : (B,) int64
        Stack layer index of each block.
    power_block : (B,) bool
        Whether the block lies on a layer that dissipates power (its name is a power trace
        column).
    layer_paths : tuple of (int, str or None)
        Each floorplan layer's index and the file its floorplan came from.
    """

    block_layer: np.ndarray = None
    power_block: np.ndarray = None
    layer_paths: tuple = ()

    def __post_init__(self):
        super().__post_init__()
        n = len(self.names)
        layer = np.array(self.block_layer if self.block_layer is not None else np.zeros(n),
                         dtype=np.int64)
        power = np.array(self.power_block if self.power_block is not None else np.ones(n),
                         dtype=bool)
        if layer.shape != (n,) or power.shape != (n,):
            raise InputError(f"block_layer and power_block need one entry per block ({n})",
                             file=self.path or "<floorplan>")
        layer.setflags(write=False)
        power.setflags(write=False)
        object.__setattr__(self, "block_layer", layer)
        object.__setattr__(self, "power_block", power)

    @property
    def layers(self) -> np.ndarray:
        """The stack layers that have a floorplan, in order."""
        return np.unique(self.block_layer)

    def of_layer(self, layer: int) -> np.ndarray:
        """Indices of the blocks on stack layer ``layer``."""
        return np.flatnonzero(self.block_layer == layer)

    @cached_property
    def _index(self) -> dict[str, int]:
        # a name's first block on a power layer (the power trace's), else its first block
        out: dict[str, int] = {}
        for i in np.r_[np.flatnonzero(self.power_block), np.flatnonzero(~self.power_block)]:
            out.setdefault(self.names[i], int(i))
        return out

    def power_vector(self, power: Mapping[str, float], source: str | None = None) -> np.ndarray:
        """(B,) W per block: the power layers' blocks from ``power`` (every one of them, and
        nothing else), 0 on the other layers.

        Raises
        ------
        InputError
            Names missing from ``power`` or not on any power layer, or a bad value
            (:func:`thermal.power.power_vector`).
        """
        from .power import power_vector

        rows = np.flatnonzero(self.power_block)
        powered = Floorplan(names=[self.names[i] for i in rows], left_m=self.left_m[rows],
                            bottom_m=self.bottom_m[rows], width_m=self.width_m[rows],
                            height_m=self.height_m[rows], heat_capacity=self.heat_capacity[rows],
                            conductivity=self.conductivity[rows],
                            path=_joined(p for l, p in self.layer_paths
                                         if self.power_block[self.block_layer == l].any()))
        out = np.zeros(self.n_blocks)
        out[rows] = power_vector(powered, power, source)
        return out

    def __repr__(self) -> str:
        return (f"LayeredFloorplan({self.n_blocks} blocks on layers "
                f"{', '.join(str(l) for l in self.layers)})")


def _joined(paths) -> str | None:
    named = [p for p in paths if p]
    return ", ".join(dict.fromkeys(named)) if named else None


def layered_floorplan(parts: Sequence[tuple[int, Floorplan]], power_layers: Sequence[int],
                      file: str | None = None) -> LayeredFloorplan:
    """One :class:`LayeredFloorplan` from each floorplan layer's index and floorplan.

    Parameters
    ----------
    parts : sequence of (int, Floorplan)
        Stack layer index and its floorplan, each layer at most once.
    power_layers : sequence of int
        The layers that dissipate power.
    file : str, optional
        The stack or layer file, for messages.

    Raises
    ------
    InputError
        Floorplans of different die outlines, a layer given twice, no floorplan, or a block
        name used on two power layers (the power trace could not tell them apart).
    """
    parts = sorted(parts, key=lambda p: p[0])
    if not parts:
        raise InputError("no layer has a floorplan", file=file)
    layers = [l for l, _ in parts]
    if len(set(layers)) != len(layers):
        raise InputError("a layer has two floorplans", file=file)
    power_layers = set(int(l) for l in power_layers)
    x0, y0, x1, y1 = parts[0][1].bounds
    slack = SAME_DIE_REL * max(x1 - x0, y1 - y0)
    for l, fp in parts[1:]:
        if np.abs(np.subtract(fp.bounds, (x0, y0, x1, y1))).max() > slack:
            b = fp.bounds
            raise InputError(f"the floorplan of layer {l} spans [{b[0]:g}, {b[2]:g}] x "
                             f"[{b[1]:g}, {b[3]:g}] m but layer {parts[0][0]}'s spans "
                             f"[{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] m: every layer's floorplan "
                             f"must cover the same die", file=fp.path or file)
    owner: dict[str, int] = {}
    for l, fp in parts:
        if l not in power_layers:
            continue
        for name in fp.names:
            if name in owner:
                raise InputError(f"block {name!r} is on power layers {owner[name]} and {l}: "
                                 f"power trace columns must name blocks uniquely across the "
                                 f"power layers", file=fp.path or file)
            owner[name] = l

    def cat(attr):
        return np.concatenate([getattr(fp, attr) for _, fp in parts])

    block_layer = np.concatenate([np.full(fp.n_blocks, l) for l, fp in parts])
    return LayeredFloorplan(
        names=tuple(n for _, fp in parts for n in fp.names), left_m=cat("left_m"),
        bottom_m=cat("bottom_m"), width_m=cat("width_m"), height_m=cat("height_m"),
        heat_capacity=cat("heat_capacity"), conductivity=cat("conductivity"),
        path=file, lines=tuple(n for _, fp in parts for n in fp.lines),
        block_layer=block_layer, power_block=np.isin(block_layer, sorted(power_layers)),
        layer_paths=tuple((l, fp.path) for l, fp in parts))


def block_layers(floorplan, stack) -> np.ndarray:
    """(B,) stack layer of each block: a :class:`LayeredFloorplan`'s own, else the stack's
    first power layer for every block."""
    layer = getattr(floorplan, "block_layer", None)
    if layer is not None:
        return np.asarray(layer)
    return np.full(len(floorplan.names), stack.power_layers[0], dtype=np.int64)


def read_layer_floorplans(stack, floorplan: str | os.PathLike | None = None):
    """The floorplan a stack's solve runs on: a :class:`LayeredFloorplan` when its layers name
    floorplans, else the ``floorplan`` file.

    Parameters
    ----------
    stack : Stack
    floorplan : str or path-like, optional
        The command line's FLOORPLAN: the floorplan of every power layer that names none.

    Returns
    -------
    Floorplan or LayeredFloorplan

    Raises
    ------
    InputError
        No floorplan for a power layer; two power layers sharing one floorplan (their power
        could not be told apart); a FLOORPLAN that no layer would use; any floorplan error.
    """
    from .io.flp import read as read_floorplan

    marked = [i for i, layer in enumerate(stack.layers) if layer.power]
    named = {i: layer.floorplan for i, layer in enumerate(stack.layers)
             if layer.floorplan is not None}
    lines = dict(stack.key_lines)
    if not named:
        if floorplan is None:
            raise InputError("a FLOORPLAN file is required (or per-layer floorplans in the "
                             "stack)", file=stack.path)
        if len(marked) > 1:
            raise InputError(f"{len(marked)} layers take power "
                             f"({', '.join(stack.layers[i].name for i in marked)}) but none names "
                             f"its own floorplan: give each power layer a floorplan = \"...\"",
                             file=stack.path, line=lines.get(f"layer.{marked[1]}.power"))
        return read_floorplan(floorplan)
    without = [i for i in marked if i not in named]
    if len(without) > 1:
        raise InputError(f"power layers {', '.join(stack.layers[i].name for i in without)} name "
                         f"no floorplan of their own", file=stack.path,
                         line=lines.get(f"layer.{without[0]}"))
    if without:
        if floorplan is None:
            i = without[0]
            raise InputError(f"power layer {stack.layers[i].name!r} names no floorplan: add "
                             f"floorplan = \"...\" or give FLOORPLAN", file=stack.path,
                             line=lines.get(f"layer.{i}"))
        named[without[0]] = os.fspath(floorplan)
    elif floorplan is not None:
        first = min(i for i in named if i in marked) if marked else min(named)
        raise InputError(f"FLOORPLAN {os.fspath(floorplan)} is not used: every power layer of "
                         f"the stack names its own floorplan (omit FLOORPLAN)", file=stack.path,
                         line=lines.get(f"layer.{first}.floorplan"))
    cache: dict[str, Floorplan] = {}
    parts = []
    for i, path in sorted(named.items()):
        if path not in cache:
            cache[path] = read_floorplan(path)
        parts.append((i, cache[path]))
    return layered_floorplan(parts, marked or [0], file=stack.path)
