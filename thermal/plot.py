"""PNG pictures of a solution: the temperature heat map and the mesh over the floorplan.

Matplotlib is imported inside the functions (the CLI starts faster without it) and only through
:class:`matplotlib.figure.Figure` with an Agg canvas: pyplot is never imported, so no global
backend or figure registry changes, and the functions are safe in threads and servers.

Figures are laid out by hand, in inches (:func:`_layout`), rather than by a layout engine: the
axes' size is then known before anything is drawn, which is what sizes the block names to their
blocks, and the figure is cropped to the die's aspect ratio instead of padding it with white.

Coordinates come in metres and are drawn in millimetres; temperatures come in kelvin and are
drawn in degrees Celsius, or in kelvin with ``units="K"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np

__all__ = ["plot_heatmap", "plot_mesh", "plot_field_layers", "plot_prediction", "plot_difference"]

ZERO_CELSIUS_K = 273.15
DPI = 150
FIGURE_IN = (8.0, 7.0)
"""Largest size of a one-panel figure (width, height) in inches; it is cropped to the data."""

MIN_FIGURE_WIDTH_IN = 6.0
"""Narrowest figure, so that the title of a tall, thin die still fits."""

MAX_EDGE_TRIANGLES = 60_000
"""Above this many triangles the edges of a mesh merge into a solid fill at :data:`DPI`, so
:func:`plot_mesh` draws the element size instead."""

ZOOM_RATIO = 1.5
""":func:`plot_mesh` adds a zoomed panel of the die when the domain is this many times wider
or taller than the die (a 30 mm spreader under a 16 mm die is 1.9)."""

PREDICTION_WIDTH_IN = 13.0
"""Width of predicted.png's row of three panels, inches."""

HEAT_CMAP = "inferno"
SIZE_CMAP = "viridis"
_MM = 1e3
_PT_PER_IN = 72.0
_MIN_LABEL_PT = 4.5
_BAR_IN = 1.05  # a colour bar beside a panel: gap, bar, tick labels and its label
_MAX_LABEL_PT = 11.0


# ---------------------------------------------------------------------------------------------
# Public functions


def plot_heatmap(path: str | PathLike, points: np.ndarray, triangles: np.ndarray,
                 values_K: np.ndarray, rects: np.ndarray, names: Sequence[str],
                 peak: tuple[float, float, float] | None = None, title: str | None = None,
                 units: str = "C"):
    """Draw a layer's temperature with the floorplan over it and save it as a PNG.

    The P1 field is drawn as it is: Gouraud shading interpolates linearly inside each triangle,
    with no smoothing. 1M triangles take about a second.

    Parameters
    ----------
    path : str or path-like or None
        Output PNG, written directly; None draws the figure without saving it.
    points : (N, 2) float
        Node coordinates in metres.
    triangles : (M, 3) int
        The triangles of the layer to draw (indices into ``points``).
    values_K : (N,) float
        Nodal temperatures in kelvin; may be NaN on nodes no triangle uses.
    rects : (B, 4) float
        Floorplan blocks as ``(left, bottom, width, height)`` in metres.
    names : sequence of B str
        Block names; a name is drawn as large as its block allows and left out if it would be
        smaller than 4.5 pt.
    peak : (T_K, x_m, y_m), optional
        Peak temperature and position, marked and annotated.
    title : str, optional
        Figure title; by default "temperature" with the peak.
    units : {"C", "K"}
        Temperatures drawn in degrees Celsius (default) or kelvin.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, for tests and callers that draw more; its colour scale spans the drawn
        values in ``units`` exactly.

    Raises
    ------
    ValueError
        If an array has the wrong shape or a node of ``triangles`` has no finite value.
    """
    points, triangles = _checked_mesh(points, triangles)
    values_K = np.asarray(values_K, dtype=np.float64)
    if values_K.shape != (len(points),):
        raise ValueError(f"values_K must have shape ({len(points)},), got {values_K.shape}")
    rects = _checked_rects(rects)
    if len(names) != len(rects):
        raise ValueError(f"{len(names)} names for {len(rects)} blocks")

    box = _union_box(_points_box(points, triangles), _rects_box(rects))
    if title is None:
        title = "temperature"
        if peak is not None:
            title += (f", peak {peak[0] - _offset(units):.2f} {unit_label(units)} at "
                      f"({peak[1] * _MM:.2f}, {peak[2] * _MM:.2f}) mm")
    fig, (panel,), cax = _layout([box], colorbar=True, title_lines=title.count("\n") + 1)
    image = _draw_temperature(panel.ax, points, triangles, values_K, units=units)
    _draw_rects(panel.ax, rects, colour="white", halo="black")
    _draw_names(panel, rects, names, colour="black", halo="white")
    if peak is not None:
        _mark_peak(panel, peak, units)
    _colorbar(fig, image, cax, f"temperature ({unit_label(units)})")
    _suptitle(fig, title)
    if path is not None:
        _saved(fig, path)
    return fig


