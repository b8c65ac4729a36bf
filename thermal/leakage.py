"""Temperature-dependent leakage power: ``P_leak,b = P0_b · exp(β (T_b − T0))`` per block.

``T_b`` is the block's mean temperature on the power layer. The model comes from the stack
TOML's ``[leakage]`` table::

    [leakage]
    density = 1.5e4        # W/m² at t0: P0_b = density x block area
    beta = 0.036           # 1/K
    t0 = 383.15            # K
    blocks = { Icache = 0.8 }   # optional: P0 of named blocks, W (instead of density x area)

or from a HotSpot config's ``-leakage_used 1`` (``-leakage_mode 0``), whose built-in model is
this one with density 1.5e4 W/m², β = 0.036 /K and T0 = 383.15 K (HotSpot's ``calc_leakage``
in temperature.c: ``leak_alpha · h · w · exp(leak_beta · (T − leak_Tbase))``). HotSpot's
``-leakage_mode 1`` (HotLeakage) is not implemented by HotSpot itself and is refused.

The steady solve (:func:`thermal.solve.solve_with_leakage`) iterates to the fixed point (Picard
on the block powers, each solve with the block mean temperatures of the previous one); from
ambient the iterates rise monotonically to the smallest fixed point, and when there is none they
grow without bound: thermal runaway, reported as a :class:`~thermal.errors.SolverError`. The
transient applies the leakage at every step from the block means at the start of the step.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .errors import InputError, SolverError

__all__ = ["Leakage", "BlockLeakage", "fixed_point", "from_hotspot_config", "from_stack_file",
           "sampling_interval"]

HOTSPOT_MODEL = {"density": 1.5e4, "beta": 0.036, "t0": 383.15}
"""HotSpot's ``calc_leakage`` constants: leak_alpha W/m², leak_beta 1/K, leak_Tbase K."""

RUNAWAY_K = 2000.0
"""A block mean above this temperature (K) during the fixed-point iteration is runaway."""

MAX_ITERATIONS = 1000


@dataclass(frozen=True)
class Leakage:
    """The leakage model: ``P0 = density x area`` (or ``blocks[name]`` W) at ``t0_K``.

    Raises
    ------
    InputError
        A negative or non-finite value.
    """

    density_w_m2: float = 0.0
    beta_per_K: float = 0.0
    t0_K: float = 318.15
    blocks_w: Mapping[str, float] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self):
        for name, v in (("density", self.density_w_m2), ("beta", self.beta_per_K),
                        ("t0", self.t0_K), *((f"blocks.{k}", w) for k, w in self.blocks_w.items())):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (name == "t0" and v <= 0):
                raise InputError(f"leakage {name} must be a non-negative number, got {v!r}",
                                 file=self.source)

    def for_floorplan(self, floorplan) -> "BlockLeakage":
        unknown = sorted(set(self.blocks_w) - set(floorplan.names))
        if unknown:
            raise InputError(f"[leakage] blocks names block(s) not in the floorplan: "
                             f"{', '.join(unknown)}", file=self.source)
        p0 = np.array([self.blocks_w.get(n, self.density_w_m2 * a)
                       for n, a in zip(floorplan.names, floorplan.area_m2)], dtype=float)
        return BlockLeakage(p0, self.beta_per_K, self.t0_K, self)


@dataclass(frozen=True, eq=False)
class BlockLeakage:
    """A :class:`Leakage` on one floorplan: ``p0_w`` per block."""

    p0_w: np.ndarray
    beta_per_K: float
    t0_K: float
    model: Leakage

    def for_floorplan(self, floorplan) -> "BlockLeakage":
        return self

    def power(self, block_mean_K: np.ndarray) -> np.ndarray:
        """Leakage of each block (W) at its mean temperature (K)."""
        with np.errstate(over="ignore"):
            return self.p0_w * np.exp(self.beta_per_K * (block_mean_K - self.t0_K))

    def describe(self) -> dict:
        return {"p0_w_total": float(self.p0_w.sum()), "beta_per_K": self.beta_per_K,
                "t0_K": self.t0_K}


