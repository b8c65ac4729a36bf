"""The tutorial notebooks run from top to bottom without an error, and are stored without outputs.

Each notebook is executed in a fresh ``python3`` kernel with ``notebooks/`` as its working
directory, as a reader opening it in Jupyter would. Needs nbformat, nbclient and ipykernel
(the ``test`` extra); without them the tests fail, they do not skip.
"""

from __future__ import annotations

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


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_runs(path: Path):
    nbformat = _require("nbformat")
    _require("ipykernel")
    nbclient = _require("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed\n{exc}", pytrace=False)
