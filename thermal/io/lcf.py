"""HotSpot's layer configuration file (``.lcf``): a 3D stack of layers with their own floorplans.

Per layer, in order from the top (0, farthest from the sink), 7 non-comment lines:

1. layer number (0, 1, 2, ... in order),
2. lateral heat flow ``Y``/``N``,
3. power dissipation ``Y``/``N`` (its floorplan's blocks are power trace columns),
4. volumetric heat capacity J/(m^3 K),
5. thermal **resistivity** m K/W (1/conductivity),
6. thickness m,
7. the layer's floorplan file (relative to the ``.lcf``'s folder, then the working directory).

As HotSpot allows, line 4 may instead name a material of the ``.materials`` file, whose
conductivity and heat capacity then apply and line 5 is left out (6 lines).

Like HotSpot's grid model with a layer file, the stack is the file's layers followed by the
config's heat spreader and heat sink (``-s_spreader``, ``-t_spreader``, ``-k_spreader``... or
their ``-material_*``), centred under the die, and ``-r_convec`` to ambient below the sink. The
config's chip and interface (TIM) values are not used: the layer file gives the die and TIM
layers itself (HotSpot's ``append_package_layers``). Layers are named ``layer_<n>``, then
``spreader`` and ``sink``, so that block results read ``layer_<n>_<block>`` as in HotSpot's
``.steady`` files.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Mapping

from ..errors import InputError, InputWarning
from .hotspot import config_stack_params, materials_table, read_config
from .text import data_lines, parse_number, read_text
from .text import suggest as _suggest

__all__ = ["read_lcf", "read_lcf_stack"]

_YES = {"y": True, "yes": True, "n": False, "no": False}


def read_lcf(path: str | os.PathLike, materials: Mapping[str, tuple[float, float]] | None = None,
             materials_name: str = "the built-in table") -> list[dict]:
    """The layers of a HotSpot ``.lcf`` file.

    Parameters
    ----------
    path : str or path-like
    materials : mapping of str to (conductivity, heat capacity), optional
        For layers that name a material instead of a heat capacity.
    materials_name : str
        Where ``materials`` came from, for messages.

    Returns
    -------
    list of dict
        One per layer, top first: ``name`` (``layer_<n>``), ``thickness_m``, ``conductivity``,
        ``heat_capacity``, ``power``, ``lateral``, ``floorplan`` (resolved path), ``line``.

    Raises
    ------
    InputError
        Wrong or out-of-order layer numbers, a value that is not Y/N or not a positive number,
        a truncated layer, an unknown material, a microchannel (``.csv``) layer, no layers.
    """
    name = os.fspath(path)
    lines = data_lines(read_text(name, "HotSpot layer configuration"))
    base = Path(name).parent
    if not lines:
        raise InputError("no layers: the layer file is empty or only comments", file=name)
    table = dict(materials or {})
    layers: list[dict] = []
    i = 0

    def take(what: str, first: int) -> tuple[int, str]:
        nonlocal i
        if i >= len(lines):
            raise InputError(f"layer {len(layers)} is incomplete: missing its {what} (7 lines a "
                             f"layer: number, lateral Y/N, power Y/N, heat capacity, resistivity, "
                             f"thickness, floorplan)", file=name, line=first)
        number, fields = lines[i]
        i += 1
        if len(fields) != 1:
            raise InputError(f"expected one value ({what}), got {' '.join(fields)!r}", file=name,
                             line=number)
        return number, fields[0]

    def positive(token: str, what: str, number: int) -> float:
        value = parse_number(token, what, name, number)
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{what} must be a positive number, got {token}", file=name,
                             line=number)
        return value

    def yes_no(token: str, what: str, number: int) -> bool:
        if token.lower() not in _YES:
            raise InputError(f"{what} must be Y or N, got {token!r}", file=name, line=number)
        return _YES[token.lower()]

    while i < len(lines):
        first, token = take("layer number", lines[i][0])
        expected = len(layers)
        if token != str(expected):
            raise InputError(f"expected layer number {expected} (layers are numbered 0, 1, 2... "
                             f"in order), got {token!r}", file=name, line=first)
        n, lateral = take("lateral heat flow (Y/N)", first)
        lateral = yes_no(lateral, "lateral heat flow", n)
        n, power = take("power dissipation (Y/N)", first)
        power = yes_no(power, "power dissipation", n)
        n, capacity = take("heat capacity or material", first)
        try:
            heat_capacity = positive(capacity, "heat capacity (J/(m^3 K))", n)
            n, res = take("resistivity (m K/W)", first)
            conductivity = 1.0 / positive(res, "resistivity (m K/W)", n)
        except InputError:
            if _is_number(capacity):
                raise
            if capacity not in table:
                raise InputError(f"unknown material {capacity!r} (defined in {materials_name}: "
                                 f"{', '.join(sorted(table)) or 'none'}){_suggest(capacity, table)}",
                                 file=name, line=n) from None
            conductivity, heat_capacity = table[capacity]
        n, thickness = take("thickness (m)", first)
        thickness = positive(thickness, "thickness (m)", n)
        n, floorplan = take("floorplan file", first)
        if floorplan.lower().endswith(".csv"):
            raise InputError(f"layer {expected} is a microchannel layer ({floorplan}): "
                             f"microfluidic cooling is not modelled", file=name, line=n)
        if not os.path.isabs(floorplan) and (base / floorplan).exists():
            floorplan = str(base / floorplan)
        layers.append({"name": f"layer_{expected}", "thickness_m": thickness,
                       "conductivity": conductivity, "heat_capacity": heat_capacity,
                       "power": power, "lateral": lateral, "floorplan": floorplan, "line": first})
    return layers


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_lcf_stack(path: str | os.PathLike, config: str | os.PathLike | None = None,
                   materials: str | os.PathLike | None = None,
                   overrides: Mapping[str, str] | None = None):
    """The stack HotSpot builds from a layer file and a config: the ``.lcf`` layers, then the
    config's spreader and sink, ``-r_convec`` and ``-ambient``.

    Parameters
    ----------
    path : str or path-like
        The ``.lcf``.
    config : str or path-like, optional
        HotSpot ``.config``; None: HotSpot's defaults (and ``overrides``).
    materials : str or path-like, optional
        ``.materials`` for material names in the layer file and the config.
    overrides : mapping of str to str, optional
        ``-name value`` pairs that win over the config (``--set``).

    Returns
    -------
    thermal.stack.Stack
        Layers ``layer_0``..``layer_<n-1>`` (each with its floorplan), ``spreader``, ``sink``.

    Raises
    ------
    InputError
        Anything wrong in the layer file or the config.
    """
    from ..stack import Layer, Stack

    cfg = read_config(config) if config is not None else None
    # the layer file is this one: the config's -grid_layer_file is not a warning here
    quiet = {**(overrides or {}), "grid_layer_file": "(null)"}
    table, table_name = materials_table(cfg, materials, overrides)
    p = config_stack_params(cfg, materials=materials, overrides=quiet)
    file = os.fspath(path)
    raw = read_lcf(file, table, table_name)
    flat = [d["line"] for d in raw if not d["lateral"]]
    if flat:
        warnings.warn(InputWarning(f"{file}:{flat[0]}: lateral heat flow N is not modelled: "
                                   f"{len(flat)} such layer{'s' * (len(flat) > 1)} conduct "
                                   f"laterally too"), stacklevel=2)
    if not any(d["power"] for d in raw):
        raise InputError("no layer dissipates power (line 3 of each layer: Y/N)", file=file)
    layers = [Layer(d["name"], d["thickness_m"], d["conductivity"], d["heat_capacity"],
                    power=d["power"], floorplan=d["floorplan"]) for d in raw]
    for d in p["layers"][2:]:  # HotSpot appends the spreader and the sink
        layers.append(Layer(d["name"], d["thickness_m"], d["conductivity"], d["heat_capacity"],
                            size_m=d["size_m"]))
    lines = {f"layer.{i}": d["line"] for i, d in enumerate(raw)}
    return Stack(tuple(layers), ambient_K=p["ambient_K"], r_convec=p["r_convec"],
                 c_convec=p["c_convec"], path=file, key_lines=tuple(sorted(lines.items())))
