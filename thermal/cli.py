"""The ``thermal`` command line: a thin layer over the library (SPEC.md §4).

A user's mistake prints one line ``thermal: error: FILE:LINE: message`` to stderr and exits with
status 2; a solver failure exits with status 1; a solve that stopped at the DOF cap
(``--max-dofs``) before every block met its tolerance writes its results, warns, and exits with
status 3 (:data:`EXIT_UNCONVERGED`) unless ``--allow-unconverged``; Ctrl-C (SIGINT) exits with
130 and SIGTERM with 143. In every case nothing half-written is left behind: outputs are
written into a temporary directory that is renamed into place only when complete (and removed
when interrupted).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from .critical import critical_arguments
from .errors import InputError, InputWarning, SolverError
from .inputs import load_inputs
from .strategies import MESH_CHOICES

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_UNCONVERGED = 3     # the DOF cap stopped refinement above the tolerance
EXIT_INTERRUPTED = 130   # 128 + SIGINT
EXIT_TERMINATED = 143    # 128 + SIGTERM


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler, so that cleanup runs as it does for Ctrl-C."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (status 2) instead of usage dumps."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise InputError(message)


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _row_index(text: str) -> int:
    """argparse type: a 0-based row number."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"rows count from 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="thermal", description="Adaptive-mesh thermal simulator for SoC floorplans.",
                epilog=_EXAMPLES["thermal"], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"thermal {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def command(name, help, epilog=""):
        return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                              epilog=epilog + _EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    s = command("solve", "steady temperatures of a floorplan",
                epilog="exit status: 0 solved within the tolerance; 1 solver failure; 2 bad input;\n"
                       "  3 stopped at --max-dofs above the tolerance (results written; 0 with\n"
                       "  --allow-unconverged)\n\n")
    _add_problem_args(s)
    s.add_argument("--mesh", default="auto",
                   choices=MESH_CHOICES,
                   help="meshing strategy (default: 'ml', the trained predictor, checked by the "
                        "error estimator)")
    s.add_argument("--model", type=Path, default=None,
                   help="predictor file written by 'thermal train' (default: the shipped one)")
    s.add_argument("--tolerance", type=_positive_float, default=0.1,
                   help="target error of every block's max and mean, K (default 0.1)")
    s.add_argument("--critical", action="append", default=[], metavar="NAME[:KELVIN]",
                   help="a temperature-sensitive block with its own tighter tolerance "
                        "(default a quarter of --tolerance); repeat for more")
    s.add_argument("--out", type=Path, default=None, help="output directory")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.add_argument("--steady-file", type=Path, default=None,
                   help="also write HotSpot's .steady format: every layer's block temperatures "
                        "(default: the config's -steady_file)")
    s.add_argument("--grid-steady-file", type=Path, default=None,
                   help="also write HotSpot's grid format, every layer sampled on --grid-rows x "
                        "--grid-cols cells over the die (default: the config's -grid_steady_file)")
    s.add_argument("--grid-rows", type=_count, default=None,
                   help="rows of the grid file (default: the config's -grid_rows, else 64)")
    s.add_argument("--grid-cols", type=_count, default=None,
                   help="columns of the grid file (default: the config's -grid_cols, else 64)")
    s.add_argument("--grid-map-mode", choices=["avg", "center", "min", "max"], default=None,
                   help="a grid cell's value: the mean over it or its centre's; a .steady "
                        "block's: mean, centre, min or max (default: the config's "
                        "-grid_map_mode, else avg)")
    s.add_argument("--max-dofs", type=_count, default=None,
                   help="cap on the unknowns; refinement stops before passing it "
                        "(default 8,000,000)")
    s.add_argument("--allow-unconverged", action="store_true",
                   help="exit 0 even when --max-dofs stopped refinement above the tolerance "
                        "(else exit status 3)")
    s.add_argument("--dump-config", action="store_true",
                   help="print the effective stack as native TOML and exit")
    s.add_argument("--no-plots", action="store_true", help="skip heatmap.png and mesh.png")
    s.add_argument("--sublayers", type=_sublayers, default="off", metavar="off|auto|N",
                   help="off (default): one node per layer, HotSpot's layered model; auto: "
                        "thick layers split by thickness against distance from the source and "
                        "the die's active face reported, close to 3D conduction (ev6 within "
                        "0.14 K, at 1.3-8x the time); N: every thick layer in N")
    _add_units(s)
    _add_quiet(s)
    m = command("mesh", "the initial mesh of a floorplan, with a plot")
    _add_problem_args(m)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--tolerance", type=_positive_float, default=0.1,
                   help="tolerance the predicted mesh is sized for, K (default 0.1)")
    m.add_argument("--model", type=Path, default=None,
                   help="predictor file (default: the shipped one)")
    _add_quiet(m)
    t = command("train", "retrain the hotspot / mesh-size predictor")
    t.add_argument("--samples", type=_count, default=200,
                   help="generated floorplans to solve and learn from (default 200)")
    t.add_argument("--seed", type=_row_index, default=1, help="seed of the generator (default 1)")
    t.add_argument("--jobs", type=_count, default=1, help="worker processes (default 1)")
    t.add_argument("--max-dofs", type=_count, default=1_500_000,
                   help="cap on the unknowns of each labelling solve (default 1,500,000)")
    t.add_argument("--out", type=Path, required=True, help="model file to write (.npz)")
    _add_quiet(t)
    w = command("sweep", "solve every case of a manifest on a Dask cluster")
    w.add_argument("manifest", type=Path,
                   help="cases to solve: a .toml ([defaults], [[case]], [grid]) or .csv file")
    w.add_argument("--out", type=Path, default=None,
                   help="results folder (default: MANIFEST's name + '-results', beside it)")
    where = w.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_count, default=None,
                       help="worker processes of the local Dask cluster (default: the CPUs)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                       help="a running Dask scheduler to send the cases to instead")
    where.add_argument("--serial", action="store_true",
                       help="solve the cases here, one after the other, without Dask")
    w.add_argument("--rerun", action="store_true",
                   help="solve every case again (default: skip those finished in --out)")
    w.add_argument("--format", choices=["text", "json"], default="text")
    _add_quiet(w)
    c = command("compare", "the temperature difference A − B of two steady results")
    for name in ("a", "b"):
        c.add_argument(name, type=Path, metavar=name.upper(),
                       help="a 'thermal solve --out' folder, or a HotSpot .steady or grid file")
    c.add_argument("--out", type=Path, default=None,
                   help="folder for differences.csv, compare.json and difference.png")
    c.add_argument("--grid", metavar="ROWSxCOLS", default=None,
                   help="shape of a HotSpot grid file that is not square")
    c.add_argument("--no-plots", action="store_true", help="skip difference.png")
    c.add_argument("--format", choices=["text", "json"], default="text")
    _add_quiet(c)
    _add_transient_parser(sub)
    return p


