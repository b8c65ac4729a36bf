"""Leakage-temperature coupling (thermal/leakage.py): fixed points and runaway."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

import thermal
from thermal.errors import SolverError
from thermal.floorplan import make_floorplan
from thermal.leakage import Leakage, from_hotspot_config, from_stack_file
from thermal.solve import solve_with_leakage
from thermal.stack import Layer, Stack

DATA = Path(__file__).parent / "data"
SIDE = 4e-3
H = 1e4
STACK = Stack((Layer("die", 0.5e-3, 150.0, 1.75e6, power=True),), h=H, ambient_K=318.15)


def one_block():
    return make_floorplan(["a"], [0.0], [0.0], [SIDE], [SIDE])


def exact_fixed_point(p_dyn, leak):
    """One block covering a one-layer die: the field is uniform, θ = R P with
    R = 1/(A g_amb); solve θ = R (p_dyn + P0 exp(β(θ + T_amb − T0))) for its smallest root."""
    area = SIDE * SIDE
    layer = STACK.layers[0]
    r = 1.0 / (area / (layer.thickness_m / (2 * layer.conductivity) + 1 / H))
    p0 = leak.density_w_m2 * area

    def f(theta):
        return r * (p_dyn + p0 * math.exp(leak.beta_per_K * (theta + 318.15 - leak.t0_K))) - theta

    # the smallest root: f > 0 at 0, and f falls through zero before its minimum
    t_min = (math.log(1 / (r * p0 * leak.beta_per_K)) / leak.beta_per_K - 318.15 + leak.t0_K)
    return brentq(f, 0.0, t_min) + 318.15, r, p0


def test_steady_leakage_converges_to_the_exact_fixed_point():
    leak = Leakage(density_w_m2=2e4, beta_per_K=0.02, t0_K=330.0)
    fp = one_block()
    exact, r, p0 = exact_fixed_point(1.0, leak)
    sol, info = solve_with_leakage(fp, np.array([1.0]), STACK, leak, mesh="uniform")
    assert sol.blocks.mean_K[0] == pytest.approx(exact, abs=1e-6)
    assert info["iterations"] > 3
    assert info["leakage_total_w"] == pytest.approx(
        p0 * math.exp(leak.beta_per_K * (exact - leak.t0_K)), rel=1e-6)


def test_runaway_is_reported():
    # R p0 β e^{β(T-T0)} > 1 everywhere above ambient here: no fixed point
    leak = Leakage(density_w_m2=2e5, beta_per_K=0.05, t0_K=318.15)
    with pytest.raises(SolverError, match="thermal runaway"):
        solve_with_leakage(one_block(), np.array([1.0]), STACK, leak, mesh="uniform")


def test_transient_with_leakage_ends_at_the_fixed_point():
    leak = Leakage(density_w_m2=2e4, beta_per_K=0.02, t0_K=330.0)
    exact, _, _ = exact_fixed_point(1.0, leak)
    r = thermal.transient(one_block(), np.ones((60, 1)), STACK, sampling_interval=2.0,
                          mesh="uniform", leakage=leak)
    assert r.block_mean_K[-1, 0] == pytest.approx(exact, abs=1e-6)
    # a transient that runs away says so
    hot = Leakage(density_w_m2=2e5, beta_per_K=0.05, t0_K=318.15)
    with pytest.raises(SolverError, match="diverged"):
        thermal.transient(one_block(), np.ones((400, 1)), STACK, sampling_interval=2.0,
                          mesh="uniform", leakage=hot)


def test_leakage_tables(tmp_path):
    toml = (DATA / "ev6_3layer.toml").read_text()
    f = tmp_path / "s.toml"
    f.write_text(toml + "\n[leakage]\ndensity = 1e4\nbeta = 0.03\nt0 = 350.0\n"
                        "blocks = { Icache = 0.5 }\n")
    Stack.read(f)                                    # the stack accepts the table
    leak = from_stack_file(f)
    fp = thermal.read_floorplan(DATA / "ev6.flp")
    block = leak.for_floorplan(fp)
    i = fp.names.index("Icache")
    assert block.p0_w[i] == 0.5 and block.p0_w[0] == pytest.approx(1e4 * fp.area_m2[0])
    f.write_text(toml + "\n[leakage]\nbeta = 0.03\nalpha = 1\n")
    with pytest.raises(thermal.InputError, match="unknown key 'alpha'"):
        from_stack_file(f)
    cfg = tmp_path / "h.config"
    cfg.write_text("-leakage_used 1\n-leakage_mode 0\n")
    hs = from_hotspot_config(cfg)
    assert (hs.density_w_m2, hs.beta_per_K, hs.t0_K) == (1.5e4, 0.036, 383.15)
    cfg.write_text("-leakage_used 1\n-leakage_mode 1\n")
    with pytest.raises(thermal.InputError, match=":2: .*HotLeakage"):
        from_hotspot_config(cfg)
    assert from_hotspot_config(cfg, {"leakage_used": "0"}) is None


def test_cli_config_leakage_and_sampling_interval(tmp_path, capsys):
    from thermal.cli import main

    out = tmp_path / "run"
    args = ["transient", str(DATA / "small.flp"), "--power", str(DATA / "small.ptrace"),
            "--config", str(DATA / "hotspot.config"), "--out", str(out), "--mesh", "uniform",
            "--no-plots"]
    assert main(args) == 0, capsys.readouterr().err
    summary = __import__("json").loads((out / "summary.json").read_text())
    assert summary["sampling_interval_s"] == 0.01 and summary["leakage"] is None
    assert main(args + ["--set", "leakage_used=1"]) == 0, capsys.readouterr().err
    with_leak = __import__("json").loads((out / "summary.json").read_text())
    assert with_leak["leakage"]["beta_per_K"] == 0.036
    assert with_leak["peak"]["temperature_K"] > summary["peak"]["temperature_K"]
    capsys.readouterr()
    assert main(args + ["--set", "leakage_used=1", "--set", "leakage_mode=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("thermal: error:") and "HotLeakage" in err and len(err.splitlines()) == 1


def test_cli_solve_reports_runaway_in_one_line(tmp_path, capsys):
    from thermal.cli import main

    stack = tmp_path / "s.toml"
    stack.write_text("[[layer]]\nname = 'die'\nthickness = 0.5e-3\nconductivity = 150.0\n"
                     "heat_capacity = 1.75e6\npower = true\n[convection]\nh = 1e4\n"
                     "[leakage]\ndensity = 2e6\nbeta = 0.05\nt0 = 318.15\n")
    rc = main(["solve", str(DATA / "small.flp"), "--power", str(DATA / "small.ptrace"),
               "--stack", str(stack), "--mesh", "uniform"])
    err = capsys.readouterr().err
    assert rc == 1 and "thermal runaway" in err and len(err.strip().splitlines()) == 1
