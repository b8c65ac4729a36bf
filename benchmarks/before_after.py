"""Before and after a structural change: the same DOFs and peaks, the import graph, line counts.

Issue 18 restructures the package with behaviour unchanged. This script shows it against a
baseline revision (default ``81f52dc``, the commit before the restructuring branches):

1. Every benchmark's cases at small sizes, solved by the baseline's code and by this tree's, each
   in a fresh interpreter (``PYTHONPATH`` set to the tree, run from its root): the final DOFs,
   the peak temperature and a digest of the whole temperature field, side by side.
2. The import graph of ``thermal/`` (from ``ast``, no import): the package modules each module
   imports at import time, and the cycles (strongly connected components) of that graph and of
   the graph that counts imports inside functions too, for both trees (``from . import x``
   counts as importing ``x``, not the package's ``__init__``: ``from . import __version__``
   reads an attribute of the package, loaded before any of its modules).
3. Lines per module, both trees.

Usage::

    python benchmarks/before_after.py                    # baseline 81f52dc
    python benchmarks/before_after.py --base HEAD~3 --out -

The baseline is exported with ``git archive`` into a temporary folder. The report goes to stdout
and, unless ``--out -``, to ``benchmarks/results/structure.md``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import RESULTS, ROOT, markdown_table

BASE = "81f52dc"

WORKER = r'''
import hashlib, json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import thermal
from thermal.inputs import load_inputs
from thermal.power import power_vector

def digest(a):
    return hashlib.sha256(np.ascontiguousarray(np.nan_to_num(np.asarray(a, float))).tobytes()
                          ).hexdigest()[:10]

def steady(sol):
    return {"dofs": int(sol.history[-1]["dofs"]), "peak_K": float(sol.peak.temperature_K),
            "field": digest(sol.temperature_K)}

fp = thermal.read_floorplan("floorplans/ev6.flp")
gcc = thermal.read_ptrace("floorplans/gcc.ptrace")
stack3 = thermal.Stack.read("floorplans/ev6_3layer.toml")
power = power_vector(fp, gcc.mean())

def avu(key):
    sys.path.insert(0, "benchmarks")
    from adaptive_vs_uniform import CASES
    return CASES[key][1]()

def generated(seed, shared):
    from thermal.train import generate_case
    c = generate_case(seed, shared_footprint=shared, max_blocks=60)
    return c.floorplan, c.power, c.stack

def transient(strategy):
    from thermal.transient import prepare
    column = {n: i for i, n in enumerate(gcc.names)}
    rows = np.asarray(gcc.samples_w)[:3, [column[n] for n in fp.names]]
    run = prepare(fp, rows, stack3, sampling_interval=0.01, mesh=strategy)
    frames = list(run.frames())
    return {"dofs": int(run.n_dofs), "peak_K": float(max(f.block_max_K.max() for f in frames)),
            "field": digest(np.concatenate([f.block_max_K for f in frames]))}

def hotspot_config():
    f, p, s = load_inputs("floorplans/ev6.flp", "floorplans/gcc.ptrace",
                          config="floorplans/hotspot.config")
    return f, p, s

def two_die():
    d = "benchmarks/data/hotspot/two-die-3d/"
    return load_inputs(None, d + "example.ptrace", config=d + "example.config",
                       layers=d + "example.lcf", materials=d + "example.materials")

def power_map():
    return fp, thermal.read_power_map("floorplans/ev6_gcc_map.csv", extent=fp.bounds), stack3

CASES = [
    ("cli_time, README", "ev6 + gcc, HotSpot package", lambda: (fp, power, thermal.Stack.default()),
     ["auto"], {}),
    ("adaptive_vs_uniform, solver_scaling", "ev6 + gcc, 3-layer", lambda: (fp, power, stack3),
     ["uniform", "estimator", "heuristic", "ml"], {}),
    ("adaptive_vs_uniform", "random-40, 3-layer", lambda: (*avu("random-40"), stack3),
     ["estimator", "ml"], {}),
    ("adaptive_vs_uniform", "hot-spot, 3-layer", lambda: (*avu("hot-spot"), stack3),
     ["estimator", "ml"], {}),
    ("ml_mesh, oracle_mesh", "generated 10000000 (<= 60 blocks)",
     lambda: generated(10_000_000, True), ["heuristic", "ml", "estimator"], {}),
    ("size_safety, ml_ablation --package", "generated 20000000, package",
     lambda: generated(20_000_000, False), ["heuristic", "ml"], {}),
    ("power_map", "ev6 gcc power map, 3-layer", power_map, ["ml"], {}),
    ("vs_3d", "ev6 + gcc, 3-layer, sub-layers", lambda: (fp, power, stack3), ["ml"],
     {"sublayers": "auto"}),
    ("vs_hotspot", "ev6 + gcc, hotspot.config", hotspot_config, ["ml"], {}),
    ("hotspot_3d_link", "two-die-3d (.lcf)", two_die, ["ml"], {}),
    ("critical regions", "ev6 + gcc, 3-layer, IntReg_0 0.02 K", lambda: (fp, power, stack3),
     ["estimator", "ml"], {"critical": {"IntReg_0": 0.02}}),
]

for bench, label, load, strategies, extra in CASES:
    f, p, s = load()
    for strategy in strategies:
        t = time.perf_counter()
        out = steady(thermal.solve(f, p, s, mesh=strategy, **extra))
        print(json.dumps({"bench": bench, "case": label, "strategy": strategy,
                          "seconds": time.perf_counter() - t, **out}), flush=True)
t = time.perf_counter()
out = transient("ml")
print(json.dumps({"bench": "transient", "case": "ev6 + gcc, 3 rows of 10 ms, 3-layer",
                  "strategy": "ml", "seconds": time.perf_counter() - t, **out}), flush=True)
'''


def run_cases(tree: Path) -> list[dict]:
    """The worker's JSON lines, run in a fresh interpreter on ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    run = subprocess.run([sys.executable, "-c", WORKER], cwd=tree, env=env, capture_output=True,
                         text=True)
    if run.returncode != 0:
        raise SystemExit(f"before_after: the cases failed on {tree}:\n{run.stderr[-3000:]}")
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def cases_table(before: list[dict], after: list[dict]) -> tuple[str, bool]:
    rows, same = [], True
    for b, a in zip(before, after):
        equal = (b["dofs"], b["peak_K"], b["field"]) == (a["dofs"], a["peak_K"], a["field"])
        same &= equal
        rows.append([b["bench"], b["case"], b["strategy"], f"{b['dofs']:,}", f"{a['dofs']:,}",
                     f"{b['peak_K']:.9f}", f"{a['peak_K']:.9f}", b["field"], a["field"],
                     "yes" if equal else "**no**", f"{b['seconds']:.1f} / {a['seconds']:.1f}"])
    header = ["benchmark", "case", "strategy", "DOFs before", "DOFs after", "peak K before",
              "peak K after", "field before", "field after", "identical", "s before / after"]
    return markdown_table(header, rows, left=3), same and len(before) == len(after)


