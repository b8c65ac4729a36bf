"""Thick layers as several sub-layers, and the active face of the power layer (issue 21, item 3).

The layered model gives each layer one temperature per point of the plane (its mid-plane): the
heat crosses the upper half-thickness straight down, spreads sideways with ``k·t`` at the
mid-plane, and crosses the lower half straight down. Real conduction spreads all the way through.
For a field of lateral wavenumber ``κ`` the one-node layer is the first term of the slab's exact
response, with a relative error of order ``(κ t)²``: small where the layer is thin against the
lateral scale of the field it carries, large for HotSpot's 6.9 mm sink under a 16 mm die
(+1.6 K on every ev6 block, ``benchmarks/results/vs_3d.md``) or a 1 mm spreader under a 0.7 mm
hot block.

Which ``κ`` matter in a layer? Heat leaving a source of size ``ℓ`` spreads like a cone: at a
distance ``d`` from the source the field's lateral scale is about ``d + ℓ``, the finer
wavenumbers having decayed over the distance. A sub-layer of thickness ``h`` at distance ``d``
therefore errs by about ``(h / (d + ℓ))²``, and the rule here keeps that ratio bounded:

    h ≤ α (d + ℓ),    α = :data:`ALPHA`,

which makes the sub-layers grow geometrically (ratio at most ``1 + α``) with the distance from
the source: thin near the active face, thick far below it. ``d`` is measured from the nearest
power layer's active face, ``ℓ`` is the smallest side of any block whose power density could
lift its active face by more than the tolerance (:func:`feature_length`), but at least half the
power layer's thickness (without that floor a floorplan with 10 µm powered channels split a
150 µm die into 7 sub-layers of down to 6 µm, which the multigrid smoother solves badly). On
HotSpot's ev6 package (die 150 µm, TIM 20 µm, spreader 1 mm, sink 6.9 mm, ``ℓ`` = 0.38 mm) it
splits the spreader into 3 and the sink into 5 sub-layers and keeps the die and TIM whole.
Every sub-layer keeps its layer's material and footprint; the vertical couplings between
sub-layers follow from :meth:`Stack.g_between` as for any two layers.

The active face. In a 3D conduction model a die's power is dissipated in its active face, the
face farthest from the heat sink (the top of the power layer, flip-chip). The solver puts the
power on the power layer's top sub-layer, and the temperature reported for the power layer
(blocks.csv, the peak, the heat map) is that face's, reconstructed from the top sub-layer's
node: within a sub-layer of thickness ``h`` the vertical flux runs from ``f_top`` (the power
density plus what comes from above) to ``f_bot`` (what leaves towards the sink), and with the
lateral divergence the same through the sub-layer (the layered model's own assumption) it varies
linearly, so the temperature is quadratic in depth and

    T_face = T_node + h (2 f_top + f_bot) / (6 k).

That is exact in one dimension and second-order in ``h`` otherwise; on ev6 it moves the hot
0.9 mm x 0.67 mm IntReg blocks by 1.4 K, the 1.5 K between the die's top face and its volume
mean in the 3D solution. Other layers report the thickness-weighted mean of their sub-layers
(the layer's volume mean).

Layers whose floorplan gives per-block conductivities are not split (the assembly applies the
block conductivities to the power layer only).

Examples
--------
>>> from thermal.stack import Stack
>>> plan = sublayer_plan(Stack.default(), (0, 0, 0.016, 0.016), feature_m=0.38e-3)
>>> plan.counts
(1, 1, 3, 5)
>>> sublayer_plan(Stack.default(), (0, 0, 0.016, 0.016), "off").counts
(1, 1, 1, 1)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = ["ALPHA", "MAX_PER_LAYER", "SublayerPlan", "feature_length", "sublayer_counts",
           "sublayer_plan"]

ALPHA = 0.5
"""Largest sub-layer thickness as a fraction of its distance from the active face plus the
smallest source size (the rule in the module docstring); chosen in
benchmarks/results/vs_3d.md ("Choice of thermal.sublayers.ALPHA")."""

POWER_LAYER_FLOOR = 0.5
"""``ℓ`` is at least this many times the power layer's thickness."""

