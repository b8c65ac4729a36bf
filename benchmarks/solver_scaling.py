"""Solver scaling on uniform meshes of ev6 on the 3-layer stack.

For each uniform refinement level of the shipped ev6 floorplan (gcc mean power) on
``floorplans/ev6_3layer.toml`` this measures, in a fresh process per level:

- the time to refine onto that level (mesh, node and DOF prolongations) and to assemble it,
- the production linear solve: conjugate gradients preconditioned by geometric multigrid over
  the nested levels (``solve_linear(method="gmg")``), time and iterations,
- for comparison, pyamg smoothed aggregation on the matrix alone (``method="amg"``) and a
  direct SuperLU factorisation (``method="direct"``, small levels only),
- the peak memory of the production path at that level: the growth of the process's peak
  resident set size from just before the coarsest mesh is built to just after the multigrid
  solve and the block statistics, i.e. every coarser mesh and matrix, the fine mesh, its
  assembly, the multigrid hierarchy and the solve (see :func:`peak_rss_mib` for how),
- the error of every block's max and mean temperature on the power layer against the
  cosine-series exact solution (``thermal.gallery``) on the same, snapped, geometry.

The comparison solves run after the memory reading, so they do not enter it. Solve times
include each solver's setup (the hierarchy, or the factorisation). The output is a Markdown
table, the environment and command line, and a verdict on the issue's goal: 1e6 unknowns
solved in under 5 s and 2 GiB.

Usage::

    python benchmarks/solver_scaling.py                 # levels 1..5, up to ~1.7M DOFs
    python benchmarks/solver_scaling.py --quick         # levels 1..3, up to ~1e5 DOFs, seconds
    python benchmarks/solver_scaling.py --max-dofs 5e5 --skip-amg-above 2e5
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling harness, when imported
from harness import DASH, ROOT, blas_description, environment, fastest  # noqa: E402
from harness import load_average as _load_average  # noqa: E402

FLOORPLAN = ROOT / "floorplans" / "ev6.flp"
PTRACE = ROOT / "floorplans" / "gcc.ptrace"
STACK = ROOT / "floorplans" / "ev6_3layer.toml"

GOAL_DOFS = 1_000_000
GOAL_SOLVE_S = 5.0
GOAL_MIB = 2048.0
QUICK_MAX_DOFS = 120_000


def load_case():
    """The benchmark problem: ev6, gcc's mean power, the 3-layer stack.

    Returns
    -------
    stack : Stack
    power_w : (B,) block powers in floorplan order, W
    die : (x0, y0, x1, y1) in m
    layer_boxes : (L, 4) layer footprints, (x0, y0, x1, y1)
    block_rects : (B, 4) blocks as (left, bottom, width, height)
    """
    import thermal
    from thermal.power import power_vector
    from thermal.stack import Stack

    floorplan = thermal.read_floorplan(FLOORPLAN)
    power_w = power_vector(floorplan, thermal.read_ptrace(PTRACE).mean())
    stack = Stack.read(STACK)
    die = tuple(float(v) for v in floorplan.bounds)
    layer_boxes = np.array([stack.footprint(i, die) for i in range(len(stack.layers))])
    block_rects = np.c_[floorplan.left_m, floorplan.bottom_m, floorplan.width_m,
                        floorplan.height_m]
    return stack, power_w, die, layer_boxes, block_rects


def coarsest_mesh(layer_boxes, block_rects, die):
    """Level 0: the uniform strategy's initial mesh (size bound 1/24 of the die's shorter side)."""
    from thermal.mesh import initial_mesh
    from thermal.strategies import _die_size_fn

    return initial_mesh(block_rects, layer_boxes, size_fn=_die_size_fn(die))


def _proc_status_mib(field: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux) in MiB, None where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss() -> tuple[float, str]:
    """Start a new peak-RSS measurement; returns the baseline in MiB and how it is measured.

    On Linux the mm's high-water mark is reset to the current RSS (``clear_refs`` 5) and the
    baseline is the current RSS. ``getrusage(RUSAGE_SELF).ru_maxrss`` is no use in a spawned
    child: Linux carries the high-water mark across ``fork`` + ``exec``, so the child starts
    with its parent's peak (measured: 505 MiB in a fresh child of a 500 MiB parent). Elsewhere
    it falls back to ``ru_maxrss``, which then only counts growth past the earlier peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        current = _proc_status_mib("VmRSS")
        if current is not None:
            return current, ("`VmHWM` of `/proc/self/status` after resetting the high-water mark "
                             "with `/proc/self/clear_refs` at the baseline (not `ru_maxrss`, "
                             "which a spawned child inherits from its parent on Linux)")
    except OSError:
        pass
    return peak_rss_mib(), "`getrusage(RUSAGE_SELF).ru_maxrss` (growth past the earlier peak)"


