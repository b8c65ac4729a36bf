"""Sub-layers (thermal/sublayers.py): the splitting rule, the active face, and convergence of the
sub-layered model to 3D conduction (thermal/fv3d.py) and to the exact layered solution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import thermal
from thermal.errors import InputError
from thermal.fv3d import conduction_3d, richardson
from thermal.gallery import exact_for
from thermal.stack import Layer, Stack
from thermal.sublayers import ALPHA, _distances, sublayer_counts, sublayer_plan

DATA = Path(__file__).parent / "data"
DIE = (0.0, 0.0, 0.016, 0.016)


def _flp(tmp_path, rects, name="fp.flp"):
    path = tmp_path / name
    path.write_text("".join(f"b{i}\t{float(w)!r}\t{float(h)!r}\t{float(l)!r}\t{float(b)!r}\n"
                            for i, (l, b, w, h) in enumerate(rects)))
    return thermal.read_floorplan(path)


def test_rule_on_hotspots_package_splits_spreader_and_sink_only():
    stack = Stack.default()
    plan = sublayer_plan(stack, DIE, feature_m=0.38e-3)
    assert plan.counts == (1, 1, 3, 5)
    assert len(plan.stack.layers) == 10
    t = np.array([layer.thickness_m for layer in plan.stack.layers])
    parent = np.array(plan.parent)
    for l, layer in enumerate(stack.layers):
        subs = [plan.stack.layers[i] for i in np.flatnonzero(parent == l)]
        assert sum(s.thickness_m for s in subs) == pytest.approx(layer.thickness_m, rel=1e-12)
        assert {(s.conductivity, s.heat_capacity, s.size_m) for s in subs} == {
            (layer.conductivity, layer.heat_capacity, layer.size_m)}
    assert [layer.power for layer in plan.stack.layers] == [True] + [False] * 9
    # every sub-layer within the rule, thinner near the source
    top = np.r_[0.0, np.cumsum(t)[:-1]]
    assert np.all(t <= ALPHA * (top + 0.38e-3) * (1 + 1e-9) + 1e-15) or plan.counts[0] == 1
    assert np.all(t[1:] <= ALPHA * (top[1:] + 0.38e-3) * 1.000001)
    sink = t[parent == 3]
    assert np.all(np.diff(sink) > 0)
    # a smaller source or a tighter rule takes more sub-layers, never more than the cap
    assert sum(sublayer_counts(stack, 0.05e-3)) > 10
    assert max(sublayer_counts(stack, 1e-9)) == 8


def test_off_and_uniform_modes():
    stack = Stack.default()
    off = sublayer_plan(stack, DIE, "off")
    assert off.stack is stack and not off.face and off.counts == (1, 1, 1, 1)
    theta = np.arange(8.0).reshape(4, 2)
    assert off.collapse(None, theta, None) is not None
    np.testing.assert_array_equal(off.collapse(None, theta, None), theta)
    three = sublayer_plan(stack, DIE, 3, feature_m=0.38e-3)
    assert three.counts == (3, 1, 3, 3)          # the power layer and what the rule splits
    assert three.stack.layers[0].thickness_m == pytest.approx(50e-6)
    assert three.stack.layers[3].thickness_m == pytest.approx(20e-6)
    assert three.stack.layers[4].thickness_m == pytest.approx(1e-3 / 3)
    assert sublayer_plan(stack, DIE, "2", feature_m=0.38e-3).counts == (2, 1, 2, 2)
    for bad in (0, -1, "x", 1.5, True):
        with pytest.raises(InputError, match="sublayers"):
            sublayer_plan(stack, DIE, bad, feature_m=1e-3)


def test_layers_above_the_source_are_thin_next_to_it():
    stack = Stack((Layer("cap", 2e-3, 100.0, 1e6), Layer("die", 1e-4, 130.0, 1e6, power=True),
                   Layer("sink", 2e-3, 200.0, 1e6)), h=1e4)
    assert _distances(stack) == [(pytest.approx(0.0), pytest.approx(2e-3)),
                                 (0.0, pytest.approx(1e-4)),
                                 (pytest.approx(1e-4), pytest.approx(2.1e-3))]
    plan = sublayer_plan(stack, (0, 0, 0.01, 0.01), feature_m=0.5e-3)
    cap = [l.thickness_m for l, p in zip(plan.stack.layers, plan.parent) if p == 0]
    sink = [l.thickness_m for l, p in zip(plan.stack.layers, plan.parent) if p == 2]
    assert len(cap) > 1 and np.all(np.diff(cap) < 0)      # thinnest at the bottom, by the die
    assert len(sink) > 1 and np.all(np.diff(sink) > 0)
    assert [l.power for l in plan.stack.layers].count(True) == 1


def test_uniform_power_gives_the_exact_one_dimensional_face_temperature(tmp_path):
    """One block covering the die: the field is 1-D, where the sub-layered model and the face
    reconstruction are exact: T_face = T_amb + q (sum t/k + 1/h); one node per layer gives the
    die's mid-plane, q t_die / 2k lower."""
    fp = _flp(tmp_path, [(0.0, 0.0, 2e-3, 2e-3)])
    stack = Stack((Layer("die", 3e-4, 120.0, 1e6, power=True), Layer("tim", 2e-5, 3.0, 1e6),
                   Layer("sink", 3e-3, 200.0, 1e6)), ambient_K=300.0, h=5e3)
    q = 2.0 / 4e-6
    face = 300.0 + q * (3e-4 / 120 + 2e-5 / 3 + 3e-3 / 200 + 1 / 5e3)
    for mode in ("auto", 3):
        sol = thermal.solve(fp, [2.0], stack, mesh="uniform", tolerance=0.5, sublayers=mode)
        assert sol.blocks.mean_K[0] == pytest.approx(face, abs=1e-8)
        assert sol.blocks.max_K[0] == pytest.approx(face, abs=1e-8)
        assert sol.theta.shape[0] == 3 and len(sol.mesh.layer_rects) == 3
        # the sink reports its volume mean: linear through it
        sink_mean = q * (3e-3 / 200 / 2 + 1 / 5e3)
        assert np.nanmean(sol.theta[2]) == pytest.approx(sink_mean, rel=1e-9)
    off = thermal.solve(fp, [2.0], stack, mesh="uniform", tolerance=0.5, sublayers="off")
    assert off.blocks.mean_K[0] == pytest.approx(face - q * 3e-4 / 240, abs=1e-8)


