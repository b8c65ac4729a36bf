"""The adaptive (estimator) strategy against exact solutions: accuracy, honesty, rate, cost."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp

import thermal
from thermal import adapt
from thermal.adapt import (Regions, _scaled_times, adaptive_solve, mark, marked_dorfler,
                           marked_in_regions)
from thermal.floorplan import make_floorplan
from thermal.mesh import initial_mesh
from thermal.options import MeshingOptions
from thermal.power import power_vector
from thermal.fields import block_stats
from thermal.strategies import start_mesh
from thermal.stack import Layer, Stack

from conftest import EV6, GCC, STACK3
from conftest import exact_on_mesh as _exact
from conftest import random_case as _random_case


def _hot_spot_case():
    """A 10 mm die of 9 blocks; a 0.3 mm block at 100x the power density of the others."""
    xs = [0.0, 4.0e-3, 4.3e-3, 10e-3]
    ys = [0.0, 5.0e-3, 5.3e-3, 10e-3]
    names, rects = [], []
    for i in range(3):
        for j in range(3):
            names.append(f"r{i}c{j}")
            rects.append((xs[j], ys[i], xs[j + 1] - xs[j], ys[i + 1] - ys[i]))
    rects = np.array(rects)
    density = np.full(9, 2e4)  # W/m^2
    density[4] = 2e6           # the hot spot (middle block)
    return make_floorplan(names, *rects.T), density * rects[:, 2] * rects[:, 3]


def _adapt(fp, power_w, stack, tolerance=0.1, block_tolerance=None):
    die = fp.bounds
    mesh = start_mesh(fp, stack, "estimator")
    if block_tolerance is None:
        block_tolerance = np.full(len(power_w), tolerance)
    return adaptive_solve(mesh, stack, power_w, block_tolerance, tolerance, None, die)


def _true_errors(result, fp, power_w, stack):
    exact = _exact(result.mesh, fp, power_w, stack)
    hi, mean, _ = block_stats(result.mesh, result.theta[0])
    amb = stack.ambient_K
    return np.abs(hi + amb - exact.block_max()), np.abs(mean + amb - exact.block_mean())


CASES = {
    "ev6": lambda: (EV6, power_vector(EV6, GCC.mean()), STACK3),
    "random-40": lambda: (*_random_case(40, 11), STACK3),
    "random-60-2layer": lambda: (*_random_case(60, 5), Stack(
        layers=(Layer("die", 300e-6, 120.0, 1.6e6, power=True), Layer("spreader", 2e-3, 390.0, 3.4e6)),
        h=2.5e4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_default_tolerance_holds_and_the_estimate_is_an_upper_bound(case):
    fp, power_w, stack = CASES[case]()
    result = _adapt(fp, power_w, stack)
    err_max, err_mean = _true_errors(result, fp, power_w, stack)
    assert max(err_max.max(), err_mean.max()) <= 0.1
    est = result.estimate
    assert est.value <= 0.1
    # effectivity: estimate / true error, for blocks whose true error is above 0.01 K
    for true, estimate in ((err_max, est.block_max), (err_mean, est.block_mean)):
        big = true > 0.01
        effectivity = estimate[big] / true[big]
        assert effectivity.min() >= 1.0, f"{case}: estimate below the true error"
        assert effectivity.max() <= 6.0, f"{case}: estimate {effectivity.max():.1f}x the true error"


def test_adaptive_mesh_needs_far_fewer_unknowns_than_uniform_on_ev6():
    power_w = power_vector(EV6, GCC.mean())
    adaptive = _adapt(EV6, power_w, STACK3)
    uniform = thermal.solve(EV6, power_w, STACK3, mesh="uniform")
    # uniform needs 108,807 DOFs for a true error of 0.095 K and stops at 433,227
    assert adaptive.history[-1]["dofs"] <= 0.3 * 108_807
    assert adaptive.history[-1]["dofs"] <= 0.1 * uniform.history[-1]["dofs"]


def test_adaptive_loop_converges_at_the_optimal_rate_around_a_hot_spot():
    fp, power_w = _hot_spot_case()
    dofs, errors = [], []
    # past the pre-asymptotic range of this floorplan: with block-driven marking the loop
    # converges faster than optimal down to 0.01 K (slope -1.9 over 0.04-0.01 K)
    for tolerance in (0.01, 0.005, 0.0025):
        result = _adapt(fp, power_w, STACK3, tolerance)
        err_max, err_mean = _true_errors(result, fp, power_w, STACK3)
        dofs.append(result.history[-1]["dofs"])
        errors.append(max(err_max.max(), err_mean.max()))
    slope = np.polyfit(np.log(dofs), np.log(errors), 1)[0]
    assert -1.4 < slope < -0.7, f"slope {slope:.2f}: DOFs {dofs}, errors {errors}"
    assert errors[-1] <= 0.01


def test_critical_block_gets_its_own_tighter_tolerance():
    power_w = power_vector(EV6, GCC.mean())
    critical = EV6.names.index("FPMap_0")
    block_tolerance = np.full(len(power_w), 0.1)
    block_tolerance[critical] = 0.02
    result = _adapt(EV6, power_w, STACK3, 0.1, block_tolerance)
    err_max, err_mean = _true_errors(result, EV6, power_w, STACK3)
    assert max(err_max[critical], err_mean[critical]) <= 0.02
    assert max(result.estimate.block_max[critical], result.estimate.block_mean[critical]) <= 0.02
    plain = _adapt(EV6, power_w, STACK3, 0.1)
    assert result.history[-1]["dofs"] > plain.history[-1]["dofs"]


def test_dorfler_marks_the_fewest_triangles_holding_the_fraction():
    indicator = np.array([0.5, 3.0, 2.0, 0.05, 1.5])
    target = np.full(5, 1.0)
    # squared excess above target: 9, 4, 2.25 (sum 15.25); half needs only the 3.0 triangle
    assert marked_dorfler(indicator, target, 0.5).tolist() == [False, True, False, False, False]
    assert marked_dorfler(indicator, target, 0.8).tolist() == [False, True, True, False, False]
    assert not marked_dorfler(indicator, np.full(5, 10.0)).any()


def test_a_region_over_its_tolerance_marks_its_triangles_down_to_the_fraction():
    # triangles 0-3 in region 0 (over its tolerance), 4-5 in region 1 (within it)
    cover = sp.csr_matrix((np.ones(6), ([0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 1, 1])), shape=(6, 2))
    indicator = np.array([1.0, 0.6, 0.3, 0.05, 5.0, 0.1])
    over = np.array([True, False])
    assert marked_in_regions(cover, indicator, over).tolist() == [1, 1, 0, 0, 0, 0]
    assert marked_in_regions(cover, indicator, over, 0.1).tolist() == [1, 1, 1, 0, 0, 0]
    assert marked_in_regions(cover, indicator, over, 0.0).tolist() == [1, 1, 1, 1, 0, 0]


def test_the_marking_rule_holds_each_triangle_to_its_regions_tolerance():
    # region 0 (triangles 0-3, tolerance 0.5) is over; region 1 (4-5, tolerance 0.05) is within
    cover = sp.csr_matrix((np.ones(6), ([0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 1, 1])), shape=(6, 2))
    indicator = np.array([1.0, 0.6, 0.3, 0.05, 0.2, 0.01])
    regions = [Regions(cover, np.array([0.5, 0.05]), np.array([3.0, 0.5]))]
    mask, target = mark(indicator, 1.0, regions)
    # targets: region 1's tolerance, the rest held to the over region's 0.5
    assert target.tolist() == [0.5, 0.5, 0.5, 0.5, 0.05, 0.05]
    # region rule: 0 and 1 (at least half of 1.0); over twice the target: 4 (0.2 > 0.1)
    assert mask.tolist() == [True, True, False, False, True, False]
    only_regions = mark(indicator, 1.0, regions, theta=None, above=None).mask
    assert only_regions.tolist() == [True, True, False, False, False, False]
    assert mark(indicator, 0.25, fraction=None, theta=None, above=1.0).mask.tolist() == [
        True, True, True, False, False, False]


def test_estimator_strategy_through_the_api_is_deterministic():
    fp, power_w = _random_case(15, 4)
    a = thermal.solve(fp, power_w, STACK3, mesh="estimator", tolerance=0.2)
    b = thermal.solve(fp, power_w, STACK3, mesh="estimator", tolerance=0.2)
    assert a.strategy == "estimator" and a.error_estimate_K <= 0.2
    assert np.array_equal(a.temperature_K, b.temperature_K, equal_nan=True)
    assert a.energy_balance_rel <= 1e-9
    q = a.mesh.quality()
    assert q["min_angle_deg"] >= 20.0


def test_indicator_ignores_nodes_a_layer_does_not_have():
    """Under HotSpot's package (a spreader twice the die's size) the largest change between the
    two levels next to the die is the die's own: midpoints just off the die, which the die and
    TIM layers do not have, used to count half the edge node's rise as a change (13.7 K here,
    half the peak, which lies on the die's edge)."""
    fp, power = EV6, power_vector(EV6, GCC.mean())
    stack = Stack.default()
    die = fp.bounds
    mesh = start_mesh(fp, stack, "estimator")
    result = adaptive_solve(mesh, stack, power, np.full(len(power), 1e3), 1e3, None, die)
    rise = np.nanmax(result.coarse_theta)
    c = result.coarse_mesh.centroids
    off = (c[:, 0] < die[0]) | (c[:, 0] > die[2]) | (c[:, 1] < die[1]) | (c[:, 1] > die[3])
    indicator = result.estimate.tri_indicator
    assert off.any() and indicator[off].max() < 0.25 * rise
    assert indicator[off].max() <= indicator[~off].max()