MAX_PER_LAYER = 8
"""Most sub-layers of one layer under the automatic rule."""


def feature_length(floorplan, power_w=None, stack=None, tolerance: float | None = None) -> float:
    """``ℓ``: the smallest side of the blocks that matter as sources, m.

    A block matters when its power would lift its active face above the power layer's node by
    more than ``tolerance`` in one dimension (``ρ t / 2k``, ``ρ`` its power density, ``t`` and
    ``k`` the power layer's): below that no error of the face can exceed the tolerance. Without
    ``stack`` and ``tolerance``, every block that dissipates power matters; under a power map
    (no power per block) or when none matters, every block.

    Parameters
    ----------
    floorplan : Floorplan
    power_w : (B,) float or mapping of block name to W or RasterPower, optional
    stack : Stack, optional
    tolerance : float, optional
        K.
    """
    sides = np.minimum(np.asarray(floorplan.width_m, float), np.asarray(floorplan.height_m, float))
    if isinstance(power_w, Mapping):
        from .power import power_vector

        power_w = power_vector(floorplan, power_w)
    if power_w is not None and not hasattr(power_w, "triangle_loads"):
        p = np.asarray(power_w, float)
        if p.shape == sides.shape:
            matters = p > 0
            if stack is not None and tolerance is not None:
                layer = stack.layers[stack.power_layers[0]]
                k = np.asarray(getattr(floorplan, "conductivity", np.full(len(p), np.nan)), float)
                k = np.where(np.isfinite(k), k, layer.conductivity)
                rho = p / (np.asarray(floorplan.width_m) * np.asarray(floorplan.height_m))
                matters = rho * layer.thickness_m / (2 * k) > tolerance
            if matters.any():
                sides = sides[matters]
    return float(sides.min())


def _distances(stack) -> list[tuple[float, float]]:
    """Per layer, (near, far) distance of its two faces from the nearest active face, m."""
    t = np.array([layer.thickness_m for layer in stack.layers])
    top = np.r_[0.0, np.cumsum(t)[:-1]]
    bottom = top + t
    faces = top[list(stack.power_layers)]              # active face: top of each power layer
    out = []
    for a, b in zip(top, bottom):
        best = None
        for f in faces:
            pair = (a - f, b - f) if a >= f - 1e-15 else (
                (f - b, f - a) if b <= f + 1e-15 else (0.0, max(b - f, f - a)))
            if best is None or pair[0] < best[0]:
                best = pair
        out.append((max(best[0], 0.0), best[1]))
    return out


def sublayer_counts(stack, feature_m: float, alpha: float | None = None,
                    max_per_layer: int = MAX_PER_LAYER) -> tuple[int, ...]:
    """Sub-layers of each layer by the rule ``h ≤ α (d + ℓ)`` (module docstring).

    Parameters
    ----------
    stack : Stack
    feature_m : float
        ``ℓ``, the smallest source size, m (:func:`feature_length`).
    alpha : float, optional
        Default :data:`ALPHA`.
    max_per_layer : int

    Returns
    -------
    tuple of int
    """
    alpha = ALPHA if alpha is None else alpha
    counts = []
    for near, far in _distances(stack):
        ratio = (far + feature_m) / (near + feature_m)
        n = math.ceil(math.log(ratio) / math.log1p(alpha) - 1e-9)
        counts.append(int(min(max(n, 1), max_per_layer)))
    return tuple(counts)