def plot_heatmap_layers(path: str | PathLike, points: np.ndarray, layers: Sequence[tuple],
                        peak: tuple | None = None, title: str | None = None):
    """:func:`plot_heatmap` of several layers of a 3D stack side by side, one colour scale.

    Parameters
    ----------
    layers : sequence of (name, triangles, values_K, rects, names)
        Each panel: its title, the layer's triangles, nodal temperatures (K) and its blocks.
    peak : (T_K, x_m, y_m, name), optional
        The peak, marked on the panel called ``name``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    points = np.asarray(points, dtype=np.float64)
    panels_in = [(name, *_checked_mesh(points, tri)[1:], np.asarray(v, np.float64),
                  _checked_rects(r), n) for name, tri, v, r, n in layers]
    used = [v[_used_nodes(len(points), tri)] for _, tri, v, _, _ in panels_in]
    clim = _clim(min(u.min() for u in used) - ZERO_CELSIUS_K,
                 max(u.max() for u in used) - ZERO_CELSIUS_K)
    boxes = [_union_box(_points_box(points, tri), _rects_box(r)) for _, tri, _, r, _ in panels_in]
    title = title or "temperature"
    fig, panels, cax = _layout(boxes, colorbar=True, titled_panels=True,
                               title_lines=title.count("\n") + 1)
    for panel, (name, tri, values, rects, names) in zip(panels, panels_in):
        image = _draw_temperature(panel.ax, points, tri, values, clim)
        _draw_rects(panel.ax, rects, colour="white", halo="black")
        _draw_names(panel, rects, names, colour="black", halo="white")
        panel.ax.set_title(name)
        if peak is not None and peak[3] == name:
            _mark_peak(panel, peak[:3])
    _colorbar(fig, image, cax, "temperature (°C)")
    _suptitle(fig, title)
    if path is not None:
        _saved(fig, path)
    return fig


def plot_mesh(path: str | PathLike, points: np.ndarray, triangles: np.ndarray,
              rects: np.ndarray, names: Sequence[str] | None = None,
              footprints: Sequence[Sequence[float]] = (), title: str | None = None,
              critical: Sequence[Sequence[float]] = (),
              footprint_names: Sequence[str] | None = None):
    """Draw the mesh over the floorplan and the layer footprints, and save it as a PNG.

    Triangle edges are drawn once each, as thin lines; block outlines in red, layer footprints
    dashed. When the footprints reach far beyond the die (a spreader and sink around a small
    die), a second panel shows the die zoomed in. Above :data:`MAX_EDGE_TRIANGLES` triangles
    the edges would merge into a solid fill, so the element size (triangle diameter, log scale)
    is drawn instead, and the title says so.

    Parameters
    ----------
    path : str or path-like or None
        Output PNG, written directly; None draws the figure without saving it.
    points : (N, 2) float
        Node coordinates in metres.
    triangles : (M, 3) int
        Node indices of each triangle.
    rects : (B, 4) float
        Floorplan blocks as ``(left, bottom, width, height)`` in metres.
    names : sequence of B str, optional
        Block names, drawn where they fit.
    footprints : sequence of (x0, y0, x1, y1)
        Layer footprints in metres, drawn dashed.
    title : str, optional
        Figure title; by default the node and triangle counts.
    critical : sequence of (x0, y0, x1, y1)
        Critical regions (:mod:`thermal.critical`) in metres, outlined in orange.
    footprint_names : sequence of str, optional
        What each footprint is (``"spreader"``, ``"sink"``): given, and when some footprint
        reaches beyond the die, a legend in the whole-domain panel names the outlines
        (footprints that coincide share one entry), the blocks and the critical regions.

    Returns
    -------
    matplotlib.figure.Figure
    """
    points, triangles = _checked_mesh(points, triangles)
    rects = _checked_rects(rects)
    footprints = np.asarray(footprints, dtype=np.float64).reshape(-1, 4)
    if names is not None and len(names) != len(rects):
        raise ValueError(f"{len(names)} names for {len(rects)} blocks")

    die = _rects_box(rects) if len(rects) else _points_box(points, triangles)
    domain = _points_box(points, triangles)
    for x0, y0, x1, y1 in footprints:
        domain = _union_box(domain, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    zoom = max(_width(domain) / _width(die), _height(domain) / _height(die)) > ZOOM_RATIO
    boxes = [_padded(domain, 0.015), _padded(die, 0.03)] if zoom else [_padded(domain, 0.015)]
    fine = len(triangles) > MAX_EDGE_TRIANGLES
    if title is None:
        title = f"mesh: {len(points):,} nodes, {len(triangles):,} triangles"
    if fine:
        title += "\n(too fine to draw its edges: element size shown)"
    fig, panels, cax = _layout(boxes, colorbar=fine, titled_panels=zoom,
                               title_lines=title.count("\n") + 1)

    if fine:
        diameter_mm = _diameters(points, triangles) * _MM
        for panel in panels:
            image = _draw_flat(panel.ax, points, triangles, diameter_mm, SIZE_CMAP, log=True)
        _colorbar(fig, image, cax, "triangle diameter (mm)")
    else:
        edges = _unique_edges(triangles)
        width_pt = float(np.clip(0.5 * np.sqrt(20_000 / max(len(edges), 1)), 0.08, 0.5))
        for panel in panels:
            _draw_edges(panel, points, edges, width_pt)
    for panel in panels:
        _draw_footprints(panel.ax, footprints)
        _draw_rects(panel.ax, rects, colour="tab:red", halo="white" if fine else None,
                    width_pt=0.9)
        _draw_critical(panel.ax, np.asarray(critical, dtype=np.float64).reshape(-1, 4))
    if names is not None:
        _draw_names(panels[-1], rects, names, colour="tab:red", halo="white")
    if footprint_names is not None and zoom:  # (die-sized layers only: nothing to tell apart)
        _outline_legend(panels[0].ax, footprints, footprint_names, len(rects) > 0, len(critical) > 0)
    if zoom:
        panels[0].ax.set_title("whole domain")
        panels[1].ax.set_title("die")
    _suptitle(fig, title)
    if path is not None:
        _saved(fig, path)
    return fig


def plot_field_layers(path: str | PathLike, points: np.ndarray,
                      layer_triangles: Sequence[np.ndarray], layer_values_K: Sequence[np.ndarray],
                      layer_names: Sequence[str], rects: np.ndarray | None = None,
                      names: Sequence[str] | None = None, title: str | None = None,
                      units: str = "C"):
    """Draw the temperature of several layers side by side on one colour scale, as a PNG.

    Parameters
    ----------
    path : str or path-like or None
        Output PNG, written directly; None draws the figure without saving it.
    points : (N, 2) float
        Node coordinates in metres, shared by all layers.
    layer_triangles : sequence of (M_l, 3) int
        The triangles of each layer.
    layer_values_K : sequence of (N,) float
        Nodal temperatures of each layer in kelvin (NaN on nodes the layer does not use).
    layer_names : sequence of str
        Panel titles.
    rects : (B, 4) float, optional
        Floorplan blocks, outlined in every panel.
    names : sequence of B str, optional
        Block names, drawn in the first panel where they fit.
    title : str, optional
        Figure title.
    units : {"C", "K"}
        Temperatures drawn in degrees Celsius (default) or kelvin.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not len(layer_triangles) == len(layer_values_K) == len(layer_names) > 0:
        raise ValueError("need as many triangle sets, value arrays and names, at least one")
    points = np.asarray(points, dtype=np.float64)
    meshes = [_checked_mesh(points, triangles)[1] for triangles in layer_triangles]
    values = [np.asarray(v, dtype=np.float64) for v in layer_values_K]
    rects = _checked_rects(np.zeros((0, 4)) if rects is None else rects)
    boxes = [_points_box(points, triangles) for triangles in meshes]
    low = min(np.min(_used_values(points, t, v)) for t, v in zip(meshes, values))
    high = max(np.max(_used_values(points, t, v)) for t, v in zip(meshes, values))
    clim = _clim(low - _offset(units), high - _offset(units))

    per_row = min(len(meshes), 3)
    fig, panels, cax = _layout(boxes, colorbar=True, titled_panels=True, per_row=per_row,
                               title_lines=0 if title is None else title.count("\n") + 1)
    for i, (panel, triangles, v) in enumerate(zip(panels, meshes, values)):
        image = _draw_temperature(panel.ax, points, triangles, v, clim=clim, units=units)
        _draw_rects(panel.ax, rects, colour="white", halo="black")
        if names is not None and i == 0:
            _draw_names(panel, rects, names, colour="black", halo="white")
        panel.ax.set_title(str(layer_names[i]), parse_math=False)
    _colorbar(fig, image, cax, f"temperature ({unit_label(units)})")
    if title is not None:
        _suptitle(fig, title)
    if path is not None:
        _saved(fig, path)
    return fig