def test_sublayered_solve_matches_the_exact_solution_of_its_own_stack():
    """Like with like: the solver on the sub-layered stack against the cosine series of that
    stack, the active face rebuilt from the exact layer means the same way."""
    fp = thermal.read_floorplan(DATA / "small.flp")
    power = thermal.read_ptrace(DATA / "small.ptrace").mean()
    stack = Stack.read(DATA / "ev6_3layer.toml")
    sol = thermal.solve(fp, power, stack, mesh="uniform", tolerance=0.02, sublayers=3)
    plan = sublayer_plan(stack, fp.bounds, 3, floorplan=fp, power_w=power)
    assert plan.counts == (3, 1, 3)
    exact = exact_for(fp, sol.power_w, plan.stack)
    top, below = exact.block_mean(0), exact.block_mean(1)
    h, k = plan.stack.layers[0].thickness_m, plan.stack.layers[0].conductivity
    rho = np.asarray(sol.power_w) / (fp.width_m * fp.height_m)
    face = top + h / (6 * k) * (2 * rho + plan.stack.g_between(0, 1) * (top - below))
    assert np.abs(sol.blocks.mean_K - face).max() <= 0.02
    # and it is a different model from one node per layer: 0.4 K apart here
    one = exact_for(fp, sol.power_w, stack).block_mean()
    assert np.abs(face - one).max() > 0.2


def _small_3d_case(tmp_path):
    mm = 1e-3
    rects = np.array([[0, 0, 2, 1], [0, 1, 1, 1], [1, 1, 1, 1]]) * mm
    power = np.array([0.3, 1.0, 0.2])
    layers = [("die", 0.2e-3, 130.0, None, True), ("tim", 20e-6, 4.0, None, False),
              ("sink", 3e-3, 237.0, (6 * mm, 6 * mm), False)]
    stack = Stack(tuple(Layer(n, t, k, 1e6, power=p, size_m=s) for n, t, k, s, p in layers),
                  ambient_K=300.0, h=4e3)
    fv = [conduction_3d((0, 0, 2 * mm, 2 * mm), rects, power, [(t, k, s) for _, t, k, s, _ in layers],
                        h=4e3, dx=2 * mm / 12, cells_z=[2, 1, 6], refine=r) for r in (1, 2)]
    return _flp(tmp_path, rects), power, stack, fv


def test_fv3d_balances_energy_and_converges(tmp_path):
    _, _, _, fv = _small_3d_case(tmp_path)
    assert max(f.energy_balance_rel for f in fv) < 1e-8
    assert fv[1].unknowns > 6 * fv[0].unknowns
    change = np.abs(fv[1].top_mean - fv[0].top_mean).max()
    assert 0.01 < change < 0.3       # the grids differ, a little (0.18 K; 0.04 K to refine 3)
    # the top face is hotter than the die's volume under every block, the hot block most
    lift = fv[1].top_mean - fv[1].vol_mean
    assert np.all(lift > 0) and lift.argmax() == 1


def test_sublayered_model_converges_to_3d_conduction(tmp_path):
    fp, power, stack, fv = _small_3d_case(tmp_path)
    truth = richardson(*fv).top_mean + 300.0
    err = {}
    for mode in ("off", 1, 2, 4, "auto"):
        sol = thermal.solve(fp, power, stack, mesh="uniform", tolerance=0.005, sublayers=mode)
        err[mode] = np.abs(sol.blocks.mean_K - truth).max()
    # measured: off 1.55 K, 1 2.22 K (the face on a one-node sink: both errors hot), 2 0.89 K,
    # 4 0.30 K, auto (sink in 4 graded sub-layers) 0.12 K
    assert err[4] < err[2] < err[1]             # more sub-layers, closer to 3D
    assert err[2] / err[4] > 2.4                # towards second order in the sub-layer thickness
    assert err["auto"] < 0.15 * err["off"]
    assert err["auto"] < err[4]                 # graded beats uniform at the same count


def test_cli_sublayers_flag(tmp_path, capsys):
    from thermal.cli import main

    args = ["solve", str(DATA / "small.flp"), "--power", str(DATA / "small.ptrace"),
            "--stack", str(DATA / "ev6_3layer.toml"), "--tolerance", "0.5", "--format", "json"]
    assert main(args + ["--sublayers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("thermal: error:") and "--sublayers" in err[0]
    peaks = {}
    for mode in ("off", "auto"):
        assert main(args + ["--sublayers", mode]) == 0
        peaks[mode] = json.loads(capsys.readouterr().out)["peak"]["temperature_K"]
    assert peaks["auto"] != peaks["off"]
