"""HotSpot's ``.config`` and ``.materials`` files, and the rows of its steady outputs.

The ``.steady`` and grid steady files themselves are read and written by
:mod:`thermal.io.steady`; the plain-text plumbing every reader shares is :mod:`thermal.io.text`.

A HotSpot ``.config`` is ``-name value`` lines with ``#`` comments. :func:`config_stack_params`
maps one onto a die / TIM / spreader / sink stack with the precedence *overrides > config file >
HotSpot's defaults*; a ``-material_*`` name takes its conductivity and heat capacity from the
materials file (as HotSpot does, it wins over ``-k_*``/``-p_*`` of the same or lower precedence).
Keys that do not shape the stack (floorplanner, leakage, grid, secondary path...) are ignored:
real configs are full of them.
"""

from __future__ import annotations

import difflib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import InputError, InputWarning
from ..limits import RANGES
from .text import data_lines, parse_number, read_text
from .text import suggest as _suggest

__all__ = [
    "HOTSPOT_DEFAULTS", "BUILTIN_MATERIALS", "HotSpotConfig", "read_config", "read_materials",
    "config_stack_params", "materials_table", "config_outputs", "steady_rows", "die_sampler",
    "grid_temperatures",
]

# --------------------------------------------------------------------------------------------
# .config and .materials

HOTSPOT_DEFAULTS: dict[str, str] = {
    "t_chip": "0.15e-3", "k_chip": "100.0", "p_chip": "1.75e6",
    "t_interface": "20e-6", "k_interface": "4.0", "p_interface": "4e6",
    "s_spreader": "0.03", "t_spreader": "1e-3", "k_spreader": "400.0", "p_spreader": "3.55e6",
    "s_sink": "0.06", "t_sink": "6.9e-3", "k_sink": "400.0", "p_sink": "3.55e6",
    "r_convec": "0.1", "c_convec": "140.4", "ambient": "318.15",
}
"""HotSpot's built-in values of the options that shape the stack (SI units)."""

BUILTIN_MATERIALS: dict[str, tuple[float, float]] = {
    "silicon": (130.0, 1630300.0),
    "aluminum": (237.0, 2.422e6),
    "copper": (400.0, 3.55e6),
}
"""Conductivity W/(m K) and volumetric heat capacity J/(m^3 K) used when no materials file is
given (the values of HotSpot's ``example.materials``)."""

# Other HotSpot options: accepted by name in overrides (and ignored), so that a typo such as
# ``r_convc`` is caught while ``--set grid_rows=128`` is harmless.
_OTHER_OPTIONS = frozenset("""
thermal_threshold init_file init_temp steady_file sampling_intvl base_proc_freq dtm_used
model_type leakage_used leakage_mode package_model_used package_config_file block_omit_lateral
grid_rows grid_cols grid_layer_file grid_steady_file grid_map_mode detailed_3D
model_secondary r_convec_sec c_convec_sec n_metal t_metal t_c4 s_c4 n_c4 s_sub t_sub s_solder
t_solder s_pcb t_pcb materials_file use_microfluidic_cooling pumping_pressure pump_internal_res
inlet_temperature coolant_material coolant_capac coolant_res coolant_visc wall_material
wall_capac wall_res htc wrap_l2 l2_label model_rim rim_thickness compact_ratio n_orients P0 Davg
Kmoves Rcool Rreject Nmax lambdaA lambdaT lambdaW
natural_convec flow_type sink_type fin_height fin_width channel_width pin_height pin_diam pin_dist
fan_radius motor_radius rpm
""".split())
# (the last two lines: the detailed package model's own file, -package_config_file)

# layer name, thickness, conductivity, heat capacity, material, side (None: die), power
_LAYER_KEYS = (
    ("die", "t_chip", "k_chip", "p_chip", "material_chip", None, True),
    ("tim", "t_interface", "k_interface", "p_interface", "material_interface", None, False),
    ("spreader", "t_spreader", "k_spreader", "p_spreader", "material_spreader", "s_spreader", False),
    ("sink", "t_sink", "k_sink", "p_sink", "material_sink", "s_sink", False),
)
_MATERIAL_KEYS = frozenset(row[4] for row in _LAYER_KEYS)
KNOWN_OPTIONS = frozenset(HOTSPOT_DEFAULTS) | _MATERIAL_KEYS | _OTHER_OPTIONS
_UNSET = ("", "(null)", "null", "none")


