"""The handshake answered while the MCP SDK is still importing.

A host starts every configured server and waits for `initialize` and `tools/list` before the model sees a
tool; importing the SDK is most of Volley's start (about 0.6 s of 0.7 on a quiet machine, seconds on a busy
one). Over stdio, Volley claims the pipes at once and a thread answers those two requests from what the SDK
answered the last time this same server started (the same Volley and SDK, arguments, environment and
workspace configuration: the key), byte for byte as the SDK writes them. Everything the thread reads is
handed to the SDK once it is up, in order; the SDK's own answers to the requests already answered are
dropped. With no answers kept yet, the thread only reads, and the SDK's answers are kept for the next start.
Once the handshake was answered here, plain read_file calls are answered here too (early_calls.py), as the
SDK would answer them.

Nothing here imports the SDK or pydantic: this module is loaded before them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import select
import stat
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volley import __version__
from volley.cache_dir import cache_home
from volley.platform import private_copy

if TYPE_CHECKING:
    from volley.server.early_calls import EarlyCalls

log = logging.getLogger(__name__)
EARLY_METHODS = ("initialize", "tools/list")
KEPT_FILES = 32
HAND_OVER_S = 2.0  # how long the SDK waits for a call this thread is answering (normally milliseconds)
_PLAIN_ID = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class Early:
    """The claimed pipes, and a thread answering the handshake until ``hand_over``."""

    def __init__(self, wire_in: int, wire_out: int, key: str) -> None:
        self.wire_in, self.wire_out, self.key = wire_in, wire_out, key
        self.kept: dict[str, dict[str, str]] = _load(key)  # method → protocol version → the result's JSON
        self.replay: list[bytes] = []  # lines for the SDK, in the order read
        self.rest = b""  # a line not yet whole
        self.answered: set[Any] = set()  # ids answered here that the SDK answers too (initialize): dropped
        self.asked: dict[Any, tuple[str, str]] = {}  # id → (method, protocol version): handshake requests it saw
        self.version = ""  # the protocol version the client asked for in initialize
        self.handshaken = False  # initialize was answered here: tool calls may be too
        self.calls: EarlyCalls | None = None  # what answers them, once its modules are loaded (take_calls)
        self._calls_known = threading.Event()
        self._stop = threading.Event()
        # What the SDK takes over is decided under this lock: a line being answered (_pending) that the hand-over
        # stops waiting for goes to the SDK, and is never answered here too.
        self._lock = threading.Lock()
        self._pending = b""
        self._abandoned = False
        self._thread = threading.Thread(target=self._read, name="volley-early", daemon=True)
        self._thread.start()

    def take_calls(self, calls: EarlyCalls | None) -> None:
        """What answers tool calls here (None: nothing does; the SDK answers them all)."""
        self.calls = calls
        self._calls_known.set()

    def hand_over(self) -> bytes:
        """Stop reading; what was read and not answered, for the SDK (whole lines, then the rest of one). A call
        still being answered after HAND_OVER_S (a read stuck on a hung filesystem) is the SDK's to answer."""
        self._stop.set()
        self._thread.join(HAND_OVER_S)
        with self._lock:
            self._abandoned = True
            return b"".join(self.replay) + self._pending + self.rest

    def settle(self, request_id: Any, line: str) -> bool:
        """The SDK's answer (its JSON line) to a request this thread saw: whether to drop it (it was answered
        here already); else a handshake answer is kept for the next start."""
        method, version = self.asked.pop(request_id, ("", ""))
        if request_id in self.answered:
            self.answered.discard(request_id)
            return True
        prefix = f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"result":'
        if not method or not line.startswith(prefix) or not line.rstrip("\n").endswith("}"):
            return False
        result = line.rstrip("\n")[len(prefix) : -1]
        if self.kept.get(method, {}).get(version) != result:
            self.kept.setdefault(method, {})[version] = result
            self._save()
        return False

    def _save(self) -> None:
        path = _path(self.key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(self.kept))
            os.replace(temporary, path)
            for stale in sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-KEPT_FILES]:
                stale.unlink(missing_ok=True)  # other builds' and configurations' answers: the newest are kept
        except OSError:
            pass

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.wire_in], [], [], 0.005)
            if not ready:
                continue
            with self._lock:
                if self._abandoned:
                    return
                try:
                    chunk = os.read(self.wire_in, 1 << 16)
                except OSError:
                    return
                if not chunk:  # the client closed stdin: the SDK reads the end itself
                    return
                self.rest += chunk
            while b"\n" in self.rest:
                with self._lock:
                    line, self.rest = self.rest.split(b"\n", 1)
                    self._pending = line + b"\n"
                try:
                    answered = self._answered(line)
                except Exception:  # never lose a line: the SDK's side reads and answers it
                    log.exception("the early handshake could not read a line")
                    answered = False
                with self._lock:
                    if self._abandoned:
                        return  # the hand-over took the line
                    if not answered:
                        self.replay.append(self._pending)
                    self._pending = b""

    def note(self, message: dict[str, Any] | None) -> None:
        """A request read after the hand-over: a handshake request's answer is still kept when the SDK gives it."""
        if message is not None:
            self._asked(message)

    def _asked(self, message: object) -> tuple[str, Any] | None:
        """(method, id) of a handshake request whose answer can be kept and given again, noted as asked."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or "id" not in message:
            return None
        method, request_id, params = message.get("method"), message["id"], message.get("params") or {}
        if method not in EARLY_METHODS or not _plain(request_id) or not isinstance(params, dict):
            return None
        if method == "initialize":
            self.version = str(params.get("protocolVersion", ""))
        elif set(params) - {"_meta"} or params.get("_meta") or not self.version:  # a cursor, a token: the SDK's
            return None
        self.asked[request_id] = (method, self.version)
        return method, request_id

    def _answered(self, line: bytes) -> bool:
        """Answer a handshake request from what was kept: whether the SDK is spared it. `initialize` still goes
        to the SDK (it starts the session there; its answer is dropped); `tools/list` does not."""
        if b'"logging/setLevel"' in line:
            self.handshaken = False  # the client wants a log line per call: the SDK sends those
        if self.handshaken and b'"tools/call"' in line:
            return self._called(line)
        if len(line) > 1 << 16 or not (b'"initialize"' in line or b'"tools/list"' in line):
            return False  # not a handshake request: whatever it is, the SDK's side reads it (wire_check.py)
        try:
            asked = self._asked(json.loads(line))
        except (ValueError, RecursionError):
            return False
        if asked is None:
            return False
        method, request_id = asked
        result = self.kept.get(method, {}).get(self.version)
        if result is None:
            return False
        if not self._send(request_id, result):
            return False
        log.info("answered %s (protocol %s) before the SDK was up, as it answered last time", method, self.version)
        if method == "initialize":
            self.answered.add(request_id)
            self.handshaken = True
            return False
        del self.asked[request_id]
        return True

    def _called(self, line: bytes) -> bool:
        """Answer a plain tool call here when early_calls.py can (whether the SDK is spared it)."""
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return False
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or message.get("method") != "tools/call":
            return False
        request_id, params = message.get("id"), message.get("params")
        if not _plain(request_id) or not isinstance(params, dict) or set(params) - {"name", "arguments"}:
            return False  # a progress token, a request's own log level, a task: the SDK's
        while not self._calls_known.wait(0.005):
            if self._stop.is_set():
                return False
        name = params.get("name")
        result = self.calls.answer(name, params.get("arguments", {})) if self.calls and isinstance(name, str) else None
        if result is None:
            return False
        if not self._send(request_id, result):
            return False
        log.info("answered tools/call %s before the SDK was up", name)
        return True

    def _send(self, request_id: Any, result: str) -> bool:
        """Write an answer, unless the SDK has taken over (whether it was written)."""
        answer = f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"result":{result}}}\n'.encode()
        with self._lock:
            if self._abandoned:
                return False
            try:
                _write_all(self.wire_out, answer)
            except OSError:
                return False
        return True


def start(settings: str, workspaces: list[str]) -> Early | None:
    """Claim stdin and stdout and answer the handshake early, where that can be done (None: it cannot: the
    pipes are not pipes, the platform has no select on pipes, or VOLLEY_EARLY=0)."""
    if sys.platform == "win32" or os.environ.get("VOLLEY_EARLY") == "0" or not (is_stream(0) and is_stream(1)):
        return None
    wire_in, wire_out = private_copy(0), private_copy(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # what a tool or a child process reads or prints never reaches the protocol
    os.close(null)
    os.dup2(2, 1)
    return Early(wire_in, wire_out, _key(settings, workspaces))


def _key(settings: str, workspaces: list[str]) -> str:
    """What the handshake's answers depend on: Volley's code and version, the SDK's, the command's settings,
    the VOLLEY_* environment, and each workspace's config files."""
    digest = hashlib.sha256(f"{__version__}\0{sys.version}\0{os.getcwd()}\0{settings}".encode(errors="surrogateescape"))
    digest.update(repr(sorted((k, v) for k, v in os.environ.items() if k.startswith("VOLLEY_"))).encode())
    for path in [*sorted(Path(__file__).resolve().parent.parent.rglob("*.py")), *_sdk_files()]:
        info = path.stat()
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
    for workspace in workspaces:
        for name in (".volley.toml", "pyproject.toml"):
            try:
                digest.update(Path(workspace, name).read_bytes())
            except OSError:
                digest.update(b"-")
    return digest.hexdigest()[:24]


def _sdk_files() -> list[Path]:
    """The SDK's packages' first files (an install or upgrade rewrites them), found without importing them."""
    import importlib.util

    found = []
    for name in ("mcp", "mcp_types"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            found.append(Path(spec.origin))
    return found


def _load(key: str) -> dict[str, dict[str, str]]:
    try:
        kept = json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def _path(key: str) -> Path:
    return cache_home() / "early" / f"{key}.json"


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (a pipe may take a long answer in parts)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _plain(request_id: Any) -> bool:
    """An id whose JSON is the same however it is written (the SDK writes strings unescaped)."""
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return True
    return isinstance(request_id, str) and set(request_id) <= _PLAIN_ID


def is_stream(fd: int) -> bool:
    """Whether fd is a pipe or socket, which can be watched (a regular file or /dev/null cannot be)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
