"""The bad-input corpus (tests/bad_inputs/cases.toml): every mistake is one clear error.

(1) Library level: loading the case the way the CLI does raises :class:`InputError` whose text
names the file, the line where one applies, and says what is wrong (the case's fragment), on one
line. (2) CLI level: ``thermal solve ...`` (``thermal.cli.main`` in-process for every case, the
``python -m thermal`` command for one case of each role) exits with status 2, prints exactly one
line ``thermal: error: ...`` to stderr and no traceback, and leaves no output directory behind.
(3) The accepted inputs (``[[good]]``, issue 22: dies far from the origin, slivers, names that
look like mathtext or come from any script, an overlap of half a block by rounding, tiny powers)
solve with exit status 0, a closed energy balance and only warning lines, in under 30 s each
(a hang guard, not a benchmark).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib
from pathlib import Path

import pytest

from thermal.inputs import load_inputs
from thermal.errors import InputError

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CORPUS = TESTS / "bad_inputs"
_TABLE = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))
ROLE_KEY = {"floorplan": "floorplan", "ptrace": "power", "powermap": "power", "stack": "stack",
            "config": "config", "materials": "materials"}


def _inputs(case: dict) -> dict[str, str]:
    """Absolute paths of the case's files: its defaults, overrides and the bad file."""
    files = {**_TABLE["defaults"].get(case["role"], {})}
    files.update({k: case[k] for k in ROLE_KEY.values() if k in case})
    files = {k: str(TESTS / v) for k, v in files.items()}
    files[ROLE_KEY[case["role"]]] = str(CORPUS / case["file"])
    return files


CASES = [pytest.param(c, _inputs(c), id=Path(c["file"]).stem) for c in _TABLE["case"]]


def load_like_cli(floorplan: str, power: str, stack: str | None = None,
                  config: str | None = None, materials: str | None = None) -> None:
    """Everything ``thermal solve`` reads and checks before it meshes."""
    load_inputs(floorplan, power, stack=stack, config=config, materials=materials)


def test_corpus_is_complete():
    listed = {c["file"] for c in _TABLE["case"]}
    listed |= {Path(g[k]).name for g in _TABLE["good"] for k in ("floorplan", "power", "stack")
               if k in g}
    present = {p.name for p in CORPUS.iterdir() if p.name != "cases.toml"}
    assert present <= listed, f"files in bad_inputs/ without a case: {sorted(present - listed)}"
    assert len(listed) >= 25
    assert {c["role"] for c in _TABLE["case"]} >= {"floorplan", "ptrace", "stack", "config"}


def test_companions_are_valid():
    """The companion files load cleanly (no error, no warning), so each case tests one mistake."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for files in {tuple(sorted(_inputs(c).items())) for c in _TABLE["case"]}:
            good = {k: v for k, v in files if CORPUS not in Path(v).parents}
            if "floorplan" in good and "power" in good:
                load_like_cli(**good)


@pytest.mark.parametrize("case, files", CASES)
def test_library_raises_input_error(case, files):
    with pytest.raises(InputError) as info:
        load_like_cli(**files)
    text = str(info.value)
    bad = files[ROLE_KEY[case["role"]]]
    assert "\n" not in text
    assert bad in text
    assert case["fragment"] in text
    if "line" in case:
        assert f"{bad}:{case['line']}: " in text


def _argv(files: dict[str, str], out: Path) -> list[str]:
    argv = ["solve", files["floorplan"], "--power", files["power"]]
    for option in ("stack", "config", "materials"):
        if option in files:
            argv += [f"--{option}", files[option]]
    return argv + ["--out", str(out), "--mesh", "uniform"]


def _check_one_line_error(case: dict, status: int, stderr: str, out: Path) -> None:
    lines = stderr.splitlines()
    assert status == 2, stderr
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("thermal: error: ")
    assert case["fragment"] in lines[0]
    assert Path(case["file"]).name in lines[0]
    if "line" in case:
        assert f"{case['file']}:{case['line']}: " in lines[0]
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp dirs


@pytest.mark.parametrize("case, files", CASES)
def test_cli_one_line_error(case, files, tmp_path, capsys):
    """``thermal.cli.main`` in-process: the same code path as the command, without the start-up
    of one interpreter per case."""
    from thermal.cli import main

    out = tmp_path / "out"
    status = main(_argv(files, out))
    _check_one_line_error(case, status, capsys.readouterr().err, out)


# The command itself (``python -m thermal``), for the first case of each role: the entry point,
# the exit status seen by a shell, and that no library warning or traceback reaches stderr.
FIRST_OF_ROLE = list({c.values[0]["role"]: c for c in reversed(CASES)}.values())


@pytest.mark.parametrize("case, files", FIRST_OF_ROLE)
def test_command_one_line_error(case, files, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                   os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "thermal", *_argv(files, out)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    _check_one_line_error(case, result.returncode, result.stderr, out)


# ------------------------------------------------------------------------ accepted inputs

GOOD = [pytest.param(g, id=Path(g["floorplan"]).stem + "-" + Path(g["power"]).stem)
        for g in _TABLE["good"]]


@pytest.mark.parametrize("good", GOOD)
def test_good_input_solves(good, tmp_path, capsys):
    from thermal.cli import main

    out = tmp_path / "out"
    argv = ["solve", str(CORPUS / good["floorplan"]), "--power", str(CORPUS / good["power"]),
            "--out", str(out), "--quiet"]  # stderr: warnings only, no progress line
    if "stack" in good:
        argv += ["--stack", str(CORPUS / good["stack"])]
    if not good.get("plots"):
        argv.append("--no-plots")
    t = time.perf_counter()
    status = main(argv)
    wall = time.perf_counter() - t
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Traceback" not in err
    assert all(line.startswith("thermal: warning: ") for line in err.splitlines()), err
    if "warning" in good:
        assert good["warning"] in err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["energy_balance_rel"] <= 1e-9
    if good.get("plots"):
        assert (out / "heatmap.png").stat().st_size > 0 and (out / "mesh.png").stat().st_size > 0
    assert wall < 30.0, f"{wall:.1f} s"