def test_a_scaled_correction_bisects_as_far_as_the_indicator_asks():
    """Error ∝ area for P1 and a triangle's error is its indicator over 3 (as a block max's):
    an excess of 3 needs two bisections; at least one where marked, none where not."""
    MAX_BISECTIONS = 4
    correction_bisections = functools.partial(adapt.correction_bisections, most=MAX_BISECTIONS)
    target = np.full(5, 0.1)
    indicator = np.array([0.15, 0.9, 0.9, 30.0, 0.9])
    marked = np.array([True, True, True, True, False])
    np.testing.assert_array_equal(correction_bisections(indicator, target, marked),
                                  [1, 2, 2, min(7, MAX_BISECTIONS), 0])
    target[2] = 0.01  # a critical block's tighter tolerance: 30x over, 5 bisections, capped
    assert correction_bisections(indicator, target, marked)[2] == min(5, MAX_BISECTIONS)
    # a block estimated 3.5x over its tolerance asks two bisections of its marked triangles
    region = np.array([3.5, 0.0, 0.0, 0.0, 3.5])
    np.testing.assert_array_equal(correction_bisections(indicator, np.full(5, 0.1), marked, region),
                                  [2, 2, 2, min(7, MAX_BISECTIONS), 0])
    region[1] = np.nan  # a region without an estimate asks nothing of its own
    assert correction_bisections(indicator, np.full(5, 0.1), marked, region)[1] == 2