_EXAMPLES = {
    "thermal": """examples:
  thermal solve floorplans/ev6.flp --power floorplans/gcc.ptrace --out out/
  thermal solve --help          (and mesh, sweep, compare, train)""",
    "solve": """example:
  thermal solve floorplans/ev6.flp --power floorplans/gcc.ptrace --config floorplans/hotspot.config \\
      --tolerance 0.1 --critical Icache --out out/""",
    "mesh": """example:
  thermal mesh floorplans/ev6.flp --power floorplans/gcc.ptrace --out mesh/""",
    "train": """example:
  thermal train --samples 200 --jobs 2 --out model.npz
  thermal solve floorplans/ev6.flp --power floorplans/gcc.ptrace --model model.npz""",
    "sweep": """example manifest (cases.toml; paths relative to it):
  [defaults]
  floorplan = "ev6.flp"
  power = "gcc.ptrace"
  tolerance = 0.2
  [[case]]
  name = "weak sink"
  set = { r_convec = 0.3 }
  [grid]
  row = [0, 1, 2]

examples:
  thermal sweep cases.toml --workers 4
  thermal sweep cases.toml --scheduler tcp://10.0.0.5:8786 --out results/
  (results/results.csv: one row per case; a rerun skips the finished cases)""",
    "compare": """examples:
  thermal compare run-a/ run-b/ --out diff/
  thermal compare out/ hotspot/gcc.steady""",
    "transient": """example:
  thermal transient floorplans/ev6.flp --power floorplans/gcc.ptrace \\
      --config floorplans/hotspot.config --materials floorplans/example.materials \\
      --ttrace out/gcc.ttrace --out out/""",
}
"""The example at the end of each command's --help."""


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress line on stderr (warnings and errors are still shown)")


