"""PNG output of thermal.plot: files, colour ranges, zoom panels, and no pyplot."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.spatial import Delaunay

from thermal import plot
from thermal.plot import plot_field_layers, plot_heatmap, plot_mesh

DIE_M = 0.016
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RECTS = np.array([[0.0, 0.0, 0.008, 0.006], [0.008, 0.0, 0.008, 0.006],
                  [0.0, 0.006, 0.016, 0.010], [0.0101, 0.0011, 0.0001, 0.0001]])
NAMES = ["L2_left", "L2_right", "core", "a_very_long_name_for_a_tiny_block"]


def _grid(x0, x1, n):
    x = np.linspace(x0, x1, n)
    return np.column_stack([c.ravel() for c in np.meshgrid(x, x)])


@pytest.fixture(scope="module")
def die_mesh():
    """A Delaunay mesh of the 16 mm die and a Gaussian hot spot on it, in kelvin."""
    rng = np.random.default_rng(3)
    points = np.concatenate([_grid(0.0, DIE_M, 15), rng.uniform(0.0, DIE_M, (300, 2))])
    triangles = Delaunay(points).simplices
    values_K = 320.0 + 30.0 * np.exp(-((points - [0.004, 0.011]) ** 2).sum(axis=1) / 8e-6)
    return points, triangles, values_K


@pytest.fixture(scope="module")
def stack_mesh():
    """A die mesh inside a 60 mm sink footprint; the die's triangles listed apart."""
    rng = np.random.default_rng(4)
    outer = rng.uniform(-0.022, 0.038, (400, 2))
    outer = outer[~((outer > 0) & (outer < DIE_M)).all(axis=1)]
    points = np.concatenate([_grid(0.0, DIE_M, 20), outer, _grid(-0.022, 0.038, 5)])
    points = np.unique(points, axis=0)
    triangles = Delaunay(points).simplices
    corners = points[triangles]
    die_triangles = triangles[((corners >= 0) & (corners <= DIE_M)).all(axis=(1, 2))]
    footprints = [(-0.007, -0.007, 0.023, 0.023), (-0.022, -0.022, 0.038, 0.038)]
    return points, triangles, die_triangles, footprints


