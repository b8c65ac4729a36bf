"""thermal sweep: manifests, a 2-worker local Dask cluster, failures recorded, reruns skipped,
and the same manifest on a scheduler and worker started separately (``dask scheduler`` +
``dask worker``).

The cases are the 3 mm x 1 mm three-block die of tests/data on the die-sized three-layer stack,
whose exact (cosine-series) solution checks the answers the workers send back.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import thermal
from thermal.errors import InputError
from thermal.gallery import exact_solution
from thermal.power import power_vector
from thermal.sweep import (BLOCK_COLUMNS, RESULT_COLUMNS, Case, read_manifest, read_results,
                           run_sweep)

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent

MANIFEST = """\
[defaults]
floorplan = "small.flp"
power = "small.ptrace"
stack = "ev6_3layer.toml"
tolerance = 1.0
mesh = "uniform"

[[case]]
name = "mean power"

[[case]]
name = "row 1"
row = 1

[[case]]
name = "no such floorplan"
floorplan = "missing.flp"

[[case]]
name = "row out of range"
row = 7
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep-inputs")
    for name in ("small.flp", "small.ptrace", "ev6_3layer.toml", "hotspot.config"):
        shutil.copy(DATA / name, folder / name)
    (folder / "cases.toml").write_text(MANIFEST)
    return folder


def _exact_block_max(row: int | None) -> np.ndarray:
    fp = thermal.read_floorplan(DATA / "small.flp")
    trace = thermal.read_ptrace(DATA / "small.ptrace")
    stack = thermal.Stack.read(DATA / "ev6_3layer.toml")
    power = trace.mean() if row is None else trace.row(row)
    rects = np.c_[fp.left_m, fp.bottom_m, fp.width_m, fp.height_m]
    ex = exact_solution(fp.bounds, rects, power_vector(fp, power),
                        [(layer.thickness_m, layer.conductivity) for layer in stack.layers],
                        h=stack.h_bottom(fp.bounds), ambient_K=stack.ambient_K)
    return ex.block_max()


def _check_results(out: Path, result=None):
    """The four cases of MANIFEST: two solved to their tolerance, two failed with a reason."""
    cases, blocks = read_results(out)
    assert [c["case"] for c in cases] == ["mean power", "row 1", "no such floorplan",
                                          "row out of range"]
    by_name = {c["case"]: c for c in cases}
    assert by_name["no such floorplan"]["status"] == "failed"
    assert "missing.flp" in by_name["no such floorplan"]["error"]
    assert by_name["row out of range"]["status"] == "failed"
    assert "row" in by_name["row out of range"]["error"]
    for name, row in (("mean power", None), ("row 1", 1)):
        case = by_name[name]
        assert case["status"] == "ok" and case["error"] is None
        assert case["dofs"] > 0 and case["time_s"] > 0 and case["error_estimate_K"] <= 1.0
        mine = {b["block"]: b["max_K"] for b in blocks if b["case"] == name}
        exact = _exact_block_max(row)
        assert list(mine) == ["a", "b", "c"]
        np.testing.assert_allclose(list(mine.values()), exact, atol=1.0)  # the tolerance
        assert case["peak_K"] == pytest.approx(max(mine.values()), abs=1e-3)
    assert {b["case"] for b in blocks} == {"mean power", "row 1"}
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == RESULT_COLUMNS
    assert tuple((out / "blocks.csv").read_text().splitlines()[0].split(",")) == BLOCK_COLUMNS


@pytest.fixture(scope="module")
def local_sweep(inputs, tmp_path_factory):
    pytest.importorskip("distributed")
    out = tmp_path_factory.mktemp("sweep-local") / "out"
    seen = []
    result = run_sweep(inputs / "cases.toml", out, workers=2,
                       progress=lambda done, total, info: seen.append((done, total, info)))
    return out, result, seen


def test_local_cluster_solves_and_records_failures(local_sweep):
    out, result, seen = local_sweep
    assert result.workers == 2
    assert (result.solved, result.skipped, result.failed) == (2, 0, 2)
    _check_results(out, result)
    assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[-1][2]["failed"] == 2
    workers = {r["worker"] for r in result.records if r["status"] == "ok"}
    assert all(w.split(":")[1] != str(os.getpid()) for w in workers)  # solved elsewhere


