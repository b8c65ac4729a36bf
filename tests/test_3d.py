"""3D stacks: power in several layers with per-layer floorplans (native TOML and HotSpot .lcf),
checked against the exact layered solution, and HotSpot's output formats."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from thermal.cli import EXIT_UNCONVERGED, main
from thermal.errors import InputError
from thermal.gallery import exact_for, exact_solution
from thermal.io.hotspot import read_config, config_outputs
from thermal.io.lcf import read_lcf, read_lcf_stack
from thermal.layered import layered_floorplan, read_layer_floorplans
from thermal.io.flp import read as read_floorplan
from thermal.io.ptrace import read as read_ptrace
from thermal.solve import solve
from thermal.stack import Stack

from conftest import DATA

TIER = DATA / "two_tier"
POWER = read_ptrace(TIER / "two_tier.ptrace")


def _toml_case():
    stack = Stack.read(TIER / "two_tier.toml")
    return read_layer_floorplans(stack), stack


def _lcf_case():
    stack = read_lcf_stack(TIER / "two_tier.lcf", config=TIER / "two_tier.config")
    return read_layer_floorplans(stack), stack


def _errors(sol, fp, stack):
    """Per-block (name, layer, max error, mean error) in K against the exact series, on the
    mesh's own (snapped) block rectangles."""
    exact = exact_for(fp, POWER.mean(), stack.with_die_footprint(), snapped_to=sol.mesh)
    out = []
    for layer in fp.layers:
        rows = fp.of_layer(layer)
        r = sol.mesh.block_rects[rows]
        e = exact.with_blocks(np.c_[r[:, :2], r[:, 2:] - r[:, :2]])
        d_max = sol.blocks.max_K[rows] - e.block_max(int(layer))
        d_mean = sol.blocks.mean_K[rows] - e.block_mean(int(layer))
        out += [(fp.names[i], int(layer), a, b) for i, a, b in zip(rows, d_max, d_mean)]
    return out


@pytest.mark.parametrize("case", [_toml_case, _lcf_case], ids=["toml", "lcf"])
def test_two_tiers_against_exact(case):
    fp, stack = case()
    assert sorted(stack.power_layers) == [0, 2]
    sol = solve(fp, POWER, stack, mesh="ml", tolerance=0.1)
    assert sol.converged and sol.energy_balance_rel < 1e-9
    assert sol.blocks.row_layers[fp.of_layer(2)[0]] == stack.layers[2].name
    errors = _errors(sol, fp, stack)
    tiers = {l for _, l, _, _ in errors if l in (0, 2)}
    assert tiers == {0, 2}
    worst = max(max(abs(a), abs(b)) for _, _, a, b in errors)
    assert worst < 0.1, errors


def test_second_tier_power_is_not_dropped():
    """The bottom tier's blocks heat their own layer: without its power the bottom tier's
    hottest block cools by more than a kelvin."""
    fp, stack = _toml_case()
    power = POWER.mean()
    sol = solve(fp, power, stack, mesh="uniform", tolerance=0.2)
    cold = solve(fp, {k: (v if k in ("core0", "core1", "cache0", "io0") else 0.0)
                      for k, v in power.items()}, stack, mesh="uniform", tolerance=0.2)
    gpu = fp.index("gpu")
    assert sol.blocks.max_K[gpu] - cold.blocks.max_K[gpu] > 1.0
    assert sol.summary()["power_W"] == pytest.approx(sum(power.values()))


def test_exact_layers_add():
    """The series is linear in its sources: power in two layers is the sum of each alone."""
    layers = [(1e-4, 100.0), (2e-5, 4.0), (1.5e-4, 100.0), (1e-3, 400.0)]
    rects = [[0, 0, 4e-3, 1e-2], [4e-3, 0, 6e-3, 1e-2], [0, 0, 1e-2, 5e-3]]
    args = dict(h=1e4, ambient_K=300.0, modes=48)
    both = exact_solution((0, 0, 1e-2, 1e-2), rects, [3.0, 5.0, 4.0], layers,
                          source_layers=[0, 0, 2], **args)
    top = exact_solution((0, 0, 1e-2, 1e-2), rects[:2], [3.0, 5.0], layers, power_layer=0, **args)
    low = exact_solution((0, 0, 1e-2, 1e-2), rects[2:], [4.0], layers, power_layer=2, **args)
    for layer in range(4):
        t = both.temperature(np.r_[1e-3, 5e-3, 9e-3], np.r_[2e-3, 5e-3, 8e-3], layer)
        t1 = top.temperature(np.r_[1e-3, 5e-3, 9e-3], np.r_[2e-3, 5e-3, 8e-3], layer)
        t2 = low.temperature(np.r_[1e-3, 5e-3, 9e-3], np.r_[2e-3, 5e-3, 8e-3], layer)
        np.testing.assert_allclose(t - 300.0, (t1 - 300.0) + (t2 - 300.0), rtol=1e-9, atol=1e-9)


