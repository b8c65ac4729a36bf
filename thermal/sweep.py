"""Design sweeps: many steady solves from one manifest, run on a Dask cluster.

A manifest lists cases: a floorplan, a power trace and its row (or a power map), a stack (a
native TOML, a HotSpot ``.config``, or HotSpot's default package, each with ``--set``-style
overrides), the meshing strategy and the tolerance. As TOML::

    [defaults]                      # every case starts from these (all optional)
    floorplan = "ev6.flp"           # paths are relative to the manifest
    power = "gcc.ptrace"
    tolerance = 0.2

    [[case]]
    name = "average power"

    [[case]]
    name = "weak sink"
    set = { r_convec = 0.3 }        # HotSpot option overrides (on --config, or the default)

    [grid]                          # optional: every combination, crossed with the cases
    row = [0, 1, 2]
    "set.s_sink" = [0.04, 0.06]

or as CSV, one case per row, with the same names as columns (``set`` as
``name=value;name=value``, ``critical`` as ``NAME[:KELVIN];...``; an empty cell takes the
default).

:func:`run_sweep` solves every case, each in a Dask worker process (a local cluster, or an
existing scheduler), and writes into its output folder:

- ``results.csv`` (and ``results.parquet`` when pyarrow is installed): one row per case, in
  manifest order: ``case, key, status, error, peak_K, peak_x_m, peak_y_m, peak_layer,
  error_estimate_K, tolerance_K, dofs, triangles, mesh, time_s, cpu_s, warnings`` and the
  inputs (``time_s``: the case's wall time in its worker; ``cpu_s``: its process's CPU time).
- ``blocks.csv`` (and ``blocks.parquet``): the block temperatures of every finished case, in
  long format ``case, key, block, layer, max_K, mean_K, min_K``.
- ``cases/KEY.json``: each case's record, written as soon as it finishes.

A case that fails (a bad input file, a solver failure, a worker that died) is recorded with
``status = "failed"`` and its error message; the others go on. The key of a case is a hash of
its resolved inputs (the contents of its files, its options and thermal's version), so a
rerun of the same manifest into the same folder skips the cases already finished and solves
only the new, changed or failed ones.

Workers read the input files by path: on a cluster of several machines they must see the same
files at the same absolute paths (a shared file system).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
import secrets
import socket
import tempfile
import time
import traceback
import warnings
from contextlib import ExitStack, contextmanager
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .strategies import MESH_CHOICES

__all__ = ["Case", "SweepResult", "read_manifest", "case_key", "run_case", "run_sweep",
           "read_results", "RESULT_COLUMNS", "BLOCK_COLUMNS"]


RESULT_COLUMNS = ("case", "key", "status", "error", "peak_K", "peak_x_m", "peak_y_m",
                  "peak_layer", "error_estimate_K", "tolerance_K", "dofs", "triangles", "mesh",
                  "time_s", "cpu_s", "warnings", "floorplan", "power", "row", "stack", "config",
                  "materials", "set", "critical")
"""Columns of results.csv, in order."""

BLOCK_COLUMNS = ("case", "key", "block", "layer", "max_K", "mean_K", "min_K")
"""Columns of blocks.csv, in order."""

_PATH_FIELDS = ("floorplan", "power", "stack", "config", "materials")


@dataclass(frozen=True)
class Case:
    """One steady solve of a sweep, as the manifest gives it (paths resolved to absolute).

    Attributes
    ----------
    name : str
        Unique within the manifest.
    floorplan, power : str
        HotSpot ``.flp``; ``.ptrace`` or ``.csv``/``.npy`` power map.
    row : int or None
        Power trace row (0-based); None: the mean of the rows.
    stack, config, materials : str or None
        Native stack TOML, or HotSpot ``.config`` (and ``.materials``); neither: HotSpot's
        default package.
    overrides : tuple of (name, value)
        HotSpot option overrides (``--set NAME=VALUE``), on ``config`` or on the default
        package; not with ``stack``.
    mesh : str
        Meshing strategy (:func:`thermal.solve`).
    tolerance : float
        Target error of the block maxima and means, K.
    critical : tuple of str
        ``NAME[:KELVIN]`` critical blocks (``--critical``).
    """

    name: str
    floorplan: str
    power: str
    row: int | None = None
    stack: str | None = None
    config: str | None = None
    materials: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    mesh: str = "auto"
    tolerance: float = 0.1
    critical: tuple[str, ...] = ()

    def inputs(self) -> dict:
        """The case's settings as a flat dict of strings (the input columns of results.csv)."""
        return {"floorplan": self.floorplan, "power": self.power,
                "row": "" if self.row is None else str(self.row), "stack": self.stack or "",
                "config": self.config or "", "materials": self.materials or "",
                "set": ";".join(f"{k}={v}" for k, v in self.overrides),
                "critical": ";".join(self.critical)}


