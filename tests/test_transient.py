"""Transient solver (thermal/transient.py) against the exact transient (thermal/gallery.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import thermal
from thermal.assemble import assemble
from thermal.floorplan import make_floorplan
from thermal.gallery import exact_transient, exact_transient_for
from thermal.fields import steady_field
from thermal.strategies import start_mesh
from thermal.stack import Layer, Stack
from thermal.transient import (capacity, load_operator, prepare, representative_rows,
                               transient, transient_frames)

DATA = Path(__file__).parent / "data"

STACK3 = Stack((Layer("die", 150e-6, 100.0, 1.75e6, power=True), Layer("tim", 20e-6, 4.0, 4e6),
                Layer("spreader", 1e-3, 400.0, 3.55e6)), h=1e4, ambient_K=318.15)


@pytest.fixture(scope="module")
def ev6():
    fp = thermal.read_floorplan(DATA / "ev6.flp")
    trace = thermal.read_ptrace(DATA / "gcc.ptrace")
    stack = Stack.read(DATA / "ev6_3layer.toml")
    power = np.array([trace.mean()[n] for n in fp.names])
    return fp, trace, stack, power


def one_block():
    return make_floorplan(["a"], [0.0], [0.0], [4e-3], [4e-3])


def test_capacity_and_load_operator_match_the_stack_and_the_steady_load(ev6):
    fp, _, stack, power = ev6
    mesh = start_mesh(fp, stack, "uniform")
    system = assemble(mesh, stack, power)
    c = capacity(mesh, stack, system.node2dof)
    x0, y0, x1, y1 = fp.bounds
    expected = sum(l.heat_capacity * l.thickness_m for l in stack.layers) * (x1 - x0) * (y1 - y0)
    assert c.sum() == pytest.approx(expected, rel=1e-12)
    assert np.abs(load_operator(mesh, stack, system.node2dof) @ power - system.rhs).max() \
        < 1e-12 * power.sum()
    with_convection = Stack(stack.layers, h=stack.h, c_convec=140.4)
    assert capacity(mesh, with_convection, system.node2dof).sum() == \
        pytest.approx(expected + 140.4, rel=1e-12)


def _one_block_errors(method, dts, rows=4, interval=0.02):
    """Largest error of the block mean over every output, against the exact mode-(0, 0)
    solution: one block covering the die makes the FEM field uniform, so the error is the time
    discretisation's alone."""
    fp = one_block()
    samples = np.array([[3.0], [0.5], [2.0], [1.0]])[:rows]
    exact = [e.block_mean()[0] for _, e in exact_transient(
        fp.bounds, fp.rects, samples,
        [(l.thickness_m, l.conductivity, l.heat_capacity) for l in STACK3.layers],
        h=STACK3.h, ambient_K=STACK3.ambient_K, interval_s=interval, modes=2)]
    mesh = start_mesh(fp, STACK3, "uniform")
    errors = []
    for dt in dts:
        r = transient(fp, samples, STACK3, sampling_interval=interval, dt=dt, method=method,
                      mesh=mesh)
        errors.append(np.abs(r.block_mean_K[:, 0] - exact).max())
    return np.array(errors)


@pytest.mark.parametrize("method, order", [("be", 1.0), ("cn", 2.0), ("bdf2", 2.0)])
def test_order_in_dt(method, order):
    dts = 0.02 / np.array([32, 64, 128, 256])   # CN's stiff-mode error is erratic above
    errors = _one_block_errors(method, dts)
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.15, (slope, errors)
    assert errors[-1] < (1e-3 if order == 1 else 1e-6)


def test_block_means_follow_the_exact_step_response(ev6):
    """ev6 from ambient under gcc's mean power: every block mean at every output within 0.1 K
    of the exact series, with dt = 1e-4 s (Crank-Nicolson; backward Euler's first-order error
    is 0.15 K at 1e-4 s, so it is held to the same bound at 5e-5 s)."""
    fp, _, stack, power = ev6
    samples = np.tile(power, (6, 1))
    exact = [e.block_mean() for _, e in exact_transient_for(fp, samples, stack, 1e-3,
                                                            modes=400)]
    run = prepare(fp, samples, stack, sampling_interval=1e-3, dt=1e-4, method="cn",
                  mesh="ml", tolerance=0.05)
    errors = [np.abs(f.block_mean_K - e).max() for f, e in zip(run.frames(), exact)]
    assert len(errors) == 6 and max(errors) < 0.1, errors
    be = prepare(fp, samples[:3], stack, sampling_interval=1e-3, dt=5e-5, method="be",
                 mesh=run.mesh)
    errors = [np.abs(f.block_mean_K - e).max() for f, e in zip(be.frames(), exact)]
    assert max(errors) < 0.1, errors


