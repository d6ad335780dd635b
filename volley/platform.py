"""What differs between Linux, macOS and Windows, in one place: signals, process groups and trees,
descriptors, file watching, and whether names differ by case.

mypy checks each branch for its platform (`mypy --platform win32`), so a POSIX-only call elsewhere is a type
error there. Linux reads processes from /proc and watches with inotify; elsewhere processes come from
psutil and listings are proven by stat (with watchfiles). ``VOLLEY_PORTABLE=1`` takes those other paths on
Linux too, and matches ignore rules without regard to case, so CI runs every fallback (`make test-portable`).
What is not built for Windows yet is said where it is: Windows has no process group to signal (the run's
own process and the processes carrying its mark are killed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from functools import cache

PORTABLE = os.environ.get("VOLLEY_PORTABLE") == "1"
INOTIFY = sys.platform == "linux" and not PORTABLE  # else: stat proofs, woken by watchfiles
PROC = sys.platform == "linux" and not PORTABLE and os.path.isdir("/proc/self")  # else: psutil's process table

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


def run_members(pgid: int, marked: str) -> list[int]:
    """Live (not zombie) processes in the process group ``pgid`` (not on Windows) or whose environment holds
    ``marked`` (``NAME=value``)."""
    return _members_from_proc(pgid, marked.encode() + b"\0") if PROC else _members_from_psutil(pgid, marked)


def _members_from_proc(pgid: int, marked: bytes) -> list[int]:
    members = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return [pgid] if group_alive(pgid) else []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            if int(fields[2]) == pgid:
                members.append(pid)
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marked in f.read():
                    members.append(pid)
        except (OSError, IndexError, ValueError):
            continue
    return members


def _members_from_psutil(pgid: int, marked: str) -> list[int]:
    import psutil

    name, _, value = marked.partition("=")
    members = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if (
                (sys.platform != "win32" and os.getpgid(process.pid) == pgid)
                or process.pid == pgid
                or process.environ().get(name) == value
            ):
                members.append(process.pid)
        except (psutil.Error, OSError):
            continue  # gone, or another user's
    return members


# The reaper (process.py): waits for its stdin to end (the server is gone) and kills every process whose
# environment holds one of the server's run marks, ``NAME=<server pid>-<run>``.
_REAPER_PROC = """
import os, signal, sys
mark = (sys.argv[2] + "=" + sys.argv[1] + "-").encode()
sys.stdin.buffer.read()
for name in os.listdir("/proc"):
    if name.isdigit() and int(name) != os.getpid():
        try:
            with open("/proc/" + name + "/environ", "rb") as f:
                if mark in f.read():
                    os.kill(int(name), signal.SIGKILL)
        except OSError:
            pass
"""
_REAPER_PSUTIL = """
import os, sys
import psutil
sys.stdin.buffer.read()
for process in psutil.process_iter():
    try:
        if process.pid != os.getpid() and process.environ().get(sys.argv[2], "").startswith(sys.argv[1] + "-"):
            process.kill()
    except psutil.Error:
        pass
"""


def reaper_argv() -> list[str]:
    """The reaper's command, before its two arguments (the server's pid, the mark's name)."""
    if PROC:
        return [sys.executable, "-S", "-c", _REAPER_PROC]  # -S: no site-packages needed, a faster start
    return [sys.executable, "-c", _REAPER_PSUTIL]


@cache
def names_differ_by_case() -> bool:
    """Whether this machine's filesystem tells ``Name`` from ``name`` (probed once, in a temporary place
    inside the cache directory, never in a workspace); portable mode says it does not."""
    if PORTABLE:
        return False
    from volley.cache_dir import cache_home

    try:
        base = cache_home()
        base.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base, prefix="case-probe-") as probe:
            open(os.path.join(probe, "Probe"), "w").close()
            return not os.path.exists(os.path.join(probe, "pROBE"))
    except OSError:
        return sys.platform not in ("darwin", "win32")  # each one's default


MAX_DESCRIPTORS = 65_536  # what the server raises its soft limit to at most (its children inherit it)


def raise_descriptor_limit() -> None:
    """Raise this process's soft limit of open descriptors toward its hard limit: Linux's default soft limit
    is 1,024 and macOS's 256, which a local process holding idle connections used up (the server could then
    neither accept nor open a file), as a wide walk with many searches could. Nothing on Windows."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard, MAX_DESCRIPTORS)
    for target in (wanted, 10_240):  # (macOS refuses more than its OPEN_MAX, 10,240, whatever the hard limit)
        if target <= soft:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return
        except (ValueError, OSError):
            continue
