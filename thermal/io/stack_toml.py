"""thermal's native stack file (TOML, SPEC §3), read into and written from
:class:`thermal.stack.Stack`.

The file is parsed with :mod:`tomllib` (``tomli`` on Python 3.10); the tables are checked by
:meth:`Stack.from_dict <thermal.stack.Stack.from_dict>`, which names the line of each offending
key from a line scan of the text (:func:`key_lines`). The ``[leakage]`` table is read by
:func:`thermal.leakage.from_stack_file` through :func:`load`.

Examples
--------
>>> import pathlib, tempfile
>>> from thermal.stack import Stack
>>> f = pathlib.Path(tempfile.mkdtemp()) / "stack.toml"
>>> write(f, Stack.default())
>>> read(f) == Stack.default()
True
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib

from ..errors import InputError
from ..stack import Stack
from .text import read_text, write_atomic

__all__ = ["read", "write", "dumps", "key_lines", "load"]


def read(path: str | os.PathLike) -> Stack:
    """Read a native stack TOML file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Stack

    Raises
    ------
    InputError
        TOML syntax errors (with the line and column), and everything
        :meth:`Stack.from_dict <thermal.stack.Stack.from_dict>` refuses, at the key's line.
    """
    file = os.fspath(path)
    text = read_text(file, "stack")
    return Stack.from_dict(_parsed(text, file), path=file, lines=key_lines(text))


def _parsed(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise InputError("TOML nesting too deep: arrays or tables nested beyond Python's "
                         "recursion limit", file=file) from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", msg)
        line = None
        if m:
            line = int(m.group(1))
            msg = msg[:m.start()] + msg[m.end():] + f" (column {m.group(2)})"
        else:
            msg = re.sub(r"\s*\(at end of document\)", "", msg) + " (at the end of the file)"
        raise InputError(f"TOML syntax error: {msg}", file=file, line=line) from None


def load(path: str | os.PathLike) -> dict[str, Any] | None:
    """The parsed tables of a stack TOML file, unchecked, or None when it cannot be read or
    parsed (:func:`read` reports why)."""
    try:
        with open(os.fspath(path), "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, RecursionError):
        return None


def dumps(stack: Stack) -> str:
    """The effective stack (:meth:`Stack.to_dict <thermal.stack.Stack.to_dict>`) as the text of
    a native TOML file, every digit of each number kept."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        return repr(float(v))

    d = stack.to_dict()
    out = [f"ambient = {value(d['ambient'])}            # K"]
    for layer in d["layer"]:
        out += ["", "[[layer]]"] + [f"{k} = {value(v)}" for k, v in layer.items()]
    out += ["", "[convection]"] + [f"{k} = {value(v)}" for k, v in d["convection"].items()]
    if "critical" in d:
        out += ["", "[critical]"] + [f"{json.dumps(k, ensure_ascii=False)} = {value(v)}"
                                     for k, v in d["critical"].items()]
    for region in d.get("critical_region", []):
        out += ["", "[[critical_region]]"] + [f"{k} = {value(v)}" for k, v in region.items()]
    return "\n".join(out) + "\n"


def write(path: str | os.PathLike, stack: Stack) -> None:
    """Write :func:`dumps` of ``stack`` to ``path``, atomically.

    Raises
    ------
    InputError
        The file cannot be written.
    """
    write_atomic(path, dumps(stack))


_HEADER_RE = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_\-."' ]+?)\s*\]\]?\s*(#.*)?$""")
_KEY_RE = re.compile(r"""^\s*(["']?)([A-Za-z0-9_\-]+)\1\s*=""")


def key_lines(text: str) -> dict[str, int]:
    """1-based line of each table header and key: ``layer.0``, ``layer.0.size``, ``ambient``...

    A line scan, good enough for messages (tomllib keeps no positions): ``[[name]]`` headers
    count array entries, dotted and inline-table keys map to their enclosing table.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        m = _HEADER_RE.match(line)
        if m:
            name = m.group(2).replace('"', "").replace("'", "").replace(" ", "")
            if m.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}.{counts[name]}"
            else:
                table = name
            lines.setdefault(table, number)
            lines.setdefault(name, number)
            continue
        m = _KEY_RE.match(line)
        if m:
            lines.setdefault(f"{table}.{m.group(2)}" if table else m.group(2), number)
    return lines
