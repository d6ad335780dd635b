"""What changed under a workspace while no server ran, from a watchman daemon that already watches it.

A new server that kept a content index on disk must know which files changed since: without a journal it states
every file (4.8 s at 1M files). Watchman keeps one across sessions, as git's fsmonitor and Mercurial use it: a
clock taken before a proof, then ``since`` that clock, names every path changed after it, at the cost of one
query. Volley never starts watchman nor adds a watch (a daemon and its memory are the user's to choose:
`watchman watch-project <root>`); it uses one that already watches the root or a folder above it, over its
socket, and trusts nothing it cannot read: no watchman, an error, a timeout, a fresh instance (the daemon or the
watch started anew since the clock) or folders the watch leaves out (``ignore_dirs``) all answer None, and the
caller proves by stat as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0  # a query, or watchman's settling of its own events before it answers (its sync cookie)
_ANSWER_CAP = 256 << 20  # bytes of one answer (about a million names)


class Journal:
    """A watchman daemon's view of one root: the watch above it and the root's path below that."""

    def __init__(self, sockname: str, watch: str, relative: str) -> None:
        self.sockname, self.watch, self.relative = sockname, watch, relative

    @classmethod
    def of(cls, root: str) -> Journal | None:
        """The journal of ``root``, or None when no running watchman watches it whole (said in the log)."""
        if sys.platform == "win32":  # (watchman listens on a named pipe there: not asked)
            return None
        sockname = _sockname()
        if sockname is None:
            return None
        try:
            roots = _ask(sockname, ["watch-list"]).get("roots", [])
            above = [w for w in roots if isinstance(w, str) and (root == w or root.startswith(w.rstrip("/") + "/"))]
            if not above:
                log.info("watchman runs but does not watch %s: a new server proves the content index by stat", root)
                return None
            watch = max(above, key=len)
            config = _ask(sockname, ["get-config", watch]).get("config", {})
            if config.get("ignore_dirs"):
                log.info("watchman leaves folders of %s out (ignore_dirs): not used as a journal", watch)
                return None
        except (OSError, ValueError) as exc:
            log.info("watchman cannot be asked (%s): a new server proves the content index by stat", exc)
            return None
        return cls(sockname, watch, os.path.relpath(root, watch) if root != watch else "")

    def clock(self) -> str | None:
        """A clock after every change made before this call (watchman settles its events first)."""
        try:
            answer = _ask(self.sockname, ["clock", self.watch, {"sync_timeout": int(TIMEOUT_S * 1000)}])
        except (OSError, ValueError) as exc:
            log.info("watchman gave no clock for %s (%s)", self.watch, exc)
            return None
        clock = answer.get("clock")
        return clock if isinstance(clock, str) else None

    def since(self, clock: str) -> list[str] | None:
        """The paths below the root changed after ``clock``, present or gone, but for folders; None when
        watchman cannot say (it or its watch started anew since, or an error)."""
        query: dict[str, object] = {"since": clock, "fields": ["name", "type"], "sync_timeout": int(TIMEOUT_S * 1000)}
        if self.relative:
            query["relative_root"] = self.relative
        try:
            answer = _ask(self.sockname, ["query", self.watch, query])
        except (OSError, ValueError) as exc:
            log.info("watchman could not say what changed in %s (%s)", self.watch, exc)
            return None
        found = answer.get("files")
        if answer.get("is_fresh_instance", True) or not isinstance(found, list):
            return None
        names = [f.get("name") for f in found if isinstance(f, dict) and f.get("type") != "d"]
        return [name for name in names if isinstance(name, str)]


def _sockname() -> str | None:
    """Where the user's watchman listens ($WATCHMAN_SOCK, else as the client says, without starting it)."""
    if sockname := os.environ.get("WATCHMAN_SOCK"):
        return sockname
    binary = shutil.which("watchman")
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, "--no-spawn", "--no-pretty", "get-sockname"], capture_output=True, timeout=TIMEOUT_S, check=False
        )
        sockname = json.loads(done.stdout).get("sockname")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return sockname if isinstance(sockname, str) and _ours(sockname) else None


def _ours(sockname: str) -> bool:
    """Whether the socket and its folder are this user's (Debian's watchman listens in /tmp, where another user
    could have put a socket of theirs first, to lie about what changed)."""
    if sys.platform == "win32":
        return False
    try:
        return all(os.stat(path).st_uid == os.getuid() for path in (sockname, os.path.dirname(sockname)))
    except OSError:
        return False


def _ask(sockname: str, command: list[object]) -> dict[str, Any]:
    """One command's answer over watchman's socket (its JSON protocol: a line each way); ValueError for an
    error it answers or an answer that is not one."""
    if sys.platform == "win32":  # (``of`` asks nothing there)
        raise ValueError("watchman is not asked on Windows")
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as sock:
        sock.settimeout(TIMEOUT_S * 2)
        sock.connect(sockname)
        sock.sendall(json.dumps(command).encode() + b"\n")
        chunks: list[bytes] = []
        size = 0
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ValueError("watchman closed the connection mid-answer")
            chunks.append(chunk)
            size += len(chunk)
            if size > _ANSWER_CAP:
                raise ValueError("watchman's answer is too large")
    answer = json.loads(b"".join(chunks))
    if not isinstance(answer, dict):
        raise ValueError("not an answer")
    if "error" in answer:
        raise ValueError(str(answer["error"]))
    return answer