# ---------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class _Panel:
    """An axes showing ``box`` (x0, y0, x1, y1 in metres) at ``pt_per_m`` points per metre."""

    ax: object
    box: tuple[float, float, float, float]
    pt_per_m: float


def _layout(boxes, colorbar=False, titled_panels=False, per_row=None, title_lines=1,
            max_width_in=None):
    """Make a figure with one equal-aspect axes per box, in rows, and a colour bar axes.

    Panels are as large as :data:`FIGURE_IN` allows; the figure is then cropped to them. The
    colour bar (``None`` when not asked for) stands at the right, as tall as the last row;
    ``colorbar="each"`` gives every panel its own, at its right, and returns their list.
    ``title_lines`` is the height, in lines, kept free above the panels for the figure's title
    (:func:`_suptitle`). ``max_width_in`` caps the figure's width (default: grows with the
    panels per row).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(boxes)
    per_row = per_row or n
    rows = -(-n // per_row)
    each = colorbar == "each"
    left, bottom, gap_x, gap_y = 0.85, 0.6, 0.75 + (_BAR_IN if each else 0.0), 0.75
    right = _BAR_IN + 0.3 if colorbar else 0.3
    top = 0.25 + 0.25 * title_lines + (0.3 if titled_panels else 0.0)
    max_w = max_width_in or FIGURE_IN[0] * min(1.0 + 0.75 * (per_row - 1), 2.25)
    max_h = FIGURE_IN[1] * (1.0 if rows == 1 else 0.75 * rows)
    # All panels share one height; each is as wide as its box's aspect ratio makes it.
    ratios = [_width(b) / _height(b) for b in boxes]
    height = (max_h - top - bottom - gap_y * (rows - 1)) / rows
    for r in range(rows):
        row = ratios[r * per_row:(r + 1) * per_row]
        height = min(height, (max_w - left - right - gap_x * (len(row) - 1)) / sum(row))
    widths = [height * ratio for ratio in ratios]
    row_w = [sum(widths[r * per_row:(r + 1) * per_row])
             + gap_x * (len(widths[r * per_row:(r + 1) * per_row]) - 1) for r in range(rows)]
    fig_w = left + max(row_w) + right
    if fig_w < MIN_FIGURE_WIDTH_IN:  # a tall, thin die: centre it, keep room for the title
        left += (MIN_FIGURE_WIDTH_IN - fig_w) / 2
        fig_w = MIN_FIGURE_WIDTH_IN
    fig_h = top + rows * height + (rows - 1) * gap_y + bottom
    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    FigureCanvasAgg(fig)

    panels = []
    for i, box in enumerate(boxes):
        r, c = divmod(i, per_row)
        x = left + sum(widths[r * per_row:i]) + gap_x * c
        y = fig_h - top - (r + 1) * height - r * gap_y
        ax = fig.add_axes((x / fig_w, y / fig_h, widths[i] / fig_w, height / fig_h))
        ax.set_xlim(box[0] * _MM, box[2] * _MM)
        ax.set_ylim(box[1] * _MM, box[3] * _MM)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x (mm)")
        if c == 0:
            ax.set_ylabel("y (mm)")
        panels.append(_Panel(ax, tuple(box), height * _PT_PER_IN / _height(box)))
    def bar_right_of(x, y):
        return fig.add_axes(((x + 0.2) / fig_w, y / fig_h, 0.22 / fig_w, height / fig_h))

    cax = None
    if each:
        cax = [bar_right_of(p.ax.get_position().x1 * fig_w, p.ax.get_position().y0 * fig_h)
               for p in panels]
    elif colorbar:
        cax = bar_right_of(left + row_w[-1], fig_h - top - rows * height - (rows - 1) * gap_y)
    return fig, panels, cax


def _suptitle(fig, title):
    """Put the figure's title 0.12 in below its top edge."""
    fig.suptitle(title, y=1.0 - 0.12 / fig.get_figheight(), va="top", parse_math=False)


