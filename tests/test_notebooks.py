"""The tutorial notebooks run from top to bottom without an error, leave no file behind, use only
thermal's public API, and are stored without outputs.

Each notebook is executed in a fresh ``python3`` kernel with ``notebooks/`` as its working
directory, as a reader opening it in Jupyter would. Needs nbformat, nbclient and ipykernel
(the ``test`` extra); without them the tests fail, they do not skip.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as exc:
        missing = exc
    pytest.fail(f"the notebook tests need {module} ({missing}); install the test extra: "
                f"pip install -e '.[test]' (nbformat, nbclient, ipykernel)", pytrace=False)


def _importable(module: str) -> bool:
    """``thermal.x`` is a module of the thermal package under test (not of another copy that
    an editable install's import hook could reach)."""
    import importlib.util

    import thermal

    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return False
    return spec is not None and spec.origin is not None and \
        Path(spec.origin).parent == Path(thermal.__file__).parent


def test_notebooks_found():
    assert NOTEBOOK_FILES, f"no notebooks found in {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path: Path):
    nbformat = _require("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    executed = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                and (cell.outputs or cell.execution_count is not None)]
    assert not executed, f"{path.name}: code cells {executed} keep outputs; clear them before committing"


def test_the_five_tutorials_are_there():
    """04 (transient and leakage) runs where thermal.transient exists (its metadata says so)."""
    names = [p.stem for p in NOTEBOOK_FILES]
    for prefix in ("01_quickstart", "02_adaptive", "03_custom_stack", "04_transient",
                   "05_design_sweep"):
        assert any(n.startswith(prefix) for n in names), (prefix, names)


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_uses_only_the_public_api(path: Path):
    """No private name of thermal (``thermal.x._y``, ``from thermal.x import _y``)."""
    nbformat = _require("nbformat")
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert not re.search(r"\bthermal(\.\w+)*\._(?!_)\w", code), path.name
    assert not re.search(r"from thermal[\w.]* import[^\n]*\b_\w", code), path.name
    assert "from thermal.cli import" not in code, path.name


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path, monkeypatch):
    """Runs to the end, and leaves nothing behind: neither beside the notebooks nor in the
    temporary directory (the kernel gets an empty one of its own)."""
    nbformat = _require("nbformat")
    _require("ipykernel")
    nbclient = _require("nbclient")
    nb = nbformat.read(path, as_version=4)
    missing = [m for m in nb.metadata.get("thermal", {}).get("needs", []) if not _importable(m)]
    if missing:  # a tutorial of a module this checkout does not have yet
        pytest.skip(f"{path.name} needs {', '.join(missing)}")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))  # the kernel and its children inherit it
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed\n{exc}", pytrace=False)
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before
    assert sorted(p.name for p in private_tmp.iterdir()) == [], f"{path.name} left files behind"
