"""The ``thermal`` command line: a thin layer over the library (SPEC.md §4).

A user's mistake prints one line ``thermal: error: FILE:LINE: message`` to stderr and exits with
status 2; a solver failure exits with status 1; Ctrl-C (SIGINT) exits with 130 and SIGTERM with
143. In every case nothing half-written is left behind: outputs are written into a temporary
directory that is renamed into place only when complete (and removed when interrupted).
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
import warnings
from pathlib import Path

from .errors import InputError, InputWarning, SolverError

EXIT_USAGE = 2
EXIT_FAILURE = 1
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

    p = _Parser(prog="thermal", description="Adaptive-mesh thermal simulator for SoC floorplans.")
    p.add_argument("--version", action="version", version=f"thermal {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    s = sub.add_parser("solve", help="steady temperatures of a floorplan")
    _add_problem_args(s)
    s.add_argument("--mesh", default="auto",
                   choices=["auto", "ml", "estimator", "uniform", "ml+estimator", "heuristic"],
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
                   help="also write HotSpot's .steady format (block mean temperatures)")
    s.add_argument("--no-plots", action="store_true", help="skip heatmap.png and mesh.png")
    s.add_argument("--sublayers", type=_sublayers, default="auto", metavar="auto|off|N",
                   help="thick layers as sub-layers, the power layer's active face reported "
                        "(auto, the default: by thickness against distance from the source; "
                        "off: one node per layer; N: every layer in N)")
    m = sub.add_parser("mesh", help="the initial mesh of a floorplan, with a plot")
    _add_problem_args(m)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--tolerance", type=_positive_float, default=0.1,
                   help="tolerance the predicted mesh is sized for, K (default 0.1)")
    m.add_argument("--model", type=Path, default=None,
                   help="predictor file (default: the shipped one)")
    t = sub.add_parser("train", help="retrain the hotspot / mesh-size predictor")
    t.add_argument("--samples", type=_count, default=200,
                   help="generated floorplans to solve and learn from (default 200)")
    t.add_argument("--seed", type=_row_index, default=1, help="seed of the generator (default 1)")
    t.add_argument("--jobs", type=_count, default=1, help="worker processes (default 1)")
    t.add_argument("--max-dofs", type=_count, default=1_500_000,
                   help="cap on the unknowns of each labelling solve (default 1,500,000)")
    t.add_argument("--out", type=Path, required=True, help="model file to write (.npz)")
    sub.add_parser("transient", help="not available yet", add_help=False).add_argument(
        "rest", nargs=argparse.REMAINDER)
    return p


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


def _critical(items: list[str]) -> dict:
    """``--critical NAME[:KELVIN]`` arguments as {name: tolerance or None}."""
    out = {}
    for item in items:
        name, sep, tol = item.rpartition(":") if ":" in item else (item, "", "")
        if not name:
            raise InputError(f"--critical expects NAME[:KELVIN], got {item!r}")
        if sep:
            try:
                value = _positive_float(tol)
            except argparse.ArgumentTypeError as e:
                raise InputError(f"--critical {item}: tolerance {e}") from None
        out[name] = value if sep else None
    return out


def _add_problem_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("floorplan", type=Path, nargs="?", help="HotSpot .flp floorplan")
    s.add_argument("--power", type=Path, required=True,
                   help="HotSpot .ptrace power trace, or a .csv/.npy power map (W per cell, rows "
                        "from the top edge)")
    s.add_argument("--map-extent", type=float, nargs=4, default=None,
                   metavar=("X0", "Y0", "X1", "Y1"),
                   help="rectangle a power map covers, metres (default: a '# extent' line of "
                        "the .csv, else the die)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--stack", type=Path, help="native stack TOML")
    g.add_argument("--config", type=Path, help="HotSpot .config")
    s.add_argument("--materials", type=Path, help="HotSpot .materials for --config")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a HotSpot config value (with --config), e.g. --set r_convec=0.2")
    s.add_argument("--layers", type=Path, help="HotSpot .lcf layer file (not available yet)")
    s.add_argument("--row", type=_row_index, default=None,
                   help="0-based power trace row (default: the mean of all rows)")


def _load(args):
    """Floorplan, power and stack from the arguments."""
    if args.layers is not None:
        raise InputError("--layers (HotSpot .lcf stacks) is not available yet", file=str(args.layers))
    if args.floorplan is None:
        raise InputError("a FLOORPLAN file is required")
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.lstrip("-"):
            raise InputError(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.lstrip("-")] = value
    if overrides and args.config is None:
        raise InputError("--set applies to a HotSpot --config")
    if args.materials is not None and args.config is None:
        raise InputError("--materials applies to a HotSpot --config")
    return load_inputs(args.floorplan, args.power, stack=args.stack, config=args.config,
                       materials=args.materials, overrides=overrides, row=args.row,
                       map_extent=args.map_extent)


def load_inputs(floorplan, power, stack=None, config=None, materials=None, overrides=None,
                row: int | None = None, map_extent=None):
    """Read and check everything ``thermal solve`` needs before it meshes.

    Parameters
    ----------
    floorplan, power : str or path-like
        HotSpot ``.flp`` file, and a ``.ptrace`` file or a ``.csv``/``.npy`` power map.
    stack, config : str or path-like, optional
        A native stack TOML or a HotSpot ``.config`` (at most one); neither: HotSpot's default.
    materials : str or path-like, optional
        HotSpot ``.materials`` for ``config``.
    overrides : mapping of str to str, optional
        ``--set`` values for ``config``.
    row : int, optional
        Power trace row; default the mean.
    map_extent : (x0, y0, x1, y1), optional
        The rectangle a power map covers (see :func:`thermal.power.read_power_map`).

    Returns
    -------
    floorplan : Floorplan
    power : dict of str to float, or PowerMap
        W per block (matching the floorplan's names), or the power map (on the die).
    stack : Stack

    Raises
    ------
    InputError
        Anything wrong in any of the files, or between them (power names that don't match the
        floorplan, a spreader smaller than the die).
    """
    from .floorplan import read_floorplan
    from .power import MAP_SUFFIXES, power_vector, read_power_map, read_ptrace
    from .stack import Stack

    is_map = Path(power).suffix.lower() in MAP_SUFFIXES
    if is_map and row is not None:
        raise InputError("--row selects a row of a power trace, but this is a power map",
                         file=str(power))
    if map_extent is not None and not is_map:
        raise InputError("--map-extent applies to a .csv/.npy power map", file=str(power))
    fp = read_floorplan(floorplan)
    if is_map:
        block_power = read_power_map(power, extent=map_extent)
        block_power.extent_on(fp.bounds)
    else:
        trace = read_ptrace(power)
        block_power = trace.mean() if row is None else trace.row(row)
        power_vector(fp, block_power)
    if stack is not None:
        s = Stack.read(stack)
    elif config is not None:
        s = Stack.from_hotspot_config(config, materials=materials, overrides=overrides)
    else:
        s = Stack.default()
    for i, layer in enumerate(s.layers):
        if layer.floorplan is not None:  # read by Stack, not used by solve yet: don't ignore it
            raise InputError(f"layer {layer.name!r} names its own floorplan ({layer.floorplan}): "
                             f"per-layer floorplans are not available yet", file=s.path,
                             line=dict(s.key_lines).get(f"layer.{i}.floorplan"))
        s.footprint(i, fp.bounds)
    s.g_ambient(fp.bounds)
    return fp, block_power, s


class _StatusLine:
    """A line on stderr rewritten in place (a terminal only), ended by :meth:`close`."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        sys.stderr.write(f"\r{text}   ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


class _Progress(_StatusLine):
    """The solve's status, shown once a run passes one second."""

    def __call__(self, info: dict) -> None:
        if not self.enabled or info["elapsed_s"] < 1.0:
            return
        est = info["estimate_K"]
        est_text = "—" if est == float("inf") else f"{est:.3g} K"
        self.show(f"thermal: level {info['level']}: {info['dofs']:,} DOFs, "
                  f"error estimate {est_text}, {info['elapsed_s']:.1f} s")


def _cmd_solve(args) -> int:
    critical = _critical(args.critical)
    _check_out(args.out)
    if args.steady_file is not None:
        _check_writable_file(args.steady_file)
    fp, power, stack = _load(args)
    model = _model(args)
    from .solve import solve  # after the inputs are checked: bad input fails fast
    progress = _Progress(args.format == "text")
    try:
        sol = solve(fp, power, stack, mesh=args.mesh, tolerance=args.tolerance, progress=progress,
                    critical=critical, model=model, sublayers=args.sublayers)
    finally:
        progress.close()
    if args.steady_file is not None:  # before --out: a failure here leaves no results folder
        from .io.hotspot import write_steady

        write_steady(args.steady_file, sol.blocks.names, sol.blocks.mean_K)
    if args.out is not None:
        try:
            sol.write(args.out, plots=not args.no_plots, parallel=True)
        except OSError as e:  # checked writable before the solve: a full disk, a lost mount
            print(f"thermal: error: {args.out}: cannot write the results: {e.strerror or e}",
                  file=sys.stderr)
            return EXIT_FAILURE
    summary = {**sol.summary(), **sol.timings()}
    if args.format == "json":
        summary["blocks"] = [{"block": n, "max_K": float(a), "mean_K": float(b), "min_K": float(c)}
                             for n, a, b, c in zip(sol.blocks.names, sol.blocks.max_K,
                                                   sol.blocks.mean_K, sol.blocks.min_K)]
        print(json.dumps(summary, indent=2))
    else:
        print(_text_report(sol, args.out))
    if sol.error_estimate_K > sol.tolerance_K:
        print(f"thermal: warning: error estimate {sol.error_estimate_K:.3g} K is above the "
              f"tolerance {sol.tolerance_K} K (refinement stopped at the DOF limit)", file=sys.stderr)
    return 0


def _model(args):
    """The ``--model`` file, loaded and checked before any work (None: the shipped one)."""
    if getattr(args, "model", None) is None:
        return None
    from .predict import load_model

    return load_model(args.model)


def _cmd_train(args) -> int:
    from .train import train_model

    _check_writable_file(args.out)
    bar = _Bar(sys.stderr.isatty())
    try:
        meta = train_model(args.samples, args.seed, args.out, jobs=args.jobs, max_dofs=args.max_dofs,
                           progress=lambda done, total, info: bar(done, total, info))
    finally:
        bar.close()
    print(f"trained on {meta['cases_used']} of {args.samples} generated floorplans "
          f"({meta['rows']:,} samples); wrote {args.out}")
    return 0


class _Bar(_StatusLine):
    """A progress bar: ``[#####.....] 12/40 cases``; off a terminal, one line per tenth."""

    def __call__(self, done: int, total: int, info: dict) -> None:
        text = (f"thermal train: [{'#' * int(30 * done / total)}{'.' * (30 - int(30 * done / total))}]"
                f" {done}/{total} cases ({info.get('kind', '')}, {info.get('dofs', 0):,} DOFs)")
        if self.enabled:
            self.show(text)
        elif done == total or (10 * done) // total > (10 * (done - 1)) // total:
            sys.stderr.write(text + "\n")  # a log file still sees the run advance


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
    lines += [f"{b.names[i]:<20} {b.max_K[i]:9.2f} {b.mean_K[i]:9.2f} {b.min_K[i]:9.2f}" for i in shown]
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
    from .solve import MAX_DOFS, meshed_to_prediction, predictor, start_mesh

    rects = fp.rects
    spread = power_load(fp, power)
    m = start_mesh(fp, stack, "ml")
    predictor = predictor("ml", model) if model is not None or _has_shipped_model() else \
        predictor("heuristic", None)
    prediction = predictor.predict(fp, spread, stack, args.tolerance)
    from .critical import resolved

    regions = resolved(fp, args.tolerance, stack.critical)
    sized, _ = meshed_to_prediction(m, prediction, fp, regions, args.tolerance, MAX_DOFS)
    from . import plot
    from .solution import writing_into

    r = prediction.raster
    with writing_into(args.out) as tmp:
        plot.plot_mesh(tmp / "mesh.png", sized.points, sized.triangles, rects, fp.names,
                       footprints=[tuple(r) for r in sized.layer_rects],
                       title=f"{predictor.name} mesh for {args.tolerance} K: {sized.n_triangles} "
                             f"triangles (initial {m.n_triangles})")
        plot.plot_prediction(tmp / "predicted.png", (r.x0, r.y0, r.x0 + r.nx * r.dx, r.y0 + r.ny * r.dy),
                             prediction.size_m, prediction.rise_K, stack.ambient_K, rects,
                             prediction.hotspots(5), title=f"{predictor.name} prediction")
    q = sized.quality()
    print(f"{predictor.name} mesh: {sized.n_nodes} nodes, {sized.n_triangles} triangles "
          f"(initial {m.n_triangles}), min angle {q['min_angle_deg']:.1f}°, max aspect ratio "
          f"{q['max_aspect_ratio']:.2f}; wrote {args.out}/mesh.png predicted.png")
    return 0


def _has_shipped_model() -> bool:
    from .solve import shipped_model_exists

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
        args, unknown = build_parser().parse_known_args(argv)
        if args.command is None:
            raise InputError("a command is required: solve, mesh, transient or train (see thermal --help)")
        if args.command == "transient":
            raise InputError(f"'thermal {args.command}' is not available yet")
        if unknown:
            raise InputError(f"unrecognized arguments: {' '.join(unknown)}")
        handler = {"solve": _cmd_solve, "mesh": _cmd_mesh, "train": _cmd_train}[args.command]
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


def _one_line(text: str) -> str:
    return " ".join(text.split())