def test_two_power_layers_without_floorplans_is_an_error(tmp_path):
    text = (TIER / "two_tier.toml").read_text().replace('floorplan = "tier0.flp"\n', "") \
        .replace('floorplan = "tier1.flp"\n', "")
    (tmp_path / "s.toml").write_text(text)
    stack = Stack.read(tmp_path / "s.toml")
    with pytest.raises(InputError, match="none names its own floorplan"):
        read_layer_floorplans(stack, TIER / "tier0.flp")
    with pytest.raises(InputError, match="2 layers take power"):
        solve(read_floorplan(TIER / "tier0.flp"), POWER.mean(), stack)


def test_power_names_unique_across_power_layers():
    fp = read_floorplan(TIER / "tier0.flp")
    with pytest.raises(InputError, match="on power layers 0 and 2"):
        layered_floorplan([(0, fp), (2, fp)], [0, 2])
    layered_floorplan([(0, fp), (1, fp)], [0])   # a TIM may reuse the die's floorplan


def test_cli_toml_without_floorplan(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["solve", "--stack", str(TIER / "two_tier.toml"), "--power",
               str(TIER / "two_tier.ptrace"), "--out", str(out), "--no-plots", "--mesh",
               "uniform", "--tolerance", "0.5"])
    assert rc == 0
    rows = list(csv.DictReader((out / "blocks.csv").open()))
    assert list(rows[0]) == ["block", "layer", "max_K", "mean_K", "min_K"]
    assert {(r["block"], r["layer"]) for r in rows} >= {("core0", "tier0"), ("gpu", "tier1")}
    assert len(rows) == 8


def test_lcf_reader_and_errors(tmp_path):
    layers = read_lcf(TIER / "two_tier.lcf")
    assert [d["power"] for d in layers] == [True, False, True, False]
    assert layers[1]["conductivity"] == pytest.approx(4.0)
    assert layers[2]["floorplan"].endswith("tier1.flp")
    stack = read_lcf_stack(TIER / "two_tier.lcf", config=TIER / "two_tier.config")
    assert [l.name for l in stack.layers][-2:] == ["spreader", "sink"]
    bad = (TIER / "two_tier.lcf").read_text().replace("\n2\nY\nY", "\n5\nY\nY")
    (tmp_path / "bad.lcf").write_text(bad)
    shutil.copy(TIER / "tier0.flp", tmp_path)
    with pytest.raises(InputError, match="expected layer number 2") as e:
        read_lcf(tmp_path / "bad.lcf")
    assert e.value.line is not None
    (tmp_path / "cut.lcf").write_text("0\nY\nY\n1.75e6\n0.01\n")
    with pytest.raises(InputError, match="incomplete"):
        read_lcf(tmp_path / "cut.lcf")
    (tmp_path / "mat.lcf").write_text("0\nY\nY\nsilicon\n150e-6\ntier0.flp\n")
    assert read_lcf(tmp_path / "mat.lcf", {"silicon": (130.0, 1.63e6)})[0]["conductivity"] == 130
    with pytest.raises(InputError, match="unknown material 'silicn'"):
        (tmp_path / "mat.lcf").write_text("0\nY\nY\nsilicn\n150e-6\ntier0.flp\n")
        read_lcf(tmp_path / "mat.lcf", {"silicon": (130.0, 1.63e6)})


def test_cli_lcf_steady_and_grid_files(tmp_path, capsys):
    steady, grid = tmp_path / "a.steady", tmp_path / "a.grid.steady"
    rc = main(["solve", "--layers", str(TIER / "two_tier.lcf"), "--config",
               str(TIER / "two_tier.config"), "--power", str(TIER / "two_tier.ptrace"),
               "--mesh", "uniform", "--tolerance", "0.5", "--steady-file", str(steady),
               "--grid-steady-file", str(grid), "--grid-rows", "8", "--grid-cols", "8"])
    assert rc == 0
    names = [line.split("\t")[0] for line in steady.read_text().splitlines()]
    assert names[:4] == ["layer_0_core0", "layer_0_core1", "layer_0_cache0", "layer_0_io0"]
    assert "layer_2_gpu" in names and "hsp_gpu" in names and "hsink_noc" in names
    lines = grid.read_text().splitlines()
    assert lines[0] == "Layer 0:" and lines[65] == "Layer 1:" and len(lines) == 6 * 65
    top_left, bottom_left = (float(lines[i].split("\t")[1]) for i in (1, 57))
    assert lines[1].startswith("0\t") and lines[64].startswith("63\t")
    # row 0 is the top (core0, 1.7 W/cm^2 hotter than cache0 below it)
    assert top_left != bottom_left


def test_unconverged_exit_status(tmp_path, capsys):
    args = ["solve", str(DATA / "small.flp"), "--power", str(DATA / "small.ptrace"),
            "--mesh", "uniform", "--tolerance", "1e-4", "--max-dofs", "3000"]
    assert main(args) == EXIT_UNCONVERGED
    assert "DOF limit" in capsys.readouterr().err
    assert main(args + ["--allow-unconverged"]) == 0