def peak_rss_mib() -> float:
    """Peak resident set size of this process since :func:`reset_peak_rss`, MiB.

    ``VmHWM`` of ``/proc/self/status`` on Linux, else ``getrusage(RUSAGE_SELF).ru_maxrss``
    (KiB on Linux, bytes on macOS).
    """
    hwm = _proc_status_mib("VmHWM")
    if hwm is not None:
        return hwm
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024.0


def timed_solve(matrix, rhs, method: str, coarse=None, repeat: int = 1) -> dict:
    """Run ``solve_linear`` (``repeat`` times, the fastest counts) and describe the outcome.

    Returns
    -------
    dict
        ``x`` (or None), ``seconds``, ``iterations``, ``residual_rel``, ``method`` (the one that
        produced ``x``: ``solve_linear`` falls back to another solver when one fails) and
        ``error`` (the message of a ``SolverError``, else None).
    """
    from thermal.errors import SolverError
    from thermal.linear import solve_linear

    t = time.perf_counter()
    try:
        (x, info), seconds = fastest(repeat, solve_linear, matrix, rhs, method=method,
                                     coarse=coarse)
    except SolverError as exc:
        return {"x": None, "seconds": time.perf_counter() - t, "iterations": None,
                "residual_rel": None, "method": method, "error": str(exc)}
    return {"x": x, "seconds": seconds, "iterations": info["iterations"],
            "residual_rel": info["residual_rel"], "method": info["method"], "error": None}


def refined_level(mesh, coarse_node2dof: np.ndarray, n_layers: int):
    """The next uniform level and the multigrid prolongation onto its unknowns.

    Returns
    -------
    fine : Mesh
        ``refined_uniform(mesh)``.
    prolongation : (n_fine, n_coarse) csr_matrix
        From the unknowns numbered by ``coarse_node2dof`` to those of ``fine``.
    """
    from thermal.assemble import dof_numbering
    from thermal.refine import node_prolongation, refined_uniform
    from thermal.linear import dof_prolongation

    fine = refined_uniform(mesh)
    prolongation = dof_prolongation(node_prolongation(mesh), dof_numbering(fine, n_layers),
                                    coarse_node2dof)
    return fine, prolongation


