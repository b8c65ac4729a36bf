"""The ``thermal`` command line: a thin layer over the library (SPEC.md §4).

A user's mistake prints one line ``thermal: error: FILE:LINE: message`` to stderr and exits with
status 2; a solver failure exits with status 1; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from .errors import InputError, InputWarning, SolverError

EXIT_USAGE = 2
EXIT_FAILURE = 1


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (status 2) instead of usage dumps."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise InputError(message)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="thermal", description="Adaptive-mesh thermal simulator for SoC floorplans.")
    p.add_argument("--version", action="version", version=f"thermal {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    s = sub.add_parser("solve", help="steady temperatures of a floorplan")
    _add_problem_args(s)
    s.add_argument("--mesh", default="auto",
                   choices=["auto", "ml", "estimator", "uniform", "ml+estimator"],
                   help="meshing strategy (default: the best available, now 'uniform')")
    s.add_argument("--tolerance", type=float, default=0.1,
                   help="target error of every block's max and mean, K (default 0.1)")
    s.add_argument("--critical", action="append", default=[], metavar="NAME[:KELVIN]",
                   help="tighter tolerance on a block (not available yet)")
    s.add_argument("--out", type=Path, default=None, help="output directory")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.add_argument("--steady-file", type=Path, default=None,
                   help="also write HotSpot's .steady format (block mean temperatures)")
    s.add_argument("--no-plots", action="store_true", help="skip heatmap.png and mesh.png")
    m = sub.add_parser("mesh", help="the initial mesh of a floorplan, with a plot")
    _add_problem_args(m)
    m.add_argument("--out", type=Path, required=True)
    for name in ("transient", "train"):
        sub.add_parser(name, help="not available yet", add_help=False).add_argument(
            "rest", nargs=argparse.REMAINDER)
    return p


def _add_problem_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("floorplan", type=Path, nargs="?", help="HotSpot .flp floorplan")
    s.add_argument("--power", type=Path, required=True, help="HotSpot .ptrace power trace")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--stack", type=Path, help="native stack TOML")
    g.add_argument("--config", type=Path, help="HotSpot .config")
    s.add_argument("--materials", type=Path, help="HotSpot .materials for --config")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a HotSpot config value (with --config), e.g. --set r_convec=0.2")
    s.add_argument("--layers", type=Path, help="HotSpot .lcf layer file (not available yet)")
    s.add_argument("--row", type=int, default=None, help="0-based power trace row (default: mean)")


def _load(args):
    """Floorplan, power and stack from the arguments."""
    from .floorplan import read_floorplan
    from .power import read_ptrace
    from .stack import Stack

    if args.layers is not None:
        raise InputError("--layers (HotSpot .lcf stacks) is not available yet", file=str(args.layers))
    if args.floorplan is None:
        raise InputError("a FLOORPLAN file is required")
    fp = read_floorplan(args.floorplan)
    trace = read_ptrace(args.power)
    power = trace.mean() if args.row is None else trace.row(args.row)
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.lstrip("-")] = value
    if overrides and args.config is None:
        raise InputError("--set applies to a HotSpot --config")
    if args.materials is not None and args.config is None:
        raise InputError("--materials applies to a HotSpot --config")
    if args.stack is not None:
        stack = Stack.read(args.stack)
    elif args.config is not None:
        stack = Stack.from_hotspot_config(args.config, materials=args.materials, overrides=overrides)
    else:
        stack = Stack.default()
    return fp, power, stack


class _Progress:
    """A one-line status on stderr, shown only on a terminal and once a run passes one second."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def __call__(self, info: dict) -> None:
        if not self.enabled or info["elapsed_s"] < 1.0:
            return
        est = info["estimate_K"]
        est_text = "—" if est == float("inf") else f"{est:.3g} K"
        sys.stderr.write(f"\rthermal: level {info['level']}: {info['dofs']:,} DOFs, "
                         f"error estimate {est_text}, {info['elapsed_s']:.1f} s   ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _cmd_solve(args) -> int:
    if args.critical:
        raise InputError("--critical is not available yet")
    _check_out(args.out)
    fp, power, stack = _load(args)
    from .solve import solve  # after the inputs are checked: bad input fails fast
    progress = _Progress(args.format == "text")
    try:
        sol = solve(fp, power, stack, mesh=args.mesh, tolerance=args.tolerance, progress=progress)
    finally:
        progress.close()
    if args.out is not None:
        sol.write(args.out, plots=not args.no_plots)
    if args.steady_file is not None:
        from .io.hotspot import write_steady

        write_steady(args.steady_file, sol.blocks.names, sol.blocks.mean_K)
    summary = sol.summary()
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


def _text_report(sol, out) -> str:
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
        lines += ["", f"wrote {out}/: blocks.csv summary.json field.vtu heatmap.png mesh.png"]
    return "\n".join(lines)


def _cmd_mesh(args) -> int:
    import numpy as np

    from .mesh import initial_mesh
    from .solve import _die_size_fn

    _check_out(args.out)
    fp, _, stack = _load(args)
    die = fp.bounds
    layer_rects = np.array([stack.footprint(l, die) for l in range(len(stack.layers))])
    rects = np.c_[fp.left_m, fp.bottom_m, fp.width_m, fp.height_m]
    m = initial_mesh(rects, layer_rects, size_fn=_die_size_fn(die))
    from . import plot

    args.out.mkdir(parents=True, exist_ok=True)
    plot.plot_mesh(args.out / "mesh.png", m.points, m.triangles, rects, fp.names,
                   footprints=[tuple(r) for r in m.layer_rects],
                   title=f"initial mesh: {m.n_triangles} triangles")
    q = m.quality()
    print(f"initial mesh: {m.n_nodes} nodes, {m.n_triangles} triangles, min angle "
          f"{q['min_angle_deg']:.1f}°, max aspect ratio {q['max_aspect_ratio']:.2f}; wrote {args.out}/mesh.png")
    return 0


def _check_out(out) -> None:
    """Refuse an output path that can't become a directory before any work is done."""
    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", file=str(out))
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"output directory is not writable ({parent})", file=str(out))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``thermal`` command; returns the exit status."""
    def show_warning(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if issubclass(category, InputWarning) or "thermal" in str(filename):
            print(f"thermal: warning: {text}", file=sys.stderr)

    warnings.showwarning = show_warning
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise InputError("a command is required: solve, mesh, transient or train (see thermal --help)")
        if args.command in ("transient", "train"):
            raise InputError(f"'thermal {args.command}' is not available yet")
        handler = {"solve": _cmd_solve, "mesh": _cmd_mesh}[args.command]
        return handler(args)
    except InputError as e:
        print(f"thermal: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except SolverError as e:
        print(f"thermal: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("thermal: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `thermal solve ... | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())
