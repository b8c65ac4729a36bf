"""Loaders of floorplans, power traces, stacks and HotSpot configs: the valid paths and warnings.

(The bad-input corpus is in test_bad_inputs.py.)
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from thermal.errors import InputError, InputWarning
from thermal.floorplan import make_floorplan, overlapping_pairs
from thermal.io import steady
from thermal.io.flp import read as read_floorplan
from thermal.io.hotspot import BUILTIN_MATERIALS, read_config, read_materials
from thermal.io.ptrace import read as read_ptrace
from thermal.io.text import read_text
from thermal.power import PowerTrace, power_vector
from thermal.stack import Layer, Stack

DATA = Path(__file__).resolve().parent / "data"
REPO = DATA.parent.parent
SHARED = REPO.parent / "shared" / "reference-inputs" / "hotspot"


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------------------- floorplans


def test_ev6_floorplan(no_warnings):
    fp = read_floorplan(DATA / "ev6.flp")
    assert fp.n_blocks == 30
    assert fp.bounds == (0.0, 0.0, 0.016, 0.016)
    assert fp.names[:3] == ("L2_left", "L2", "L2_right")
    assert fp.lines[0] == 8 and fp.lines[-1] == 37
    assert fp.index("IntReg_0") == 23
    np.testing.assert_allclose(fp.area_m2.sum(), 0.016 ** 2, rtol=1e-5)
    assert np.isnan(fp.conductivity).all() and np.isnan(fp.heat_capacity).all()
    np.testing.assert_array_equal(fp.right_m, fp.left_m + fp.width_m)
    np.testing.assert_array_equal(fp.top_m, fp.bottom_m + fp.height_m)
    assert fp.path == str(DATA / "ev6.flp")
    with pytest.raises(ValueError):
        fp.width_m[0] = 1.0                      # read-only arrays
    with pytest.raises(InputError, match="no block named 'nope'"):
        fp.index("nope")


def test_material_columns_and_crlf(tmp_path, no_warnings):
    path = tmp_path / "m.flp"
    path.write_bytes(b"# name w h x y c r\r\na 1e-3 1e-3 0 0 1.75e6 0.01\r\n"
                     b"b 1e-3 1e-3 1e-3 0  # no material\r\n")
    fp = read_floorplan(path)
    np.testing.assert_allclose(fp.conductivity[0], 100.0)
    assert fp.heat_capacity[0] == 1.75e6
    assert np.isnan(fp.conductivity[1]) and np.isnan(fp.heat_capacity[1])
    assert fp.lines == (2, 3)


def test_negative_coordinates_are_fine(no_warnings):
    fp = make_floorplan(["a", "b"], [-1e-3, 0], [-1e-3, -1e-3], [1e-3, 1e-3], [2e-3, 2e-3])
    assert fp.bounds == (-1e-3, -1e-3, 1e-3, 1e-3)
    assert fp.path == "<floorplan>"


def test_make_floorplan_validates():
    with pytest.raises(InputError, match=r"<floorplan>:2: width of block 'b' must be positive"):
        make_floorplan(["a", "b"], [0, 1], [0, 0], [1e-3, 0], [1e-3, 1e-3])
    with pytest.raises(InputError, match="duplicate block name 'a'"):
        make_floorplan(["a", "a"], [0, 1e-3], [0, 0], [1e-3, 1e-3], [1e-3, 1e-3])
    with pytest.raises(InputError, match="expected \\(2,\\)"):
        make_floorplan(["a", "b"], [0], [0, 0], [1e-3, 1e-3], [1e-3, 1e-3])
    with pytest.raises(InputError, match="conductivity of block 'a' must be positive"):
        make_floorplan(["a"], [0], [0], [1e-3], [1e-3], conductivity=[-1.0])
    with pytest.raises(InputError, match="no blocks"):
        make_floorplan([], [], [], [], [])
    with pytest.raises(InputError, match="larger than 10 cm"):
        make_floorplan(["a"], [0], [0], [16.0], [16.0])


def test_thin_overlap_warns_and_loads(tmp_path):
    # b overlaps a by a 1 µm sliver: a rounding artefact, accepted with one warning.
    path = write(tmp_path, "thin.flp", "a 0.001001 0.001 0 0\nb 0.001 0.001 0.001 0\n"
                                       "c 0.001 0.001 0.002 0\n")
    with pytest.warns(InputWarning) as record:
        fp = read_floorplan(path)
    assert fp.n_blocks == 3
    assert len(record) == 1
    text = str(record[0].message)
    assert "1 thin block overlap" in text and "'a' (line 1) / 'b' (line 2)" in text
    assert "1e-09 m²" in text and path in text


def test_large_overlap_is_an_error(tmp_path):
    path = write(tmp_path, "big.flp", "a 0.002 0.001 0 0\n# c\nb 0.001 0.001 0.0005 0\n")
    with pytest.raises(InputError) as info:
        read_floorplan(path)
    assert str(info.value).startswith(f"{path}:3: block 'b' overlaps block 'a' (line 1) over 100%")


def test_gap_warns(tmp_path):
    path = write(tmp_path, "gap.flp", "a 0.001 0.001 0 0\nb 0.001 0.001 0.002 0\n")
    with pytest.warns(InputWarning, match=r"33\.3% of the die .* whitespace"):
        fp = read_floorplan(path)
    assert fp.bounds == (0.0, 0.0, 0.003, 0.001)


def test_rounding_gaps_are_not_whitespace(tmp_path, no_warnings):
    # 1 µm gaps on a 16 mm die (as in ev6) are rounding, below the mesher's merge distance.
    path = write(tmp_path, "round.flp", "a 0.007999 0.016 0 0\nb 0.008 0.016 0.008 0\n")
    read_floorplan(path)


def _naive_pairs(x0, y0, x1, y1, eps):
    """O(B^2) loop oracle for overlapping_pairs."""
    out = []
    for i in range(len(x0)):
        for j in range(i + 1, len(x0)):
            ox = min(x1[i], x1[j]) - max(x0[i], x0[j])
            oy = min(y1[i], y1[j]) - max(y0[i], y0[j])
            if ox > eps and oy > eps:
                out.append((i, j, ox * oy))
    return out


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_overlapping_pairs_matches_naive_loop(chunk):
    rng = np.random.default_rng(7)
    x0, y0 = rng.uniform(0, 10, 300), rng.uniform(0, 10, 300)
    x1, y1 = x0 + rng.uniform(0.01, 1.5, 300), y0 + rng.uniform(0.01, 1.5, 300)
    x0[:20] = x1[20:40]                         # some exactly abutting edges
    i, j, a = overlapping_pairs(x0, y0, x1, y1, eps=1e-12, chunk=chunk)
    expected = _naive_pairs(x0, y0, x1, y1, 1e-12)
    assert list(zip(i.tolist(), j.tolist())) == [(p, q) for p, q, _ in expected]
    np.testing.assert_allclose(a, [s for _, _, s in expected])


def test_2000_blocks_are_fast():
    # a 40 x 50 grid of blocks whose edges carry float noise and a few thin slivers
    nx, ny, pitch = 40, 50, 200e-6
    gx, gy = np.meshgrid(np.arange(nx) * pitch, np.arange(ny) * pitch)
    left, bottom = gx.ravel(), gy.ravel()
    width = np.full(left.size, pitch) * (1 + 1e-15)
    slivers = np.arange(0, left.size, 97)
    slivers = slivers[slivers % nx != nx - 1]   # 2 µm slivers into the right neighbour
    width[slivers] *= 1.01
    names = [f"b{i}" for i in range(left.size)]
    start = time.perf_counter()
    with pytest.warns(InputWarning, match="thin block overlaps") as record:
        fp = make_floorplan(names, left, bottom, width, np.full(left.size, pitch))
    assert time.perf_counter() - start < 1.0
    assert fp.n_blocks == 2000
    assert len(record) == 1                     # the overlaps, and no whitespace
    assert f"{slivers.size} thin block overlaps" in str(record[0].message)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared reference inputs not present")
def test_all_hotspot_reference_inputs_load(no_warnings):
    for path in sorted(SHARED.glob("*/*.flp")):
        fp = read_floorplan(path)
        assert fp.n_blocks >= 1
    for path in sorted(SHARED.glob("*/*.config")):
        materials = path.with_name("example.materials")
        Stack.from_hotspot_config(path, materials if materials.exists() else None)
    for path in sorted(SHARED.glob("*/*.ptrace")):
        assert read_ptrace(path).n_rows >= 1
    for name in ("ev6.flp", "gcc.ptrace", "hotspot.config", "example.materials"):
        assert (DATA / name).read_bytes() == (SHARED / "ev6" / name).read_bytes()


# ------------------------------------------------------------------------------- power


def test_gcc_ptrace(no_warnings):
    trace = read_ptrace(DATA / "gcc.ptrace")
    assert trace.samples_w.shape == (100, 30)
    mean = trace.mean()
    assert list(mean) == list(trace.names)
    assert math.isclose(sum(mean.values()), 40.207316, rel_tol=1e-9)
    first = trace.row(0)
    assert first["L2_left"] == 1.44 and first["ITB_1"] == 0.2
    fp = read_floorplan(DATA / "ev6.flp")
    vec = power_vector(fp, mean)
    assert vec.shape == (30,) and math.isclose(vec.sum(), 40.207316, rel_tol=1e-9)
    assert vec[fp.index("IntExec")] == mean["IntExec"]
    for n in (100, -1):
        with pytest.raises(InputError, match="out of range: the trace has 100 sample rows"):
            trace.row(n)


def test_ptrace_comments_and_blank_lines(tmp_path, no_warnings):
    path = write(tmp_path, "p.ptrace", "# trace\n a\tb \n\n1 2\n# pause\n3 4\n")
    trace = read_ptrace(path)
    assert trace.names == ("a", "b") and trace.lines == (4, 6) and trace.header_line == 2
    assert trace.mean() == {"a": 2.0, "b": 3.0}
    with pytest.raises(InputError, match=r"p\.ptrace:2: power names do not match"):
        power_vector(make_floorplan(["a", "c"], [0, 1e-3], [0, 0], [1e-3] * 2, [1e-3] * 2),
                     trace.mean())


def test_power_vector_checks():
    fp = make_floorplan(["core", "cache"], [0, 1e-3], [0, 0], [1e-3] * 2, [1e-3] * 2)
    np.testing.assert_array_equal(power_vector(fp, {"cache": 1.0, "core": 2.0}), [2.0, 1.0])
    with pytest.raises(InputError) as info:
        power_vector(fp, {"core": 1.0, "cahce": 1.0, "gpu": 3.0}, source="my.ptrace")
    text = str(info.value)
    assert text.startswith("my.ptrace: power names do not match the floorplan")
    assert "missing 1 floorplan block: 'cache'" in text
    assert "2 names not in the floorplan: 'cahce', 'gpu' (did you mean 'cache'" in text
    for bad, what in ((-1.0, "is negative"), (math.nan, "is not finite"),
                      (math.inf, "is not finite"), ("x", "is not a number")):
        with pytest.raises(InputError, match=f"power of block 'cache' {what}"):
            power_vector(fp, {"core": 1.0, "cache": bad})


def test_power_trace_constructor_checks_shape():
    with pytest.raises(InputError, match="expected \\(rows, 2\\)"):
        PowerTrace(("a", "b"), np.zeros((3, 3)))


# ------------------------------------------------------------------------------- stacks


def test_hotspot_config_with_materials(no_warnings):
    stack = Stack.from_hotspot_config(DATA / "hotspot.config", materials=DATA / "example.materials")
    die, tim, spreader, sink = stack.layers
    assert [layer.name for layer in stack.layers] == ["die", "tim", "spreader", "sink"]
    assert (die.thickness_m, die.conductivity, die.heat_capacity, die.power) == (
        0.00015, 130.0, 1630300.0, True)
    assert (tim.thickness_m, tim.conductivity, tim.heat_capacity) == (2e-5, 4.0, 4e6)
    assert (spreader.conductivity, spreader.heat_capacity, spreader.size_m) == (
        237.0, 2.422e6, (0.03, 0.03))
    assert (sink.conductivity, sink.thickness_m, sink.size_m) == (237.0, 0.0069, (0.06, 0.06))
    assert stack.r_convec == 0.1 and stack.h is None and stack.c_convec == 140.4
    assert stack.ambient_K == 318.15 and stack.power_layers == (0,)
    # without a materials file the built-in table gives the same values
    assert Stack.from_hotspot_config(DATA / "hotspot.config") == stack


def test_hotspot_config_precedence(tmp_path):
    cfg = DATA / "hotspot.config"
    s = Stack.from_hotspot_config(cfg, overrides={"r_convec": "0.2", "-t_chip": "5e-4"})
    assert s.r_convec == 0.2 and s.layers[0].thickness_m == 5e-4
    # an explicit override of k_chip beats the config file's -material_chip
    s = Stack.from_hotspot_config(cfg, overrides={"k_chip": "150"})
    assert s.layers[0].conductivity == 150.0 and s.layers[0].heat_capacity == 1630300.0
    # ...but within the file, the material wins over -k_chip (as in HotSpot)
    path = write(tmp_path, "k.config", "-k_chip 100.0\n-material_chip silicon\n")
    assert Stack.from_hotspot_config(path).layers[0].conductivity == 130.0
    # HotSpot defaults fill what the file leaves out
    with pytest.warns(InputWarning):
        s = Stack.from_hotspot_config(write(tmp_path, "empty.config", "# nothing\n"))
    assert s == Stack.default()
    assert Stack.from_hotspot_config(None) == Stack.default()
    with pytest.raises(InputError, match="--set r_convc=0.2: unknown HotSpot option; "
                                         "did you mean 'r_convec'"):
        Stack.from_hotspot_config(cfg, overrides={"r_convc": "0.2"})
    with pytest.raises(InputError, match="--set t_sink=thick: must be a positive number"):
        Stack.from_hotspot_config(cfg, overrides={"t_sink": "thick"})
    Stack.from_hotspot_config(cfg, overrides={"grid_rows": "128"})   # known, unrelated: ignored


def test_materials_file_named_in_config(tmp_path):
    shutil.copy(DATA / "example.materials", tmp_path / "my.materials")
    (tmp_path / "my.materials").write_text(
        (DATA / "example.materials").read_text() + "\ncopper\nsolid\n400.0\n3.55e6\n")
    path = write(tmp_path, "c.config", "-materials_file my.materials\n-material_sink copper\n"
                                       "-material_chip silicon\n")
    s = Stack.from_hotspot_config(path)
    assert s.layers[3].conductivity == 400.0 and s.layers[0].conductivity == 130.0


def test_read_config_and_materials():
    cfg = read_config(DATA / "hotspot.config")
    assert cfg["t_chip"] == "0.00015" and cfg.lines["t_chip"] == 5
    assert cfg["init_file"] == "(null)"
    assert "k_chip" not in cfg                  # commented out
    mats = read_materials(DATA / "example.materials")
    assert mats == {"silicon": (130.0, 1630300.0), "water": (0.6069, 4172638.0),
                    "aluminum": (237.0, 2.422e6)}
    assert {k: mats[k] for k in ("silicon", "aluminum")} == {
        k: BUILTIN_MATERIALS[k] for k in ("silicon", "aluminum")}


def test_default_stack_matches_spec():
    s = Stack.default()
    assert [(l.name, l.thickness_m, l.conductivity, l.heat_capacity, l.size_m) for l in s.layers] == [
        ("die", 150e-6, 100.0, 1.75e6, None), ("tim", 20e-6, 4.0, 4e6, None),
        ("spreader", 1e-3, 400.0, 3.55e6, (0.03, 0.03)),
        ("sink", 6.9e-3, 400.0, 3.55e6, (0.06, 0.06))]
    assert (s.r_convec, s.h, s.c_convec, s.ambient_K) == (0.1, None, 140.4, 318.15)
    die = (0.0, 0.0, 0.016, 0.016)
    h = 1 / (0.1 * 0.06 ** 2)
    assert math.isclose(s.h_bottom(die), h, rel_tol=1e-12)
    assert math.isclose(s.g_ambient(die), 1 / (6.9e-3 / (2 * 400) + 1 / h), rel_tol=1e-12)
    assert math.isclose(s.g_between(2, 3), 1 / (1e-3 / 800 + 6.9e-3 / 800), rel_tol=1e-12)


def test_ev6_3layer_round_trip(tmp_path, no_warnings):
    s = Stack.read(DATA / "ev6_3layer.toml")
    assert [l.name for l in s.layers] == ["die", "tim", "spreader"]
    assert all(l.size_m is None for l in s.layers)
    assert (s.h, s.r_convec, s.ambient_K, s.power_layers) == (1e4, None, 318.15, (0,))
    assert s.layers[2] == Layer("spreader", 1e-3, 400.0, 3.55e6)
    # by hand: g = 1/(t_a/(2k_a) + t_b/(2k_b)); g_amb = 1/(t/(2k) + 1/h)
    assert math.isclose(s.g_between(0, 1), 1 / (150e-6 / 200 + 20e-6 / 8), rel_tol=1e-12)
    assert math.isclose(s.g_between(1, 2), 1 / (20e-6 / 8 + 1e-3 / 800), rel_tol=1e-12)
    die = (0.0, 0.0, 0.016, 0.016)
    assert s.h_bottom(die) == 1e4
    assert math.isclose(s.g_ambient(die), 1 / (1e-3 / 800 + 1e-4), rel_tol=1e-12)
    assert s.footprint(2, die) == die
    path = write(tmp_path, "again.toml", s.to_toml())
    assert Stack.read(path) == s
    assert Stack.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    repo_copy = REPO / "floorplans" / "ev6_3layer.toml"
    if repo_copy.exists():
        assert repo_copy.read_text() == (DATA / "ev6_3layer.toml").read_text()


def test_default_stack_round_trip(tmp_path):
    s = Stack.default()
    assert Stack.read(write(tmp_path, "d.toml", s.to_toml())) == s


def test_footprints_are_centred_on_the_die():
    s = Stack.default()
    die = (1e-3, 2e-3, 17e-3, 18e-3)            # 16 mm die, not at the origin
    x0, y0, x1, y1 = s.footprint(2, die)
    assert math.isclose(x1 - x0, 0.03) and math.isclose(y1 - y0, 0.03)
    assert math.isclose((x0 + x1) / 2, 9e-3) and math.isclose((y0 + y1) / 2, 10e-3)
    assert s.footprint(0, die) == die
    flat = s.with_die_footprint()
    assert all(layer.size_m is None for layer in flat.layers)
    assert flat.r_convec == s.r_convec
    assert math.isclose(flat.h_bottom(die), 1 / (0.1 * 0.016 ** 2))
    with pytest.raises(InputError, match="layer 'sink' is 60 mm x 60 mm, smaller than the die"):
        s.footprint(3, (0, 0, 0.07, 0.07))


def test_stack_api_checks():
    die = Layer("die", 1e-4, 100.0, 1.75e6)
    assert Stack((die,), h=1e4).power_layers == (0,)
    with pytest.raises(InputError, match="exactly one of h .* not both"):
        Stack((die,), h=1e4, r_convec=0.1)
    with pytest.raises(InputError, match="exactly one of h"):
        Stack((die,))
    with pytest.raises(InputError, match="thickness must be a positive number"):
        Layer("die", -1e-4, 100.0, 1.75e6)
    with pytest.raises(InputError, match="size must be two positive numbers"):
        Layer("spreader", 1e-3, 400.0, 3.55e6, size_m=(0.03, math.nan))
    with pytest.raises(InputError, match="two layers are named 'die'"):
        Stack((die, die), h=1e4)


def test_stack_toml_extras(tmp_path):
    path = write(tmp_path, "s.toml", '''
[[layer]]
name = "die"
thickness = 1e-4
conductivity = 100
heat_capacity = 1.75e6
floorplan = "die.flp"

[[layer]]
name = "spreader"
thickness = 1e-3
conductivity = 400
heat_capacity = 3.55e6
size = [30e-3, 20e-3]
power = true

[convection]
r = 0.5
c = 100.0
''')
    (tmp_path / "die.flp").write_text("a 1e-3 1e-3 0 0\n")
    s = Stack.read(path)
    assert s.ambient_K == 318.15 and s.power_layers == (1,)
    assert s.layers[0].floorplan == str(tmp_path / "die.flp")
    assert s.layers[1].size_m == (0.03, 0.02)
    assert math.isclose(s.h_bottom((0, 0, 0.01, 0.01)), 1 / (0.5 * 0.03 * 0.02))
    assert s.c_convec == 100.0
    assert Stack.read(write(tmp_path, "t.toml", s.to_toml())) == s


# ------------------------------------------------------------------------------- text plumbing


def test_read_text_errors(tmp_path):
    with pytest.raises(InputError, match="is a directory, not a floorplan file"):
        read_text(tmp_path, "floorplan")
    (tmp_path / "bom.flp").write_bytes(b"\xef\xbb\xbfa 1e-3 1e-3 0 0\n")
    assert read_floorplan(tmp_path / "bom.flp").names == ("a",)


def test_write_steady(tmp_path):
    path = tmp_path / "out.steady"
    steady.write(path, ["a", "b"], np.array([318.154, 340.0]))
    assert path.read_text() == "a\t318.15\nb\t340.00\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.steady"]


def test_stacked_strips_sweep_along_y(no_warnings):
    # 3,000 full-width strips: every pair is an x-candidate, so the sweep must run along y
    n = 3000
    start = time.perf_counter()
    fp = make_floorplan([f"s{i}" for i in range(n)], np.zeros(n), np.arange(n) * 5e-6,
                        np.full(n, 0.01), np.full(n, 5e-6))
    assert time.perf_counter() - start < 1.0
    assert fp.bounds == (0.0, 0.0, 0.01, pytest.approx(0.015))


def test_config_options_that_are_not_modelled_warn(tmp_path):
    path = write(tmp_path, "w.config", "-model_secondary 1\n-grid_layer_file (null)\n")
    with pytest.warns(InputWarning, match=r"w\.config:1: -model_secondary 1: the secondary"):
        Stack.from_hotspot_config(path)


@pytest.mark.parametrize("name", ["ev6.flp", "gcc.ptrace", "hotspot.config", "ev6_3layer.toml",
                                  "example.materials"])
def test_mangled_files_fail_only_with_input_error(tmp_path, name):
    """Randomly mangled inputs (seeded) either load or raise InputError: nothing else leaks."""
    rng = np.random.default_rng(sum(map(ord, name)))
    original = (DATA / name).read_bytes()
    junk = [b"", b"#", b"-", b"nan", b"-1", b"1e999", b"\xff", b"\x00", b"=", b"[", b"]", b'"',
            b"\t", b"\n", b"0", b"x", b"[[layer]]", b"size = [1]", b"-material_chip"]
    load = {"ev6.flp": read_floorplan, "gcc.ptrace": read_ptrace,
            "hotspot.config": Stack.from_hotspot_config, "ev6_3layer.toml": Stack.read,
            "example.materials": read_materials}[name]
    path = tmp_path / name
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(0, len(data)))
            cut = int(rng.integers(0, 12))
            data[at:at + cut] = junk[rng.integers(len(junk))]
        path.write_bytes(bytes(data))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)
            try:
                result = load(path)
            except InputError as e:
                assert "\n" not in str(e) and str(e).startswith(str(path))
                continue
        if isinstance(result, Stack):
            for layer in range(len(result.layers)):
                try:
                    result.footprint(layer, (0, 0, 0.016, 0.016))
                except InputError:
                    pass


def test_every_writer_round_trips_through_its_reader(tmp_path):
    """io/ writes each format so that its reader gives back the same values, to the last digit."""
    from thermal.io import flp, powermap, ptrace, stack_toml
    from thermal.power import PowerMap

    fp = read_floorplan(DATA / "ev6.flp")
    flp.write(tmp_path / "ev6.flp", fp)
    again = flp.read(tmp_path / "ev6.flp")
    assert again.names == fp.names and np.array_equal(again.rects, fp.rects)
    own = make_floorplan(["a", "b"], [0, 1e-3], [0, 0], [1e-3, 1e-3], [1e-3, 1e-3],
                         conductivity=[3.0, 150.0], heat_capacity=[1.6e6, 1.75e6])
    flp.write(tmp_path / "own.flp", own)
    back = flp.read(tmp_path / "own.flp")
    assert np.allclose(back.conductivity, own.conductivity, rtol=1e-15)
    assert np.array_equal(back.heat_capacity, own.heat_capacity)

    trace = read_ptrace(DATA / "gcc.ptrace")
    ptrace.write(tmp_path / "gcc.ptrace", trace)
    assert np.array_equal(ptrace.read(tmp_path / "gcc.ptrace").samples_w, trace.samples_w)

    m = PowerMap(np.arange(6.0).reshape(2, 3) / 7, extent=(0, 1e-3, 3e-3, 2.5e-3))
    powermap.write(tmp_path / "m.csv", m)
    m2 = powermap.read(tmp_path / "m.csv")
    assert np.array_equal(m2.watts, m.watts) and m2.extent == m.extent
    with pytest.raises(ValueError, match="holds no extent"):
        powermap.write(tmp_path / "m.npy", m)
    powermap.write(tmp_path / "m.npy", PowerMap(m.watts))
    assert np.array_equal(powermap.read(tmp_path / "m.npy").watts, m.watts)

    s = Stack.read(DATA / "ev6_3layer.toml")
    stack_toml.write(tmp_path / "s.toml", s)
    assert stack_toml.read(tmp_path / "s.toml") == s


def test_one_steady_reader_for_init_files_and_compare(tmp_path):
    """thermal.io.steady reads what HotSpot's -steady_file holds and what -init_file takes; the
    same reader serves `thermal compare` and `thermal transient --init-file`."""
    from thermal.compare import read_side

    path = tmp_path / "run.steady"
    steady.write(path, ["a", "hsp_a"], [330.004, 320.126])
    assert steady.read(path) == {"a": 330.0, "hsp_a": 320.13}
    side = read_side(path)
    assert side.names == ("a", "hsp_a") and side.mean_K.tolist() == [330.0, 320.13]
    (tmp_path / "twice.steady").write_text("a 300\nb 301\na 302\n")
    for read in (steady.read, read_side):
        with pytest.raises(InputError, match=r"twice.steady:3: 'a' is given twice"):
            read(tmp_path / "twice.steady")
    grid = tmp_path / "run.grid.steady"
    steady.write_grid(grid, np.full((2, 2, 3), 310.0))
    assert steady.read_grid(grid, (2, 3)).shape == (2, 3)
    assert read_side(grid, (2, 3)).grid_K.tolist() == [[310.0] * 3] * 2
