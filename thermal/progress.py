"""A progress line for long runs of the command line (solve, train, sweep, transient).

The library itself never prints: its long-running functions take a ``progress`` callback, and
the CLI turns what they report into a :class:`ProgressLine` on stderr::

    with ProgressLine("thermal transient", enabled=not args.quiet) as line:
        result = simulate(..., progress=lambda info: line.update(f"step {info['step']}"))

What the line does:

- It appears once the run has lasted ``delay_s`` (1 s): a run that ends sooner shows nothing.
  A ticker thread keeps the elapsed time current even while the caller reports nothing (a
  long first solve, a slow cluster start).
- On a terminal it is rewritten in place (``\\r``) at most 10 times a second, and ended with a
  newline by :meth:`ProgressLine.close`.
- Anywhere else (a pipe, a log file, CI) it is written as whole lines, at most one per
  ``interval_s`` (1 s), and only when the status changed or ``heartbeat_s`` (10 s) passed,
  so a log shows the run advancing without a line for every tick.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["ProgressLine", "format_duration"]


def format_duration(seconds: float) -> str:
    """``"4.2 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``.

    Examples
    --------
    >>> format_duration(4.24), format_duration(185), format_duration(3720)
    ('4.2 s', '3 min 05 s', '1 h 02 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressLine:
    """A rate-limited status line ``LABEL: STATUS, ELAPSED`` on a stream (stderr by default).

    Parameters
    ----------
    label : str
        What runs, e.g. ``"thermal solve"``.
    enabled : bool
        False: the object does nothing (``--quiet``).
    stream : text stream, optional
        Default ``sys.stderr``.
    delay_s : float
        Nothing is shown before the run has lasted this long.
    interval_s : float
        Off a terminal, at most one line per this many seconds.
    heartbeat_s : float
        Off a terminal, an unchanged status is written again after this many seconds.
    tty : bool, optional
        Whether ``stream`` is a terminal; default: ``stream.isatty()``.
    started : float, optional
        When the run started (``time.monotonic()``); default: when :meth:`start` is called.
    """

    REDRAW_S = 0.1  # a terminal's line is redrawn at most this often

    def __init__(self, label: str, enabled: bool = True, stream: TextIO | None = None,
                 delay_s: float = 1.0, interval_s: float = 1.0, heartbeat_s: float = 10.0,
                 tty: bool | None = None, started: float | None = None):
        self.label = label
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.delay_s = delay_s
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.status = "starting"
        self.lines_written = 0
        self._given_start = started
        self._started = time.monotonic() if started is None else started
        self._last_write = -float("inf")
        self._last_status: str | None = None
        self._shown_width = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lifetime ------------------------------------------------------------------------------

    def start(self) -> "ProgressLine":
        """Start the clock (unless given) and the ticker thread (a daemon that only writes
        this line)."""
        if self._given_start is None:
            self._started = time.monotonic()
        if self.enabled and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="thermal-progress",
                                            daemon=True)
            self._ticker.start()
        return self

    def close(self, final: str | None = None) -> None:
        """Stop the ticker; on a terminal end the line. ``final``: a last status, written
        whatever the rate limit (only if the line was shown at all)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if not self.enabled:
            return
        with self._lock:
            if final is not None and self.lines_written:
                self.status = final
                self._write(time.monotonic(), force=True)
            if self.tty and self.lines_written:
                self.stream.write("\n")
                self.stream.flush()
            self.enabled = False

    def __enter__(self) -> "ProgressLine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    # -- reporting -----------------------------------------------------------------------------

    def update(self, status: str) -> None:
        """Set the status; written now if the rate limit allows, else by the ticker."""
        if not self.enabled:
            return
        with self._lock:
            self.status = status
            self._write(time.monotonic())

    def __call__(self, status: str) -> None:
        self.update(status)

    def _tick(self) -> None:
        while not self._stop.wait(self.REDRAW_S if self.tty else min(0.25, self.interval_s)):
            with self._lock:
                if self.enabled:
                    self._write(time.monotonic())

    def _write(self, now: float, force: bool = False) -> None:
        """Write the line if it is due (the lock is held)."""
        elapsed = now - self._started
        if elapsed < self.delay_s and not force:
            return
        since = now - self._last_write
        if not force:
            if self.tty:
                if since < self.REDRAW_S:
                    return
            elif since < self.interval_s or (self.status == self._last_status
                                             and since < self.heartbeat_s):
                return
        text = f"{self.label}: {self.status}, {format_duration(elapsed)}"
        try:
            if self.tty:
                pad = max(self._shown_width - len(text), 0)
                self.stream.write(f"\r{text}{' ' * pad}")
                self._shown_width = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: stop showing, don't fail the run
            self.enabled = False
            return
        self._last_write = now
        self._last_status = self.status
        self.lines_written += 1