def _colorbar(fig, image, cax, label):
    """Add a colour bar for ``image`` in ``cax``, with plain tick labels (no offset)."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    bar = fig.colorbar(image, cax=cax)
    bar.set_label(label)
    if isinstance(image.norm, LogNorm):  # 0.05, 0.1, 0.2, 0.5, ... rather than 10^-1 alone
        bar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        formatter = bar.ax.yaxis.get_major_formatter()
        if hasattr(formatter, "set_useOffset"):
            formatter.set_useOffset(False)
    return bar


# ---------------------------------------------------------------------------------------------
# Drawing


def unit_label(units: str) -> str:
    """``"°C"`` or ``"K"``: how a temperature in ``units`` ("C" or "K") is labelled."""
    _offset(units)
    return "°C" if units == "C" else "K"


def _offset(units: str) -> float:
    """What to subtract from kelvin to draw in ``units``."""
    if units not in ("C", "K"):
        raise ValueError(f"units must be 'C' or 'K', got {units!r}")
    return ZERO_CELSIUS_K if units == "C" else 0.0


def _outline_legend(ax, footprints, footprint_names, blocks: bool, critical: bool) -> None:
    """A legend naming the dashed layer outlines (coinciding ones share an entry), the block
    outlines and the critical regions."""
    from matplotlib.lines import Line2D

    groups: dict[tuple, list[str]] = {}
    for rect, name in zip(np.round(np.asarray(footprints).reshape(-1, 4), 12).tolist(),
                          footprint_names):
        groups.setdefault(tuple(rect), []).append(str(name))
    handles = []
    if blocks:
        handles.append(Line2D([], [], color="tab:red", linewidth=0.9, label="blocks"))
    for rect, layer_names in groups.items():
        size = f"{abs(rect[2] - rect[0]) * _MM:.3g} x {abs(rect[3] - rect[1]) * _MM:.3g} mm"
        handles.append(Line2D([], [], color="tab:blue", linestyle=(0, (5, 3)), linewidth=1.0,
                              label=f"{', '.join(layer_names)} ({size})"))
    if critical:
        handles.append(Line2D([], [], color="tab:orange", linewidth=2.0, label="critical"))
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.9,
              title="outlines", title_fontsize=7)


def _draw_temperature(ax, points, triangles, values_K, clim=None, units="C"):
    """Gouraud-shade the P1 field in ``units`` on the nodes ``triangles`` use; return the
    artist."""
    used = _used_nodes(len(points), triangles)
    values_C = values_K[used] - _offset(units)
    if not np.isfinite(values_C).all():
        raise ValueError("values_K is not finite on a node of the drawn triangles")
    local = np.cumsum(used) - 1  # renumber the used nodes 0..n-1
    xy_mm = points[used] * _MM
    if clim is None:
        clim = _clim(values_C.min(), values_C.max())
    return ax.tripcolor(xy_mm[:, 0], xy_mm[:, 1], local[triangles], values_C,
                        shading="gouraud", cmap=HEAT_CMAP, vmin=clim[0], vmax=clim[1])


def _draw_flat(ax, points, triangles, values, cmap, log=False):
    """Fill each triangle with one colour from ``values`` (M,); return the artist.

    Every triangle gets its own three vertices and Gouraud shading of three equal values: one
    draw call, about four times faster than a polygon collection of a million triangles.
    """
    from matplotlib.colors import LogNorm, Normalize

    low, high = float(values.min()), float(values.max())
    if high <= low:
        low, high = low / 1.5, high * 1.5
    norm = LogNorm(low, high) if log and low > 0 else Normalize(low, high)
    corners_mm = points[triangles].reshape(-1, 2) * _MM
    own = np.arange(len(corners_mm)).reshape(-1, 3)
    return ax.tripcolor(corners_mm[:, 0], corners_mm[:, 1], own, np.repeat(values, 3),
                        shading="gouraud", cmap=cmap, norm=norm)


def _saved(fig, path) -> None:
    """Write the figure as a PNG; zlib level 1 encodes it 4-5x faster than matplotlib's
    default 6 for files about 20% larger."""
    with warnings.catch_warnings():  # names in scripts the font lacks are drawn as boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})


def _draw_edges(panel, points, edges, width_pt):
    """Draw the mesh edges that cross the panel's box as one polyline broken by NaNs (a
    LineCollection builds a path per segment in Python: 3.5 s for ev6's 130k edges, this 0.1 s)."""
    ends = points[edges]  # (E, 2, 2)
    x0, y0, x1, y1 = _padded(panel.box, 0.01)
    lo, hi = ends.min(axis=1), ends.max(axis=1)
    inside = (hi[:, 0] >= x0) & (lo[:, 0] <= x1) & (hi[:, 1] >= y0) & (lo[:, 1] <= y1)
    kept = ends[inside] * _MM
    line = np.concatenate([kept, np.full((len(kept), 1, 2), np.nan)], axis=1).reshape(-1, 2)
    panel.ax.plot(line[:, 0], line[:, 1], linewidth=width_pt, color="0.3", scalex=False,
                  scaley=False, solid_joinstyle="miter")