def test_parquet_tables_match_csv(local_sweep):
    pq = pytest.importorskip("pyarrow.parquet")
    out, _, _ = local_sweep
    cases, blocks = read_results(out)
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert [r["case"] for r in table] == [c["case"] for c in cases]
    assert [r["status"] for r in table] == [c["status"] for c in cases]
    assert table[0]["peak_K"] == pytest.approx(cases[0]["peak_K"], rel=1e-5)
    assert len(pq.read_table(out / "blocks.parquet")) == len(blocks) == 6


def test_rerun_skips_finished_cases(local_sweep, inputs):
    out, first, _ = local_sweep
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cases").iterdir()}
    again = run_sweep(inputs / "cases.toml", out, serial=True)
    assert (again.solved, again.skipped, again.failed) == (0, 2, 2)  # failures are tried again
    _check_results(out)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cases").iterdir()}
    ok_keys = {r["key"] for r in first.records if r["status"] == "ok"}
    assert all(before[f"{k}.json"] == after[f"{k}.json"] for k in ok_keys)


def test_changed_input_is_solved_again(local_sweep, inputs, tmp_path):
    out, first, _ = local_sweep
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    folder = tmp_path / "in"
    shutil.copytree(inputs, folder)
    manifest = folder / "cases.toml"
    manifest.write_text(MANIFEST.replace('row = 1\n', 'row = 1\ntolerance = 0.9\n')
                        .replace('name = "mean power"', 'name = "renamed"'))
    again = run_sweep(manifest, copy, serial=True)
    assert (again.solved, again.skipped) == (1, 1)  # "row 1" changed; a new name is no change
    assert again.records[0]["key"] == first.records[0]["key"]
    assert again.records[0]["case"] == "renamed"
    assert again.records[1]["key"] != first.records[1]["key"]
    ptrace = folder / "small.ptrace"
    ptrace.write_text(ptrace.read_text() + "1.0\t1.0\t1.0\n")  # a file both cases read
    assert run_sweep(manifest, copy, serial=True).solved == 2


def test_manifest_toml_defaults_and_grid(tmp_path):
    (tmp_path / "m.toml").write_text("""
[defaults]
floorplan = "a.flp"
power = "a.ptrace"
set = { r_convec = 0.2 }

[[case]]
name = "x"
set = { s_sink = 0.05 }

[[case]]
name = "y"
config = "/abs/h.config"
critical = ["a:0.05", "b"]

[grid]
row = [0, 2]
"set.k_sink" = [200.0]
""")
    cases = read_manifest(tmp_path / "m.toml")
    assert [c.name for c in cases] == ["x [row=0, set.k_sink=200.0]", "x [row=2, set.k_sink=200.0]",
                                       "y [row=0, set.k_sink=200.0]", "y [row=2, set.k_sink=200.0]"]
    assert cases[0].floorplan == str(tmp_path / "a.flp")
    assert cases[0].overrides == (("k_sink", "200.0"), ("r_convec", "0.2"), ("s_sink", "0.05"))
    assert cases[2].config == "/abs/h.config" and cases[2].critical == ("a:0.05", "b")
    assert [c.row for c in cases] == [0, 2, 0, 2]


def test_manifest_csv(tmp_path):
    (tmp_path / "m.csv").write_text("# a comment\nname,floorplan,power,row,set,tolerance,mesh\n"
                                    "one,a.flp,a.ptrace,,r_convec=0.3;s_sink=0.05,0.5,uniform\n"
                                    "two,a.flp,a.ptrace,3,,,\n")
    one, two = read_manifest(tmp_path / "m.csv")
    assert one == Case("one", str(tmp_path / "a.flp"), str(tmp_path / "a.ptrace"),
                       overrides=(("r_convec", "0.3"), ("s_sink", "0.05")), tolerance=0.5,
                       mesh="uniform")
    assert two.row == 3 and two.tolerance == 0.1 and two.mesh == "auto"