def _add_units(p: argparse.ArgumentParser) -> None:
    p.add_argument("--units", choices=["C", "K"], default="C",
                   help="temperature unit of the plots: C (degrees Celsius, default) or K; the "
                        "files always hold kelvin")


def _add_transient_parser(sub) -> None:
    r = sub.add_parser("transient", help="block temperatures over a power trace",
                       description="Block temperatures over a power trace.",
                       epilog=_EXAMPLES["transient"],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("floorplan", type=Path, nargs="?", help="HotSpot .flp floorplan")
    r.add_argument("--power", type=Path, required=True, help="HotSpot .ptrace power trace")
    _add_stack_args(r)
    r.add_argument("--out", type=Path, required=True, help="output directory")
    r.add_argument("--dt", type=_positive_float, default=None,
                   help="time step, s (default: the sampling interval; rounded down to divide it)")
    r.add_argument("--sampling-interval", type=_positive_float, default=None,
                   help="length of one trace row, s (default: the config's -sampling_intvl, "
                        "else HotSpot's 3.333e-6)")
    r.add_argument("--method", choices=["be", "cn", "bdf2"], default="be",
                   help="backward Euler (default), Crank-Nicolson or BDF2")
    r.add_argument("--init", choices=["ambient", "steady"], default="ambient",
                   help="start at ambient (default) or at the mean row's steady state")
    r.add_argument("--init-file", type=Path, default=None,
                   help="start from a previous run's final.vtu, or HotSpot -init_file block "
                        "temperatures ('name temperature_K' lines)")
    r.add_argument("--ttrace", type=Path, default=None,
                   help="also write HotSpot's .ttrace (block mean temperatures per row)")
    r.add_argument("--snapshots", type=_row_index, default=0,
                   help="write this many evenly spaced snapshot_*.vtu fields (default 0)")
    r.add_argument("--mesh", default="auto",
                   choices=MESH_CHOICES,
                   help="meshing strategy for the whole trace (default 'ml')")
    r.add_argument("--model", type=Path, default=None, help="predictor file")
    r.add_argument("--tolerance", type=_positive_float, default=0.1,
                   help="target error of the block temperatures of the mesh check, K")
    r.add_argument("--no-plots", action="store_true", help="skip transient.png")
    _add_quiet(r)


def _count(text: str) -> int:
    """argparse type: a whole number ≥ 1."""
    value = _row_index(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _sublayers(text: str) -> str | int:
    """argparse type: ``auto``, ``off`` or a number of sub-layers per layer (≥ 1)."""
    if text in ("auto", "off"):
        return text
    try:
        return _count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected auto, off or a whole number >= 1, got "
                                         f"{text!r}") from None


def _add_problem_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("floorplan", type=Path, nargs="?", help="HotSpot .flp floorplan")
    s.add_argument("--power", type=Path, required=True,
                   help="HotSpot .ptrace power trace, or a .csv/.npy power map (W per cell, rows "
                        "from the top edge)")
    s.add_argument("--map-extent", type=float, nargs=4, default=None,
                   metavar=("X0", "Y0", "X1", "Y1"),
                   help="rectangle a power map covers, metres (default: a '# extent' line of "
                        "the .csv, else the die)")
    _add_stack_args(s)
    s.add_argument("--row", type=_row_index, default=None,
                   help="0-based power trace row (default: the mean of all rows)")


def _add_stack_args(s: argparse.ArgumentParser) -> None:
    """The stack's arguments, shared by solve, mesh and transient."""
    g = s.add_mutually_exclusive_group()
    g.add_argument("--stack", type=Path, help="native stack TOML")
    g.add_argument("--config", type=Path, help="HotSpot .config")
    s.add_argument("--materials", type=Path, help="HotSpot .materials for --config")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a HotSpot config value (with --config), e.g. --set r_convec=0.2")
    s.add_argument("--layers", type=Path,
                   help="HotSpot .lcf layer file: its layers (each with its floorplan; FLOORPLAN "
                        "is then omitted), then --config's spreader and sink")


def _load(args):
    """Floorplan, power and stack from the arguments."""
    if args.layers is not None and args.stack is not None:
        raise InputError("--layers (a HotSpot .lcf) and --stack are two stacks: give one")
    for item in args.set:
        name, sep, _ = item.partition("=")
        if not sep or not name.lstrip("-"):
            raise InputError(f"--set expects NAME=VALUE, got {item!r}")
    overrides = _overrides(args)
    if overrides and args.config is None and args.layers is None:
        raise InputError("--set applies to a HotSpot --config")
    if args.materials is not None and args.config is None and args.layers is None:
        raise InputError("--materials applies to a HotSpot --config")
    layers = args.layers
    if layers is None and args.config is not None and args.stack is None:
        layers = _config_outputs(args, overrides)["grid_layer_file"]
    return load_inputs(args.floorplan, args.power, stack=args.stack, config=args.config,
                       materials=args.materials, overrides=overrides, row=args.row,
                       map_extent=args.map_extent, layers=layers)


def _overrides(args) -> dict:
    """``--set NAME=VALUE`` as {name: value} (a malformed item is :func:`_load`'s error)."""
    out = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if sep and name.lstrip("-"):
            out[name.lstrip("-")] = value
    return out


def _config_outputs(args, overrides=None) -> dict:
    """The HotSpot config's output options (:func:`thermal.io.hotspot.config_outputs`)."""
    from .io.hotspot import config_outputs, read_config

    if args.config is None and args.layers is None:
        return config_outputs(None, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)  # warned once, by the stack's reading
        config = read_config(args.config) if args.config is not None else None
    return config_outputs(config, _overrides(args) if overrides is None else overrides)


def _solve_status(info: dict) -> str:
    """The progress line of a solve, from the dict :func:`thermal.solve` reports."""
    est = info["estimate_K"]
    est_text = "not yet known" if est == float("inf") else f"{est:.3g} K"
    return (f"round {info['level'] + 1}: {info['dofs']:,} unknowns, estimated error "
            f"{est_text}")


def _cmd_solve(args) -> int:
    from .progress import ProgressLine

    critical = critical_arguments(args.critical)
    _check_out(args.out)
    outputs = _config_outputs(args)
    steady_file = args.steady_file or outputs["steady_file"]
    grid_file = args.grid_steady_file or outputs["grid_steady_file"]
    rows = args.grid_rows or outputs["grid_rows"]
    cols = args.grid_cols or outputs["grid_cols"]
    map_mode = args.grid_map_mode or (outputs["grid_map_mode"] if args.config else "avg")
    for path in (steady_file, grid_file):
        if path is not None:
            _check_writable_file(path)
    started = time.monotonic()
    fp, power, stack = _load(args)
    for note in outputs["notes"]:
        warnings.warn(InputWarning(note))
    if (args.config is not None or args.layers is not None) and not outputs["detailed_3D"] \
            and any(math.isfinite(k) for k in fp.conductivity):
        warnings.warn(InputWarning("the floorplan's columns 6-7 give per-block materials: HotSpot "
                                   "uses them only with -detailed_3D on, thermal always does"))
    if args.dump_config:  # floorplan paths made absolute: the TOML may be saved anywhere
        import dataclasses

        layers = tuple(dataclasses.replace(layer, floorplan=os.path.abspath(layer.floorplan))
                       if layer.floorplan is not None else layer for layer in stack.layers)
        print(dataclasses.replace(stack, layers=layers).to_toml(), end="")
        return 0
    model = _model(args)
    from .solve import solve  # after the inputs are checked: bad input fails fast
    from .strategies import MAX_DOFS
    # the line starts once the inputs are good (a mistake gets its one line alone), its clock
    # at the command's start; it stops before the files are written (Solution.write forks
    # only when no other thread runs)
    leakage = _leakage(args)
    with ProgressLine("thermal solve", enabled=not args.quiet, started=started) as line:
        line.update("meshing and solving")
        options = dict(mesh=args.mesh, tolerance=args.tolerance, critical=critical, model=model,
                       max_dofs=args.max_dofs or MAX_DOFS, sublayers=args.sublayers)
        if leakage is None:
            sol = solve(fp, power, stack, progress=lambda info: line.update(_solve_status(info)),
                        **options)
        else:
            from .solve import solve_with_leakage

            sol, _ = solve_with_leakage(fp, power, stack, leakage, **options)
    if steady_file is not None:  # before --out: a failure here leaves no results folder
        from .io import steady
        from .io.hotspot import steady_rows

        steady.write(steady_file, *steady_rows(sol, map_mode))
    if grid_file is not None:
        from .io import steady
        from .io.hotspot import grid_temperatures

        steady.write_grid(grid_file, grid_temperatures(sol, rows, cols, map_mode))
    if args.out is not None:
        try:
            sol.write(args.out, plots=not args.no_plots, parallel=True, units=args.units)
        except OSError as e:  # checked writable before the solve: a full disk, a lost mount
            print(f"thermal: error: {args.out}: cannot write the results: {e.strerror or e}",
                  file=sys.stderr)
            return EXIT_FAILURE
    summary = {**sol.summary(args.units), **sol.timings()}
    if args.format == "json":
        b = sol.blocks
        summary["blocks"] = [{"block": n, "layer": b.layer_of(i), "max_K": float(b.max_K[i]),
                              "mean_K": float(b.mean_K[i]), "min_K": float(b.min_K[i])}
                             for i, n in enumerate(b.names)]
        print(json.dumps(summary, indent=2))
    else:
        print(_text_report(sol, args.out))
    if not sol.converged:
        print(f"thermal: warning: error estimate {sol.error_estimate_K:.3g} K is above the "
              f"tolerance {sol.tolerance_K} K: refinement stopped at the DOF limit "
              f"({sol.max_dofs:,}; raise --max-dofs or --tolerance)", file=sys.stderr)
        return 0 if args.allow_unconverged else EXIT_UNCONVERGED
    return 0


def _leakage(args):
    """The leakage model of the stack TOML's [leakage] table or the config's -leakage_used."""
    from .leakage import from_hotspot_config, from_stack_file

    if getattr(args, "config", None) is not None:
        overrides = _overrides(args)
        return from_hotspot_config(args.config, overrides)
    return from_stack_file(getattr(args, "stack", None))


def _cmd_transient(args) -> int:
    """``thermal transient``: stream a power trace's temperatures into ``--out``."""
    from .io import powermap, ptrace

    _check_out(args.out)
    if args.ttrace is not None:
        _check_writable_file(args.ttrace)
    if args.power.suffix.lower() in powermap.SUFFIXES:
        raise InputError("a transient needs a .ptrace power trace, not a power map",
                         file=str(args.power))
    args.row, args.map_extent = None, None
    fp, _, stack = _load(args)
    trace = ptrace.read(args.power)
    interval = args.sampling_interval
    if args.config is not None:
        from .leakage import sampling_interval

        overrides = _overrides(args)
        if interval is None:
            interval = sampling_interval(args.config, overrides)
    leakage = _leakage(args)
    model = _model(args)
    from .progress import ProgressLine
    from .transient import prepare, write_run

    with ProgressLine("thermal transient", enabled=not args.quiet) as line:
        line.update("meshing for the whole trace")
        run = prepare(fp, trace, stack, sampling_interval=interval, dt=args.dt,
                      method=args.method, init=args.init, init_file=args.init_file,
                      mesh=args.mesh, tolerance=args.tolerance, model=model, leakage=leakage)

        def rows_done(done: int, total: int) -> None:
            line.update(f"row {done:,}/{total:,} ({100 * done // max(total, 1)}%)")

        try:
            summary = write_run(run, args.out, ttrace=args.ttrace, snapshots=args.snapshots,
                                plots=not args.no_plots, progress=rows_done)
        except OSError as e:
            print(f"thermal: error: {args.out}: cannot write the results: {e.strerror or e}",
                  file=sys.stderr)
            return EXIT_FAILURE
    peak, t = summary["peak"], summary["timings_s"]
    print(f"peak {peak['temperature_K']:.2f} K ({peak['temperature_K'] - 273.15:.2f} °C) at "
          f"t={peak['time_s']:.6g} s, x={peak['x_m'] * 1e3:.3f} mm, y={peak['y_m'] * 1e3:.3f} mm "
          f"on {peak['layer']}")
    print(f"{summary['rows']} rows x {run.substeps} steps of {summary['dt_s']:.4g} s "
          f"({summary['method']}), {summary['mesh']['strategy']} mesh {summary['mesh']['dofs']:,} "
          f"DOFs; factorisation {t['factorise']:.2f} s, {t['ms_per_step']:.2f} ms per step, "
          f"{t['mesh'] + t['run']:.2f} s in all")
    print(f"wrote {args.out}/" + (f" and {args.ttrace}" if args.ttrace is not None else ""))
    return 0


def _model(args):
    """The ``--model`` file, loaded and checked before any work (None: the shipped one)."""
    if getattr(args, "model", None) is None:
        return None
    from .predict import load_model

    return load_model(args.model)


def _cmd_train(args) -> int:
    from .progress import ProgressLine
    from .train import train_model

    _check_writable_file(args.out)
    with ProgressLine("thermal train", enabled=not args.quiet) as line:
        line.update(f"0/{args.samples} cases: generating and solving")
        meta = train_model(args.samples, args.seed, args.out, jobs=args.jobs, max_dofs=args.max_dofs,
                           progress=lambda done, total, info: line.update(_train_status(done, total, info)))
    print(f"trained on {meta['cases_used']} of {args.samples} generated floorplans "
          f"({meta['rows']:,} samples); wrote {args.out}")
    return 0


def _train_status(done: int, total: int, info: dict) -> str:
    filled = 30 * done // total
    return (f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} cases "
            f"({info.get('kind', '')}, {info.get('dofs', 0):,} unknowns)")