def _draw_rects(ax, rects, colour, halo=None, width_pt=0.8):
    """Outline the blocks; a wider ``halo`` line underneath keeps them visible on any colour.

    All outlines are one polyline broken by NaNs (one path however many blocks: a
    LineCollection of 16k outlines took 0.9 s to build and draw)."""
    if not len(rects):
        return
    x, y, w, h = (np.asarray(rects, float).reshape(-1, 4) * _MM).T
    nan = np.full_like(x, np.nan)
    xs = np.column_stack((x, x + w, x + w, x, x, nan)).ravel()
    ys = np.column_stack((y, y, y + h, y + h, y, nan)).ravel()
    style = dict(scalex=False, scaley=False, solid_joinstyle="miter", gid="block-outlines")
    if halo is not None:
        ax.plot(xs, ys, linewidth=width_pt + 1.0, color=halo, alpha=0.6, **style)
    ax.plot(xs, ys, linewidth=width_pt, color=colour, **style)


def _draw_footprints(ax, footprints):
    """Draw layer footprints (x0, y0, x1, y1) as dashed rectangles."""
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in footprints * _MM:
        ax.add_patch(Rectangle((min(x0, x1), min(y0, y1)), abs(x1 - x0), abs(y1 - y0),
                               fill=False, linestyle=(0, (5, 3)), linewidth=1.0,
                               edgecolor="tab:blue"))


def _draw_critical(ax, regions):
    """Outline critical regions (x0, y0, x1, y1) in orange, thicker than the block outlines."""
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in regions * _MM:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linewidth=2.0,
                               edgecolor="tab:orange", label="critical", zorder=3))