@pytest.mark.parametrize("text, message", [
    ('[[case]]\nname = "a"\nfloorplan = "a.flp"\npower = "p"\ntolerence = 1\n',
     "m.toml:1: unknown key 'tolerence' in [[case]] 1; did you mean 'tolerance'?"),
    ('[defaults]\npower = "p"\n[[case]]\nname = "a"\n', "needs a floorplan file"),
    ('[defaults]\nfloorplan = "f"\npower = "p"\n[[case]]\nname = "a"\n[[case]]\nname = "a"\n',
     "two cases are named 'a'"),
    ('[[case]]\nfloorplan = "f"\npower = "p"\nstack = "s"\nconfig = "c"\n',
     "give a stack or a config, not both"),
    ('[[case]]\nfloorplan = "f"\npower = "p"\ntolerance = -1\n', "tolerance must be a positive"),
    ('[[case]]\nfloorplan = "f"\npower = "p"\nmesh = "uniforn"\n', "did you mean 'uniform'"),
    ('[cases]\n', "unknown table 'cases'; did you mean 'case'?"),
    ('[[case]\n', "not valid TOML"),
])
def test_manifest_errors_name_the_file(tmp_path, text, message):
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(InputError) as e:
        read_manifest(tmp_path / "m.toml")
    assert message in str(e.value)
    assert str(e.value).startswith(str(tmp_path / "m.toml"))


def test_cli_sweep_serial_exit_status_and_table(inputs, tmp_path, capsys):
    from thermal.cli import main

    out = tmp_path / "out"
    assert main(["sweep", str(inputs / "cases.toml"), "--serial", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "2 solved, 0 skipped (finished before), 2 failed" in captured.out
    assert "no such floorplan: InputError:" in captured.out
    # the progress line: off a terminal, whole lines (none if it took under a second)
    assert all(line.startswith("thermal sweep: ") and " cases" in line
               for line in captured.err.splitlines()), captured.err
    _check_results(out)
    assert main(["sweep", str(inputs / "cases.toml"), "--serial", "--out", str(out), "-q",
                 "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet
    summary = json.loads(captured.out)
    assert (summary["solved"], summary["skipped"], summary["failed"]) == (0, 2, 2)


def test_cli_sweep_bad_manifest_is_one_line(tmp_path, capsys):
    from thermal.cli import main

    (tmp_path / "m.csv").write_text("name,floorplan,powr\n")
    assert main(["sweep", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'power'" in err
    assert not (tmp_path / "m-results").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def separate_scheduler(tmp_path):
    """``dask scheduler`` and one ``dask worker`` as subprocesses; stopped afterwards."""
    distributed = pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    dask_cli = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker_cli = [sys.executable, "-m", "distributed.cli.dask_worker"]
    log = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen(dask_cli + ["--host", "127.0.0.1", "--port", str(port),
                                          "--no-dashboard"], env=env, stdout=log, stderr=log)]
    try:
        procs.append(subprocess.Popen(worker_cli + [address, "--nthreads", "1", "--no-nanny",
                                                    "--no-dashboard", "--local-directory",
                                                    str(tmp_path / "worker")],
                                      env=env, stdout=log, stderr=log))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_same_manifest_on_a_separate_scheduler(inputs, tmp_path, separate_scheduler, capsys):
    from thermal.cli import main

    out = tmp_path / "out"
    status = main(["sweep", str(inputs / "cases.toml"), "--scheduler", separate_scheduler,
                   "--out", str(out), "--quiet"])
    assert status == 1, capsys.readouterr()
    assert "on 1 workers" in capsys.readouterr().out
    _check_results(out)
    records = [json.loads(p.read_text()) for p in (out / "cases").glob("*.json")]
    assert {r["worker"].split(":")[1] for r in records if r["status"] == "ok"} != {str(os.getpid())}


def test_unreachable_scheduler_is_one_line(inputs, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import thermal.sweep
    from thermal.cli import main

    monkeypatch.setattr(thermal.sweep, "CONNECT_TIMEOUT_S", 2.0)
    started = time.monotonic()
    status = main(["sweep", str(inputs / "cases.toml"), "--scheduler",
                   f"tcp://127.0.0.1:{_free_port()}", "--out", str(tmp_path / "o"), "-q"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("thermal: error: cannot reach the Dask scheduler") and err.count("\n") == 1
    assert time.monotonic() - started < 60
    assert not (tmp_path / "o").exists()  # nothing written