def test_a_long_constant_trace_ends_at_the_steady_solution():
    fp = thermal.read_floorplan(DATA / "small.flp")
    power = np.array([1.0, 2.0, 0.5])
    mesh = start_mesh(fp, STACK3, "uniform")
    theta, _, _ = steady_field(mesh, STACK3, power)
    from thermal.fields import block_stats

    hi, mean, _ = block_stats(mesh, theta[0])
    r = transient(fp, np.tile(power, (100, 1)), STACK3, sampling_interval=0.5, mesh=mesh)
    assert np.abs(r.block_mean_K[-1] - (mean + STACK3.ambient_K)).max() < 1e-6
    assert np.abs(r.block_max_K[-1] - (hi + STACK3.ambient_K)).max() < 1e-6
    assert np.all(np.diff(r.block_mean_K, axis=0) >= -1e-9)   # heating monotonically (BE)


def test_steady_init_stays_put_and_frames_stream():
    fp = thermal.read_floorplan(DATA / "small.flp")
    samples = np.array([[1.0, 2.0, 0.5]] * 5)
    mesh = start_mesh(fp, STACK3, "uniform")
    calls = []
    frames = transient_frames(fp, samples, STACK3, sampling_interval=1e-3, mesh=mesh,
                              init="steady", progress=lambda done, total: calls.append(done))
    first = next(frames)
    rest = list(frames)
    assert calls == [1, 2, 3, 4, 5] and len(rest) == 4
    assert np.abs(rest[-1].block_mean_K - first.block_mean_K).max() < 1e-9
    assert first.peak[0] == pytest.approx(first.block_max_K.max(), abs=1e-9)


def test_init_file_block_temperatures(tmp_path):
    fp = thermal.read_floorplan(DATA / "small.flp")
    mesh = start_mesh(fp, STACK3, "uniform")
    f = tmp_path / "init.steady"
    f.write_text("a\t330.0\nb\t340.0\nc 330.0\niface_a 325\niface_b 325\niface_c 325\n")
    run = prepare(fp, np.zeros((2, 3)), STACK3, sampling_interval=1e-3, mesh=mesh, init_file=f)
    mean = run.reduce.mean_op @ run.x0 + STACK3.ambient_K
    # a node on a shared edge takes the average of the blocks beside it
    assert mean[0] == pytest.approx(330.0, abs=1.0) and mean[1] == pytest.approx(340.0, abs=2.0)
    tim = run.x0[run.system.node2dof[1][run.system.node2dof[1] >= 0]] + STACK3.ambient_K
    spreader = run.x0[run.system.node2dof[2][run.system.node2dof[2] >= 0]] + STACK3.ambient_K
    assert np.allclose(tim, 325.0) and np.allclose(spreader, 325.0)   # the layer above's mean
    f.write_text("a 330\nb 340\n")
    with pytest.raises(thermal.InputError, match="no initial temperature for block.*c"):
        prepare(fp, np.zeros((2, 3)), STACK3, sampling_interval=1e-3, mesh=mesh, init_file=f)


def test_representative_rows_cover_every_row():
    rng = np.random.default_rng(3)
    samples = rng.uniform(0, 2, (500, 6))
    rows = representative_rows(samples, np.ones(6), most=5)
    assert len(rows) == 5
    # every row is dominated by some representative
    assert all((rows >= s - 1e-12).all(axis=1).any() for s in samples)
    assert len(representative_rows(samples[:3], np.ones(6))) == 3


def test_ttrace_round_trip(tmp_path):
    from thermal.io import steady
    from thermal.io.ttrace import TtraceWriter, read_ttrace

    with TtraceWriter(tmp_path / "t.ttrace", ["a", "b"]) as w:
        w.write([330.123, 331.0])
        w.write([332.0, 333.456])
    names, rows = read_ttrace(tmp_path / "t.ttrace")
    assert names == ["a", "b"] and rows == [[330.12, 331.0], [332.0, 333.46]]
    with pytest.raises(ValueError):
        with TtraceWriter(tmp_path / "u.ttrace", ["a"]) as w:
            raise ValueError
    assert not list(tmp_path.glob("*u.ttrace*"))
    (tmp_path / "bad").write_text("a 300\nb -4\n")
    with pytest.raises(thermal.InputError, match=":2: temperature of 'b'"):
        steady.read(tmp_path / "bad")