@dataclass(frozen=True, eq=False)
class SublayerPlan:
    """A stack, the sub-layered stack the solver sees, and how to report per original layer.

    Attributes
    ----------
    original : Stack
    stack : Stack
        The sub-layers top to bottom; a power layer's power is on its top sub-layer only.
    parent : tuple of int
        The original layer of each sub-layer.
    face : bool
        Whether power layers report their active face (:meth:`collapse`); False for "off".
    """

    original: object
    stack: object
    parent: tuple
    face: bool

    @property
    def counts(self) -> tuple[int, ...]:
        """Sub-layers per original layer."""
        return tuple(int(c) for c in np.bincount(self.parent, minlength=len(self.original.layers)))

    def first(self, layer: int) -> int:
        """Index of the top sub-layer of original layer ``layer``."""
        return self.parent.index(layer)

    def report(self, mesh, theta: np.ndarray, power_w, block_conductivity=None, die_bounds=None):
        """The mesh and field per original layer: ``(mesh, theta)``, where the mesh's
        ``layer_rects`` are the original layers' footprints and ``theta`` is
        :meth:`collapse`'s."""
        theta = self.collapse(mesh, theta, power_w, block_conductivity, die_bounds)
        if len(self.parent) != len(self.original.layers):
            firsts = [self.first(l) for l in range(len(self.original.layers))]
            mesh = dataclasses.replace(mesh, layer_rects=np.asarray(mesh.layer_rects)[firsts])
        return mesh, theta

    def collapse(self, mesh, theta: np.ndarray, power_w, block_conductivity=None,
                 die_bounds=None) -> np.ndarray:
        """The solved sub-layer fields as one field per original layer.

        Parameters
        ----------
        mesh : Mesh
        theta : (L_sub, N) temperature rise per sub-layer (NaN outside footprints)
        power_w : (B,) float or RasterPower
            The power as given to the solver (it is on the solved stack's first power layer).
        block_conductivity : (B,) float, optional
            Per-block conductivity of the power layer (NaN: the layer's own).
        die_bounds : tuple, optional
            For the convection coefficient when the power layer is the bottom one.

        Returns
        -------
        (L, N) float
            Power layers: the active face (module docstring); other layers: the thickness-weighted
            mean of their sub-layers; with ``face`` False and no split, ``theta`` itself.
        """
        theta = np.asarray(theta, float)
        if not self.face and len(self.parent) == len(self.original.layers):
            return theta
        parent = np.asarray(self.parent)
        t = np.array([layer.thickness_m for layer in self.stack.layers])
        out = np.empty((len(self.original.layers), theta.shape[1]))
        for l in range(len(self.original.layers)):
            rows = np.flatnonzero(parent == l)
            out[l] = (t[rows, None] * theta[rows]).sum(axis=0) / t[rows].sum()
        if self.face:
            for l in self.original.power_layers:
                out[l] = self._face(mesh, theta, self.first(l), power_w, block_conductivity,
                                    die_bounds)
        return out

    def _face(self, mesh, theta, s, power_w, block_conductivity, die_bounds) -> np.ndarray:
        """``T_node + h (2 f_top + f_bot) / (6 k)`` on sub-layer ``s``, nodal."""
        from .assemble import lumped_mass, nodal_load

        stack = self.stack
        layer = stack.layers[s]
        in_layer = mesh.tri_in_layer
        mass = lumped_mass(mesh, in_layer[s])
        with np.errstate(invalid="ignore", divide="ignore"):
            def per_area(values):
                return np.where(mass > 0, values / mass, 0.0)

            f_top = np.zeros(mesh.n_nodes)
            if s == stack.power_layers[0]:
                f_top += per_area(nodal_load(mesh, power_w, in_layer[s])[0])
            if s > 0:
                share = per_area(lumped_mass(mesh, in_layer[s] & in_layer[s - 1]))
                f_top += share * stack.g_between(s - 1, s) * np.nan_to_num(theta[s - 1] - theta[s])
            if s + 1 < len(stack.layers):
                share = per_area(lumped_mass(mesh, in_layer[s] & in_layer[s + 1]))
                f_bot = share * stack.g_between(s, s + 1) * np.nan_to_num(theta[s] - theta[s + 1])
            else:
                bounds = tuple(mesh.layer_rects[0]) if die_bounds is None else die_bounds
                f_bot = stack.g_ambient(bounds) * theta[s]
            k_tri = np.where(in_layer[s], layer.conductivity, 0.0)
            if block_conductivity is not None:
                blk = mesh.block_of_tri
                own = np.where(blk >= 0, np.asarray(block_conductivity, float)[np.maximum(blk, 0)],
                               np.nan)
                k_tri = np.where(in_layer[s] & ~np.isnan(own), own, k_tri)
            k = per_area(np.bincount(mesh.triangles[in_layer[s]].ravel(),
                                     np.repeat(k_tri[in_layer[s]] * mesh.areas[in_layer[s]] / 3, 3),
                                     minlength=mesh.n_nodes))
            lift = np.where(k > 0, layer.thickness_m * (2 * f_top + f_bot) / (6 * k), 0.0)
        return theta[s] + lift