def measure_level(level: int, amg_max_dofs: float, direct_max_dofs: float,
                  repeat: int = 1) -> dict:
    """Build uniform level ``level`` as production does, solve it, and time everything.

    Meant to run in a fresh process (memory is the growth of this process's peak RSS).

    Parameters
    ----------
    level : int
        Uniform refinements of the initial mesh.
    amg_max_dofs, direct_max_dofs : float
        The AMG-SA and direct comparisons run only up to these many unknowns.
    repeat : int
        Refinement onto the level, its assembly and every solve are repeated this many times
        and the fastest counts.

    Returns
    -------
    dict
        ``level``, ``triangles``, ``dofs``, ``refine_s``, ``assemble_s``, ``gmg``, ``amg``,
        ``direct`` (results of :func:`timed_solve` without ``x``; None when not run),
        ``block_max_K``, ``block_mean_K`` (FEM block statistics on the power layer, absolute),
        ``baseline_mib``, ``peak_mib`` (growth of the peak RSS over the production path),
        ``max_diff_K`` (largest difference of the comparison solutions from the multigrid one),
        ``memory_method`` (see :func:`reset_peak_rss`) and ``blas`` (:func:`blas_description`).
    """
    from thermal.assemble import assemble
    from thermal.fields import block_stats, layer_fields

    stack, power_w, die, layer_boxes, block_rects = load_case()
    n_layers = len(stack.layers)
    baseline, memory_method = reset_peak_rss()

    mesh = coarsest_mesh(layer_boxes, block_rects, die)
    system, assemble_s = fastest(repeat if level == 0 else 1, assemble, mesh, stack, power_w,
                                 None, die)
    refine_s = 0.0
    coarse: list = []  # (prolongation onto the next finer level, matrix), finest first
    for finer in range(1, level + 1):
        times = repeat if finer == level else 1
        (mesh, prolongation), refine_s = fastest(times, refined_level, mesh, system.node2dof,
                                                 n_layers)
        coarse.insert(0, (prolongation, system.matrix))
        del system, prolongation
        system, assemble_s = fastest(times, assemble, mesh, stack, power_w, None, die)

    gmg = timed_solve(system.matrix, system.rhs, "gmg", coarse, repeat)
    power_layer = stack.power_layers[0]
    hi = mean = np.full(len(power_w), np.nan)
    if gmg["x"] is not None:
        hi, mean, _ = block_stats(mesh, layer_fields(system, gmg["x"])[power_layer])
    peak = peak_rss_mib() - baseline

    result = {"level": level, "triangles": mesh.n_triangles, "dofs": system.n_dofs,
              "refine_s": refine_s, "assemble_s": assemble_s,
              "block_max_K": hi + stack.ambient_K, "block_mean_K": mean + stack.ambient_K,
              "baseline_mib": baseline, "peak_mib": peak, "max_diff_K": 0.0,
              "memory_method": memory_method, "blas": blas_description()}
    x_gmg = gmg.pop("x")
    result["gmg"] = gmg
    del coarse
    for name, max_dofs in (("amg", amg_max_dofs), ("direct", direct_max_dofs)):
        other = None
        if system.n_dofs <= max_dofs:
            other = timed_solve(system.matrix, system.rhs, name, repeat=repeat)
            x = other.pop("x")
            if x is not None and x_gmg is not None:
                result["max_diff_K"] = max(result["max_diff_K"], float(np.abs(x - x_gmg).max()))
        result[name] = other
    return result