def _cmd_sweep(args) -> int:
    from .progress import ProgressLine, format_duration
    from .sweep import read_manifest, run_sweep

    cases = read_manifest(args.manifest)
    out = args.out if args.out is not None else \
        args.manifest.with_name(args.manifest.stem + "-results")
    _check_out(out)
    with ProgressLine("thermal sweep", enabled=not args.quiet) as line:
        line.update(f"{len(cases)} cases: starting the workers" if not args.serial
                    else f"{len(cases)} cases")

        def report(done, total, info):
            left = (line.elapsed_s / done * (total - done)) if done else 0.0
            line.update(f"{done}/{total} cases done" + (f" ({info['failed']} failed)"
                        if info["failed"] else "") + (f" on {info['workers']} workers"
                        if info["workers"] else "") + (f", about {format_duration(left)} left"
                                                       if done < total else ""))

        try:
            result = run_sweep(cases, out, workers=args.workers, scheduler=args.scheduler,
                               serial=args.serial, rerun=args.rerun, progress=report)
        except ImportError as e:
            raise InputError(str(e)) from None
    if args.format == "json":
        print(json.dumps({"out": str(out), "solved": result.solved, "skipped": result.skipped,
                          "failed": result.failed, "wall_s": round(result.wall_s, 3),
                          "cases": result.rows()}, indent=2))
    else:
        print(_sweep_report(result))
    return EXIT_FAILURE if result.failed else 0