# ------------------------------------------------------------------------------------------
# Import graph and line counts


def modules(tree: Path) -> dict[str, Path]:
    """``thermal.x.y`` -> file, for every module of the package."""
    out = {}
    for path in sorted((tree / "thermal").rglob("*.py")):
        parts = path.relative_to(tree).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(tree: Path, top_level_only: bool) -> dict[str, set[str]]:
    """The package modules each module imports (at import time only, or anywhere)."""
    mods = modules(tree)
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree_ = ast.parse(path.read_text(), str(path))
        nodes = tree_.body if top_level_only else list(ast.walk(tree_))
        if top_level_only:  # imports under if/try at module level run at import time too
            nodes = [n for top in tree_.body for n in ast.walk(top)
                     if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            nodes += [n for top in tree_.body if isinstance(top, ast.ClassDef)
                      for n in top.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        found = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                if node.module:  # ``from . import x`` imports x, not the package's __init__
                    found.add(stem)
                found |= {f"{stem}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _short(name: str) -> str:
    return name.removeprefix("thermal.") or "thermal"


def graph_section(base: Path, tree: Path) -> list[str]:
    lines = []
    for label, top in (("at import time (module level)", True),
                       ("counting imports inside functions too", False)):
        for which, t in (("before", base), ("after", tree)):
            found = cycles(imports(t, top))
            text = ("none" if not found else
                    "; ".join("{" + ", ".join(_short(m) for m in c) + "}" for c in found))
            lines.append(f"- Cycles {label}, {which}: {text}")
    lines += ["", "Import graph after (module level; each module and the package modules it "
              "imports at import time):", "", "```"]
    graph = imports(tree, True)
    for name in sorted(graph):
        lines.append(f"{_short(name):<18} -> {', '.join(sorted(map(_short, graph[name]))) or '-'}")
    return lines + ["```"]


def line_counts(base: Path, tree: Path) -> str:
    before = {_short(n): len(p.read_text().splitlines()) for n, p in modules(base).items()}
    after = {_short(n): len(p.read_text().splitlines()) for n, p in modules(tree).items()}
    rows = [[n, f"{before[n]:,}" if n in before else "—", f"{after[n]:,}" if n in after else "—"]
            for n in sorted(set(before) | set(after))]
    rows.append(["**total**", f"{sum(before.values()):,}", f"{sum(after.values()):,}"])
    return markdown_table(["module", "lines before", "lines after"], rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BASE, help=f"baseline revision (default {BASE})")
    parser.add_argument("--out", default=str(RESULTS / "structure.md"),
                        help="report file, or - for stdout only")
    parser.add_argument("--no-cases", action="store_true", help="graph and line counts only")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip()
        lines = [f"## Structure before ({args.base}) and after ({commit})", "",
                 f"Command: `python benchmarks/before_after.py"
                 f"{' --base ' + args.base if args.base != BASE else ''}`; run {started}.", ""]
        if not args.no_cases:
            print("running the cases on the baseline ...", file=sys.stderr, flush=True)
            before = run_cases(base)
            print("running the cases on this tree ...", file=sys.stderr, flush=True)
            after = run_cases(ROOT)
            table, same = cases_table(before, after)
            lines += ["### DOFs and peak of every benchmark's cases (small sizes)", "",
                      "Each tree in its own fresh interpreter; `field` is a digest of the whole "
                      "temperature field (for the transient: every row's block maxima).", "",
                      table, "",
                      f"All identical: {'yes' if same else '**no**'}.", ""]
        lines += ["### Import graph of `thermal/`", ""] + graph_section(base, ROOT) + [""]
        lines += ["### Lines per module", "", line_counts(base, ROOT), ""]
    text = "\n".join(lines)
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
