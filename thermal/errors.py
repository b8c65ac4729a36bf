"""Errors and warnings that thermal raises for a user's mistakes."""

from __future__ import annotations


class InputError(ValueError):
    """A problem with a user's input: a file, an argument or a value.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    file : str, optional
        The file the problem is in.
    line : int, optional
        1-based line number in ``file``.
    field : str, optional
        The column, key or argument the problem is in.

    Examples
    --------
    >>> str(InputError("width must be positive", file="a.flp", line=3))
    'a.flp:3: width must be positive'
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = self.file or ""
        if self.file and self.line is not None:
            where = f"{self.file}:{self.line}"
        return f"{where}: {self.message}" if where else self.message


class SolverError(RuntimeError):
    """The linear or nonlinear solve failed or produced a result that fails its checks."""


class InputWarning(UserWarning):
    """Input that thermal accepts but that the user should know about (gaps, thin overlaps)."""
