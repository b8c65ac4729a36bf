"""The exact cosine-series solution (thermal.gallery): physics identities, an independent 1-D
solve, symmetry, linearity, a naive-loop oracle for the vectorised code, and truncation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from conftest import random_slicing_rects
from scipy import integrate

from thermal.gallery import exact_for, exact_solution

EV6_LAYERS = [(150e-6, 100.0), (20e-6, 4.0), (1e-3, 400.0)]   # die / TIM / spreader
H_BOTTOM = 1e4
AMBIENT = 318.15


def _g_ambient(layers, h):
    t, k = layers[-1]
    return 1.0 / (t / (2 * k) + 1.0 / h)


def _ev6_like(seed=3, n_blocks=24, total_w=40.0):
    """A 16 mm die tiled by random blocks with ev6-like powers (a few hot spots, ~3e6 W/m^2)."""
    die = (0.0, 0.0, 0.016, 0.016)
    rects = random_slicing_rects(n_blocks, seed, die=die)
    rng = np.random.default_rng(seed)
    power = rng.lognormal(0.0, 1.2, n_blocks) * rects[:, 2] * rects[:, 3]
    power[rng.choice(n_blocks, 3, replace=False)] *= 15.0
    return die, rects, power * (total_w / power.sum())


@pytest.fixture(scope="module")
def ev6_like():
    die, rects, power = _ev6_like()
    return die, rects, power, exact_solution(die, rects, power, EV6_LAYERS, H_BOTTOM, AMBIENT)


@pytest.mark.parametrize("power_layer", [0, 1])
def test_energy_balance(power_layer):
    die, rects, power = _ev6_like(seed=5)
    sol = exact_solution(die, rects, power, EV6_LAYERS, H_BOTTOM, AMBIENT,
                         power_layer=power_layer, modes=(64, 48))
    area = (die[2] - die[0]) * (die[3] - die[1])
    out_w = sol.coefficients[-1, 0, 0] * area * _g_ambient(EV6_LAYERS, H_BOTTOM)
    assert out_w == pytest.approx(power.sum(), rel=1e-12)
    assert sol.g_ambient == pytest.approx(_g_ambient(EV6_LAYERS, H_BOTTOM), rel=1e-15)


@pytest.mark.parametrize("tiles", [1, 3])
def test_uniform_power_one_layer(tiles):
    """Uniform density (one die-sized block, or a 3x3 tiling of it): θ = P/(A g_amb) exactly,
    so the edge tail corrections of neighbouring tiles must cancel too."""
    die = (1e-3, 2e-3, 11e-3, 8e-3)
    w, h = (die[2] - die[0]) / tiles, (die[3] - die[1]) / tiles
    rects = np.array([[die[0] + i * w, die[1] + j * h, w, h]
                      for i in range(tiles) for j in range(tiles)])
    power = np.full(len(rects), 2.0 / len(rects))
    layers = [(300e-6, 120.0)]
    sol = exact_solution(die, rects, power, layers, 5e3, AMBIENT)
    expected = AMBIENT + 2.0 / (60e-6 * _g_ambient(layers, 5e3))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(die[0], die[2], 200), rng.uniform(die[1], die[3], 200)
    x[:2], y[:2] = die[0] + w, die[1] + h          # a tile corner, exactly
    np.testing.assert_allclose(sol.temperature(x, y), expected, rtol=1e-12)
    np.testing.assert_allclose(sol.temperature_grid(x[:7], y[:5]), expected, rtol=1e-12)
    np.testing.assert_allclose(sol.block_mean(), expected, rtol=1e-12)
    np.testing.assert_allclose(sol.block_max(), expected, rtol=1e-12)
    np.testing.assert_allclose(sol.block_min(), expected, rtol=1e-12)
    assert sol.peak()[0] == pytest.approx(expected, rel=1e-12)


def _finite_differences_1d(width, rects, power, height, layers, h, n):
    """Independent vertex-centred finite-volume solve of the x-only layered problem."""
    t, k = np.array(layers).T
    half = t / (2 * k)
    g = 1.0 / (half[:-1] + half[1:])
    coupling = np.diag(np.r_[0.0, g] + np.r_[g, 0.0])
    coupling[-1, -1] += 1.0 / (half[-1] + 1.0 / h)
    for i, gi in enumerate(g):
        coupling[i, i + 1] = coupling[i + 1, i] = -gi
    x = np.linspace(0.0, width, n + 1)
    dx = width / n
    dual = np.full(n + 1, dx)
    dual[[0, -1]] = dx / 2
    stiffness = sp.diags([np.r_[1.0, np.full(n - 1, 2.0), 1.0], -np.ones(n), -np.ones(n)],
                         [0, 1, -1]) / dx
    lo, hi = np.maximum(x - dx / 2, 0.0), np.minimum(x + dx / 2, width)
    overlap = np.clip(np.minimum(hi[:, None], rects[:, 0] + rects[:, 2])
                      - np.maximum(lo[:, None], rects[:, 0]), 0.0, None)
    q = overlap @ (power / rects[:, 2] / height)              # W/m of height per dual cell
    a = sp.kron(sp.diags(k * t), stiffness) + sp.kron(sp.csr_matrix(coupling), sp.diags(dual))
    rhs = np.zeros(len(t) * (n + 1))
    rhs[:n + 1] = q
    return x, spla.spsolve(a.tocsc(), rhs).reshape(len(t), n + 1)


@pytest.mark.parametrize("layers", [[(150e-6, 100.0)], [(150e-6, 100.0), (1e-3, 400.0)]],
                         ids=["1-layer", "2-layer"])
def test_full_height_blocks_match_1d_finite_differences(layers):
    width, height = 0.010, 0.004
    rects = np.array([[0.002, 0.0, 0.0015, height], [0.006, 0.0, 0.0002, height],
                      [0.0, 0.0, 0.001, height]])
    power = np.array([5.0, 1.0, 0.5])
    sol = exact_solution((0.0, 0.0, width, height), rects, power, layers, H_BOTTOM, AMBIENT)
    x, theta = _finite_differences_1d(width, rects, power, height, layers, H_BOTTOM, 20000)
    for layer in range(len(layers)):
        grid = sol.temperature_grid(x, [0.0, 0.0013, height], layer) - AMBIENT
        # FD error ~3e-6 K here (its conditioning); the untreated series is off by ~1e-3 K
        np.testing.assert_allclose(grid, np.broadcast_to(theta[layer], grid.shape), atol=2e-5)
    assert sol.block_max()[1] == pytest.approx(theta[0, (x >= 0.006) & (x <= 0.0062)].max()
                                               + AMBIENT, abs=2e-5)


def test_mirror_image_floorplan_gives_mirrored_field(ev6_like):
    die, rects, power, sol = ev6_like
    mirrored = rects.copy()
    mirrored[:, 0] = die[0] + die[2] - rects[:, 0] - rects[:, 2]
    mir = exact_solution(die, mirrored, power, EV6_LAYERS, H_BOTTOM, AMBIENT, modes=sol.modes)
    xs = np.linspace(die[0], die[2], 41)
    ys = np.linspace(die[1], die[3], 37)
    for layer in (0, 2):
        np.testing.assert_allclose(mir.temperature_grid(xs, ys, layer),
                                   sol.temperature_grid(xs[::-1], ys, layer), rtol=0, atol=1e-9)
    np.testing.assert_allclose(mir.block_mean(), sol.block_mean(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(mir.block_max(), sol.block_max(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(mir.block_min(), sol.block_min(), rtol=0, atol=1e-7)
    t, x, y = sol.peak()
    tm, xm, ym = mir.peak()
    assert tm == pytest.approx(t, abs=1e-7)
    assert (xm, ym) == pytest.approx((die[0] + die[2] - x, y), abs=1e-6)


def test_linear_in_power(ev6_like):
    die, rects, power, _ = ev6_like
    other = np.random.default_rng(1).uniform(0.0, 2.0, len(power))
    solve = lambda p: exact_solution(die, rects, p, EV6_LAYERS, H_BOTTOM, AMBIENT,
                                     modes=(96, 80))
    a, b, ab = solve(power), solve(other), solve(power - 2.5 * other)
    np.testing.assert_allclose(ab.coefficients, a.coefficients - 2.5 * b.coefficients,
                               rtol=1e-10, atol=1e-12 * np.abs(a.coefficients).max())
    xs, ys = np.linspace(0, 0.016, 23), np.linspace(0, 0.016, 19)
    for layer in (0, 1):
        theta = [s.temperature_grid(xs, ys, layer) - AMBIENT for s in (a, b, ab)]
        np.testing.assert_allclose(theta[2], theta[0] - 2.5 * theta[1], atol=1e-10)
    means = [s.block_mean() - AMBIENT for s in (a, b, ab)]
    np.testing.assert_allclose(means[2], means[0] - 2.5 * means[1], atol=1e-10)


def test_coefficients_match_naive_mode_loop():
    """Oracle: quadrature for q̂ and a dense L x L solve, one mode at a time."""
    die = (0.5e-3, 0.0, 6.5e-3, 4e-3)
    rects = np.array([[0.5e-3, 0.0, 2e-3, 4e-3], [2.5e-3, 1e-3, 3e-3, 1.5e-3],
                      [4e-3, 3.2e-3, 0.3e-3, 0.8e-3]])
    power = np.array([1.0, 3.0, 0.7])
    layers = [(100e-6, 150.0), (20e-6, 4.0), (1e-3, 400.0)]
    sol = exact_solution(die, rects, power, layers, 2e4, AMBIENT, power_layer=1, modes=(5, 4))
    width, height = die[2] - die[0], die[3] - die[1]
    t, k = np.array(layers).T
    g = [1 / (t[i] / (2 * k[i]) + t[i + 1] / (2 * k[i + 1])) for i in range(2)]
    g_amb = 1 / (t[2] / (2 * k[2]) + 1 / 2e4)
    for m in range(5):
        for n in range(4):
            q = 0.0
            for (left, bottom, w, h), p in zip(rects, power):
                ix = integrate.quad(lambda s: np.cos(m * np.pi * (s - die[0]) / width),
                                    left, left + w)[0]
                iy = integrate.quad(lambda s: np.cos(n * np.pi * (s - die[1]) / height),
                                    bottom, bottom + h)[0]
                q += p / (w * h) * ix * iy
            q *= (1 if m == 0 else 2) * (1 if n == 0 else 2) / (width * height)
            lam = (m * np.pi / width) ** 2 + (n * np.pi / height) ** 2
            a = np.diag(k * t * lam + [g[0], g[0] + g[1], g[1] + g_amb])
            a[0, 1] = a[1, 0] = -g[0]
            a[1, 2] = a[2, 1] = -g[1]
            expected = np.linalg.solve(a, [0.0, q, 0.0])
            np.testing.assert_allclose(sol.coefficients[:, m, n], expected, rtol=1e-9,
                                       atol=1e-12 * abs(expected).max())


def test_points_grid_and_block_means_agree(ev6_like):
    die, rects, _, sol = ev6_like
    rng = np.random.default_rng(2)
    xs, ys = np.sort(rng.uniform(0, 0.016, 9)), np.sort(rng.uniform(0, 0.016, 7))
    grid = sol.temperature_grid(xs, ys)
    points = sol.temperature(*np.meshgrid(xs, ys))
    assert points.shape == grid.shape == (7, 9)
    np.testing.assert_allclose(points, grid, rtol=0, atol=1e-10)
    # block means against 20x20 Gauss-Legendre quadrature of the pointwise field
    nodes, weights = np.polynomial.legendre.leggauss(20)
    for b in (0, 7, 19):
        left, bottom, w, h = rects[b]
        gx, gy = left + w * (nodes + 1) / 2, bottom + h * (nodes + 1) / 2
        quad = weights @ sol.temperature_grid(gx, gy) @ weights / 4
        assert sol.block_mean()[b] == pytest.approx(quad, abs=2e-6)


def test_block_extrema_bound_the_field(ev6_like):
    die, rects, _, sol = ev6_like
    hi, lo, mean = sol.block_max(), sol.block_min(), sol.block_mean()
    assert (lo < mean).all() and (mean < hi).all()
    for b in range(0, len(rects), 5):
        left, bottom, w, h = rects[b]
        grid = sol.temperature_grid(np.linspace(left, left + w, 50),
                                    np.linspace(bottom, bottom + h, 50))
        assert grid.max() <= hi[b] + 1e-9 and grid.min() >= lo[b] - 1e-9
    t, x, y = sol.peak()
    assert t >= hi.max() - 1e-9
    assert sol.temperature(x, y) == pytest.approx(t, abs=1e-9)
    assert die[0] <= x <= die[2] and die[1] <= y <= die[3]
    assert sol.peak(layer=2)[0] < t


def test_truncation_auto_modes_vs_doubled(ev6_like):
    """The automatic mode count against twice as many modes, to the accuracy the module
    docstring claims: block means 1e-6 K, the peak 1e-5 K, block max/min 1e-4 K."""
    die, rects, power, sol = ev6_like
    m, n = sol.modes
    assert 200 <= min(m, n) and max(m, n) <= 2048
    fine = exact_solution(die, rects, power, EV6_LAYERS, H_BOTTOM, AMBIENT, modes=(2 * m, 2 * n))
    np.testing.assert_allclose(sol.block_mean(), fine.block_mean(), rtol=0, atol=1e-6)
    assert sol.peak()[0] == pytest.approx(fine.peak()[0], abs=1e-5)
    np.testing.assert_allclose(sol.block_max(), fine.block_max(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(sol.block_min(), fine.block_min(), rtol=0, atol=1e-4)


def test_exact_for_reads_project_objects():
    die, rects, power = _ev6_like(seed=7, n_blocks=6)
    nan = np.full(len(rects), np.nan)
    floorplan = SimpleNamespace(bounds=die, left_m=rects[:, 0], bottom_m=rects[:, 1],
                                width_m=rects[:, 2], height_m=rects[:, 3], conductivity=nan)
    layers = tuple(SimpleNamespace(name=f"l{i}", thickness_m=t, conductivity=k, power=i == 1,
                                   size_m=None) for i, (t, k) in enumerate(EV6_LAYERS))
    stack = SimpleNamespace(layers=layers, ambient_K=300.0, power_layers=(1,),
                            h_bottom=lambda bounds: 2e4)
    sol = exact_for(floorplan, power, stack, modes=(40, 30))
    ref = exact_solution(die, rects, power, EV6_LAYERS, 2e4, 300.0, power_layer=1,
                         modes=(40, 30))
    np.testing.assert_array_equal(sol.coefficients, ref.coefficients)
    assert sol.power_layer == 1 and sol.ambient_K == 300.0
    floorplan.names = tuple(f"b{i}" for i in range(len(rects)))
    by_name = {name: p for name, p in reversed(list(zip(floorplan.names, power)))}
    np.testing.assert_array_equal(exact_for(floorplan, by_name, stack, modes=(40, 30)).coefficients,
                                  ref.coefficients)
    with pytest.raises(ValueError, match="b0"):
        exact_for(floorplan, {"b1": 1.0}, stack)
    with pytest.raises(ValueError, match="uniform conductivity per layer, but the floorplan gives per-block"):
        per_block_k = np.full(len(rects), 150.0)
        exact_for(SimpleNamespace(**{**vars(floorplan), "conductivity": per_block_k}), power, stack)
    big = layers[:2] + (SimpleNamespace(**{**vars(layers[2]), "size_m": (0.03, 0.03)}),)
    with pytest.raises(ValueError, match="die footprint"):
        exact_for(floorplan, power, SimpleNamespace(**{**vars(stack), "layers": big}))


def test_rejects_bad_input():
    rects = np.array([[0.0, 0.0, 1e-3, 1e-3]])
    ok = dict(bounds=(0, 0, 1e-3, 1e-3), blocks_rects=rects, block_power_w=[1.0],
              layers=EV6_LAYERS, h=1e4, ambient_K=AMBIENT)
    for bad in (dict(blocks_rects=rects + [0.5e-3, 0, 0, 0]), dict(block_power_w=[1.0, 2.0]),
                dict(layers=[(0.0, 1.0)]), dict(power_layer=3), dict(modes=0)):
        with pytest.raises(ValueError):
            exact_solution(**{**ok, **bad})
