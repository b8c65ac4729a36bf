"""The layer stack: die, TIM, spreader, sink... and the convection to ambient (SPEC §2, §3).

Layers are listed top (0, farthest from the sink) to bottom. Each has a thickness, in-plane
conductivity, volumetric heat capacity and a rectangular footprint centred on the die (default:
the die itself). Adjacent layers exchange heat through ``g = 1/(t_a/(2k_a) + t_b/(2k_b))``
W/(m^2 K) on the overlap of their footprints; the bottom layer loses heat to ambient through
``g_amb = 1/(t/(2k) + 1/h)``, where ``h`` is given directly or as HotSpot's lumped
``r_convec`` K/W over the bottom footprint: ``h = 1/(r_convec * area)``.

A stack comes from :meth:`Stack.read` (the native TOML format, :mod:`thermal.io.stack_toml`),
:meth:`Stack.from_hotspot_config` (a HotSpot ``.config``) or :meth:`Stack.default` (HotSpot's
built-in package). Every malformed input becomes one :class:`~thermal.errors.InputError` naming
the file and line; an unknown key gets a "did you mean" suggestion.

Examples
--------
>>> s = Stack.default()
>>> [layer.name for layer in s.layers]
['die', 'tim', 'spreader', 'sink']
>>> round(s.h_bottom((0, 0, 0.016, 0.016)), 1)       # 1/(0.1 K/W * (60 mm)^2)
2777.8
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError
from .layers import Couplings, between, half_resistance, to_ambient
from .limits import RANGES
from .io.hotspot import _suggest, config_stack_params, read_config

__all__ = ["Layer", "Stack"]

_LAYER_KEYS = ("name", "thickness", "conductivity", "heat_capacity", "power", "size", "floorplan")
_LAYER_REQUIRED = ("name", "thickness", "conductivity", "heat_capacity")
_TOP_KEYS = ("ambient", "layer", "convection", "critical", "critical_region",
             "leakage")  # [leakage]: read by thermal.leakage
_REGION_KEYS = ("name", "rect", "tolerance")
_CONVECTION_KEYS = ("h", "r", "c")
_FIT_REL = 1e-9   # a footprint this much smaller than the die (rounding) is the die


def _out_of_range(key: str, value: float, unit: str) -> str | None:
    """The message for a ``value`` of ``key`` outside :data:`RANGES`, or None."""
    lo, hi = RANGES[key]
    if lo <= value <= hi:
        return None
    return f"{key} {value:g} {unit} is out of range (allowed: {lo:g} to {hi:g} {unit})"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _positive(x: Any) -> bool:
    try:
        return _is_number(x) and math.isfinite(x) and x > 0
    except OverflowError:          # a TOML integer too large for a float
        return False


@dataclass(frozen=True)
class Layer:
    """One layer of the stack.

    Attributes
    ----------
    name : str
    thickness_m : float
        m.
    conductivity : float
        In-plane and vertical conductivity, W/(m K).
    heat_capacity : float
        Volumetric heat capacity, J/(m^3 K).
    power : bool
        Whether the floorplan's power is dissipated in this layer.
    size_m : (float, float) or None
        Footprint (width, height) in m, centred on the die; None: the die's footprint.
    floorplan : str or None
        A floorplan file of this layer named by the stack file (resolved against its folder).

    Raises
    ------
    InputError
        A non-positive or non-finite value; ``field`` names the native TOML key.
    """

    name: str
    thickness_m: float
    conductivity: float
    heat_capacity: float
    power: bool = False
    size_m: tuple[float, float] | None = None
    floorplan: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"layer name must be a non-empty string, got {self.name!r}",
                             field="name")
        for attr, key, unit in (("thickness_m", "thickness", "m"),
                                ("conductivity", "conductivity", "W/(m K)"),
                                ("heat_capacity", "heat_capacity", "J/(m^3 K)")):
            value = getattr(self, attr)
            if not _positive(value):
                raise InputError(f"layer {self.name!r}: {key} must be a positive number ({unit}), "
                                 f"got {value!r}", field=key)
            wrong = _out_of_range(key, float(value), unit)
            if wrong:
                raise InputError(f"layer {self.name!r}: {wrong}", field=key)
            object.__setattr__(self, attr, float(value))
        if not isinstance(self.power, bool):
            raise InputError(f"layer {self.name!r}: power must be true or false, got "
                             f"{self.power!r}", field="power")
        if self.size_m is not None:
            size = tuple(self.size_m) if isinstance(self.size_m, (list, tuple)) else ()
            if len(size) != 2 or not all(_positive(v) for v in size):
                raise InputError(f"layer {self.name!r}: size must be two positive numbers "
                                 f"[width, height] in m, got {self.size_m!r}", field="size")
            wrong = _out_of_range("size", max(float(v) for v in size), "m")
            if wrong:
                raise InputError(f"layer {self.name!r}: {wrong}", field="size")
            object.__setattr__(self, "size_m", (float(size[0]), float(size[1])))


@dataclass(frozen=True)
class Stack:
    """Layers top (0) to bottom, the convection at the bottom face, and the ambient.

    Attributes
    ----------
    layers : tuple of Layer
    ambient_K : float
    h : float or None
        Heat-transfer coefficient W/(m^2 K) at the bottom layer's lower face, or
    r_convec : float or None
        HotSpot's lumped convection resistance K/W over the bottom footprint (exactly one of the
        two is given).
    c_convec : float or None
        HotSpot's lumped convection capacitance J/K (transients), if given.
    path : str or None
        The file the stack came from (not compared).
    critical : tuple of thermal.critical.CriticalRegion
        Temperature-sensitive blocks and rectangles with their own tolerance (the file's
        ``[critical]`` table and ``[[critical_region]]`` tables; :mod:`thermal.critical`).
    key_lines : tuple of (str, int)
        Source line of each key, e.g. ``("layer.2.size", 14)``, for later messages (not compared).
    """

    layers: tuple[Layer, ...]
    ambient_K: float = 318.15
    h: float | None = None
    r_convec: float | None = None
    c_convec: float | None = None
    critical: tuple = ()
    path: str | None = field(default=None, compare=False)
    key_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self):
        from .critical import critical_regions

        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "critical", critical_regions(self.critical))
        file = self.path or "<stack>"
        if not layers:
            raise InputError("a stack needs at least one layer", file=file)
        seen = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise InputError(f"layer {i} is a {type(layer).__name__}, not a Layer", file=file)
            if layer.name in seen:
                raise InputError(f"two layers are named {layer.name!r} (layers {seen[layer.name]} "
                                 f"and {i})", file=file, line=self._line(f"layer.{i}.name"))
            seen[layer.name] = i
        if (self.h is None) == (self.r_convec is None):
            raise InputError("convection needs exactly one of h (W/(m^2 K)) and r (K/W)"
                             + (", not both" if self.h is not None else ""), file=file,
                             line=self._line("convection.r" if self.h is not None else "convection"))
        for attr, key, value in (("h", "convection.h", self.h), ("r_convec", "convection.r",
                                                                  self.r_convec),
                                 ("c_convec", "convection.c", self.c_convec),
                                 ("ambient_K", "ambient", self.ambient_K)):
            if value is not None:
                if not _positive(value):
                    raise InputError(f"{key} must be a positive number, got {value!r}",
                                     file=file, line=self._line(key), field=key)
                wrong = _out_of_range(key, float(value), {"ambient": "K", "convection.h":
                                      "W/(m^2 K)", "convection.r": "K/W"}.get(key, "J/K"))
                if wrong:
                    raise InputError(wrong, file=file, line=self._line(key), field=key)
                object.__setattr__(self, attr, float(value))

    # ---------------------------------------------------------------------------------------
    # Derived quantities

    def _line(self, key: str) -> int | None:
        """Source line of ``key`` or of the nearest enclosing table."""
        lines = dict(self.key_lines)
        while key:
            if key in lines:
                return lines[key]
            key = key.rpartition(".")[0]
        return None

    @property
    def power_layers(self) -> tuple[int, ...]:
        """Indices of the layers that take the floorplan's power (layer 0 if none is marked)."""
        marked = tuple(i for i, layer in enumerate(self.layers) if layer.power)
        return marked or (0,)

    def footprint(self, l: int, die_bounds) -> tuple[float, float, float, float]:
        """Layer ``l``'s footprint as a box ``(x0, y0, x1, y1)``, m.

        Parameters
        ----------
        l : int
            Layer index.
        die_bounds : (float, float, float, float)
            The die, e.g. :attr:`Floorplan.bounds`.

        Raises
        ------
        InputError
            The layer's size is smaller than the die.
        """
        x0, y0, x1, y1 = (float(v) for v in die_bounds)
        layer = self.layers[l]
        if layer.size_m is None:
            return (x0, y0, x1, y1)
        w, h = layer.size_m
        die_w, die_h = x1 - x0, y1 - y0
        if w < die_w * (1 - _FIT_REL) or h < die_h * (1 - _FIT_REL):
            raise InputError(f"layer {layer.name!r} is {w * 1e3:.4g} mm x {h * 1e3:.4g} mm, "
                             f"smaller than the die ({die_w * 1e3:.4g} mm x {die_h * 1e3:.4g} mm)",
                             file=self.path or "<stack>", line=self._line(f"layer.{l}.size"),
                             field="size")
        w, h = max(w, die_w), max(h, die_h)
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        return (cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h)

    def h_bottom(self, die_bounds) -> float:
        """Heat-transfer coefficient at the bottom face, W/(m^2 K): ``h`` or
        ``1/(r_convec * bottom footprint area)``."""
        if self.h is not None:
            return self.h
        x0, y0, x1, y1 = self.footprint(len(self.layers) - 1, die_bounds)
        return 1.0 / (self.r_convec * (x1 - x0) * (y1 - y0))

    def g_between(self, a: int, b: int) -> float:
        """Vertical conductance between layers ``a`` and ``b``, W/(m^2 K):
        ``1/(t_a/(2k_a) + t_b/(2k_b))`` (:func:`thermal.layers.between`)."""
        la, lb = self.layers[a], self.layers[b]
        return between(half_resistance(la.thickness_m, la.conductivity),
                       half_resistance(lb.thickness_m, lb.conductivity))

    def g_ambient(self, die_bounds) -> float:
        """Conductance from the bottom layer's mid-plane to ambient, W/(m^2 K):
        ``1/(t/(2k) + 1/h_bottom)`` (:func:`thermal.layers.to_ambient`)."""
        last = self.layers[-1]
        return to_ambient(half_resistance(last.thickness_m, last.conductivity),
                          self.h_bottom(die_bounds))

    def couplings(self, die_bounds) -> Couplings:
        """Sheet conductances and vertical couplings of the layers (:mod:`thermal.layers`), with
        :meth:`h_bottom` over the die ``die_bounds``."""
        return Couplings.of([layer.thickness_m for layer in self.layers],
                            [layer.conductivity for layer in self.layers],
                            self.h_bottom(die_bounds))

    def with_die_footprint(self) -> "Stack":
        """A copy whose layers all share the die's footprint (what the exact solution needs)."""
        return dataclasses.replace(self, layers=tuple(dataclasses.replace(layer, size_m=None)
                                                      for layer in self.layers))

    # ---------------------------------------------------------------------------------------
    # Constructors and serialisation

    @classmethod
    def default(cls) -> "Stack":
        """HotSpot's built-in package (SPEC §3): die 150 µm / TIM 20 µm / spreader 30 mm square,
        1 mm / sink 60 mm square, 6.9 mm; ``r_convec`` 0.1 K/W, 140.4 J/K; ambient 318.15 K."""
        return cls(layers=(
            Layer("die", 150e-6, 100.0, 1.75e6, power=True),
            Layer("tim", 20e-6, 4.0, 4.0e6),
            Layer("spreader", 1e-3, 400.0, 3.55e6, size_m=(30e-3, 30e-3)),
            Layer("sink", 6.9e-3, 400.0, 3.55e6, size_m=(60e-3, 60e-3)),
        ), ambient_K=318.15, r_convec=0.1, c_convec=140.4)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Stack":
        """Read a native stack TOML file (SPEC §3; the format is :mod:`thermal.io.stack_toml`).

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        Stack

        Raises
        ------
        InputError
            TOML syntax errors, unknown keys (with a suggestion), missing keys, wrong types,
            non-positive values, convection with both or neither of ``h`` and ``r``.
        """
        from .io import stack_toml

        return stack_toml.read(path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | None = None,
                  lines: Mapping[str, int] | None = None) -> "Stack":
        """A stack from the native schema as a dict (what :meth:`to_dict` returns).

        Parameters
        ----------
        data : mapping
            ``{"ambient": K, "layer": [{...}, ...], "convection": {"h" or "r", "c"}}``.
        path : str, optional
            For messages; floorplan paths in layers are resolved against its folder.
        lines : mapping of str to int, optional
            1-based line of each key in the file (``layer.0.size``, ``ambient``...), for
            messages (:func:`thermal.io.stack_toml.key_lines`).
        """
        file = path or "<stack>"
        lines = dict(lines or {})

        def line_of(key: str) -> int | None:
            while key:
                if key in lines:
                    return lines[key]
                key = key.rpartition(".")[0]
            return None

        def fail(message: str, key: str, field_: str | None = None) -> InputError:
            return InputError(message, file=file, line=line_of(key), field=field_)

        if not isinstance(data, Mapping):
            raise InputError("a stack must be a table", file=file)
        _check_keys(data, _TOP_KEYS, "at the top level", "", fail)
        raw_layers = data.get("layer")
        if raw_layers is None:
            raise fail("no [[layer]] tables: a stack needs at least one layer", "")
        if not isinstance(raw_layers, list) or not all(isinstance(x, Mapping) for x in raw_layers):
            raise fail("'layer' must be a list of [[layer]] tables", "layer")
        if not raw_layers:
            raise fail("no [[layer]] tables: a stack needs at least one layer", "layer")
        base = Path(path).parent if path else None
        layers = []
        for i, raw in enumerate(raw_layers):
            key = f"layer.{i}"
            label = f"layer {i + 1}" + (f" ({raw['name']!r})" if isinstance(raw.get("name"), str)
                                        else "")
            _check_keys(raw, _LAYER_KEYS, f"in [[layer]] {label}", key, fail)
            for req in _LAYER_REQUIRED:
                if req not in raw:
                    raise fail(f"{label} is missing the required key {req!r}", key, req)
            for name in ("thickness", "conductivity", "heat_capacity"):
                if not _is_number(raw[name]):
                    raise fail(f"{label}: {name} must be a number, got {_toml_type(raw[name])} "
                               f"{raw[name]!r}", f"{key}.{name}", name)
            floorplan = raw.get("floorplan")
            if floorplan is not None:
                if not isinstance(floorplan, str):
                    raise fail(f"{label}: floorplan must be a file name (a string)",
                               f"{key}.floorplan", "floorplan")
                if base is not None and not os.path.isabs(floorplan) and (base / floorplan).exists():
                    floorplan = str(base / floorplan)
            try:
                layers.append(Layer(raw["name"], raw["thickness"], raw["conductivity"],
                                    raw["heat_capacity"], power=raw.get("power", False),
                                    size_m=raw.get("size"), floorplan=floorplan))
            except InputError as e:
                raise fail(e.message, f"{key}.{e.field}", e.field) from None
        convection = data.get("convection")
        if convection is None:
            raise fail("missing [convection] table with h (W/(m^2 K)) or r (K/W)", "")
        if not isinstance(convection, Mapping):
            raise fail("'convection' must be a table with h (W/(m^2 K)) or r (K/W)", "convection")
        _check_keys(convection, _CONVECTION_KEYS, "in [convection]", "convection", fail)
        for name in ("h", "r", "c"):
            value = convection.get(name)
            if value is not None and not _is_number(value):
                raise fail(f"convection {name} must be a number, got {_toml_type(value)} "
                           f"{value!r}", f"convection.{name}", name)
        ambient = data.get("ambient", 318.15)
        if not _is_number(ambient):
            raise fail(f"ambient must be a number of kelvin, got {_toml_type(ambient)} "
                       f"{ambient!r}", "ambient", "ambient")
        return cls(tuple(layers), ambient_K=ambient, h=convection.get("h"),
                   r_convec=convection.get("r"), c_convec=convection.get("c"),
                   critical=_critical_from_dict(data, fail), path=path,
                   key_lines=tuple(sorted(lines.items())))

    @classmethod
    def from_hotspot_config(cls, path: str | os.PathLike | None,
                            materials: str | os.PathLike | None = None,
                            overrides: Mapping[str, str] | None = None) -> "Stack":
        """The die / TIM / spreader / sink stack of a HotSpot ``.config``.

        Parameters
        ----------
        path : str or path-like or None
            The config; None: HotSpot's defaults (and ``overrides``).
        materials : str or path-like, optional
            HotSpot ``.materials`` file for ``-material_*`` names; default: the config's
            ``-materials_file``, else a built-in table (silicon, aluminum, copper).
        overrides : mapping of str to str, optional
            ``-name value`` pairs (names with or without the dash) that win over the file.

        Returns
        -------
        Stack
            Layers ``die`` (power), ``tim``, ``spreader`` and ``sink``; ``r_convec``.

        See Also
        --------
        thermal.io.hotspot.config_stack_params : the mapping and its precedence rules.
        """
        config = read_config(path) if path is not None else None
        p = config_stack_params(config, materials=materials, overrides=overrides)
        lines = {}
        if config is not None:
            for i, key in ((2, "s_spreader"), (3, "s_sink")):
                if key in config.lines and not (overrides and (key in overrides
                                                               or f"-{key}" in overrides)):
                    lines[f"layer.{i}.size"] = config.lines[key]
        layers = tuple(Layer(d["name"], d["thickness_m"], d["conductivity"], d["heat_capacity"],
                             power=d["power"], size_m=d["size_m"]) for d in p["layers"])
        return cls(layers, ambient_K=p["ambient_K"], r_convec=p["r_convec"],
                   c_convec=p["c_convec"], path=None if config is None else config.path,
                   key_lines=tuple(sorted(lines.items())))

    def to_dict(self) -> dict:
        """The effective stack in the native schema, JSON- and TOML-able.

        Examples
        --------
        >>> Stack.from_dict(Stack.default().to_dict()) == Stack.default()
        True
        """
        layers = []
        for layer in self.layers:
            d = {"name": layer.name, "thickness": layer.thickness_m,
                 "conductivity": layer.conductivity, "heat_capacity": layer.heat_capacity,
                 "power": layer.power}
            if layer.size_m is not None:
                d["size"] = list(layer.size_m)
            if layer.floorplan is not None:
                d["floorplan"] = layer.floorplan
            layers.append(d)
        convection = {"h": self.h} if self.h is not None else {"r": self.r_convec}
        if self.c_convec is not None:
            convection["c"] = self.c_convec
        out = {"ambient": self.ambient_K, "layer": layers, "convection": convection}
        blocks = {c.name: (True if c.tolerance_K is None else c.tolerance_K)
                  for c in self.critical if c.rect_m is None}
        rects = [c.to_dict() for c in self.critical if c.rect_m is not None]
        if blocks:
            out["critical"] = blocks
        if rects:
            out["critical_region"] = rects
        return out

    def to_toml(self) -> str:
        """The effective stack as a native TOML file (read back by :meth:`read`)."""
        from .io import stack_toml

        return stack_toml.dumps(self)