def _assert_png(path, min_size=400):
    """The file is a PNG of at least ``min_size`` pixels each way; return its (h, w)."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    shape = imread(path).shape
    assert shape[0] >= min_size and shape[1] >= min_size and shape[2] in (3, 4)
    return shape[:2]


def _title(fig):
    return "\n".join(text.get_text() for text in fig.texts)


def _coloured(ax):
    return [c for c in ax.collections if c.get_array() is not None]


def test_heatmap_png_and_colour_range(tmp_path, die_mesh):
    points, triangles, values_K = die_mesh
    peak = int(np.argmax(values_K))
    fig = plot_heatmap(tmp_path / "heatmap.png", points, triangles, values_K, RECTS, NAMES,
                       peak=(values_K[peak], *points[peak]))
    height, width = _assert_png(tmp_path / "heatmap.png")
    assert 900 <= width <= 1300 and 700 <= height <= 1100  # ~8 x 7 in at 150 dpi
    ax = fig.axes[0]
    (field,) = _coloured(ax)
    low, high = field.get_clim()
    assert low == pytest.approx(values_K.min() - 273.15, abs=1e-12)
    assert high == pytest.approx(values_K.max() - 273.15, abs=1e-12)
    assert fig.axes[1].get_ylabel() == "temperature (°C)"
    assert ax.get_xlabel() == "x (mm)" and ax.get_xlim() == pytest.approx((0.0, 16.0))
    texts = [t.get_text() for t in ax.texts]
    assert {"L2_left", "L2_right", "core"} <= set(texts)
    assert "a_very_long_name_for_a_tiny_block" not in texts  # does not fit: left out
    assert f"{values_K.max() - 273.15:.2f} °C" in texts  # the peak annotation
    assert "peak" in _title(fig)


def test_heatmap_ignores_nan_on_unused_nodes(tmp_path, stack_mesh):
    points, _, die_triangles, _ = stack_mesh
    values_K = np.full(len(points), np.nan)
    used = np.unique(die_triangles)
    values_K[used] = 300.0 + points[used, 0] * 1e3
    fig = plot_heatmap(tmp_path / "h.png", points, die_triangles, values_K, RECTS, NAMES)
    _assert_png(tmp_path / "h.png")
    (field,) = _coloured(fig.axes[0])
    assert field.get_clim() == pytest.approx((np.nanmin(values_K) - 273.15,
                                              np.nanmax(values_K) - 273.15))
    assert fig.axes[0].get_xlim() == pytest.approx((0.0, 16.0))  # the layer, not the sink


def test_heatmap_refuses_nan_on_drawn_nodes(tmp_path, die_mesh):
    points, triangles, values_K = die_mesh
    values_K = values_K.copy()
    values_K[triangles[0, 0]] = np.nan
    with pytest.raises(ValueError, match="finite"):
        plot_heatmap(tmp_path / "h.png", points, triangles, values_K, RECTS, NAMES)


def test_heatmap_of_constant_field(tmp_path, die_mesh):
    points, triangles, _ = die_mesh
    fig = plot_heatmap(tmp_path / "h.png", points, triangles, np.full(len(points), 300.0),
                       RECTS, NAMES)
    low, high = _coloured(fig.axes[0])[0].get_clim()
    assert low < 300.0 - 273.15 < high


def test_mesh_of_die_is_one_panel_of_edges(tmp_path, die_mesh):
    points, triangles, _ = die_mesh
    fig = plot_mesh(tmp_path / "mesh.png", points, triangles, RECTS, NAMES)
    _assert_png(tmp_path / "mesh.png")
    (ax,) = fig.axes
    n_edges = len(plot._unique_edges(triangles))
    assert _drawn_edges(ax) == n_edges
    assert f"{len(triangles):,} triangles" in _title(fig)


def test_mesh_zooms_on_die_when_footprints_are_larger(tmp_path, stack_mesh):
    points, triangles, _, footprints = stack_mesh
    fig = plot_mesh(tmp_path / "mesh.png", points, triangles, RECTS, NAMES, footprints)
    height, width = _assert_png(tmp_path / "mesh.png")
    assert width > 1.5 * height  # two panels side by side
    whole, die = fig.axes
    assert whole.get_xlim()[0] < -21.0 and whole.get_xlim()[1] > 37.0
    assert -1.0 < die.get_xlim()[0] < 0.0 and 16.0 < die.get_xlim()[1] < 17.0
    assert len(whole.patches) == 2  # the dashed footprints
    # the zoomed panel draws only the edges near the die
    assert _drawn_edges(die) < _drawn_edges(whole)


def _drawn_edges(ax) -> int:
    """Mesh edges drawn on an axis: the segments of its NaN-separated edge polyline (the
    block outlines are another polyline, marked by its gid)."""
    (line,) = [line for line in ax.lines if line.get_gid() != "block-outlines"]
    x = line.get_xdata()
    assert np.isnan(x[2::3]).all() and np.isfinite(x[0::3]).all() and np.isfinite(x[1::3]).all()
    return len(x) // 3


def test_fine_mesh_draws_element_size(tmp_path, stack_mesh, monkeypatch):
    points, triangles, _, footprints = stack_mesh
    monkeypatch.setattr(plot, "MAX_EDGE_TRIANGLES", 100)
    fig = plot_mesh(tmp_path / "mesh.png", points, triangles, RECTS, NAMES, footprints)
    _assert_png(tmp_path / "mesh.png")
    whole, die, bar = fig.axes
    assert "element size" in _title(fig)
    assert bar.get_ylabel() == "triangle diameter (mm)"
    (sizes,) = _coloured(whole)
    diameters_mm = plot._diameters(points, triangles) * 1e3
    assert sizes.get_clim() == pytest.approx((diameters_mm.min(), diameters_mm.max()))


def test_field_layers(tmp_path, stack_mesh):
    points, triangles, die_triangles, _ = stack_mesh
    values = 300.0 + points[:, 0] * 1e3
    die_values = np.where(np.isin(np.arange(len(points)), die_triangles), values + 5.0, np.nan)
    fig = plot_field_layers(tmp_path / "layers.png", points, [die_triangles, triangles],
                            [die_values, values], ["die", "sink"], RECTS, NAMES, title="layers")
    _assert_png(tmp_path / "layers.png")
    clims = {_coloured(ax)[0].get_clim() for ax in fig.axes[:2]}
    assert len(clims) == 1  # one colour scale
    assert clims.pop() == pytest.approx((values.min() - 273.15, values.max() - 273.15))


def test_unique_edges_match_a_loop(die_mesh):
    _, triangles, _ = die_mesh
    expected = set()
    for a, b, c in triangles.tolist():
        expected |= {tuple(sorted(e)) for e in ((a, b), (b, c), (c, a))}
    edges = plot._unique_edges(triangles)
    assert len(edges) == len(expected)
    assert set(map(tuple, edges.tolist())) == expected


def test_diameters_match_a_loop(die_mesh):
    points, triangles, _ = die_mesh
    expected = [max(np.hypot(*(points[i] - points[j])) for i, j in ((a, b), (b, c), (c, a)))
                for a, b, c in triangles[:50]]
    np.testing.assert_allclose(plot._diameters(points, triangles[:50]), expected, rtol=1e-14)


def test_pyplot_is_never_imported(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from scipy.spatial import Delaunay
        from thermal.plot import plot_heatmap, plot_mesh
        points = np.random.default_rng(0).uniform(0, 0.01, (50, 2))
        triangles = Delaunay(points).simplices
        rects = np.array([[0, 0, 0.01, 0.01]])
        plot_heatmap({str(tmp_path / 'h.png')!r}, points, triangles, 300 + points[:, 0],
                     rects, ["die"], peak=(300.0, 0.005, 0.005))
        plot_mesh({str(tmp_path / 'm.png')!r}, points, triangles, rects, ["die"],
                  [(-0.01, -0.01, 0.02, 0.02)])
        print("matplotlib.pyplot" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
    assert (tmp_path / "h.png").stat().st_size > 0 and (tmp_path / "m.png").stat().st_size > 0


def test_import_does_not_load_matplotlib():
    result = subprocess.run([sys.executable, "-c",
                             "import sys, thermal.plot; print('matplotlib' in sys.modules)"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_names_and_titles_are_plain_text(tmp_path, die_mesh):
    """Names and titles that matplotlib would parse as mathtext (issue 22: ``$core`` and
    ``a\\b`` raised ParseFatalException) or that hold glyphs the font lacks are drawn as they
    are, without a warning."""
    import warnings

    points, triangles, values_K = die_mesh
    names = ["$core", "a\\b", "^_{x}$\\alpha$", "コア\U0001F525"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_heatmap(tmp_path / "heat.png", points, triangles, values_K, RECTS, names,
                           title="$layer\\ name")
        plot_field_layers(tmp_path / "layers.png", points, [triangles], [values_K],
                          ["$die", "a\\b"][:1], rects=RECTS, names=names, title="50% $x")
    _assert_png(tmp_path / "heat.png")
    drawn = {t.get_text() for t in fig.axes[0].texts}
    assert {"$core", "a\\b", "^_{x}$\\alpha$"} <= drawn
    assert "$layer\\ name" in _title(fig)


def test_names_that_cannot_fit_are_not_measured(tmp_path, monkeypatch):
    """16,384 blocks of a 0.6 mm die: no name fits, and none is measured (a vectorised screen
    leaves them out before the renderer is asked)."""
    from matplotlib.backends.backend_agg import RendererAgg

    k, side = 128, 0.6e-3 / 128
    ij = np.indices((k, k)).reshape(2, -1).T
    rects = np.c_[ij * side, np.full((k * k, 2), side)]
    names = [f"g{i}_{j}" for i, j in ij]
    points = _grid(0.0, 0.6e-3, 20)
    triangles = Delaunay(points).simplices
    measured = []
    original = RendererAgg.get_text_width_height_descent

    def counting(self, s, prop, ismath):
        measured.append(s)
        return original(self, s, prop, ismath)

    monkeypatch.setattr(RendererAgg, "get_text_width_height_descent", counting)
    fig = plot_heatmap(tmp_path / "heat.png", points, triangles, np.full(len(points), 320.0),
                       rects, names)
    assert not set(measured) & set(names)
    assert not [t for t in fig.axes[0].texts if t.get_text() in set(names)]
