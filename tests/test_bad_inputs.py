"""The bad-input corpus (tests/bad_inputs/cases.toml): every mistake is one clear error.

(1) Library level: loading the case the way the CLI does raises :class:`InputError` whose text
names the file, the line where one applies, and says what is wrong (the case's fragment), on one
line. (2) CLI level: ``python -m thermal solve ...`` exits with status 2, prints exactly one line
``thermal: error: ...`` to stderr and no traceback, and leaves no output directory behind.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from thermal.errors import InputError
from thermal.floorplan import read_floorplan
from thermal.power import power_vector, read_ptrace
from thermal.stack import Stack

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CORPUS = TESTS / "bad_inputs"
_TABLE = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))
ROLE_KEY = {"floorplan": "floorplan", "ptrace": "power", "stack": "stack", "config": "config",
            "materials": "materials"}


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
    fp = read_floorplan(floorplan)
    power_vector(fp, read_ptrace(power).mean())
    if stack is not None:
        s = Stack.read(stack)
    elif config is not None:
        s = Stack.from_hotspot_config(config, materials=materials)
    else:
        s = Stack.default()
    for layer in range(len(s.layers)):
        s.footprint(layer, fp.bounds)
    s.g_ambient(fp.bounds)


def test_corpus_is_complete():
    listed = {c["file"] for c in _TABLE["case"]}
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


def _run_cli(files: dict[str, str], out: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "thermal", "solve", files["floorplan"], "--power", files["power"]]
    for option in ("stack", "config", "materials"):
        if option in files:
            argv += [f"--{option}", files[option]]
    argv += ["--out", str(out), "--mesh", "uniform"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                   os.environ.get("PYTHONPATH")]))}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=out.parent,
                          timeout=120)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Every case through the CLI, run concurrently (one interpreter start each)."""
    jobs = {}
    with ThreadPoolExecutor(max_workers=max(2, 2 * (os.cpu_count() or 1))) as pool:
        for param in CASES:
            case, files = param.values
            out = tmp_path_factory.mktemp(Path(case["file"]).stem) / "out"
            jobs[case["file"]] = (out, pool.submit(_run_cli, files, out))
        return {name: (out, job.result()) for name, (out, job) in jobs.items()}


@pytest.mark.skipif(importlib.util.find_spec("thermal.cli") is None,
                    reason="thermal.cli is not written yet")
@pytest.mark.parametrize("case, files", CASES)
def test_cli_one_line_error(case, files, cli_results):
    out, result = cli_results[case["file"]]
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("thermal: error: ")
    assert case["fragment"] in lines[0]
    assert Path(case["file"]).name in lines[0]
    if "line" in case:
        assert f"{case['file']}:{case['line']}: " in lines[0]
    assert not out.exists()