def _cmd_compare(args) -> int:
    from .compare import compare, parse_grid_shape, report, write

    _check_out(args.out)
    shape = None if args.grid is None else parse_grid_shape(args.grid)
    comparison = compare(args.a, args.b, grid_shape=shape)
    written = []
    if args.out is not None:
        try:
            written = write(comparison, args.out, plots=not args.no_plots)
        except OSError as e:
            print(f"thermal: error: {args.out}: cannot write: {e.strerror or e}", file=sys.stderr)
            return EXIT_FAILURE
    if args.format == "json":
        print(json.dumps(comparison.summary(), indent=2))
    else:
        print(report(comparison))
        if written:
            print(f"\nwrote {args.out}/: {' '.join(written)}")
    return 0


def _sweep_report(result) -> str:
    rows = result.rows()
    width = min(max([len(r["case"]) for r in rows] + [4]), 40)
    lines = [f"{'case':<{width}} {'status':<7} {'peak_K':>8} {'unknowns':>9} {'time_s':>7}"]
    for r in rows:
        peak = "" if r["peak_K"] is None else f"{r['peak_K']:.2f}"
        dofs = "" if r["dofs"] is None else f"{r['dofs']:,}"
        secs = "" if r["time_s"] is None else f"{r['time_s']:.2f}"
        lines.append(f"{r['case'][:width]:<{width}} {r['status']:<7} {peak:>8} {dofs:>9} {secs:>7}")
    for r in rows:
        if r["status"] == "failed":
            lines.append(f"{r['case']}: {r['error']}")
    lines += ["", f"{result.solved} solved, {result.skipped} skipped (finished before), "
                  f"{result.failed} failed, in {result.wall_s:.1f} s"
                  + (f" on {result.workers} workers" if result.workers else ""),
              f"wrote {result.out}/: {' '.join(p.name for p in result.files)}"]
    return "\n".join(lines)