def sublayer_plan(stack, die_bounds, mode="auto", *, feature_m: float | None = None,
                  floorplan=None, power_w=None, tolerance: float | None = None,
                  per_block_conductivity: bool = False) -> SublayerPlan:
    """The stack the solver sees: each layer split into sub-layers of the same material.

    Parameters
    ----------
    stack : Stack
    die_bounds : (x0, y0, x1, y1)
        The die (footprints are the layers' own; only checked here).
    mode : "auto", "off" or int
        "auto": the rule ``h ≤ α (d + ℓ)`` (module docstring), power layers report their active
        face; "off": the stack as given, one node per layer, mid-plane temperatures (the model
        of thermal before sub-layers, what :mod:`thermal.gallery` solves exactly); an integer
        ``n ≥ 1``: the power layers and every layer the rule splits in ``n`` equal sub-layers
        (convergence studies; thin layers such as a TIM stay whole: split, their strong
        vertical coupling only slows the multigrid), active face reported.
    feature_m : float, optional
        ``ℓ`` in m; default :func:`feature_length` of ``floorplan`` and ``power_w``.
    floorplan, power_w, tolerance : optional
        For the default ``feature_m`` (:func:`feature_length`).
    per_block_conductivity : bool
        The power layer has per-block conductivities: it is not split.

    Returns
    -------
    SublayerPlan

    Raises
    ------
    InputError
        An unknown mode.
    """
    n_layers = len(stack.layers)
    if isinstance(mode, str) and mode.strip().isdigit():
        mode = int(mode)
    if mode == "off":
        return SublayerPlan(stack, stack, tuple(range(n_layers)), False)
    uniform = isinstance(mode, (int, np.integer)) and not isinstance(mode, bool) and mode >= 1
    if uniform or mode == "auto":
        if feature_m is None:
            if floorplan is None:
                raise ValueError("sublayer_plan(mode='auto') needs feature_m or a floorplan")
            feature_m = feature_length(floorplan, power_w, stack, tolerance)
        # no thinner sub-layers than a fraction of the power layer (the multigrid's smoother
        # slows where vertical coupling dominates; the face reconstruction covers the rest)
        feature_m = max(feature_m, POWER_LAYER_FLOOR * max(stack.layers[p].thickness_m
                                                     for p in stack.power_layers))
        counts = list(sublayer_counts(stack, feature_m))
        grading = []
        for (near, far), n in zip(_distances(stack), counts):
            grading.append(((far + feature_m) / (near + feature_m)) ** (1.0 / n))
        if uniform:
            power = set(stack.power_layers)
            counts = [int(mode) if n > 1 or l in power else 1 for l, n in enumerate(counts)]
            grading = [1.0] * n_layers
    else:
        raise InputError(f"sublayers must be 'auto', 'off' or a positive number of sub-layers, "
                         f"got {mode!r}", field="sublayers")
    if per_block_conductivity:
        for l in stack.power_layers:
            counts[l] = 1
    distances = _distances(stack)
    t = np.array([layer.thickness_m for layer in stack.layers])
    top = np.r_[0.0, np.cumsum(t)[:-1]]
    layers, parent = [], []
    for l, layer in enumerate(stack.layers):
        n = counts[l]
        pieces = grading[l] ** np.arange(n)
        # thin towards the source: a layer above its nearest active face grows upwards
        near = distances[l][0]
        if all(abs(top[l] - top[p] - near) > 1e-12 * (1 + top[p]) for p in stack.power_layers):
            pieces = pieces[::-1]
        pieces = layer.thickness_m * pieces / pieces.sum()
        for j, h in enumerate(pieces):
            name = layer.name if n == 1 else f"{layer.name}[{j + 1}/{n}]"
            layers.append(dataclasses.replace(layer, name=name, thickness_m=float(h),
                                              power=layer.power and j == 0))
            parent.append(l)
    split = dataclasses.replace(stack, layers=tuple(layers), key_lines=())
    return SublayerPlan(stack, split, tuple(parent), True)
