"""Every command block of README.md runs as written (issue 20): its shell commands (the install
lines excepted: CI runs those) and its Python, from a scratch folder that sees the shipped
floorplans/ as the README's commands do."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(sh|python)\n(.*?)```", README, flags=re.S)


def _commands(text: str) -> list[str]:
    """The shell commands of a block: continuation lines joined, install lines and the test
    run left out (CI runs exactly those)."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("&&")]
        parts = [p for p in parts if not p.startswith(("pip ", "python -m pytest", "ruff "))]
        out += parts
    return out


SHELL = [c for kind, text in BLOCKS if kind == "sh" for c in _commands(text)]
PYTHON = [text for kind, text in BLOCKS if kind == "python"]


def test_the_readme_has_its_blocks():
    assert len(SHELL) >= 6 and len(PYTHON) >= 1
    assert all(c.startswith("thermal ") for c in SHELL), SHELL
    first = BLOCKS[0][1].splitlines()
    assert first[0].startswith("pip install -e . && thermal solve ")
    assert first[1].startswith("pip install -e '.[test]' && ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert first[0].split("&& ")[1].split(" --out")[0] in ci  # CI runs the README's first line


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    here = tmp_path_factory.mktemp("readme")
    (here / "floorplans").symlink_to(ROOT / "floorplans")
    return here


def test_shell_commands_run(scratch):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for command in SHELL:
        argv = [sys.executable, "-m", "thermal", *shlex.split(command)[1:]]
        r = subprocess.run(argv, cwd=scratch, capture_output=True, text=True, env=env,
                           timeout=600)
        assert r.returncode == 0, f"{command}\n{r.stderr}"
        assert "Traceback" not in r.stderr, command


def test_python_blocks_run(scratch):
    for code in PYTHON:
        r = subprocess.run([sys.executable, "-c", code], cwd=scratch, capture_output=True,
                           text=True, env={**os.environ, "MPLBACKEND": "Agg"}, timeout=600)
        assert r.returncode == 0, f"{code}\n{r.stderr}"
