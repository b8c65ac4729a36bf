"""Writing files in a forked child process while this one writes others.

``thermal solve`` draws its pictures this way: the child writes field.vtu and mesh.png while the
parent draws heatmap.png and predicted.png. Every call only writes files, so whatever the child
does not finish, the parent does itself; nothing here ever decides what a file contains.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence

CHILD_GRACE_S = 10.0
""":func:`in_parallel` waits this long, or 20 times its own share's time if longer, for the
child after finishing its own share; then it stops the child and does the child's share too."""

_QUIT_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def in_parallel(first: Sequence[Callable[[], object]], second: Sequence[Callable[[], object]],
                fork: bool = True, grace_s: float = CHILD_GRACE_S) -> None:
    """Run the calls in ``first`` in a forked child process while this one runs ``second``.

    Each call only writes files, so whenever the child cannot do its share this process does
    it afterwards, and its errors are raised here: when the child fails or hangs, when no fork
    is possible or wise (``fork`` false, not Linux, other threads running, SIGCHLD ignored), or
    when another wait took the child's status. If ``second`` raises (an interrupt too), the
    child is stopped at once and the error propagates. What both sides need should be imported
    before the call, so that it is imported once.

    Parameters
    ----------
    first, second : sequence of callables without arguments
    fork : bool
        False runs everything here, one after the other.
    grace_s : float
        See :data:`CHILD_GRACE_S`.
    """
    pid = _forked() if fork and _may_fork() else -1
    if pid == 0:  # the child: its share, then out by exit status (no atexit, no flushing)
        status = 1
        try:
            for call in first:
                call()
            status = 0
        finally:
            os._exit(status)
    done = False
    try:
        started = time.monotonic()
        for call in second:
            call()
        if pid > 0:
            grace = max(grace_s, 20.0 * (time.monotonic() - started))
            done = _child_succeeded(pid, time.monotonic() + grace)
    except BaseException:
        if pid > 0:
            _stopped(pid)
        raise
    if not done:
        for call in first:
            call()


def _may_fork() -> bool:
    """Linux, the main thread and no other Python thread (a notebook's kernel, a server), and
    SIGCHLD not ignored (the kernel would reap the child before we could read its status)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.current_thread() is threading.main_thread()
            and threading.active_count() == 1
            and signal.getsignal(signal.SIGCHLD) is not signal.SIG_IGN)


def _forked() -> int:
    """``os.fork()`` with SIGINT and SIGTERM held until the child has set them to their default
    (it must never run the parent's handlers); -1 when the fork fails."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _QUIT_SIGNALS)
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns of forking while the BLAS pool's threads exist: the child only
            # draws into files (OpenBLAS resets its pool at fork; a BLAS whose OpenMP runtime
            # does not survive a fork would hang the child, which the grace period catches;
            # limiting the pool in the child with threadpoolctl cost 0.05 s of 1.7 s, by hand)
            warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                    category=DeprecationWarning)
            try:
                pid = os.fork()
            except OSError:
                pid = -1
        if pid == 0:
            for signum in _QUIT_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return pid


def _child_succeeded(pid: int, deadline: float) -> bool:
    """Wait for a child until ``deadline`` (``time.monotonic``), stopping it then. True if it
    exited with status 0; False if it failed, was stopped, or was reaped elsewhere."""
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            _stopped(pid)
            return False
        time.sleep(0.002)


def _stopped(pid: int) -> None:
    """Kill a child and reap it (nothing to do if it is gone already)."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
