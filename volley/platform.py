"""What differs between POSIX and Windows, in one place: signals, process groups and descriptors.

mypy checks each branch for its platform (`mypy --platform win32`), so a POSIX-only call elsewhere is a type
error there. What is not built for Windows yet is said where it is: process trees are process groups here,
and Windows has no group to signal (the run's own process is killed; its children may outlive it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

if sys.platform == "win32":
    KILL = signal.SIGTERM  # TerminateProcess either way
    STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
else:
    KILL = signal.SIGKILL
    STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pgid`` (Windows: to the process itself); gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if sys.platform == "win32":
            os.kill(pgid, sig)
        else:
            os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` (Windows: the process) still exists."""
    try:
        if sys.platform == "win32":
            os.kill(pgid, 0)
        else:
            os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    return True


def private_copy(fd: int) -> int:
    """A duplicate of ``fd`` numbered 3 or above that child processes do not inherit."""
    if sys.platform == "win32":
        return os.dup(fd)  # not inheritable by default
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