# ---------------------------------------------------------------------------------------------
# Manifest


_CASE_KEYS = ("name", "floorplan", "power", "row", "stack", "config", "materials", "set", "mesh",
              "tolerance", "critical")


def read_manifest(path: str | os.PathLike) -> list[Case]:
    """Read a sweep manifest (``.toml`` or ``.csv``), see the module's documentation.

    Returns
    -------
    list of Case
        In manifest order; a ``[grid]`` multiplies each case by every combination of its values.

    Raises
    ------
    InputError
        The manifest cannot be read, has an unknown key, a value of the wrong type, a case
        without a floorplan or power file, both a stack and a config, or two cases of one name.
        (Problems inside the input files are a case's failure, found when it runs.)
    """
    from .io.text import read_text

    path = Path(path)
    text = read_text(path, "sweep manifest")
    if path.suffix.lower() == ".csv":
        raw_cases, lines, grid = _csv_cases(text, str(path)), None, {}
    elif path.suffix.lower() == ".toml":
        raw_cases, lines, grid = _toml_cases(text, str(path))
    else:
        raise InputError("a sweep manifest must be a .toml or .csv file", file=str(path))
    base = path.absolute().parent
    cases = []
    for i, raw in enumerate(raw_cases):
        line = lines[i] if lines else (i + 2)  # CSV: the header is line 1
        for combo in _combinations(grid, str(path)):
            cases.append(_case(raw, combo, i, base, str(path), line))
    if not cases:
        raise InputError("the manifest has no cases", file=str(path))
    seen: dict[str, int] = {}
    for case in cases:
        if case.name in seen:
            raise InputError(f"two cases are named {case.name!r}", file=str(path))
        seen[case.name] = 1
    return cases


def _toml_cases(text: str, file: str):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None)
        raise InputError(f"not valid TOML: {str(e).split(' (at line')[0]}", file=file,
                         line=line) from None
    for key in data:
        if key not in ("defaults", "case", "grid"):
            raise InputError(f"unknown table {key!r}{_suggest(key, ('defaults', 'case', 'grid'))}"
                             f" (expected [defaults], [[case]] and [grid])", file=file,
                             line=_line_of(text, key))
    defaults = data.get("defaults", {})
    cases = data.get("case", [{}])
    grid = data.get("grid", {})
    if not isinstance(defaults, dict) or not isinstance(grid, dict):
        raise InputError("[defaults] and [grid] must be tables", file=file)
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise InputError("cases must be [[case]] tables", file=file, line=_line_of(text, "case"))
    _check_keys(defaults, "[defaults]", file, _line_of(text, "defaults"))
    for name, values in grid.items():
        key = name[4:] if name.startswith("set.") else name
        if not name.startswith("set.") and (key not in _CASE_KEYS or key == "name"):
            raise InputError(f"[grid] cannot vary {name!r}{_suggest(name, _CASE_KEYS)}; it varies "
                             f"case keys and 'set.NAME' overrides", file=file,
                             line=_line_of(text, "grid"))
        if not isinstance(values, list) or not values:
            raise InputError(f"[grid] {name} must be a non-empty list of values", file=file,
                             line=_line_of(text, "grid"))
    header_lines = _case_lines(text)
    lines = []
    for i, case in enumerate(cases):
        line = header_lines[i] if i < len(header_lines) else None
        _check_keys(case, f"[[case]] {i + 1}", file, line)
        merged = {**defaults, **case}
        if isinstance(defaults.get("set"), dict) and isinstance(case.get("set"), dict):
            merged["set"] = {**defaults["set"], **case["set"]}
        cases[i] = merged
        lines.append(line)
    return cases, lines, grid