def _draw_names(panel, rects, names, colour, halo):
    """Write each block's name at its centre, as large as the block allows.

    The name's extent at 10 pt is measured once, then scaled to fill at most 85 % of the
    block's width and 60 % of its height; a name that fits better turned (tall, thin blocks) is
    turned, and one smaller than 4.5 pt either way is left out. Names are drawn in the order of
    their size, largest first, and a name whose box would overlap an already placed one is
    left out too.
    """
    from matplotlib import patheffects
    from matplotlib.font_manager import FontProperties

    renderer = panel.ax.figure.canvas.get_renderer()
    prop = FontProperties(size=10.0)
    px_per_pt = panel.ax.figure.dpi / _PT_PER_IN
    names = [str(n) for n in names]
    rects = np.asarray(rects, float).reshape(-1, 4)
    # Screen out, without measuring, every name that could not reach the smallest size even
    # at the narrowest glyph's width (measuring is ~0.3 ms a name: 5 s for 16k blocks).
    narrowest = _narrowest_glyph_pt(renderer, prop, px_per_pt)
    lengths = np.array([len(n.strip()) for n in names])
    longest_side = np.maximum(rects[:, 2], rects[:, 3]) * panel.pt_per_m
    reachable = 0.85 * longest_side / np.maximum(lengths * narrowest, 1e-300) >= _MIN_LABEL_PT
    centre = rects[:, :2] + rects[:, 2:] / 2
    x0, y0, x1, y1 = panel.box
    shown = ((lengths > 0) & reachable & (centre[:, 0] >= x0) & (centre[:, 0] <= x1)
             & (centre[:, 1] >= y0) & (centre[:, 1] <= y1))
    candidates = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        for i in np.flatnonzero(shown):
            (x, y, w, h), name = rects[i], names[i]
            text_w, text_h, _ = renderer.get_text_width_height_descent(name, prop, ismath=False)
            text_w = max(text_w, 1.0) / px_per_pt / 10.0  # per pt of size
            text_h = max(text_h, 1.0) / px_per_pt / 10.0
            w_pt, h_pt = w * panel.pt_per_m, h * panel.pt_per_m
            flat = min(0.85 * w_pt / text_w, 0.6 * h_pt / text_h)
            turned = min(0.85 * h_pt / text_w, 0.6 * w_pt / text_h)
            size = min(max(flat, turned), _MAX_LABEL_PT)
            if size < _MIN_LABEL_PT:
                continue
            rotation = 90 if turned > flat and flat < _MAX_LABEL_PT else 0
            half_w, half_h = 0.5 * size * text_w, 0.5 * size * text_h
            if rotation:
                half_w, half_h = half_h, half_w
            cx, cy = (x + w / 2) * panel.pt_per_m, (y + h / 2) * panel.pt_per_m
            candidates.append((size, name, x + w / 2, y + h / 2, rotation,
                               (cx - half_w, cy - half_h, cx + half_w, cy + half_h)))
    effects = [patheffects.withStroke(linewidth=2.0, foreground=halo)] if halo else None
    placed = np.empty((len(candidates), 4))  # display boxes in points: (x0, y0, x1, y1)
    n_placed = 0
    for size, name, x, y, rotation, box in sorted(candidates, key=lambda c: -c[0]):
        b = placed[:n_placed]
        if np.any((box[0] < b[:, 2]) & (b[:, 0] < box[2]) & (box[1] < b[:, 3])
                  & (b[:, 1] < box[3])):
            continue
        placed[n_placed] = box
        n_placed += 1
        panel.ax.text(x * _MM, y * _MM, name, fontsize=size, rotation=rotation, color=colour,
                      ha="center", va="center", path_effects=effects, clip_on=True,
                      parse_math=False)


def _narrowest_glyph_pt(renderer, prop, px_per_pt) -> float:
    """A lower bound on the width of one character of a name, per pt of font size (measured at
    100 pt, where pixel rounding is 1%, less 20% for kerning)."""
    big = prop.copy()
    big.set_size(100.0)
    width = min(renderer.get_text_width_height_descent(c, big, ismath=False)[0]
                for c in ".,:;'!|il1")
    return 0.8 * max(width - 1.0, 1.0) / px_per_pt / 100.0


def _mark_peak(panel, peak, units="C"):
    """Mark the peak with a cross and annotate its temperature, pointing into the panel."""
    t_K, x, y = (float(v) for v in peak)
    x0, y0, x1, y1 = panel.box
    dx = -1 if x > (x0 + x1) / 2 else 1
    dy = -1 if y > (y0 + y1) / 2 else 1
    ax = panel.ax
    ax.plot([x * _MM], [y * _MM], marker="P", markersize=11, color="cyan",
            markeredgecolor="black", markeredgewidth=1.0, linestyle="none", zorder=5)
    ax.annotate(f"{t_K - _offset(units):.2f} {unit_label(units)}", (x * _MM, y * _MM),
                xytext=(28 * dx, 24 * dy), textcoords="offset points",
                ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top",
                fontsize=10, fontweight="bold", zorder=6,
                bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="black",
                          alpha=0.85),
                arrowprops=dict(arrowstyle="-", color="black", linewidth=1.0))


# ---------------------------------------------------------------------------------------------
# Geometry