class HotSpotConfig(dict):
    """``-name value`` options of a HotSpot config (names without the dash), with provenance.

    Attributes
    ----------
    path : str or None
        The file.
    lines : dict of str to int
        1-based line of each option.
    """

    def __init__(self, values=(), path: str | None = None, lines: Mapping[str, int] | None = None):
        super().__init__(values)
        self.path = path
        self.lines = dict(lines or {})


def read_config(path: str | os.PathLike) -> HotSpotConfig:
    """Read a HotSpot ``.config``: ``-name value`` lines, ``#`` comments.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    HotSpotConfig
        A ``dict`` of option name (no dash) to value string, with ``.lines`` and ``.path``.

    Raises
    ------
    InputError
        A line that is not ``-name value``, or an option given twice.
    """
    name = os.fspath(path)
    text = read_text(name, "HotSpot config")
    cfg = HotSpotConfig(path=name)
    for number, fields in data_lines(text):
        key = fields[0]
        if not key.startswith("-") or len(key) < 2:
            raise InputError(f"expected '-name value', got {' '.join(fields)!r}", file=name,
                             line=number)
        key = key[1:]
        if len(fields) == 1:
            raise InputError(f"option -{key} has no value", file=name, line=number, field=key)
        if len(fields) > 2:
            raise InputError(f"option -{key} takes one value, got {len(fields) - 1}: "
                             f"{' '.join(fields[1:])!r}", file=name, line=number, field=key)
        if key in cfg:
            raise InputError(f"option -{key} is given twice (first on line {cfg.lines[key]})",
                             file=name, line=number, field=key)
        cfg[key] = fields[1]
        cfg.lines[key] = number
    if not cfg:  # HotSpot accepts it; say so, as the wrong file is the likelier story
        warnings.warn(InputWarning(f"{name}: no options (the HotSpot config is empty or only "
                                   f"comments): HotSpot's defaults are used"), stacklevel=3)
    return cfg


def read_materials(path: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """Read a HotSpot ``.materials`` file.

    Each material is a block of lines: name, ``solid`` or ``fluid``, conductivity W/(m K),
    volumetric heat capacity J/(m^3 K), and for fluids a dynamic viscosity in Pa s.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to (float, float)
        Conductivity and heat capacity of each material.

    Raises
    ------
    InputError
        Unknown type, a non-numeric or non-positive value, a truncated entry, a duplicate name.
    """
    name = os.fspath(path)
    text = read_text(name, "materials")
    lines = data_lines(text)
    if not lines:
        raise InputError("no materials: the file is empty or only comments", file=name)
    materials: dict[str, tuple[float, float]] = {}
    first_line: dict[str, int] = {}
    i = 0
    while i < len(lines):
        number, fields = lines[i]
        if len(fields) != 1:
            raise InputError(f"expected a material name on its own line, got "
                             f"{' '.join(fields)!r}", file=name, line=number)
        material = fields[0]
        if material in materials:
            raise InputError(f"material {material!r} is defined twice (first on line "
                             f"{first_line[material]})", file=name, line=number)
        if i + 1 >= len(lines):
            raise InputError(f"material {material!r} is incomplete: expected solid or fluid, "
                             f"conductivity and heat capacity", file=name, line=number)
        kind_line, kind_fields = lines[i + 1]
        kind = " ".join(kind_fields)
        if kind not in ("solid", "fluid"):
            raise InputError(f"material {material!r}: type must be 'solid' or 'fluid', got "
                             f"{kind!r}", file=name, line=kind_line)
        wanted = ("conductivity", "heat capacity") + (("viscosity",) if kind == "fluid" else ())
        values = []
        for j, what in enumerate(wanted):
            if i + 2 + j >= len(lines):
                raise InputError(f"material {material!r} is incomplete: missing its {what}",
                                 file=name, line=lines[-1][0])
            vline, vfields = lines[i + 2 + j]
            if len(vfields) != 1:
                raise InputError(f"material {material!r}: expected one number ({what}), got "
                                 f"{' '.join(vfields)!r}", file=name, line=vline)
            value = parse_number(vfields[0], f"material {material!r} {what}", name, vline)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"material {material!r}: {what} must be a positive number, "
                                 f"got {vfields[0]}", file=name, line=vline)
            values.append(value)
        materials[material] = (values[0], values[1])
        first_line[material] = number
        i += 2 + len(wanted)
    return materials