def _csv_cases(text: str, file: str) -> list[dict]:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    if not rows:
        raise InputError("the manifest has no header row", file=file)
    header = [h.strip() for h in rows[0]]
    for h in header:
        if h not in _CASE_KEYS:
            raise InputError(f"unknown column {h!r}{_suggest(h, _CASE_KEYS)} (expected some of "
                             f"{', '.join(_CASE_KEYS)})", file=file, line=1)
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            raise InputError(f"{len(row)} values for {len(header)} columns", file=file, line=number)
        out.append({h: v.strip() for h, v in zip(header, row) if v.strip() != ""})
    return out


def _combinations(grid: Mapping, file: str) -> list[dict]:
    if not grid:
        return [{}]
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def _case(raw: Mapping, combo: Mapping, index: int, base: Path, file: str, line) -> Case:
    """A Case from a manifest entry and one grid combination, with its values checked."""
    raw = dict(raw)
    overrides = _overrides(raw.get("set", {}), index, file, line)
    for name, value in combo.items():
        if name.startswith("set."):
            overrides[name[4:]] = _scalar_text(value)
        else:
            raw[name] = value
    where = f"case {index + 1}" + (f" ({raw['name']!r})" if "name" in raw else "")

    def fail(message):
        return InputError(f"{where}: {message}", file=file, line=line)

    for key in ("floorplan", "power"):
        if key not in raw:
            raise fail(f"needs a {key} file (in the case or in [defaults])")
    values: dict = {}
    for key in _PATH_FIELDS:
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise fail(f"{key} must be a file name, got {raw[key]!r}")
            values[key] = str((base / raw[key]).absolute()) if not Path(raw[key]).is_absolute() \
                else raw[key]
    if "stack" in values and "config" in values:
        raise fail("give a stack or a config, not both")
    if "stack" in values and overrides:
        raise fail("'set' overrides HotSpot options: use it with a config (or none), not a stack")
    if "materials" in values and "config" not in values:
        raise fail("materials applies to a HotSpot config")
    if "row" in raw:
        row = raw["row"]
        if isinstance(row, str):
            try:
                row = int(row)
            except ValueError:
                raise fail(f"row must be a whole number, got {row!r}") from None
        if isinstance(row, bool) or not isinstance(row, int) or row < 0:
            raise fail(f"row must be a whole number from 0, got {row!r}")
        values["row"] = row
    if "mesh" in raw:
        if raw["mesh"] not in MESH_CHOICES:
            raise fail(f"mesh must be one of {', '.join(MESH_CHOICES)}, got {raw['mesh']!r}"
                       f"{_suggest(str(raw['mesh']), MESH_CHOICES)}")
        values["mesh"] = raw["mesh"]
    if "tolerance" in raw:
        tol = raw["tolerance"]
        try:
            tol = float(tol) if not isinstance(tol, bool) else float("nan")
        except (TypeError, ValueError):
            tol = float("nan")
        if not (tol > 0 and tol < float("inf")):
            raise fail(f"tolerance must be a positive number of kelvin, got {raw['tolerance']!r}")
        values["tolerance"] = tol
    if "critical" in raw:
        crit = raw["critical"]
        items = crit.split(";") if isinstance(crit, str) else crit
        if not isinstance(items, list) or not all(isinstance(c, str) for c in items):
            raise fail("critical must be a list of 'NAME[:KELVIN]' strings")
        values["critical"] = tuple(c.strip() for c in items if c.strip())
    name = raw.get("name", f"case-{index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise fail(f"name must be a non-empty string, got {name!r}")
    if combo:
        name += " [" + ", ".join(f"{k}={_scalar_text(v)}" for k, v in combo.items()) + "]"
    return Case(name=name, overrides=tuple(sorted(overrides.items())), **values)


def _overrides(value, index: int, file: str, line) -> dict:
    if isinstance(value, str):  # CSV: name=value;name=value
        out = {}
        for item in filter(None, (s.strip() for s in value.split(";"))):
            name, sep, val = item.partition("=")
            if not sep or not name.strip():
                raise InputError(f"case {index + 1}: set expects NAME=VALUE;..., got {item!r}",
                                 file=file, line=line)
            out[name.strip().lstrip("-")] = val.strip()
        return out
    if not isinstance(value, dict):
        raise InputError(f"case {index + 1}: set must be a table of HotSpot option = value",
                         file=file, line=line)
    return {str(k).lstrip("-"): _scalar_text(v) for k, v in value.items()}


def _scalar_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _check_keys(table: Mapping, where: str, file: str, line) -> None:
    for key in table:
        if key not in _CASE_KEYS:
            raise InputError(f"unknown key {key!r} in {where}{_suggest(key, _CASE_KEYS)} "
                             f"(expected some of {', '.join(_CASE_KEYS)})", file=file, line=line)


def _suggest(word: str, known: Iterable[str]) -> str:
    from .io.text import suggest

    return suggest(word, known)


def _line_of(text: str, table: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().strip("[]").strip() == table:
            return number
    return None


def _case_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if line.strip().replace(" ", "").startswith("[[case]]")]


# ---------------------------------------------------------------------------------------------
# One case


def case_key(case: Case) -> str:
    """A hash of everything a case's answer depends on: its files' contents, its options and
    thermal's version (16 hex digits). Not its name: renaming a case does not rerun it.

    A file that cannot be read is hashed by its path (the case will fail, and be run again on
    the next sweep).
    """
    from . import __version__

    h = hashlib.sha256()
    h.update(f"thermal {__version__}\n".encode())
    for name in _PATH_FIELDS:
        p = getattr(case, name)
        if p is None:
            h.update(f"{name}: -\n".encode())
            continue
        try:
            digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
        except OSError:
            digest = f"unreadable {p}"
        h.update(f"{name}: {Path(p).suffix.lower()} {digest}\n".encode())
    settings = {"row": case.row, "overrides": list(case.overrides), "mesh": case.mesh,
                "tolerance": case.tolerance, "critical": list(case.critical)}
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()[:16]


def run_case(case: Case, key: str | None = None) -> dict:
    """Solve one case and return its record; never raises for a failing case.

    Returns
    -------
    dict
        ``case``, ``key``, ``status`` ("ok" or "failed"), ``error`` (one line; "" when ok),
        ``time_s`` and ``cpu_s`` (wall and CPU seconds), ``worker`` (host and process id),
        ``warnings``; when ok also the peak (``peak_K``, ``peak_x_m``, ``peak_y_m``,
        ``peak_layer``), ``error_estimate_K``, ``tolerance_K``, ``dofs``, ``triangles``,
        ``mesh`` and ``blocks`` (a list of ``[name, layer, max_K, mean_K, min_K]``); when failed
        by a bug rather than the input, ``traceback``.
    """
    from .errors import SolverError

    key = key or case_key(case)
    started, cpu_started = time.perf_counter(), time.process_time()
    record: dict = {"case": case.name, "key": key, "status": "failed", "error": "",
                    "worker": f"{socket.gethostname()}:{os.getpid()}"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sol = _solved(case)
        except (InputError, SolverError) as e:
            record["error"] = f"{type(e).__name__}: {' '.join(str(e).split())}"
        except MemoryError:
            record["error"] = "MemoryError: out of memory"
        except Exception as e:  # a bug: recorded with its traceback, the sweep goes on
            record["error"] = f"{type(e).__name__}: {' '.join(str(e).split())}"
            record["traceback"] = traceback.format_exc()
        else:
            record.update(_solution_record(sol))
            record["status"] = "ok"
    record["warnings"] = "; ".join(dict.fromkeys(" ".join(str(w.message).split())
                                                 for w in caught))
    record["time_s"] = round(time.perf_counter() - started, 4)
    record["cpu_s"] = round(time.process_time() - cpu_started, 4)
    return record


def _solved(case: Case):
    """Load a case's inputs as ``thermal solve`` does, and solve it."""
    from .critical import critical_arguments
    from .inputs import load_inputs
    from .solve import solve
    from .stack import Stack

    config = case.config
    overrides = dict(case.overrides)
    fp, power, stack = load_inputs(case.floorplan, case.power, stack=case.stack, config=config,
                                   materials=case.materials, overrides=overrides, row=case.row)
    if overrides and config is None:  # overrides on HotSpot's default package
        stack = Stack.from_hotspot_config(None, overrides=overrides)
        for i in range(len(stack.layers)):
            stack.footprint(i, fp.bounds)
        stack.g_ambient(fp.bounds)
    return solve(fp, power, stack, mesh=case.mesh, tolerance=case.tolerance,
                 critical=critical_arguments(list(case.critical)))


def _solution_record(sol) -> dict:
    peak, b = sol.peak, sol.blocks
    return {"peak_K": peak.temperature_K, "peak_x_m": peak.x_m, "peak_y_m": peak.y_m,
            "peak_layer": peak.layer, "error_estimate_K": float(sol.error_estimate_K),
            "tolerance_K": float(sol.tolerance_K), "dofs": int(sol.history[-1]["dofs"]),
            "triangles": int(sol.mesh.n_triangles), "mesh": sol.strategy,
            "blocks": [[n, b.layer, float(hi), float(mean), float(lo)]
                       for n, hi, mean, lo in zip(b.names, b.max_K, b.mean_K, b.min_K)]}


# ---------------------------------------------------------------------------------------------
# The sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out : Path
        The output folder.
    records : list of dict
        One per case, in manifest order (see :func:`run_case`); a case that did not run (the
        sweep was interrupted) has ``status = "not run"``.
    solved, skipped, failed : int
        Cases solved in this run, skipped as finished by an earlier run, and failed.
    wall_s : float
        Seconds the sweep took, cluster start included.
    workers : int
        Worker processes the cluster had (0: run here, one after the other).
    files : list of Path
        The tables written.
    """

    out: Path
    records: list
    solved: int = 0
    skipped: int = 0
    failed: int = 0
    wall_s: float = 0.0
    workers: int = 0
    files: list = field(default_factory=list)

    def rows(self) -> list[dict]:
        """results.csv's rows, as dicts (numbers as numbers)."""
        return [_result_row(r) for r in self.records]


def run_sweep(cases: Sequence[Case] | str | os.PathLike, out: str | os.PathLike, *,
              workers: int | None = None, scheduler: str | None = None, client=None,
              serial: bool = False, rerun: bool = False,
              progress: Callable[[int, int, dict], None] | None = None) -> SweepResult:
    """Solve every case of a manifest, on Dask workers, and write the results tables.

    Parameters
    ----------
    cases : sequence of Case, or a manifest path
    out : path
        Output folder (created): results.csv, blocks.csv, their .parquet twins when pyarrow is
        installed, and cases/KEY.json per case.
    workers : int, optional
        Worker processes of the local cluster (one thread each); default: the CPU count, at
        most the number of cases to run.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``) to use instead of a local
        cluster; its workers must import thermal and read the input files at the same paths.
    client : dask.distributed.Client, optional
        A client the caller made (it is left open).
    serial : bool
        Run the cases here, one after the other, without Dask.
    rerun : bool
        Solve every case again, even those finished by an earlier run.
    progress : callable, optional
        Called as ``progress(done, total, info)`` after each case, where ``info`` has
        ``failed`` (so far), ``workers`` and ``record`` (the case's record).

    Returns
    -------
    SweepResult

    Raises
    ------
    InputError
        A manifest that cannot be read, or a folder that cannot be written.
    ImportError
        Dask (``dask[distributed]``) is not installed and ``serial`` is false.
    """
    started = time.perf_counter()
    if not isinstance(cases, (list, tuple)):
        cases = read_manifest(cases)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", file=str(out))
    records_dir = out / "cases"
    keys = [case_key(c) for c in cases]
    done: dict[str, dict] = {} if rerun else _finished(records_dir, set(keys))
    todo: dict[str, Case] = {}
    for case, key in zip(cases, keys):
        if key not in done and key not in todo:
            todo[key] = case
    result = SweepResult(out=out, records=[], skipped=sum(k in done for k in keys))
    with ExitStack() as stack:
        if todo and not serial:  # connected before anything is written
            client = stack.enter_context(_dask_client(client, scheduler, workers, len(todo)))
            result.workers = _worker_count(client)
        try:
            records_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create the output folder: {e.strerror or e}",
                             file=str(out)) from None
        _run(todo, serial, client, cases, keys, done, records_dir, result, progress)
    result.wall_s = time.perf_counter() - started
    return result


def _run(todo, serial, client, cases, keys, done, records_dir, result, progress) -> None:
    """Solve the ``todo`` cases, recording each as it finishes; write the tables at the end
    (also when interrupted: the cases not run are listed as such)."""
    fresh: dict[str, dict] = {}
    total = len(todo)

    def finished(record: dict) -> None:
        fresh[record["key"]] = record
        _write_json(records_dir / f"{record['key']}.json", record)
        result.failed += record["status"] != "ok"
        if progress is not None:
            progress(len(fresh), total, {"failed": result.failed, "workers": result.workers,
                                         "record": record})

    try:
        if todo and serial:
            for key, case in todo.items():
                finished(run_case(case, key))
        elif todo:
            _run_on_dask(client, todo, finished)
    finally:
        records = {**done, **fresh}
        result.solved = sum(r["status"] == "ok" for r in fresh.values())
        result.records = [_named(records.get(k), c, k) for c, k in zip(cases, keys)]
        result.files = _write_tables(records_dir.parent, result.records)


CONNECT_TIMEOUT_S = 10.0
"""How long :func:`run_sweep` tries to reach a ``scheduler`` before giving up."""


@contextmanager
def _dask_client(client, scheduler: str | None, workers: int | None, n_cases: int):
    """The caller's client, one connected to ``scheduler``, or a local cluster's (closed after)."""
    if client is not None:
        yield client
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise ImportError("thermal sweep runs on Dask: pip install 'dask[distributed]' (or "
                          "thermal's 'sweep' extra), or run the cases here with serial=True "
                          "(--serial)") from e
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as e:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: "
                             f"{' '.join(str(e).split()) or type(e).__name__}") from None
        with client:
            yield client
        return
    n = workers or min(os.cpu_count() or 1, n_cases)
    # the workers' scratch space is removed with the cluster (Dask's default would leave a
    # dask-scratch-space folder in the temporary directory)
    import dask

    with tempfile.TemporaryDirectory(prefix="thermal-sweep-") as scratch, \
            dask.config.set({"temporary-directory": scratch}), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR, local_directory=scratch) as cluster, \
            Client(cluster) as client:
        yield client