def _checked_mesh(points, triangles):
    points = np.asarray(points, dtype=np.float64)
    triangles = np.asarray(triangles)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.dtype.kind not in "iu":
        raise ValueError(f"triangles must be an (M, 3) integer array, got {triangles.shape}")
    if len(triangles) == 0:
        raise ValueError("no triangles to draw")
    if triangles.min() < 0 or triangles.max() >= len(points):
        raise ValueError(f"triangles refer to nodes outside 0..{len(points) - 1}")
    return points, triangles


def _checked_rects(rects):
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    if (rects[:, 2:] <= 0).any():
        raise ValueError("block widths and heights must be positive")
    return rects


def _used_nodes(n, triangles):
    used = np.zeros(n, dtype=bool)
    used[triangles.ravel()] = True
    return used


def _used_values(points, triangles, values_K):
    values = values_K[_used_nodes(len(points), triangles)]
    if not np.isfinite(values).all():
        raise ValueError("values_K is not finite on a node of the drawn triangles")
    return values


def _clim(low, high):
    """Colour limits (low, high), widened by 0.5 each way if the field is constant."""
    low, high = float(low), float(high)
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def _unique_edges(triangles):
    """(E, 2) node pairs of the mesh edges, each edge once."""
    edges = np.sort(triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1).astype(np.int64)
    n = int(edges.max()) + 1
    keys = np.unique(edges[:, 0] * n + edges[:, 1])
    return np.column_stack([keys // n, keys % n])


def _diameters(points, triangles):
    """(M,) longest edge of each triangle, in the units of ``points``."""
    corners = points[triangles]
    sides = corners - np.roll(corners, 1, axis=1)
    return np.sqrt((sides ** 2).sum(axis=2)).max(axis=1)


def _points_box(points, triangles):
    used = points[_used_nodes(len(points), triangles)]
    return (*used.min(axis=0), *used.max(axis=0))


def _rects_box(rects):
    return (rects[:, 0].min(), rects[:, 1].min(), (rects[:, 0] + rects[:, 2]).max(),
            (rects[:, 1] + rects[:, 3]).max())


def _union_box(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _padded(box, fraction):
    pad = fraction * max(_width(box), _height(box))
    return (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def _width(box):
    return max(box[2] - box[0], 1e-12)


def _height(box):
    return max(box[3] - box[1], 1e-12)


def plot_prediction(path: str | PathLike, raster_box, size_m: np.ndarray, rise_K: np.ndarray | None,
                    ambient_K: float, rects: np.ndarray, hotspots: Sequence[dict] = (),
                    final: tuple | None = None, title: str | None = None, units: str = "C"):
    """What the predictor saw before the solve, beside the answer: predicted.png.

    Panels (left to right): the predicted temperature with the predicted hotspots numbered
    (when the model predicts temperatures), the predicted element size, and the final solved
    temperature with its peak (when ``final`` is given), all with the block outlines.

    Parameters
    ----------
    path : str or path-like or None
    raster_box : (x0, y0, x1, y1)
        Extent of the prediction rasters, metres.
    size_m, rise_K : (ny, nx)
        Predicted element size (m) and temperature rise (K), rows from the bottom.
    ambient_K : float
    rects : (B, 4)
        Blocks (left, bottom, width, height), metres.
    hotspots : sequence of dict
        ``x_m``, ``y_m``, ``temperature_K`` of the predicted hotspots, hottest first.
    final : (points, triangles, values_K, peak), optional
        The solved power layer and its (T_K, x_m, y_m) peak.
    units : {"C", "K"}
        Temperatures drawn in degrees Celsius (default) or kelvin.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import LogNorm

    rects = _checked_rects(rects)
    box = tuple(float(v) for v in raster_box)
    extent = np.array([box[0], box[2], box[1], box[3]]) * _MM
    unit = unit_label(units)
    titles = ([f"predicted temperature ({unit})"] if rise_K is not None else []) + \
        ["predicted element size (mm)"] + ([f"solved temperature ({unit})"] if final is not None
                                           else [])
    title = title or "prediction before the solve, and the answer"
    fig, panels, bars = _layout([box] * len(titles), colorbar="each", titled_panels=True,
                                title_lines=title.count("\n") + 1, max_width_in=PREDICTION_WIDTH_IN)
    images = []
    predicted_C = None if rise_K is None else rise_K + ambient_K - _offset(units)
    clim = None
    if final is not None:  # the predicted and the solved temperature on one scale
        shown = [_used_values(*final[:3]) - _offset(units)]
        if predicted_C is not None:
            shown.append(predicted_C.ravel())
        clim = _clim(min(a.min() for a in shown), max(a.max() for a in shown))
    if predicted_C is not None:
        ax = panels[len(images)].ax
        images.append(ax.imshow(predicted_C, origin="lower", extent=extent, cmap=HEAT_CMAP,
                                interpolation="bilinear", vmin=clim and clim[0],
                                vmax=clim and clim[1]))
        for n, spot in enumerate(hotspots, start=1):
            x, y = spot["x_m"] * _MM, spot["y_m"] * _MM
            ax.plot(x, y, "o", mfc="none", mec="black", ms=9)
            below = y > extent[2] + 0.9 * (extent[3] - extent[2])  # keep the number inside
            ax.annotate(str(n), (x, y), xytext=(5, -12 if below else 5),
                        textcoords="offset points", fontsize=8, annotation_clip=True)
    images.append(panels[len(images)].ax.imshow(
        size_m * _MM, origin="lower", extent=extent, cmap=SIZE_CMAP,
        norm=LogNorm(float(size_m.min()) * _MM, float(size_m.max()) * _MM * 1.0001)))
    if final is not None:
        points, triangles, values_K, peak = final
        ax = panels[len(images)].ax
        images.append(_draw_temperature(ax, points, triangles, values_K, clim=clim, units=units))
        ax.plot(peak[1] * _MM, peak[2] * _MM, "x", color="black", ms=9)
    for panel, image, bar, label in zip(panels, images, bars, titles):
        _colorbar(fig, image, bar, "")
        _draw_rects(panel.ax, rects, colour="white", halo="black", width_pt=0.5)
        panel.ax.set_title(label, fontsize=9)
        panel.ax.set_xlim(extent[0], extent[1])
        panel.ax.set_ylim(extent[2], extent[3])
    _suptitle(fig, title)
    if path is not None:
        _saved(fig, path)
    return fig


DIFF_CMAP = "RdBu_r"


def plot_difference(path: str | PathLike, points: np.ndarray | None,
                    triangles: np.ndarray | None, diff_K: np.ndarray, rects: np.ndarray,
                    names: Sequence[str], title: str | None = None, per_triangle: bool = False,
                    grid_box: tuple[float, float, float, float] | None = None):
    """Draw a temperature difference (A − B, kelvin) over the floorplan, and save it as a PNG.

    The colour scale is symmetric about zero (white): red where A is hotter, blue where cooler.

    Parameters
    ----------
    path : str or path-like or None
    points, triangles : (N, 2) float and (M, 3) int, or None
        The mesh the difference lives on (None with ``grid_box``).
    diff_K : (N,) or (M,) or (rows, cols) float
        At the nodes (Gouraud-shaded), per triangle (``per_triangle``), or on a grid over
        ``grid_box`` with row 0 at the top. NaN where unknown (left blank).
    rects : (B, 4) float
        Blocks ``(left, bottom, width, height)``, m, outlined; non-finite rows are skipped.
    names : sequence of B str
    title : str, optional
    per_triangle : bool
    grid_box : (x0, y0, x1, y1), optional
        The extent of a grid ``diff_K``, m.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    shown = np.isfinite(rects).all(axis=1)
    rects, names = rects[shown], [n for n, s in zip(names, shown) if s]
    diff_K = np.asarray(diff_K, dtype=np.float64)
    finite = diff_K[np.isfinite(diff_K)]
    span = float(np.max(np.abs(finite))) if finite.size else 0.0
    span = span if span > 0 else 1e-3
    title = title or "temperature difference A − B"
    if grid_box is not None:
        box = tuple(float(v) for v in grid_box)
    else:
        points, triangles = _checked_mesh(points, triangles)
        box = _union_box(_points_box(points, triangles), _rects_box(rects)) if len(rects) \
            else _points_box(points, triangles)
    fig, (panel,), cax = _layout([box], colorbar=True, title_lines=title.count("\n") + 1)
    ax = panel.ax
    if grid_box is not None:
        image = ax.imshow(diff_K, origin="upper", extent=np.array([box[0], box[2], box[1],
                                                                   box[3]]) * _MM,
                          cmap=DIFF_CMAP, vmin=-span, vmax=span, interpolation="nearest")
    elif per_triangle:
        keep = np.isfinite(diff_K)
        corners_mm = points[triangles[keep]].reshape(-1, 2) * _MM
        own = np.arange(len(corners_mm)).reshape(-1, 3)
        image = ax.tripcolor(corners_mm[:, 0], corners_mm[:, 1], own, np.repeat(diff_K[keep], 3),
                             shading="gouraud", cmap=DIFF_CMAP, vmin=-span, vmax=span)
    else:
        keep = np.isfinite(diff_K[triangles]).all(axis=1)
        tri = triangles[keep]
        used = _used_nodes(len(points), tri)
        local = np.cumsum(used) - 1
        xy = points[used] * _MM
        image = ax.tripcolor(xy[:, 0], xy[:, 1], local[tri], diff_K[used], shading="gouraud",
                             cmap=DIFF_CMAP, vmin=-span, vmax=span)
    _draw_rects(ax, rects, colour="black", width_pt=0.6)
    _draw_names(panel, rects, names, colour="black", halo="white")
    _colorbar(fig, image, cax, "A − B (K)")
    _suptitle(fig, title)
    if path is not None:
        _saved(fig, path)
    return fig