@dataclass(frozen=True)
class _Value:
    """One option's effective value and where it came from."""

    text: str
    rank: int              # 0 HotSpot default, 1 config file, 2 override
    file: str | None = None
    line: int | None = None

    def error(self, key: str, problem: str) -> InputError:
        if self.rank == 2:
            return InputError(f"--set {key}={self.text}: {problem}", field=key)
        if self.rank == 1:
            return InputError(f"-{key} {self.text}: {problem}", file=self.file, line=self.line,
                              field=key)
        return InputError(f"HotSpot default -{key} {self.text}: {problem}", field=key)

    def positive(self, key: str, kind: str | None = None) -> float:
        """The value as a positive float, within the physical range of ``kind`` (a key of
        :data:`thermal.limits.RANGES`) when given."""
        try:
            value = float(self.text) if "_" not in self.text else math.nan
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise self.error(key, "must be a positive number")
        if kind is not None:
            lo, hi = RANGES[kind]
            if not lo <= value <= hi:
                raise self.error(key, f"out of range (allowed: {lo:g} to {hi:g})")
        return value


def _effective(config: HotSpotConfig | None, overrides: Mapping[str, str] | None
               ) -> dict[str, _Value]:
    values = {k: _Value(v, 0) for k, v in HOTSPOT_DEFAULTS.items()}
    if config is not None:
        for k, v in config.items():
            values[k] = _Value(v, 1, config.path, config.lines.get(k))
    known = KNOWN_OPTIONS | set(config or ())
    for k, v in (overrides or {}).items():
        key = str(k).lstrip("-")
        if key not in known:
            raise InputError(f"--set {key}={v}: unknown HotSpot option{_suggest(key, known)}",
                             field=key)
        values[key] = _Value(str(v).strip(), 2)
    return values


# Options that change HotSpot's model in ways this stack does not follow: (option, off values,
# what is not modelled). A config that turns one on draws one InputWarning.
_UNMODELLED = (
    ("grid_layer_file", _UNSET, "a die/TIM/spreader/sink stack is built: read the layer file "
                                "with thermal.io.lcf.read_lcf_stack (thermal solve does)"),
    ("model_secondary", ("0",), "the secondary heat path (C4, substrate, PCB) is not modelled"),
    ("package_model_used", ("0",), "the detailed package model is not used (r_convec is)"),
    ("use_microfluidic_cooling", ("0",), "microfluidic cooling is not modelled"),
)


def _warn_unmodelled(values: Mapping[str, _Value]) -> None:
    notes = []
    for key, off, what in _UNMODELLED:
        v = values.get(key)
        if v is not None and v.text.lower() not in off:
            where = (f"{v.file}:{v.line}: " if v.rank == 1 and v.line else
                     "--set " if v.rank == 2 else "")
            notes.append(f"{where}-{key} {v.text}: {what}")
    if notes:
        warnings.warn(InputWarning("; ".join(notes)), stacklevel=4)


def _warn_unknown(config: HotSpotConfig | None) -> None:
    """One :class:`InputWarning` for options no HotSpot version here knows (a typo such as
    ``-r_convc`` would otherwise be ignored in silence), with the closest known names."""
    unknown = [k for k in (config or ()) if k not in KNOWN_OPTIONS]
    if not unknown:
        return
    shown = []
    for key in unknown[:8]:
        close = difflib.get_close_matches(key, sorted(KNOWN_OPTIONS), n=1, cutoff=0.6)
        hint = f", did you mean -{close[0]}?" if close else ""
        shown.append(f"-{key} (line {config.lines.get(key)}{hint})")
    more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
    warnings.warn(InputWarning(f"{config.path}: ignoring {len(unknown)} unknown HotSpot "
                               f"option{'s' * (len(unknown) > 1)}: {', '.join(shown)}{more}"),
                  stacklevel=4)


def _resolve(name: str, base: Path | None) -> str:
    """A path named inside a config: relative to the config's folder first, then the CWD."""
    if base is not None and not os.path.isabs(name) and (base / name).exists():
        return str(base / name)
    return name


def materials_table(config: HotSpotConfig | None, materials: str | os.PathLike | None = None,
                    overrides: Mapping[str, str] | None = None
                    ) -> tuple[dict[str, tuple[float, float]], str]:
    """The materials a config's names refer to, and where they came from: the ``materials``
    file, else the config's ``-materials_file`` (beside the config, then the working directory),
    else :data:`BUILTIN_MATERIALS`."""
    return _materials_table(_effective(config, overrides), config, materials)