def from_stack_file(path) -> Leakage | None:
    """The ``[leakage]`` table of a native stack TOML, or None when it has none."""
    if path is None or not str(path).endswith(".toml"):
        return None
    from .io import stack_toml

    file = os.fspath(path)
    data = stack_toml.load(file)
    if data is None:
        return None     # Stack.read has reported it already
    table = data.get("leakage")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise InputError("'leakage' must be a table", file=file)
    known = ("density", "beta", "t0", "blocks")
    for key in table:
        if key not in known:
            raise InputError(f"unknown key {key!r} in [leakage] (expected {', '.join(known)})",
                             file=file)
    blocks = table.get("blocks", {})
    if not isinstance(blocks, Mapping):
        raise InputError("[leakage] blocks must be a table of block name = W", file=file)
    if "beta" not in table:
        raise InputError("[leakage] needs beta (1/K)", file=file)
    return Leakage(table.get("density", 0.0), table["beta"],
                   table.get("t0", data.get("ambient", 318.15)), dict(blocks), source=file)


def _config_value(config, overrides, key):
    from .io.hotspot import read_config

    if overrides and key in overrides:
        return overrides[key], None
    cfg = read_config(config)
    return cfg.get(key), cfg.lines.get(key)


def from_hotspot_config(config, overrides: Mapping[str, str] | None = None) -> Leakage | None:
    """HotSpot's leakage model when the config (or an override) sets ``-leakage_used 1``."""
    used, line = _config_value(config, overrides, "leakage_used")
    if used is None or used.strip() in ("0", "(null)"):
        return None
    if used.strip() != "1":
        raise InputError(f"-leakage_used must be 0 or 1, got {used!r}", file=str(config),
                         line=line)
    mode, line = _config_value(config, overrides, "leakage_mode")
    if mode is not None and mode.strip() not in ("0",):
        raise InputError(f"-leakage_mode {mode} (HotLeakage) is not implemented, by HotSpot "
                         f"either; use -leakage_mode 0 or a [leakage] table", file=str(config),
                         line=line)
    return Leakage(HOTSPOT_MODEL["density"], HOTSPOT_MODEL["beta"], HOTSPOT_MODEL["t0"],
                   source=str(config))


def sampling_interval(config, overrides: Mapping[str, str] | None = None) -> float | None:
    """The config's ``-sampling_intvl`` in s (None when it gives none)."""
    value, line = _config_value(config, overrides, "sampling_intvl")
    if value is None:
        return None
    try:
        v = float(value)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"-sampling_intvl must be a positive number of seconds, got {value!r}",
                         file=str(config), line=line)
    return v


def fixed_point(solve_power, block_mean_K, p_dyn: np.ndarray, leakage: BlockLeakage,
                tol_K: float = 1e-9, max_iterations: int = MAX_ITERATIONS):
    """Picard iteration ``x = solve(p_dyn + P_leak(T_mean(x)))`` from ambient.

    Parameters
    ----------
    solve_power : callable
        Block powers (W) -> field.
    block_mean_K : callable
        Field -> block mean temperatures (K).

    Returns
    -------
    x, total power (B,), iterations

    Raises
    ------
    SolverError
        Thermal runaway: the iterates pass :data:`RUNAWAY_K` or do not settle.
    """
    power = p_dyn + leakage.power(block_mean_K(None))
    previous = None
    for it in range(1, max_iterations + 1):
        x = solve_power(power)
        t = block_mean_K(x)
        if not np.all(np.isfinite(t)) or t.max() > RUNAWAY_K:
            raise SolverError(f"thermal runaway: leakage has no fixed point (after {it} "
                              f"iterations a block passes {RUNAWAY_K:.0f} K with "
                              f"{power.sum():.4g} W)")
        if previous is not None and np.abs(t - previous).max() <= tol_K:
            return x, power, it
        previous = t
        power = p_dyn + leakage.power(t)
    raise SolverError(f"thermal runaway: leakage iteration did not settle in {max_iterations} "
                      f"iterations (block mean up to {previous.max():.2f} K, still rising)")
