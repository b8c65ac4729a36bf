"""Robustness (issue 5): no input makes thermal crash, hang on a signal, or leave half a result.

- The command line: every bad argument is one ``thermal: error:`` line and exit status 2; an
  unwritable output is refused before any work; whitespace between blocks is one warning.
- Determinism: the same run twice (in two interpreters with different hash seeds) writes
  byte-identical files, timings.json apart.
- Signals: SIGINT and SIGTERM in the middle of a solve, or while the results are being written,
  exit with 130 / 143 and leave neither the output directory nor a temporary one.
- Properties (hypothesis, derandomized): random valid floorplans -- 1 to 300 blocks, tiny blocks
  beside large ones, 1 nm overlaps and gaps -- always solve with a closed energy balance and no
  temperature below ambient; random byte-level mutations of valid input files only ever raise
  :class:`InputError` (or warn with :class:`InputWarning`), and through the CLI exit 0 or 2
  without a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import thermal
from thermal.assemble import assemble
from thermal.cli import main
from thermal.inputs import load_inputs
from thermal.errors import InputError, InputWarning
from thermal.floorplan import make_floorplan
from thermal.mesh import MIN_FEATURE_REL, SNAP_REL
from thermal.solution import OUTPUT_FILES
from thermal.stack import Layer, Stack

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
FLOORPLANS = REPO / "floorplans"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                               os.environ.get("PYTHONPATH")]))}


def _leftovers(out: Path) -> list[str]:
    """The output directory and any temporary directory of it, if present."""
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name == out.name or p.name.startswith(f".{out.name}."))


# ------------------------------------------------------------------------------ command line

SMALL = [str(DATA / "small.flp"), "--power", str(DATA / "small.ptrace")]

BAD_ARGS = {
    "row_out_of_range": (["--row", "2"], "row 2 is out of range: the trace has 2 sample rows"),
    "row_negative": (["--row", "-1"], "argument --row: rows count from 0, got -1"),
    "row_not_integer": (["--row", "1.5"], "argument --row: not a whole number: '1.5'"),
    "tolerance_zero": (["--tolerance", "0"], "argument --tolerance: must be a positive number"),
    "tolerance_negative": (["--tolerance", "-0.1"], "must be a positive number, got '-0.1'"),
    "tolerance_nan": (["--tolerance", "nan"], "must be a positive number, got 'nan'"),
    "tolerance_inf": (["--tolerance", "inf"], "must be a positive number, got 'inf'"),
    "tolerance_text": (["--tolerance", "fine"], "argument --tolerance: not a number: 'fine'"),
    "unknown_option": (["--modle", "m.npz"], "unrecognized arguments: --modle m.npz"),
    "unknown_strategy": (["--mesh", "fine"], "argument --mesh: invalid choice: 'fine'"),
    "model_missing": (["--mesh", "ml", "--model", "m.npz"], "m.npz: no such model file"),
    "layer_file": (["--layers", "stack.lcf"], "stack.lcf: no such HotSpot layer configuration file"),
    "stack_and_config": (["--stack", str(DATA / "ev6_3layer.toml"), "--config",
                          str(DATA / "hotspot.config")], "not allowed with argument --stack"),
    "set_without_config": (["--set", "r_convec=0.2"], "--set applies to a HotSpot --config"),
    "set_without_value": (["--config", str(DATA / "hotspot.config"), "--set", "r_convec"],
                          "--set expects NAME=VALUE, got 'r_convec'"),
    "set_unknown": (["--config", str(DATA / "hotspot.config"), "--set", "r_convc=0.2"],
                    "unknown HotSpot option; did you mean 'r_convec'?"),
    "set_bad_value": (["--config", str(DATA / "hotspot.config"), "--set", "t_chip=-1"],
                      "--set t_chip=-1: must be a positive number"),
    "materials_without_config": (["--materials", str(DATA / "example.materials")],
                                 "--materials applies to a HotSpot --config"),
    "critical": (["--critical", "a:-0.05"], "--critical a:-0.05: tolerance must be a positive"),
    "format": (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    "steady_file_folder_missing": (["--steady-file", "no/such/dir/run.steady"],
                                   "its folder does not exist"),
    "steady_file_is_directory": (["--steady-file", "."], "is a directory, not a file name"),
}


@pytest.mark.parametrize("extra, fragment", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_argument_is_one_line(extra, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    status = main(["solve", *SMALL, "--out", str(out), "--no-plots", *extra])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("thermal: error: "), err
    assert fragment in err
    assert _leftovers(out) == []


@pytest.mark.parametrize("argv, fragment", [
    ([], "a command is required"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["solve", str(DATA / "small.flp")], "the following arguments are required: --power"),
    (["solve", "--power", str(DATA / "small.ptrace")], "a FLOORPLAN file is required"),
    (["solve", str(DATA / "small.flp"), "--power", "map.npy"], "map.npy: no such power map file"),
    (["solve", str(DATA), "--power", str(DATA / "small.ptrace")], "is a directory, not a floorplan"),
    (["mesh", *SMALL], "the following arguments are required: --out"),
    (["transient", *SMALL], "the following arguments are required: --out"),
    (["train", "--samples", "10"], "the following arguments are required: --out"),
], ids=["no_command", "unknown_command", "no_power", "no_floorplan", "power_map",
        "floorplan_is_directory", "mesh_without_out", "transient", "train"])
def test_bad_command_line_is_one_line(argv, fragment, capsys):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("thermal: error: ") and fragment in err, err


def test_output_path_that_cannot_be_a_directory_is_refused_before_solving(tmp_path, capsys):
    afile = tmp_path / "results.txt"
    afile.write_text("not a folder")
    targets = {afile: "exists and is not a directory",
               afile / "out": "results.txt is not a directory"}
    if Path("/proc/self").is_dir():
        targets[Path("/proc/thermal-out")] = "output directory is not writable"
    for out, fragment in targets.items():
        t = time.perf_counter()
        status = main(["solve", *SMALL, "--out", str(out)])
        err = capsys.readouterr().err
        assert status == 2 and fragment in err and err.count("\n") == 1, err
        assert time.perf_counter() - t < 2.0  # refused before the solve
    assert afile.read_text() == "not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="file permissions do not bind root")
def test_unreadable_input_and_unwritable_output(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    flp = tmp_path / "secret.flp"
    flp.write_bytes((DATA / "small.flp").read_bytes())
    flp.chmod(0)
    locked.chmod(0o500)
    try:
        assert main(["solve", str(flp), "--power", str(DATA / "small.ptrace")]) == 2
        assert "cannot read the floorplan file: permission denied" in capsys.readouterr().err
        assert main(["solve", *SMALL, "--out", str(locked / "out")]) == 2
        assert "output directory is not writable" in capsys.readouterr().err
    finally:
        flp.chmod(0o600)
        locked.chmod(0o700)


def test_whitespace_is_die_material_and_one_warning(tmp_path, capsys):
    """Gaps between blocks are legal: meshed as the die layer's own material (no block), with
    no power, and reported by one warning, once."""
    flp = tmp_path / "gappy.flp"
    flp.write_text("a\t0.002\t0.002\t0.0\t0.0\nb\t0.002\t0.002\t0.003\t0.0\n"
                   "c\t0.005\t0.001\t0.0\t0.003\n")
    ptrace = tmp_path / "gappy.ptrace"
    ptrace.write_text("a b c\n1.0 2.0 0.5\n")
    out = tmp_path / "out"
    assert main(["solve", str(flp), "--power", str(ptrace), "--out", str(out), "--no-plots",
                 "--mesh", "uniform", "--tolerance", "1", "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("thermal: warning: ") and "whitespace" in err[0]
    assert "35% of the die (7e-06 m²)" in err[0]          # 7 of 20 mm² uncovered
    assert sorted(p.name for p in out.iterdir()) == ["blocks.csv", "field.vtu", "summary.json",
                                                     "timings.json"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fp, power, stack = load_inputs(flp, ptrace)
    assert [type(w.message) for w in caught] == [InputWarning]
    sol = thermal.solve(fp, power, stack, mesh="uniform", tolerance=1.0)
    gap = sol.mesh.block_of_tri < 0
    die_area = (fp.bounds[2] - fp.bounds[0]) * (fp.bounds[3] - fp.bounds[1])
    in_die = sol.mesh.tri_in_layer[0]
    assert sol.mesh.areas[in_die].sum() == pytest.approx(die_area, rel=1e-12)
    assert sol.mesh.areas[in_die & gap].sum() == pytest.approx(7e-6, rel=1e-9)
    system = assemble(sol.mesh, stack, sol.power_w, None, fp.bounds)
    assert not system.tri_power_density[gap].any()
    assert np.isfinite(sol.theta[0][sol.mesh.triangles[in_die]]).all()
    assert np.nanmin(sol.theta) >= 0


def test_blocks_the_mesher_would_flatten_are_refused():
    """A block thinner than MIN_FEATURE_REL of the die is refused; a thin one above it meshes
    (the snapping distance shrinks to SLIVER_SNAP of it) and keeps its power; a block whose
    edges other blocks' edges chain together within the snapping distance (it would vanish:
    no triangle, no temperature, its power lost) is an input error."""
    strip = dict(names=["a", "thin", "b"], bottom=[0.0, 0.0, 0.0], height=[0.01, 0.01, 0.01])
    limit = MIN_FEATURE_REL * 0.01
    for width in (0.5 * limit, 4 * limit):     # 0.25 µm and 2 µm on a 1 cm die
        x = [0.0, 0.005, 0.005 + width]
        w = [0.005, width, 0.005 - width]
        if width < limit:
            with pytest.raises(InputError, match="block 'thin' is .* too thin to mesh, below"):
                make_floorplan(left=x, width=w, **strip)
        else:
            fp = make_floorplan(left=x, width=w, **strip)
            sol = thermal.solve(fp, {"a": 1.0, "thin": 1.0, "b": 1.0}, _stack(0.01, 0.01, False),
                                mesh="uniform", tolerance=1.0)
            assert np.isfinite(sol.blocks.max_K).all()
            assert sol.mesh.block_rects[1, 2] - sol.mesh.block_rects[1, 0] == \
                pytest.approx(width, rel=1e-9)
            system = assemble(sol.mesh, sol.stack, sol.power_w, None, fp.bounds)
            assert system.rhs.sum() == pytest.approx(3.0, rel=1e-12)
    # 'thin' (t = 2.4 µm) is the thinnest block, so the snapping distance is 0.4 t (below
    # 1e-4 of the die); the blocks above have edges at t/3 and 2t/3 across it: one chain of
    # three gaps of t/3, one cluster
    t = 2.4e-6
    chained = dict(names=["a", "thin", "b", "c", "d", "e", "f"],
                   left=[0.0, 0.005, 0.005 + t, 0.0, 0.005 + t / 3, 0.0, 0.005 + 2 * t / 3],
                   bottom=[0.0, 0.0, 0.0, 0.004, 0.004, 0.007, 0.007],
                   width=[0.005, t, 0.005 - t, 0.005 + t / 3, 0.005 - t / 3, 0.005 + 2 * t / 3,
                          0.005 - 2 * t / 3],
                   height=[0.004, 0.004, 0.004, 0.003, 0.003, 0.003, 0.003])
    with pytest.raises(InputError, match="<floorplan>:2: block 'thin' .* too thin to mesh"):
        make_floorplan(**chained)


def test_hotspot_config_typos_and_empty_configs_warn(tmp_path):
    typo = tmp_path / "typo.config"
    typo.write_text("-t_chip 0.00015\n-r_convc 0.2\n")
    with pytest.warns(InputWarning, match=r"1 unknown HotSpot option: -r_convc \(line 2, did "
                                          r"you mean -r_convec\?\)"):
        Stack.from_hotspot_config(typo)
    empty = tmp_path / "empty.config"
    empty.write_text("# nothing\n")
    with pytest.warns(InputWarning, match="no options .* HotSpot's defaults are used"):
        assert Stack.from_hotspot_config(empty) == Stack.default()


# ------------------------------------------------------------------------------ determinism

def test_same_run_twice_writes_identical_files(tmp_path):
    """In two interpreters with different hash seeds (set and dict orders of strings differ)."""
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}"
        run = subprocess.run([sys.executable, "-m", "thermal", "solve", str(DATA / "ev6.flp"),
                              "--power", str(DATA / "gcc.ptrace"), "--stack",
                              str(DATA / "ev6_3layer.toml"), "--mesh", "uniform", "--tolerance",
                              "0.5", "--out", str(out)], capture_output=True, text=True,
                             env={**ENV, "PYTHONHASHSEED": seed}, timeout=300)
        assert run.returncode == 0, run.stderr
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(set(OUTPUT_FILES) - {"predicted.png"})  # no prediction with uniform
    assert sorted(p.name for p in outs[1].iterdir()) == names
    for name in names:
        if name != "timings.json":
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    summary = json.loads((outs[0] / "summary.json").read_text())
    assert "timings_s" not in summary
    assert str(tmp_path) not in (outs[0] / "summary.json").read_text()  # no run-specific paths
    timings = json.loads((outs[0] / "timings.json").read_text())["timings_s"]
    assert set(timings) >= {"load", "predict", "mesh", "assemble", "solve", "total"}


def test_rewriting_an_output_directory_leaves_no_stale_files(tmp_path):
    out = tmp_path / "out"
    common = ["solve", *SMALL, "--mesh", "uniform", "--tolerance", "1", "--out", str(out)]
    (tmp_path / "out").mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(common) == 0
    assert {"heatmap.png", "mesh.png"} <= {p.name for p in out.iterdir()}
    assert main(common + ["--no-plots"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["blocks.csv", "field.vtu", "notes.txt",
                                                     "summary.json", "timings.json"]
    assert _leftovers(out) == ["out"]


def _counting_forks(monkeypatch) -> list:
    """Record the pid of every fork this process makes from here on."""
    forks = []
    fork = os.fork

    def counted():
        pid = fork()
        if pid > 0:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return forks


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")


@linux_only
def test_parallel_write_writes_the_same_files(tmp_path, monkeypatch):
    fp = thermal.read_floorplan(DATA / "small.flp")
    sol = thermal.solve(fp, thermal.read_ptrace(DATA / "small.ptrace"), mesh="ml", tolerance=1.0)
    one = sol.write(tmp_path / "one")
    forks = _counting_forks(monkeypatch)
    two = sol.write(tmp_path / "two", parallel=True)
    assert len(forks) == 1                              # the child did draw
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(OUTPUT_FILES) == sorted(p.name for p in two.iterdir())
    for name in names:
        if name != "timings.json":
            assert (one / name).read_bytes() == (two / name).read_bytes(), name


@linux_only
def test_a_failed_or_hung_child_share_is_redone_here(tmp_path, monkeypatch):
    from thermal.parallel import in_parallel

    parent = os.getpid()
    forks = _counting_forks(monkeypatch)

    def writes(name, fail_in_child=False, hang_in_child=False):
        def call():
            if os.getpid() != parent and fail_in_child:
                raise RuntimeError("child")
            if os.getpid() != parent and hang_in_child:
                time.sleep(60)
            (tmp_path / name).write_text(str(os.getpid()))
        return call

    in_parallel([writes("kept")], [])
    assert (tmp_path / "kept").read_text() != str(parent)      # the child's, not redone
    in_parallel([writes("failed", fail_in_child=True)], [])
    assert (tmp_path / "failed").read_text() == str(parent)
    t = time.monotonic()
    in_parallel([writes("hung", hang_in_child=True)], [], grace_s=0.5)
    assert (tmp_path / "hung").read_text() == str(parent) and time.monotonic() - t < 30
    assert len(forks) == 3
    for pid in forks:                                           # every child reaped
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@linux_only
def test_an_error_here_stops_the_child_at_once(monkeypatch):
    from thermal.parallel import in_parallel

    parent = os.getpid()
    forks = _counting_forks(monkeypatch)

    def sleeps_in_child():
        if os.getpid() != parent:
            time.sleep(60)

    def interrupted():
        raise KeyboardInterrupt

    def broken():
        raise ValueError("broken")

    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        in_parallel([sleeps_in_child], [interrupted])
    with pytest.raises(ValueError, match="broken"):             # raised here, not in the child
        in_parallel([broken], [])
    assert time.monotonic() - t < 30 and len(forks) == 2
    for pid in forks:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@linux_only
def test_no_fork_with_other_threads_or_sigchld_ignored(tmp_path, monkeypatch):
    import threading

    from thermal.parallel import in_parallel

    forks = _counting_forks(monkeypatch)
    done = []
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        in_parallel([lambda: done.append("first")], [lambda: done.append("second")])
    finally:
        stop.set()
        other.join()
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        in_parallel([lambda: done.append("first")], [lambda: done.append("second")])
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert forks == [] and done == ["second", "first"] * 2


# ------------------------------------------------------------------------------ signals

def _start(out: Path, *extra: str) -> subprocess.Popen:
    """``thermal solve`` in a child with SIGINT at its default (a shell's background job
    inherits it ignored, and Python then never raises KeyboardInterrupt)."""
    return subprocess.Popen([sys.executable, "-m", "thermal", "solve", *extra, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


SIGNALS = [pytest.param(signal.SIGINT, 130, "thermal: interrupted", id="SIGINT"),
           pytest.param(signal.SIGTERM, 143, "thermal: terminated", id="SIGTERM")]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@posix_only
@pytest.mark.parametrize("signum, status, message", SIGNALS)
def test_signal_during_the_solve_leaves_nothing(signum, status, message, tmp_path):
    out = tmp_path / "out"
    proc = _start(out, str(FLOORPLANS / "manycore.flp"), "--power",
                  str(FLOORPLANS / "manycore.ptrace"), "--mesh", "uniform")
    try:
        time.sleep(3.0)
        assert proc.poll() is None, "finished before the signal"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert err.strip().splitlines()[-1] == message and "Traceback" not in err
    assert _leftovers(out) == []


@posix_only
@pytest.mark.parametrize("signum, status, message", SIGNALS)
def test_signal_while_writing_leaves_nothing_or_everything(signum, status, message, tmp_path):
    """The signal goes as soon as the temporary directory appears beside ``out``."""
    out = tmp_path / "out"
    proc = _start(out, str(DATA / "ev6.flp"), "--power", str(DATA / "gcc.ptrace"), "--mesh",
                  "uniform", "--tolerance", "1")
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.name.startswith(".out.") for p in tmp_path.iterdir()):
                proc.send_signal(signum)
                break
            time.sleep(0.002)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in err
    assert proc.returncode in (status, 0), err   # 0: it finished before the signal came
    left = _leftovers(out)
    if left:                                     # the rename came first: everything
        assert left == ["out"] and sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)


def test_interrupt_inside_write_removes_the_temporary_directory(tmp_path, monkeypatch):
    import thermal.plot

    fp = thermal.read_floorplan(DATA / "small.flp")
    sol = thermal.solve(fp, thermal.read_ptrace(DATA / "small.ptrace"), mesh="uniform",
                        tolerance=2.0)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(thermal.plot, "plot_mesh", interrupted)
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(KeyboardInterrupt):
        sol.write(out)
    assert list(tmp_path.iterdir()) == []     # the parents it made are gone too
    out = tmp_path / "existing"
    out.mkdir()
    (out / "blocks.csv").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        sol.write(out)
    assert _leftovers(out) == ["existing"] and (out / "blocks.csv").read_text() == "old"


# ------------------------------------------------------------------------------ random floorplans

def _stack(die_w: float, die_h: float, spreader: bool) -> Stack:
    """The die alone, or on a spreader 1.5 times its size (footprints that differ); the default
    4-layer package adds nothing to what is tested here but time."""
    die = Layer("die", 150e-6, 100.0, 1.75e6, power=True)
    below = (Layer("spreader", 1e-3, 400.0, 3.55e6, size_m=(1.5 * die_w, 1.5 * die_h)),)
    return Stack((die, *below[:spreader]), ambient_K=318.15, h=2e4)


@st.composite
def floorplans(draw):
    """A guillotine floorplan on a random non-uniform grid, with slivers, gaps and tiny blocks.

    Grid lines are at least 2.5 mesh-snapping distances apart (so no block is too thin to mesh,
    which is an error tested elsewhere), and up to two rows and two columns are that narrow: a
    few-µm strip beside a 10 mm block.
    Then every block edge may move by 1 nm either way (rounding slivers: thin overlaps and
    gaps), and some blocks inside the die may be dropped (whitespace).
    """
    n_blocks = draw(st.integers(1, 300))
    die_w = draw(st.floats(1e-3, 2e-2))
    die_h = die_w * draw(st.floats(0.1, 10.0))
    die_h = min(max(die_h, 1e-3), 2e-2)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    min_gap = 2.5 * SNAP_REL * max(die_w, die_h)

    def grid(length: float) -> np.ndarray:
        """Cut positions along one side: cells of varied size and up to two narrow ones."""
        cells = max(1, int(np.sqrt(n_blocks) * rng.uniform(0.5, 2.0)))
        narrow = min_gap * rng.uniform(1.0, 20.0, size=min(cells - 1, int(rng.integers(0, 3))))
        widths = rng.lognormal(0.0, 0.75, size=cells - len(narrow))
        widths = np.maximum(widths / widths.sum() * (length - narrow.sum()), min_gap)
        widths = rng.permutation(np.r_[widths, narrow])
        return np.r_[0.0, np.cumsum(widths)] * (length / widths.sum())

    xs, ys = grid(die_w), grid(die_h)
    rects = [(0, 0, len(xs) - 1, len(ys) - 1)]              # grid index ranges
    while len(rects) < n_blocks:
        splittable = [i for i, (a, b, c, d) in enumerate(rects) if c - a > 1 or d - b > 1]
        if not splittable:
            break
        a, b, c, d = rects.pop(splittable[rng.integers(len(splittable))])
        if c - a > 1 and (d - b <= 1 or rng.random() < 0.5):
            m = int(rng.integers(a + 1, c))
            rects += [(a, b, m, d), (m, b, c, d)]
        else:
            m = int(rng.integers(b + 1, d))
            rects += [(a, b, c, m), (a, m, c, d)]
    r = np.array(rects)
    left, bottom, right, top = xs[r[:, 0]], ys[r[:, 1]], xs[r[:, 2]], ys[r[:, 3]]
    if draw(st.booleans()):
        jitter = rng.choice([-1e-9, 0.0, 1e-9], size=(len(r), 4))
        left, bottom = left + jitter[:, 0], bottom + jitter[:, 1]
        right, top = right + jitter[:, 2], top + jitter[:, 3]
    keep = np.ones(len(r), bool)
    inner = np.flatnonzero((r[:, 0] > 0) & (r[:, 1] > 0) & (r[:, 2] < len(xs) - 1)
                           & (r[:, 3] < len(ys) - 1))      # dropping these keeps the die
    if inner.size and draw(st.booleans()):
        keep[rng.choice(inner, size=rng.integers(1, inner.size + 1), replace=False)] = False
    left, bottom, right, top = left[keep], bottom[keep], right[keep], top[keep]
    power = rng.choice([0.0, 1e-3, 0.1, 1.0, 10.0], size=len(left))
    if draw(st.booleans()):
        power = power * (left + right > die_w)                 # a cold half: powers of zero
    names = [f"b{i}" for i in range(len(left))]
    return ((names, left, bottom, right - left, top - bottom), dict(zip(names, power.tolist())),
            draw(st.booleans()))


@settings(derandomize=True, deadline=None, max_examples=40, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(floorplans())
def test_random_floorplans_always_solve(case):
    (names, left, bottom, width, height), power, spreader = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)          # slivers and gaps are expected
        fp = make_floorplan(names, left, bottom, width, height)
    x0, y0, x1, y1 = fp.bounds
    stack = _stack(x1 - x0, y1 - y0, spreader)
    sol = thermal.solve(fp, power, stack, mesh="uniform", tolerance=1.0, max_dofs=40_000)
    total = sum(power.values())
    assert sol.energy_balance_rel <= 1e-9
    assert np.nanmin(sol.theta) >= 0.0                          # T >= ambient
    die_nodes = sol.mesh.triangles[sol.mesh.tri_in_layer[0]]
    assert np.isfinite(sol.theta[0][die_nodes]).all()           # the die layer everywhere
    b = sol.blocks
    assert np.isfinite(b.max_K).all() and np.isfinite(b.min_K).all()  # every block meshed
    assert (b.min_K <= b.mean_K + 1e-9).all() and (b.mean_K <= b.max_K + 1e-9).all()
    system = assemble(sol.mesh, stack, sol.power_w, None, fp.bounds)
    assert system.rhs.sum() == pytest.approx(total, rel=1e-9, abs=1e-15)  # no power lost


# ------------------------------------------------------------------------------ mutated files

VALID = {"floorplan": DATA / "ev6.flp", "power": DATA / "gcc.ptrace",
         "stack": DATA / "ev6_3layer.toml", "config": DATA / "hotspot.config",
         "materials": DATA / "example.materials"}


@st.composite
def mutations(draw, data: bytes):
    """``data`` after 1 to 4 byte-level edits: flip, replace, insert, delete, duplicate or
    truncate, biased towards the bytes that matter (digits, signs, separators)."""
    data = bytearray(data)
    interesting = b"0123456789.-+eE \t\n#_[]=\"'" + b"\x00\xff\xe9"
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "replace", "insert", "delete", "duplicate",
                                     "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        byte = draw(st.sampled_from(interesting) | st.integers(0, 255))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "replace" and data:
            data[at] = byte
        elif kind == "insert":
            data[at:at] = bytes([byte]) * draw(st.integers(1, 3))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "duplicate":
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end + 1
            data[end:end] = data[start:end]
        else:
            del data[at:]
    return bytes(data)


def _load_mutated(role: str, data: bytes, folder: Path) -> None:
    """Load the valid set with the ``role`` file replaced by ``data``; only InputError escapes."""
    path = folder / f"mutated{VALID[role].suffix}"
    path.write_bytes(data)
    files = {"floorplan": VALID["floorplan"], "power": VALID["power"]}
    if role in ("config", "materials"):
        files["config"] = VALID["config"]
    if role == "materials":
        files["materials"] = VALID["materials"]
    if role == "stack":
        files["stack"] = VALID["stack"]
    files[role] = path
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # a numpy warning is a bug too
        warnings.simplefilter("ignore", InputWarning)
        try:
            load_inputs(**files)
        except InputError as e:
            assert "\n" not in str(e) and str(path) in str(e), str(e)


@pytest.mark.parametrize("role", list(VALID))
def test_mutated_files_only_raise_input_errors(role):
    @settings(derandomize=True, deadline=None, max_examples=80, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(mutations(VALID[role].read_bytes()))
    def check(data):
        with tempfile.TemporaryDirectory() as folder:
            _load_mutated(role, data, Path(folder))

    check()


@settings(derandomize=True, deadline=None, max_examples=40, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["floorplan", "power"]).flatmap(
    lambda role: st.tuples(st.just(role), mutations((DATA / {"floorplan": "small.flp",
                                                             "power": "small.ptrace"}[role])
                                                    .read_bytes()))))
def test_mutated_files_through_the_cli_exit_0_or_2(case):
    role, data = case
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as folder:
        files = {"floorplan": DATA / "small.flp", "power": DATA / "small.ptrace"}
        files[role] = Path(folder) / files[role].name
        files[role].write_bytes(data)
        out = Path(folder) / "out"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["solve", str(files["floorplan"]), "--power", str(files["power"]),
                           "--stack", str(DATA / "ev6_3layer.toml"), "--mesh", "uniform",
                           "--tolerance", "5", "--no-plots", "--out", str(out), "--quiet"])
        text = err.getvalue()
        assert status in (0, 2), text
        assert "Traceback" not in text
        assert all(line.startswith(("thermal: error: ", "thermal: warning: "))
                   for line in text.splitlines()), text
        if status == 2:
            assert text.splitlines()[-1].startswith("thermal: error: ") and not out.exists()
        else:
            assert sorted(p.name for p in out.iterdir()) == ["blocks.csv", "field.vtu",
                                                             "summary.json", "timings.json"]


# ------------------------------------------------------------------------------ hostile floorplans

_NAME_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Co", "Zs", "Zl", "Zp"),
                            blacklist_characters="#")


@st.composite
def hostile_floorplans(draw):
    """A guillotine floorplan as a hostile user (or an unusual tool) writes it (issue 22).

    The die's longer side is 0.1-5 mm and its aspect ratio up to 1e4; each cut splits a block
    at a random fraction or cuts a 1-30 µm sliver off it; the whole die may sit up to 1e10 m
    from the origin, either way; the names come from the whole printable Unicode range (no
    whitespace, no ``#``). Returns the .flp text, the .ptrace text and whether to draw plots.
    """
    longest = 10 ** draw(st.floats(-4.0, np.log10(5e-3)))
    aspect = 10 ** draw(st.floats(0.0, 4.0))
    w, h = (longest, longest / aspect) if draw(st.booleans()) else (longest / aspect, longest)
    rects = [(0.0, 0.0, w, h)]
    for _ in range(draw(st.integers(0, 8))):
        i = draw(st.integers(0, len(rects) - 1))
        x, y, rw, rh = rects[i]
        vertical = draw(st.booleans())                  # a cut parallel to the y axis
        side = rw if vertical else rh
        if draw(st.booleans()):
            cut = side * draw(st.floats(0.05, 0.95))
        else:
            cut = min(10 ** draw(st.floats(-6.0, np.log10(3e-5))), 0.5 * side)
        a, b = ((x, y, cut, rh), (x + cut, y, rw - cut, rh)) if vertical else \
            ((x, y, rw, cut), (x, y + cut, rw, rh - cut))
        rects[i:i + 1] = [a, b]
    offset = 0.0
    if draw(st.booleans()):
        offset = draw(st.sampled_from([-1.0, 1.0])) * 10 ** draw(st.floats(-3.0, 10.0))
    names = draw(st.lists(st.text(_NAME_CHARS, min_size=1, max_size=6), min_size=len(rects),
                          max_size=len(rects), unique=True))
    power = draw(st.lists(st.sampled_from([0.0, 1e-3, 0.1, 1.0, 5.0]), min_size=len(rects),
                          max_size=len(rects)))
    flp = "".join(f"{n}\t{rw!r}\t{rh!r}\t{x + offset!r}\t{y + offset!r}\n"
                  for n, (x, y, rw, rh) in zip(names, rects))
    ptrace = "\t".join(names) + "\n" + "\t".join(repr(p) for p in power) + "\n"
    return flp, ptrace, draw(st.booleans())


HOSTILE_STACK = """ambient = 318.15
[[layer]]
name = "die"
thickness = 150e-6
conductivity = 100.0
heat_capacity = 1.75e6
power = true
[convection]
h = 2.0e4
"""


@settings(derandomize=True, deadline=None, max_examples=12, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_floorplans())
def test_hostile_floorplans_solve_or_exit_2_with_one_line(case):
    """Every hostile floorplan either solves (exit 0, energy balance within 1e-9, warnings only)
    or is refused in one ``thermal: error:`` line (exit 2, no output): never a traceback, and
    never a run past a minute (a hang guard, not a benchmark)."""
    import contextlib
    import io

    flp, ptrace, plots = case
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "hostile.flp").write_text(flp, encoding="utf-8")
        (folder / "hostile.ptrace").write_text(ptrace, encoding="utf-8")
        (folder / "stack.toml").write_text(HOSTILE_STACK, encoding="utf-8")
        out = folder / "out"
        err = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["solve", str(folder / "hostile.flp"), "--power",
                           str(folder / "hostile.ptrace"), "--stack", str(folder / "stack.toml"),
                           "--mesh", "uniform", "--tolerance", "5", "--out", str(out),
                           "--quiet"]  # stderr: warnings and errors only, no progress line
                          + ([] if plots else ["--no-plots"]))
        wall = time.perf_counter() - t
        text = err.getvalue()
        assert status in (0, 2), text
        assert "Traceback" not in text
        lines = text.splitlines()
        assert all(line.startswith("thermal: warning: ") for line in lines[:-1]), text
        if status == 2:
            assert lines[-1].startswith("thermal: error: ") and not out.exists(), text
        else:
            assert not lines or lines[-1].startswith("thermal: warning: "), text
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            assert summary["energy_balance_rel"] <= 1e-9
        assert wall < 60.0, f"{wall:.1f} s"