def _materials_table(values: Mapping[str, _Value], config, materials):
    base = Path(config.path).parent if config is not None and config.path else None
    if materials is not None:
        return read_materials(materials), os.fspath(materials)
    if "materials_file" in values and values["materials_file"].text.lower() not in _UNSET:
        named = values["materials_file"]
        path = _resolve(named.text, base if named.rank == 1 else None)
        if not os.path.exists(path):
            raise named.error("materials_file", "no such materials file" + (
                f" (looked beside the config, in {base}, and in the working directory)"
                if named.rank == 1 and base is not None and not os.path.isabs(named.text) else ""))
        return read_materials(path), path
    return BUILTIN_MATERIALS, "the built-in table"


def config_stack_params(config: HotSpotConfig | None, materials: str | os.PathLike | None = None,
                        overrides: Mapping[str, str] | None = None) -> dict:
    """The die / TIM / spreader / sink stack a HotSpot configuration describes.

    Parameters
    ----------
    config : HotSpotConfig or None
        From :func:`read_config`; None: HotSpot's defaults only.
    materials : str or path-like, optional
        A ``.materials`` file; default: the config's ``-materials_file``, else
        :data:`BUILTIN_MATERIALS`.
    overrides : mapping of str to str, optional
        Option values that win over the file (the command line's ``--set``).

    Returns
    -------
    dict
        ``layers`` (list of dicts with ``name, thickness_m, conductivity, heat_capacity, power,
        size_m``), ``r_convec``, ``c_convec``, ``ambient_K``.

    Raises
    ------
    InputError
        A non-numeric or non-positive value, an unknown material, a sink smaller than the
        spreader; naming the file and line (or the override) it came from.
    """
    values = _effective(config, overrides)
    _warn_unknown(config)
    _warn_unmodelled(values)
    table, table_name = _materials_table(values, config, materials)

    layers = []
    for name, t_key, k_key, p_key, m_key, side_key, power in _LAYER_KEYS:
        k = values[k_key].positive(k_key, "conductivity")
        c = values[p_key].positive(p_key, "heat_capacity")
        material = values.get(m_key)
        if material is not None and material.text.lower() not in _UNSET:
            if material.text not in table:
                raise material.error(m_key, f"unknown material {material.text!r} (defined in "
                                            f"{table_name}: {', '.join(sorted(table)) or 'none'})"
                                            f"{_suggest(material.text, table)}")
            mk, mc = table[material.text]
            if material.rank >= values[k_key].rank:
                k = mk
            if material.rank >= values[p_key].rank:
                c = mc
        side = None if side_key is None else values[side_key].positive(side_key, "size")
        layers.append({"name": name, "thickness_m": values[t_key].positive(t_key, "thickness"),
                       "conductivity": k, "heat_capacity": c, "power": power,
                       "size_m": None if side is None else (side, side)})
    if layers[3]["size_m"][0] < layers[2]["size_m"][0]:
        raise values["s_sink"].error("s_sink", f"the heat sink ({layers[3]['size_m'][0]} m) is "
                                               f"smaller than the spreader "
                                               f"(-s_spreader {layers[2]['size_m'][0]} m)")
    return {"layers": layers, "r_convec": values["r_convec"].positive("r_convec", "convection.r"),
            "c_convec": values["c_convec"].positive("c_convec", "convection.c"),
            "ambient_K": values["ambient"].positive("ambient", "ambient")}


# --------------------------------------------------------------------------------------------
# Output options of a config, and HotSpot's output files from a solution

MAP_MODES = ("avg", "center", "min", "max")
"""HotSpot's ``-grid_map_mode`` values: a block's (or grid cell's) temperature is the average
over it, the value at its centre, or its minimum or maximum."""

# Options a steady solve refuses when turned on (none now: -leakage_used is honoured by
# thermal.leakage.from_hotspot_config), and options it notes in one warning line
_REFUSED: tuple = ()
_STEADY_NOTES = (
    ("init_file", _UNSET, "initial temperatures only start a transient: the steady solve does "
                          "not use them"),
    ("dtm_used", ("0",), "dynamic thermal management acts on transients: the steady solve does "
                         "not model it"),
)
# -model_type block and grid both name a discretisation of the same layered model, which
# thermal's adaptive finite elements replace: both are accepted, any other value refused.
_MODEL_TYPES = ("block", "grid")