def test_a_scaled_correction_meets_the_tolerance_and_deeper_bisection_takes_fewer_rounds():
    fp, power_w = _hot_spot_case()
    die = fp.bounds
    mesh = start_mesh(fp, STACK3, "estimator")
    tol = np.full(len(power_w), 0.1)
    def run(**options):
        return adaptive_solve(mesh, STACK3, power_w, tol, 0.1, None, die, scaled=True,
                              options=MeshingOptions(**options))

    once = run(max_bisections=1, correction_block_fraction=0.1)
    # the correction marks down to correction_block_fraction of a block's largest indicator
    narrow = run(max_bisections=1, correction_block_fraction=0.5)
    assert narrow.history[1]["dofs"] < once.history[1]["dofs"]
    deep = run(max_bisections=4, correction_block_fraction=0.1)
    for result in (once, deep):
        err_max, err_mean = _true_errors(result, fp, power_w, STACK3)
        assert max(err_max.max(), err_mean.max()) <= 0.1 and result.estimate.value <= 0.1
    # from the initial mesh, 10x over the tolerance: 3 rounds against 6
    assert len(deep.history) < len(once.history)


def test_a_scaled_correction_bisects_once_where_it_would_outgrow_the_budget():
    MAX_BISECTIONS = 4
    mesh = initial_mesh([[0.0, 0.0, 1e-3, 1e-3]], [[0.0, 0.0, 1e-3, 1e-3]])
    m = mesh.n_triangles
    far_over = np.full(m, 100.0)  # every triangle asks MAX_BISECTIONS: 2^4 children each
    args = (mesh, far_over, np.full(m, 0.1), np.ones(m, bool), np.zeros(1), None, np.zeros(0))
    times = _scaled_times(*args, fine_dofs=1000, max_dofs=10 ** 6, most=MAX_BISECTIONS)
    np.testing.assert_array_equal(times, MAX_BISECTIONS)
    assert _scaled_times(*args, fine_dofs=1000, max_dofs=2 ** MAX_BISECTIONS * 1000,
                         most=MAX_BISECTIONS) is None
    # a critical rectangle over its tolerance asks for its triangles as a block does
    cover = sp.csr_matrix(np.ones((m, 1)))
    calm = (mesh, np.full(m, 0.2), np.full(m, 0.1), np.ones(m, bool), np.zeros(1))
    assert (_scaled_times(*calm, None, np.zeros(0), 1000, 10 ** 6, MAX_BISECTIONS) == 1).all()
    assert (_scaled_times(*calm, cover, np.array([3.5]), 1000, 10 ** 6, MAX_BISECTIONS) == 2).all()
