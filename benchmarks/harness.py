"""What the benchmarks share: paths, timing side by side, Markdown tables, the run's
environment line, and the standard cases.

Importing it puts this checkout's root first on ``sys.path``, so that a benchmark measures the
``thermal`` beside it, not an installed copy. A benchmark imports it as a sibling module
(``python benchmarks/x.py`` puts ``benchmarks/`` on the path)::

    from harness import ROOT, interleaved, markdown_table

Timing: :func:`interleaved` runs the variants in turn, round by round, so that a change in the
machine's load falls on every variant alike, and reports the median of each; :func:`fastest`
takes the least disturbed of a few repeats of one variant.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
"""The checkout's root."""
FLOORPLANS = ROOT / "floorplans"
RESULTS = ROOT / "benchmarks" / "results"
DASH = "—"
"""A table cell with no value."""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------------------------------
# Timing


def fastest(repeat: int, fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` ``repeat`` times (at least once).

    Returns
    -------
    result
        What the last call returned.
    seconds : float
        The shortest wall time of the calls: on a shared machine the least disturbed one. Note
        that later calls run warm (memory already mapped by the allocator): a single call is
        what production pays, the fastest of several shows what the machine's load added.
    """
    best, result = math.inf, None
    for _ in range(max(repeat, 1)):
        result = None  # free the previous result first: repeats must not raise the peak RSS
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
    return result, best


def interleaved(variants: Mapping[str, Callable[[], object]], rounds: int,
                after_round: Callable[[int], None] | None = None) -> dict[str, dict]:
    """Time the ``variants`` side by side: each round calls every variant once, in order.

    Parameters
    ----------
    variants : mapping of name to a callable without arguments
    rounds : int
        Rounds (at least 1).
    after_round : callable, optional
        Called with the round's index after each round (progress).

    Returns
    -------
    dict
        Per name: ``seconds`` (list, one a round), ``median_s``, ``min_s``, ``max_s`` and
        ``result`` (what the last call returned).
    """
    out = {name: {"seconds": [], "result": None} for name in variants}
    for r in range(max(rounds, 1)):
        for name, fn in variants.items():
            t = time.perf_counter()
            out[name]["result"] = fn()
            out[name]["seconds"].append(time.perf_counter() - t)
        if after_round is not None:
            after_round(r)
    for v in out.values():
        s = v["seconds"]
        v.update(median_s=float(np.median(s)), min_s=min(s), max_s=max(s))
    return out


def median(values) -> float:
    """The median of ``values`` leaving out None, NaN and infinities; NaN when none is left."""
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(values)) if values else float("nan")


# ------------------------------------------------------------------------------------------
# Reports


def markdown_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A Markdown table, the first ``left`` columns left-aligned, the rest right-aligned."""
    align = [":--"] * left + ["--:"] * (len(header) - left)
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, align] + rows)


def cell(x: float | None, digits: int = 3) -> str:
    """A number in a table cell: a dash for missing, scientific when small."""
    if x is None or not np.isfinite(x):
        return DASH
    return f"{x:.{digits}f}" if abs(x) >= 10 ** -(digits - 1) else f"{x:.1e}"


def write_report(text: str, out: str | os.PathLike | None) -> None:
    """Print ``text`` and write it to ``out`` (nothing written for None or ``-``)."""
    print(text)
    if out is not None and str(out) != "-":
        Path(out).write_text(text if text.endswith("\n") else text + "\n")


def blas_description() -> str:
    """The BLAS library and its thread count as this process sees it (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS threads unknown (no threadpoolctl)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(f"{p['internal_api']} {p.get('version') or ''} with {p['num_threads']} "
                     f"thread(s)" for p in pools) or "no BLAS pool found"


def environment(blas: str) -> str:
    """One line: interpreter, library versions, CPUs, BLAS, and the git commit of the checkout."""
    import pyamg
    import scipy

    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return (f"python {platform.python_version()}, numpy {np.__version__}, scipy "
            f"{scipy.__version__}, pyamg {pyamg.__version__}; {blas}; {cpus} CPUs "
            f"({usable} usable); {platform.machine()} {platform.system()}; "
            f"commit {commit or 'unknown'}")


def load_average() -> str:
    """The 1-minute load average, or "unknown" where the platform has none."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


def source_digest() -> str:
    """A short hash of the package's sources: others may edit them while the benchmark runs."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "thermal").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# ------------------------------------------------------------------------------------------
# Standard cases


def random_case(n_blocks: int, seed: int):
    """Guillotine floorplan on a 12 mm x 10 mm die; 70% of the blocks active at a random density
    of 0–1 W/mm² (about 40 W in all, whatever the block count), the rest idle."""
    from thermal.floorplan import make_floorplan
    from thermal.gallery import slicing_rects

    rects = slicing_rects(n_blocks, seed)
    rng = np.random.default_rng(seed)
    density_w_m2 = 1e6 * rng.uniform(0.0, 1.0, n_blocks) * (rng.random(n_blocks) < 0.7)
    floorplan = make_floorplan([f"b{i}" for i in range(n_blocks)], *rects.T)
    return floorplan, density_w_m2 * rects[:, 2] * rects[:, 3]


def hot_spot_case():
    """A 10 mm die cut into 3 x 3 blocks whose middle one is 0.3 mm x 0.3 mm at 20 W/mm², 100x
    the 0.2 W/mm² of the others (22 W in all, the hot block 1.8 W)."""
    from thermal.floorplan import make_floorplan

    xs = [0.0, 4.0e-3, 4.3e-3, 10e-3]
    ys = [0.0, 5.0e-3, 5.3e-3, 10e-3]
    rects = np.array([(xs[j], ys[i], xs[j + 1] - xs[j], ys[i + 1] - ys[i])
                      for i in range(3) for j in range(3)])
    density_w_m2 = np.full(9, 2e5)
    density_w_m2[4] = 2e7
    names = [f"r{i}c{j}" for i in range(3) for j in range(3)]
    return make_floorplan(names, *rects.T), density_w_m2 * rects[:, 2] * rects[:, 3]


def shipped_case(floorplan: str, trace: str):
    """A shipped floorplan and the mean of its power trace."""
    import thermal
    from thermal.power import power_vector

    fp = thermal.read_floorplan(FLOORPLANS / floorplan)
    return fp, power_vector(fp, thermal.read_ptrace(FLOORPLANS / trace).mean())