def config_outputs(config: HotSpotConfig | None, overrides: Mapping[str, str] | None = None
                   ) -> dict:
    """The output files a config asks for, and its options that a steady solve refuses or
    notes.

    Parameters
    ----------
    config : HotSpotConfig or None
    overrides : mapping of str to str, optional
        ``--set`` values, which win.

    Returns
    -------
    dict
        ``steady_file``, ``grid_steady_file`` (str or None), ``grid_rows``, ``grid_cols``
        (int), ``grid_map_mode`` (one of :data:`MAP_MODES`), ``grid_layer_file`` (str or None,
        resolved beside the config first), ``notes`` (list of one-line str), ``detailed_3D``
        (bool: HotSpot then uses the floorplans' per-block materials).

    Raises
    ------
    InputError
        An option turned on that cannot be honoured (``-leakage_used 1``), a grid size that is
        not a whole number ≥ 1, an unknown map mode.
    """
    values = _effective(config, overrides)
    base = Path(config.path).parent if config is not None and config.path else None

    def where(v: _Value) -> str:
        return (f"{v.file}:{v.line}: " if v.rank == 1 and v.line else
                "--set " if v.rank == 2 else "")

    for key, off, what in _REFUSED:
        v = values.get(key)
        if v is not None and v.text.lower() not in off:
            raise v.error(key, what)
    v = values.get("model_type")
    if v is not None and v.text.lower() not in _MODEL_TYPES:
        raise v.error("model_type", "must be block or grid (thermal's finite elements replace "
                                    "both)")
    notes = []
    for key, off, what in _STEADY_NOTES:
        v = values.get(key)
        if v is not None and v.text.lower() not in off:
            notes.append(f"{where(v)}-{key} {v.text}: {what}")

    def path(key: str) -> str | None:
        v = values.get(key)
        if v is None or v.text.lower() in _UNSET or v.text.lower() in ("stdout", "stderr"):
            if v is not None and v.text.lower() in ("stdout", "stderr"):
                notes.append(f"{where(v)}-{key} {v.text}: not written (thermal writes files; "
                             f"its report is on stdout)")
            return None
        return v.text

    def count(key: str, default: str) -> int:
        v = values.get(key, _Value(default, 0))
        try:
            n = int(v.text)
        except ValueError:
            n = 0
        if n < 1:
            raise v.error(key, "must be a whole number of at least 1")
        return n

    mode = values.get("grid_map_mode", _Value("center", 0))
    if mode.text.lower() not in MAP_MODES:
        raise mode.error("grid_map_mode", f"must be one of {', '.join(MAP_MODES)}")
    layer_file = path("grid_layer_file")
    if layer_file is not None:
        named = values["grid_layer_file"]
        layer_file = _resolve(layer_file, base if named.rank == 1 else None)
    return {"steady_file": path("steady_file"), "grid_steady_file": path("grid_steady_file"),
            "grid_rows": count("grid_rows", "64"), "grid_cols": count("grid_cols", "64"),
            "grid_map_mode": mode.text.lower(), "grid_layer_file": layer_file, "notes": notes,
            "detailed_3D": values.get("detailed_3D", _Value("off", 0)).text.lower()
            in ("on", "1", "true", "yes")}


_PREFIXES = {"tim": "iface_", "spreader": "hsp_", "sink": "hsink_"}