def _text_report(sol, out) -> str:
    from .solution import OUTPUT_FILES

    peak = sol.peak
    b = sol.blocks
    s = sol.summary()
    lines = [
        f"peak {peak.temperature_K:.2f} K ({peak.temperature_K - 273.15:.2f} °C) at "
        f"x={peak.x_m * 1e3:.3f} mm, y={peak.y_m * 1e3:.3f} mm on layer {peak.layer}",
        f"error estimate ±{sol.error_estimate_K:.3g} K (tolerance {sol.tolerance_K} K), "
        f"{s['mesh']['strategy']} mesh, {s['mesh']['dofs']:,} DOFs, {sol.timings_s['total']:.2f} s",
        "",
        f"{'block':<20} {'max_K':>9} {'mean_K':>9} {'min_K':>9}",
    ]
    order = sorted(range(len(b)), key=lambda i: -b.max_K[i])
    shown = order if len(order) <= 40 else order[:20]
    lines += [f"{b.names[i]:<20} {b.max_K[i]:9.2f} {b.mean_K[i]:9.2f} {b.min_K[i]:9.2f}"
              + (f"  {b.layer_of(i)}" if b.row_layers else "") for i in shown]
    if len(shown) < len(order):
        lines.append(f"... {len(order) - len(shown)} cooler blocks in blocks.csv")
    if out is not None:
        written = sorted(p.name for p in Path(out).iterdir() if p.name in OUTPUT_FILES)
        lines += ["", f"wrote {out}/: {' '.join(written)}"]
    return "\n".join(lines)