def measure_in_fresh_process(level: int, *args) -> dict:
    """:func:`measure_level` in a newly spawned interpreter, so that its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(measure_level, level, *args).result()
    except BrokenProcessPool:
        return {"level": level, "crashed": True}


def exact_block_values(die, stack, power_w, snapped_boxes):
    """Exact block max and mean (K, absolute) on the power layer for the snapped geometry."""
    from thermal.gallery import exact_solution

    r = snapped_boxes
    exact = exact_solution(die, np.c_[r[:, 0], r[:, 1], r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]],
                           power_w, [(layer.thickness_m, layer.conductivity)
                                     for layer in stack.layers],
                           h=stack.h_bottom(die), ambient_K=stack.ambient_K,
                           power_layer=stack.power_layers[0])
    return exact.block_max(), exact.block_mean()


def solver_cell(result: dict | None, wanted: str) -> tuple[str, str]:
    """Time and iteration cells of one solver: a dash when not run, the failure when it failed,
    and the solver that actually answered when ``solve_linear`` fell back to another."""
    if result is None:
        return DASH, DASH
    if result["error"] is not None:
        return "failed", DASH
    seconds = f"{result['seconds']:.2f}"
    if result["method"] != wanted:
        seconds += f" (fell back to {result['method']})"
    iterations = str(result["iterations"]) if result["method"] != "direct" else DASH
    return seconds, iterations


def table(results: list[dict], exact_max: np.ndarray, exact_mean: np.ndarray) -> str:
    """The Markdown table of all levels."""
    header = ["level", "triangles", "DOFs", "refine s", "assemble s", "GMG-CG solve s",
              "GMG-CG its", "AMG-SA solve s", "AMG-SA its", "direct solve s", "peak RSS MiB",
              "max err block max K", "max err block mean K"]
    rows = []
    for r in results:
        if r.get("crashed"):
            rows.append([str(r["level"]), "process died (out of memory?)"] + [DASH] * 11)
            continue
        gmg_s, gmg_its = solver_cell(r["gmg"], "gmg")
        amg_s, amg_its = solver_cell(r["amg"], "amg")
        direct_s, _ = solver_cell(r["direct"], "direct")
        err_max = np.nanmax(np.abs(r["block_max_K"] - exact_max))
        err_mean = np.nanmax(np.abs(r["block_mean_K"] - exact_mean))
        rows.append([str(r["level"]), f"{r['triangles']:,}", f"{r['dofs']:,}",
                     f"{r['refine_s']:.2f}", f"{r['assemble_s']:.2f}", gmg_s, gmg_its, amg_s,
                     amg_its, direct_s, f"{r['peak_mib']:,.0f}", f"{err_max:.2e}",
                     f"{err_mean:.2e}"])
    align = ["---:"] * len(header)
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, align] + rows)


def verdict(results: list[dict]) -> str:
    """Whether the level closest to ``GOAL_DOFS`` (in log scale, and within a factor 2 of it)
    met the time and memory goal."""
    done = [r for r in results if not r.get("crashed")]
    if not done:
        return "Goal: no level completed."
    r = min(done, key=lambda r: abs(math.log(r["dofs"] / GOAL_DOFS)))
    if not GOAL_DOFS / 2 <= r["dofs"] <= 2 * GOAL_DOFS:
        return (f"Goal (1e6 DOFs solved in < {GOAL_SOLVE_S:g} s and < 2 GiB): not assessed, no "
                f"level within a factor 2 of 1e6 DOFs (closest: {r['dofs']:,}).")
    solve_s, peak = r["gmg"]["seconds"], r["peak_mib"]
    ok = r["gmg"]["error"] is None and r["gmg"]["method"] == "gmg"
    fast, small = ok and solve_s < GOAL_SOLVE_S, peak < GOAL_MIB
    met = "MET" if fast and small else "NOT MET"
    return (f"Goal (1e6 DOFs solved in < {GOAL_SOLVE_S:g} s and < 2 GiB): {met} by level "
            f"{r['level']} ({r['dofs']:,} DOFs, the level closest to 1e6): GMG-CG solve "
            f"{solve_s:.2f} s ({'<' if fast else 'not <'} {GOAL_SOLVE_S:g} s), peak RSS growth "
            f"{peak:,.0f} MiB ({'<' if small else 'not <'} {GOAL_MIB:,.0f} MiB); refine + "
            f"assemble + solve of that level {r['refine_s'] + r['assemble_s'] + solve_s:.2f} s.")


def notes(results: list[dict], n_blocks: int, direct_max: int, skip_amg_above: int,
          repeat: int) -> list[str]:
    """Footnotes: how memory was measured, solver tolerances, agreement between solvers."""
    done = [r for r in results if not r.get("crashed")]
    residuals = [s["residual_rel"] for r in done for s in (r["gmg"], r["amg"], r["direct"])
                 if s is not None and s["residual_rel"] is not None]
    baseline = max((r["baseline_mib"] for r in done), default=float("nan"))
    memory_method = done[0]["memory_method"] if done else "?"
    worst_residual = max(residuals, default=float("nan"))
    worst_diff = max((r["max_diff_K"] for r in done), default=0.0)
    lines = [
        f"- Peak memory: growth of the peak RSS, {memory_method}, in a freshly spawned process "
        "per level, from just before the coarsest mesh to just after the GMG-CG solve and "
        "block statistics (all coarser meshes and matrices, the fine mesh and assembly, the "
        "multigrid hierarchy, the solve). Baseline RSS of the process before that "
        f"(interpreter, numpy, scipy, thermal): {baseline:.0f} MiB, not counted. AMG and "
        "direct run after the reading and are not in it.",
        "- Solve times include setup (multigrid hierarchy, SA aggregation, or factorisation). "
        f"Refine, assemble and solve times are the fastest of {repeat} run(s). Iterative "
        "solves aim at relative residual 1e-11 (`solve_linear`'s default) and accept up to "
        f"1e-9; largest relative residual reached by any solve: {worst_residual:.1e}.",
        f"- Direct (SuperLU, COLAMD) only up to {direct_max:,} DOFs; AMG-SA skipped above "
        f"{skip_amg_above:,} DOFs ({DASH}).",
        f"- Errors: largest |FEM − exact| over the {n_blocks} blocks of the block max and the "
        "block mean on the power layer (K); exact = cosine series of `thermal.gallery` "
        "(~1e-4 K for block max, ~1e-6 K for means) on the snapped block geometry.",
        f"- Largest |x_AMG − x_GMG| or |x_direct − x_GMG| at any DOF: {worst_diff:.1e} K.",
    ]
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-dofs", type=float, default=2.0e6,
                        help="stop before a level would pass this many unknowns "
                             "(default 2e6: through level 5, 1.7M DOFs)")
    parser.add_argument("--quick", action="store_true",
                        help=f"stop around 1e5 DOFs (max-dofs {QUICK_MAX_DOFS:,}) with one "
                             "BLAS thread; seconds")
    parser.add_argument("--first-level", type=int, default=1,
                        help="first uniform level to measure (default 1, ~7e3 DOFs)")
    parser.add_argument("--skip-amg-above", type=float, default=1.0e6,
                        help="run the AMG-SA comparison only up to this many DOFs (default 1e6)")
    parser.add_argument("--direct-max", type=float, default=150_000,
                        help="run the direct comparison only up to this many DOFs "
                             "(default 150000)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="repeat refinement, assembly and each solve of the measured level "
                             "this many times and report the fastest (default 1)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS/OpenMP threads of the measuring processes (default: the "
                             "libraries' own choice, as in production; 1 with --quick, where "
                             "OpenBLAS threads spinning on a busy 2-core machine made AMG-SA's "
                             "dense coarse solve up to 10x slower)")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_dofs = min(args.max_dofs, QUICK_MAX_DOFS)
        if args.blas_threads is None:
            args.blas_threads = 1
    return args


def main(argv=None) -> int:
    """Measure every level, print the report on stdout and progress on stderr.

    Returns 1 when a measuring process died or the production (GMG-CG) solve failed, else 0.
    """
    args = parse_args(argv)
    t_start, load_start = time.perf_counter(), _load_average()
    started = time.strftime("%Y-%m-%d %H:%M")
    stack, power_w, die, layer_boxes, block_rects = load_case()
    snapped = coarsest_mesh(layer_boxes, block_rects, die).block_rects
    exact_max, exact_mean = exact_block_values(die, stack, power_w, snapped)

    if args.blas_threads is not None:  # read by the spawned processes when numpy loads
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.blas_threads)
    results: list[dict] = []
    level = args.first_level
    while True:
        print(f"level {level}: measuring ...", file=sys.stderr, flush=True)
        r = measure_in_fresh_process(level, args.skip_amg_above, args.direct_max, args.repeat)
        results.append(r)
        if r.get("crashed"):
            print(f"level {level}: the measuring process died", file=sys.stderr, flush=True)
            break
        print(f"level {level}: {r['dofs']:,} DOFs, assemble {r['assemble_s']:.2f} s, GMG-CG "
              f"{r['gmg']['seconds']:.2f} s, peak {r['peak_mib']:,.0f} MiB "
              f"({time.perf_counter() - t_start:.0f} s so far)", file=sys.stderr, flush=True)
        if 4 * r["dofs"] > args.max_dofs:  # red refinement: ~4x the unknowns per level
            break
        level += 1

    command = "python " + shlex.join([os.path.relpath(sys.argv[0], Path.cwd())]
                                     + (sys.argv[1:] if argv is None else list(argv)))
    print("## Solver scaling: uniform meshes of ev6 (gcc mean power) on the 3-layer stack\n")
    print(f"Command: `{command}`  ")
    blas = next((r["blas"] for r in results if not r.get("crashed")), "BLAS unknown")
    print(f"Environment: {environment(blas)}  ")
    print(f"Run {started}; 1-minute load average {load_start} at the start, "
          f"{_load_average()} at the end (the machine's other users share its CPUs)\n")
    print(table(results, exact_max, exact_mean))
    print()
    print("\n".join(notes(results, len(exact_max), int(args.direct_max),
                         int(args.skip_amg_above), args.repeat)))
    print()
    print(verdict(results))
    print(f"\nTotal wall time: {time.perf_counter() - t_start:.0f} s", file=sys.stderr)
    failed = [r for r in results if r.get("crashed") or r["gmg"]["error"] is not None]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
