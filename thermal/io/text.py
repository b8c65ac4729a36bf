"""Plain-text plumbing every reader and writer of :mod:`thermal.io` shares.

:func:`read_text` turns a file that is missing, a directory, binary or not UTF-8 into one
:class:`~thermal.errors.InputError` naming the file and, where it applies, the 1-based line;
:func:`data_lines` splits it into fields without ``#`` comments; :func:`parse_number` reads one
number or names what it should have been; :func:`write_atomic` writes a file whole or not at all.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Iterable

from ..errors import InputError

__all__ = ["read_text", "data_lines", "parse_number", "suggest", "write_atomic"]




def read_text(path: str | os.PathLike, what: str) -> str:
    """The text of a user's input file, or one clear :class:`InputError`.

    Parameters
    ----------
    path : str or path-like
        The file.
    what : str
        What the file should be, for messages ("floorplan", "power trace", ...).

    Returns
    -------
    str
        The decoded text (UTF-8, a leading byte-order mark dropped).

    Raises
    ------
    InputError
        Missing, unreadable, a directory, binary (a NUL byte) or not UTF-8.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise InputError(f"no such {what} file", file=name) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a {what} file", file=name) from None
    except ValueError:             # e.g. a NUL character in the name
        raise InputError(f"invalid {what} file name", file=repr(name)) from None
    except PermissionError:
        raise InputError(f"cannot read the {what} file: permission denied", file=name) from None
    except OSError as e:
        raise InputError(f"cannot read the {what} file: {e.strerror or e}", file=name) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(f"UTF-16 text: save the {what} file as UTF-8 (or ASCII)", file=name,
                         line=1)
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"binary data (a NUL byte), not a text {what} file", file=name,
                         line=data.count(b"\n", 0, nul) + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {column} "
                         f"(is this a {what} file?)", file=name, line=line) from None


def data_lines(text: str) -> list[tuple[int, list[str]]]:
    """Whitespace-separated fields of each non-blank line, ``#`` comments removed.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of (int, list of str)
        1-based line number and fields, for every line with at least one field.

    Examples
    --------
    >>> data_lines("# c\\n\\na 1 2  # note\\n")
    [(3, ['a', '1', '2'])]
    """
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if fields:
            out.append((number, fields))
    return out


def parse_number(token: str, what: str, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> float:
    """A decimal number, or an :class:`InputError` naming ``what`` (NaN and inf are returned).

    Examples
    --------
    >>> parse_number("1.5e-3", "width")
    0.0015
    """
    try:
        if "_" in token:
            raise ValueError(token)
        return float(token)
    except ValueError:
        raise InputError(f"{what} is not a number: {token!r}", file=file, line=line,
                         field=field) from None


def suggest(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known word, or ``""``."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a hidden file beside it, renamed into place.

    Raises
    ------
    InputError
        The file cannot be written (nothing is left behind).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write: {e.strerror or e}", file=str(path)) from None