def _run_on_dask(client, todo: dict, finished) -> None:
    from distributed import as_completed

    futures = {client.submit(run_case, case, key, key=f"thermal-case-{key}-"
                             f"{secrets.token_hex(4)}", pure=False): (key, case)
               for key, case in todo.items()}
    try:
        for future in as_completed(futures):
            key, case = futures[future]
            try:
                record = future.result()
            except Exception as e:  # the worker died (out of memory, killed) or lost the task
                record = {"case": case.name, "key": key, "status": "failed",
                          "error": f"{type(e).__name__}: {' '.join(str(e).split())}",
                          "warnings": "", "time_s": None, "cpu_s": None, "worker": ""}
            finished(record)
    finally:  # interrupted: the cluster's workers stop on the cases still queued
        client.cancel(list(futures))


def _worker_count(client) -> int:
    """Workers the scheduler has now (newer distributed lists 5 unless asked for all)."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:
        info = client.scheduler_info()
    return len(info.get("workers", {}))


def _finished(records_dir: Path, keys: set) -> dict[str, dict]:
    """Records of an earlier run that finished ("ok") and belong to this manifest."""
    out = {}
    for key in keys:
        try:
            record = json.loads((records_dir / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if record.get("status") == "ok" and record.get("key") == key:
            out[key] = record
    return out


def _named(record: dict | None, case: Case, key: str) -> dict:
    """The case's record under this manifest's name and inputs (a rerun may rename a case)."""
    if record is None:
        record = {"key": key, "status": "not run", "error": "", "warnings": ""}
    return {**record, "case": case.name, "inputs": case.inputs()}


def _result_row(record: dict) -> dict:
    row = {c: record.get(c) for c in RESULT_COLUMNS}
    row.update(record.get("inputs", {}))
    return row


def _write_tables(out: Path, records: list) -> list:
    rows = [_result_row(r) for r in records]
    blocks = [dict(zip(BLOCK_COLUMNS, (r["case"], r["key"], *b)))
              for r in records if r.get("status") == "ok" for b in r.get("blocks", [])]
    files = [_write_csv(out / "results.csv", RESULT_COLUMNS, rows),
             _write_csv(out / "blocks.csv", BLOCK_COLUMNS, blocks)]
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return files
    files.append(_write_parquet(out / "results.parquet", RESULT_COLUMNS, rows))
    files.append(_write_parquet(out / "blocks.parquet", BLOCK_COLUMNS, blocks))
    return files


def _write_csv(path: Path, columns, rows) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(["" if row.get(c) is None else (f"{row[c]:.6g}" if isinstance(row[c], float)
                                                   else row[c]) for c in columns])
    return _atomic(path, buf.getvalue().encode("utf-8"))


def _write_parquet(path: Path, columns, rows) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {}
    for c in columns:
        values = [row.get(c) for row in rows]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int} and kinds:
            data[c] = pa.array(values, pa.int64())
        elif kinds <= {int, float} and kinds:
            data[c] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            data[c] = pa.array(["" if v is None else str(v) for v in values], pa.string())
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        pq.write_table(pa.table(data), tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_json(path: Path, record: dict) -> Path:
    return _atomic(path, (json.dumps(record, indent=1) + "\n").encode("utf-8"))


def _atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_results(out: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """Read a sweep's results.csv and blocks.csv back: (cases, blocks) as lists of dicts,
    numbers as floats (ints for ``dofs`` and ``triangles``), empty cells as None."""
    out = Path(out)

    def read(name):
        with open(out / name, newline="", encoding="utf-8") as f:
            return [{k: _parsed(k, v) for k, v in row.items()} for row in csv.DictReader(f)]

    return read("results.csv"), read("blocks.csv")


_NUMERIC = {"peak_K", "peak_x_m", "peak_y_m", "error_estimate_K", "tolerance_K", "time_s", "cpu_s",
            "max_K", "mean_K", "min_K"}


def _parsed(column: str, value: str):
    if value == "":
        return None
    if column in ("dofs", "triangles"):
        return int(value)
    if column in _NUMERIC:
        return float(value)
    return value