def _cmd_mesh(args) -> int:
    _check_out(args.out)
    fp, power, stack = _load(args)
    model = _model(args)
    from .power import power_load
    from .strategies import MAX_DOFS, meshed_to_prediction, predictor, start_mesh

    rects = fp.rects
    spread = fp.power_vector(power) if hasattr(fp, "power_vector") else power_load(fp, power)
    m = start_mesh(fp, stack, "ml")
    predictor = predictor("ml", model) if model is not None or _has_shipped_model() else \
        predictor("heuristic", None)
    prediction = predictor.predict(fp, spread, stack, args.tolerance)
    from .critical import resolved

    regions = resolved(fp, args.tolerance, stack.critical)
    sized, _ = meshed_to_prediction(m, prediction, fp, regions, args.tolerance, MAX_DOFS)
    from . import plot
    from .solution import MESH_HOW, writing_into

    r = prediction.raster
    with writing_into(args.out) as tmp:
        plot.plot_mesh(tmp / "mesh.png", sized.points, sized.triangles, rects, fp.names,
                       footprints=[tuple(r) for r in sized.layer_rects],
                       footprint_names=[layer.name for layer in stack.layers],
                       title=f"Mesh {MESH_HOW.get(predictor.name, 'predicted')} for ±{args.tolerance} K"
                             f": {sized.n_triangles:,} triangles (before sizing {m.n_triangles:,})")
        plot.plot_prediction(tmp / "predicted.png", (r.x0, r.y0, r.x0 + r.nx * r.dx, r.y0 + r.ny * r.dy),
                             prediction.size_m, prediction.rise_K, stack.ambient_K, rects,
                             prediction.hotspots(5), title="What the predictor expects before solving")
    q = sized.quality()
    print(f"{predictor.name} mesh: {sized.n_nodes} nodes, {sized.n_triangles} triangles "
          f"(initial {m.n_triangles}), min angle {q['min_angle_deg']:.1f}°, max aspect ratio "
          f"{q['max_aspect_ratio']:.2f}; wrote {args.out}/mesh.png predicted.png")
    return 0


def _has_shipped_model() -> bool:
    from .strategies import shipped_model_exists

    return shipped_model_exists()