def _cli(*argv):
    from thermal.cli import main

    return main([str(a) for a in argv])


def test_cli_transient_writes_every_output(tmp_path, capsys):
    from thermal.io.ttrace import read_ttrace
    from thermal.io.vtu import read_vtu

    out, tt = tmp_path / "run", tmp_path / "run.ttrace"
    rc = _cli("transient", DATA / "small.flp", "--power", DATA / "small.ptrace", "--stack",
              DATA / "ev6_3layer.toml", "--sampling-interval", "0.01", "--dt", "0.005",
              "--method", "cn", "--out", out, "--ttrace", tt, "--snapshots", "2",
              "--mesh", "uniform")
    assert rc == 0, capsys.readouterr().err
    names = {p.name for p in out.iterdir()}
    assert names == {"transient.csv", "peak.csv", "summary.json", "transient.png", "final.vtu",
                     "snapshot_000000.vtu", "snapshot_000001.vtu"}
    lines = (out / "transient.csv").read_text().splitlines()
    assert lines[0] == "time_s,block,layer,max_K,mean_K" and len(lines) == 1 + 2 * 3
    assert lines[1].startswith("0.01,a,die,")
    assert (out / "peak.csv").read_text().splitlines()[0] == "time_s,temperature_K,x_m,y_m,layer"
    blocks, rows = read_ttrace(tt)
    assert blocks == ["a", "b", "c"] and len(rows) == 2
    last_means = [float(l.split(",")[4]) for l in lines[-3:]]
    assert rows[-1] == pytest.approx(last_means, abs=0.006)
    summary = __import__("json").loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["dt_s"] == 0.005 and summary["method"] == "cn"
    # the final field's hottest die node is the last output's hottest block max
    last_max = max(float(l.split(",")[3]) for l in lines[-3:])
    assert np.nanmax(read_vtu(out / "final.vtu")[2]["T_die_K"]) == pytest.approx(last_max,
                                                                                abs=1e-4)
    # restart from the final field: the first output continues the run
    out2 = tmp_path / "again"
    assert _cli("transient", DATA / "small.flp", "--power", DATA / "small.ptrace", "--stack",
                DATA / "ev6_3layer.toml", "--sampling-interval", "0.01", "--out", out2,
                "--init-file", out / "final.vtu", "--mesh", "uniform", "--no-plots") == 0
    first = [float(l.split(",")[4]) for l in (out2 / "transient.csv").read_text().splitlines()[1:4]]
    assert min(first) > min(last_means) - 1.0


@pytest.mark.parametrize("extra, message", [
    (["--dt", "-1"], "--dt"),
    (["--method", "rk4"], "--method"),
    (["--init-file", "missing.steady"], "missing.steady"),
])
def test_cli_transient_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    rc = _cli("transient", DATA / "small.flp", "--power", DATA / "small.ptrace",
              "--sampling-interval", "0.01", "--out", out, "--mesh", "uniform", *extra)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("thermal: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    assert not list(tmp_path.iterdir())


def test_cli_transient_interrupted_leaves_nothing(tmp_path, monkeypatch):
    from thermal.transient import TransientRun

    def interrupted(self, progress=None):
        yield from []
        raise KeyboardInterrupt

    monkeypatch.setattr(TransientRun, "frames", interrupted)
    out = tmp_path / "run"
    rc = _cli("transient", DATA / "small.flp", "--power", DATA / "small.ptrace",
              "--sampling-interval", "0.01", "--out", out, "--mesh", "uniform",
              "--ttrace", tmp_path / "t.ttrace")
    assert rc == 130 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("method", ["be", "cn", "bdf2"])
def test_multigrid_steps_match_the_factorised_ones(monkeypatch, method):
    """Above DIRECT_MAX_DOFS every step is a warm-started AMG-CG solve: same temperatures."""
    import importlib

    fp = thermal.read_floorplan(DATA / "small.flp")
    samples = np.array([[1.0, 2.0, 0.5], [0.2, 3.0, 1.0], [2.0, 0.1, 0.1]])
    mesh = start_mesh(fp, STACK3, "uniform")
    options = dict(sampling_interval=1e-3, dt=2.5e-4, method=method, mesh=mesh)
    direct = transient(fp, samples, STACK3, **options)
    monkeypatch.setattr(importlib.import_module("thermal.transient"), "DIRECT_MAX_DOFS", 10)
    iterative = transient(fp, samples, STACK3, **options)
    assert np.abs(iterative.block_max_K - direct.block_max_K).max() < 1e-8
    assert np.abs(iterative.block_mean_K - direct.block_mean_K).max() < 1e-8