def _critical_from_dict(data: Mapping, fail) -> tuple:
    """The ``[critical]`` table (block name = tolerance in K, or true) and the
    ``[[critical_region]]`` tables (name, rect = [left, bottom, width, height], tolerance)."""
    from .critical import CriticalRegion

    out = []
    blocks = data.get("critical", {})
    if not isinstance(blocks, Mapping):
        raise fail("'critical' must be a table of block = tolerance (K) or true", "critical")
    for name, value in blocks.items():
        key = f"critical.{name}"
        if value is True:
            value = None
        elif not _positive(value):
            raise fail(f"critical block {name!r}: expected a positive tolerance in K or true, "
                       f"got {_toml_type(value)} {value!r}", key, "critical")
        out.append(CriticalRegion(str(name), value))
    regions = data.get("critical_region", [])
    if not isinstance(regions, list) or not all(isinstance(r, Mapping) for r in regions):
        raise fail("'critical_region' must be a list of [[critical_region]] tables",
                   "critical_region")
    for i, raw in enumerate(regions):
        key = f"critical_region.{i}"
        _check_keys(raw, _REGION_KEYS, f"in [[critical_region]] {i + 1}", key, fail)
        for req in ("name", "rect"):
            if req not in raw:
                raise fail(f"[[critical_region]] {i + 1} is missing the required key {req!r}",
                           key, req)
        if not isinstance(raw["name"], str):
            raise fail(f"[[critical_region]] {i + 1}: name must be a string", f"{key}.name")
        try:
            out.append(CriticalRegion(raw["name"], raw.get("tolerance"), raw["rect"]))
        except InputError as e:
            bad = "tolerance" if "tolerance" in e.message else "rect"
            raise fail(e.message, f"{key}.{bad}", bad) from None
    return tuple(out)


def _toml_type(value: Any) -> str:
    return {bool: "boolean", str: "string", list: "array", dict: "table"}.get(type(value),
                                                                            type(value).__name__)


def _check_keys(table: Mapping, known, where: str, key: str, fail) -> None:
    for name in table:
        if name not in known:
            raise fail(f"unknown key {name!r} {where}{_suggest(name, known)} (expected "
                       f"{', '.join(known)})", f"{key}.{name}" if key else name, name)