def _check_out(out) -> None:
    """Refuse an output path that can't become a directory before any work is done.

    The nearest existing ancestor must be a directory in which a temporary directory can be
    made (what :meth:`Solution.write` will do): a probe, so that read-only file systems,
    ``/proc`` and root's permission bypass are all judged by the operating system itself.
    """
    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", file=str(out))
    _probe_directory(out if out.exists() else out.absolute().parent, str(out))


def _check_writable_file(path) -> None:
    """Refuse an output file whose directory can't be written, before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory, not a file name", file=str(path))
    if not path.absolute().parent.is_dir():
        raise InputError("cannot write: its folder does not exist", file=str(path))
    _probe_directory(path.absolute().parent, str(path))


def _probe_directory(folder: Path, name: str) -> None:
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot write: {folder} is not a directory", file=name)
    probe = folder / f".thermal-probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        try:
            probe.mkdir()
        finally:  # even when a signal lands in between
            if probe.is_dir():
                probe.rmdir()
    except OSError as e:
        raise InputError(f"output directory is not writable ({folder}: {e.strerror or e})",
                         file=name) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``thermal`` command; returns the exit status.

    Warnings are shown as ``thermal: warning: ...`` lines, each once; the warning filters, the
    warning display and the SIGTERM handler are restored on return, so ``main`` can be called
    in-process (tests, notebooks).
    """
    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputWarning) or "thermal" in str(filename):
            print(f"thermal: warning: {_one_line(str(message))}", file=sys.stderr)

    def terminate(signum, frame):
        raise Terminated()

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if on_main_thread else None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return _main(argv)
    except KeyboardInterrupt:
        print("thermal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("thermal: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if on_main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        _refuse_hotspot_flags(sys.argv[1:] if argv is None else argv)
        args, unknown = build_parser().parse_known_args(argv)
        if args.command is None:
            raise InputError("a command is required: solve, mesh, sweep, compare, transient or "
                             "train (see thermal --help)")
        if unknown:
            raise InputError(f"unrecognized arguments: {' '.join(unknown)}")
        handler = {"solve": _cmd_solve, "mesh": _cmd_mesh, "train": _cmd_train,
                   "sweep": _cmd_sweep, "compare": _cmd_compare, "transient": _cmd_transient}[args.command]
        return handler(args)
    except InputError as e:
        print(f"thermal: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except SolverError as e:
        print(f"thermal: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:  # e.g. `thermal solve ... | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


_HOTSPOT_FLAGS = {
    "-c": "--config FILE",
    "-f": "a FLOORPLAN argument (thermal solve FLOORPLAN --power TRACE)",
    "-p": "--power FILE",
    "-o": "--out DIR (a folder of blocks.csv, summary.json, field.vtu and the plots)",
    "-d": "--dump-config (or summary.json's \"stack\", written by --out)",
    "-steady_file": "--steady-file FILE",
    "-grid_steady_file": "--grid-steady-file FILE (and --out DIR: field.vtu has every layer)",
    "-materials_file": "--materials FILE",
    "-grid_layer_file": "--layers FILE",
    "-detailed_3D": "--layers FILE (per-block materials are always used)",
    "-model_type": "--mesh (thermal always solves on its adaptive mesh)",
    "-grid_rows": "--grid-rows N, the grid of --grid-steady-file (the mesh adapts to --tolerance)",
    "-grid_cols": "--grid-cols N, the grid of --grid-steady-file (the mesh adapts to --tolerance)",
    "-grid_map_mode": "--grid-map-mode MODE",
    "-init_file": "nothing yet (no initial temperatures; steady solves need none)",
}
"""HotSpot's command-line flags, and what thermal has instead."""


def _refuse_hotspot_flags(argv) -> None:
    """One line naming thermal's equivalent for a HotSpot-style flag (``-c``, ``-p``, ...)."""
    from .io.hotspot import KNOWN_OPTIONS

    for token in argv:
        if token == "--":
            return
        if token in _HOTSPOT_FLAGS:
            raise InputError(f"{token} is HotSpot's flag; thermal's is {_HOTSPOT_FLAGS[token]} "
                             f"(see thermal solve --help)")
        name = token[1:]
        if token.startswith("-") and not token.startswith("--") and name in KNOWN_OPTIONS:
            raise InputError(f"{token} is a HotSpot option; thermal's is --set {name}=VALUE "
                             f"(with --config FILE)")


def _one_line(text: str) -> str:
    return " ".join(text.split())