def test_config_keys_refused_or_noted(tmp_path):
    (tmp_path / "c.config").write_text("-leakage_used 1\n")  # honoured: thermal.leakage
    assert config_outputs(read_config(tmp_path / "c.config"))["notes"] == []
    (tmp_path / "c.config").write_text("-model_type blocks\n")
    with pytest.raises(InputError, match="block or grid"):
        config_outputs(read_config(tmp_path / "c.config"))
    (tmp_path / "c.config").write_text("-init_file x.init\n-dtm_used 1\n-model_type block\n"
                                       "-steady_file out.steady\n-grid_rows 32\n")
    out = config_outputs(read_config(tmp_path / "c.config"))
    assert len(out["notes"]) == 2 and out["steady_file"] == "out.steady"
    assert out["grid_rows"] == 32 and out["grid_cols"] == 64


def test_dump_config_round_trips(tmp_path, capsys):
    assert main(["solve", "--layers", str(TIER / "two_tier.lcf"), "--config",
                 str(TIER / "two_tier.config"), "--power", str(TIER / "two_tier.ptrace"),
                 "--dump-config"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "dumped.toml").write_text(text)
    stack = Stack.read(tmp_path / "dumped.toml")
    assert stack == read_lcf_stack(TIER / "two_tier.lcf", config=TIER / "two_tier.config")


def test_block_material_applies_in_its_own_layer(tmp_path):
    """A non-power layer's floorplan with one die-sized block of its own resistivity (column 7)
    is that layer with that conductivity: the exact series of the stack with the bond layer at
    k = 1/0.5 = 2 W/(m K) instead of 4 gives every block of both tiers to 0.1 K, and the power
    layers keep their own conductivity."""
    (tmp_path / "bond.flp").write_text("bond 0.01 0.01 0 0 4e6 0.5\n")
    for name in ("tier0.flp", "tier1.flp"):
        shutil.copy(TIER / name, tmp_path)
    text = (TIER / "two_tier.toml").read_text().replace(
        'name = "bond"\n', 'name = "bond"\nfloorplan = "bond.flp"\n')
    (tmp_path / "s.toml").write_text(text)
    stack = Stack.read(tmp_path / "s.toml")
    fp = read_layer_floorplans(stack)
    assert list(fp.layers) == [0, 1, 2]
    sol = solve(fp, POWER, stack, mesh="ml", tolerance=0.1)
    watts = fp.power_vector(POWER.mean())
    layers = [(l.thickness_m, 2.0 if l.name == "bond" else l.conductivity) for l in stack.layers]
    r = sol.mesh.block_rects
    exact = exact_solution(fp.bounds, np.c_[r[:, :2], r[:, 2:] - r[:, :2]], watts, layers,
                           h=stack.h, ambient_K=stack.ambient_K, source_layers=fp.block_layer)
    for layer in (0, 2):
        rows = fp.of_layer(layer)
        e = exact.with_blocks(np.c_[r[rows, :2], r[rows, 2:] - r[rows, :2]])
        assert np.abs(sol.blocks.max_K[rows] - e.block_max(layer)).max() < 0.1
        assert np.abs(sol.blocks.mean_K[rows] - e.block_mean(layer)).max() < 0.1
    # and not the stack's own k = 4 bond: that one is more than 0.1 K cooler somewhere
    plain = exact_for(read_layer_floorplans(Stack.read(TIER / "two_tier.toml")), POWER.mean(),
                      Stack.read(TIER / "two_tier.toml"), modes=96)
    core1 = fp.index("core1")
    assert sol.blocks.mean_K[core1] - plain.block_mean(0)[fp.index("core1")] > 0.1


def test_die_sampler_is_exact_for_linear_fields():
    """Sampling interpolates the P1 field: a linear field comes back exactly anywhere on the
    die (seeded random points)."""
    from thermal.io.hotspot import die_sampler
    from thermal.strategies import start_mesh

    fp, stack = _toml_case()
    mesh = start_mesh(fp, stack, "uniform")
    x0, y0, x1, y1 = fp.bounds
    rng = np.random.default_rng(7)
    xy = np.c_[rng.uniform(x0, x1, 500), rng.uniform(y0, y1, 500)]
    field = 3.0 + 200.0 * mesh.points[:, 0] - 150.0 * mesh.points[:, 1]
    got = die_sampler(mesh, fp.bounds, xy)(field)
    np.testing.assert_allclose(got, 3.0 + 200.0 * xy[:, 0] - 150.0 * xy[:, 1], rtol=0, atol=1e-12)


def test_heatmap_has_a_panel_per_power_layer():
    fp, stack = _toml_case()
    sol = solve(fp, POWER, stack, mesh="uniform", tolerance=0.5)
    fig = sol.plot(None, "heatmap")
    titles = [ax.get_title() for ax in fig.axes]
    assert "tier0" in titles and "tier1" in titles and "bond" not in titles