def steady_rows(solution, map_mode: str = "avg") -> tuple[list[str], list[float]]:
    """The rows of HotSpot's ``.steady`` file for a solution: names and temperatures (K).

    A one-floorplan stack gives the power layer's blocks by name, then each other layer's
    temperature under each block, prefixed ``iface_`` (layer ``tim``), ``hsp_``
    (``spreader``), ``hsink_`` (``sink``) or ``<layer name>_``, as HotSpot's default stack.
    A 3D stack (per-layer floorplans) gives ``layer_<n>_<block>`` for every layer with a
    floorplan, then the layers below by the same prefixes over the last floorplan's blocks
    (HotSpot's ``.lcf`` output). HotSpot's 12 periphery nodes (``inode_*``) have no counterpart
    and are not written.

    Parameters
    ----------
    solution : thermal.solution.Solution
    map_mode : {"avg", "center", "min", "max"}
        A block's temperature: its mean, the value at its centre, its min or its max
        (HotSpot's ``-grid_map_mode``).
    """
    from ..fields import block_stats

    if map_mode not in MAP_MODES:
        raise ValueError(f"map_mode must be one of {', '.join(MAP_MODES)}")
    fp, mesh, stack = solution.floorplan, solution.mesh, solution.stack
    if map_mode == "center":
        sample = die_sampler(mesh, fp.bounds, np.c_[fp.left_m + fp.width_m / 2,
                                                    fp.bottom_m + fp.height_m / 2])
    amb = solution.ambient_K
    block_layer = getattr(fp, "block_layer", None)
    if block_layer is None:
        block_layer = np.full(len(fp.names), solution.power_layer)
        own = lambda l, name: name if l == solution.power_layer else None  # noqa: E731
    else:
        own = lambda l, name: f"layer_{l}_{name}"  # noqa: E731
    block_layer = np.asarray(block_layer)
    cover = mesh.tri_cover().tocsc()
    names, temps = [], []
    above = None
    for l, layer in enumerate(stack.layers):
        blocks = np.flatnonzero(block_layer == l)
        if blocks.size:
            above = blocks
            label = [own(l, fp.names[i]) for i in blocks]
        elif above is not None:
            prefix = _PREFIXES.get(layer.name, f"{layer.name}_")
            blocks, label = above, [prefix + fp.names[i] for i in above]
        else:
            continue
        if map_mode == "center":
            values = sample(solution.theta[l])[blocks]
        else:
            hi, mean, lo = block_stats(mesh, solution.theta[l], cover[:, blocks])
            values = {"avg": mean, "max": hi, "min": lo}[map_mode]
        names += label
        temps += list(np.asarray(values) + amb)
    return names, temps


def die_sampler(mesh, die_bounds, xy: np.ndarray):
    """Linear interpolation of any layer's P1 field at points ``xy`` (P, 2) on the die.

    Every layer covers the die, so one point location serves them all: the triangles inside
    the die are searched once (matplotlib's trapezoid map) and each point's three nodes and
    barycentric weights are kept.

    Returns
    -------
    callable
        ``values (N,) -> (P,)``; NaN at points outside the die.
    """
    from matplotlib.tri import Triangulation

    x0, y0, x1, y1 = die_bounds
    c = mesh.centroids
    inside = (c[:, 0] > x0) & (c[:, 0] < x1) & (c[:, 1] > y0) & (c[:, 1] < y1)
    tri = mesh.triangles[inside]
    used = np.unique(tri)
    local = np.full(mesh.n_nodes, -1)
    local[used] = np.arange(len(used))
    t = Triangulation(mesh.points[used, 0], mesh.points[used, 1], local[tri])
    found = t.get_trifinder()(xy[:, 0], xy[:, 1])
    ok = found >= 0
    nodes = tri[np.maximum(found, 0)]                                    # (P, 3) mesh nodes
    p = mesh.points[nodes]
    d1, d2, dp = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], xy - p[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    w1 = (dp[:, 0] * d2[:, 1] - dp[:, 1] * d2[:, 0]) / det
    w2 = (d1[:, 0] * dp[:, 1] - d1[:, 1] * dp[:, 0]) / det
    weights = np.c_[1.0 - w1 - w2, w1, w2]

    def sample(values: np.ndarray) -> np.ndarray:
        out = (np.asarray(values)[nodes] * weights).sum(axis=1)
        return np.where(ok, out, np.nan)

    return sample


def grid_temperatures(solution, rows: int, cols: int, map_mode: str = "avg",
                      samples: int = 4) -> np.ndarray:
    """(L, rows, cols) temperatures (K) of a grid over the die, row 0 at the top (HotSpot's
    grid), from the FE field of every layer.

    ``map_mode`` "center" takes each cell's centre value; "avg" (also for "min"/"max", which
    HotSpot applies to blocks, not cells) the mean of ``samples`` x ``samples`` points in the
    cell (midpoint rule: exact for the linear field within a triangle, within the P1 field's
    own error across its edges).
    """
    x0, y0, x1, y1 = solution.floorplan.bounds
    k = 1 if map_mode == "center" else samples
    u = (np.arange(cols * k) + 0.5) / (cols * k)
    v = (np.arange(rows * k) + 0.5) / (rows * k)
    xs, ys = x0 + u * (x1 - x0), y1 - v * (y1 - y0)          # rows from the top
    xy = np.c_[np.tile(xs, len(ys)), np.repeat(ys, len(xs))]
    sample = die_sampler(solution.mesh, solution.floorplan.bounds, xy)
    return np.array([sample(theta).reshape(rows, k, cols, k).mean(axis=(1, 3))
                     for theta in solution.theta]) + solution.ambient_K
