"""Running the server over stdio, SSE or streamable HTTP, with host checks and an optional bearer token."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import threading
import time

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from volley.errors import InputError
from volley.jobs import JOBS
from volley.platform import STOP_SIGNALS
from volley.process import GRACE_S, active_groups, kill_all_runs
from volley.runs import shared_store
from volley.server.early import Early
from volley.server.stdio import serve_stdio

log = logging.getLogger(__name__)


def run(
    server: MCPServer,
    transport: str,
    *,
    host: str,
    port: int,
    token: str | None,
    drain_s: float = 120,
    early: Early | None = None,
) -> None:
    """Serve until the client goes away (stdio: its calls in flight answered within ``drain_s``) or the
    process is stopped; ``early`` holds the pipes when the handshake was answered while the SDK imported."""
    if transport == "stdio":
        anyio.run(_stdio_until_signalled, server, drain_s, early)
        return
    if not _is_loopback(host) and not token:
        raise InputError(
            f"refusing to bind {host}: a non-loopback address needs a bearer token (--token or $VOLLEY_TOKEN)"
        )
    app = http_app(server, transport, host=host, port=port, token=token)
    anyio.run(_serve_app, app, host, port, server.settings.log_level.lower())


def http_app(server: MCPServer, transport: str, *, host: str, port: int, token: str | None) -> ASGIApp:
    """The ASGI app for an HTTP transport, with DNS-rebinding protection and the token check."""
    security = _security(host, port)
    if transport == "sse":
        app: ASGIApp = SseBackpressure(server.sse_app(transport_security=security, host=host))
    else:
        app = CancelOnDisconnect(server.streamable_http_app(transport_security=security, host=host))
    return BearerToken(app, token) if token else app


async def _stdio_until_signalled(server: MCPServer, drain_s: float, early: Early | None = None) -> None:
    """Serve stdio until the client closes it or SIGTERM/SIGINT arrives; either way, running tools
    are cancelled, which kills their process groups, before the process exits."""
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
                async for received in signals:
                    log.info("received %s: stopping", signal.Signals(received).name)
                    JOBS.cancel_all()  # test runs outlive calls, not the server
                    tg.cancel_scope.cancel()
                    # worker threads may be busy (and the SDK's transport, serving a file on stdin,
                    # reads in a thread no cancellation reaches): once the runs are killed, leave
                    threading.Thread(target=_exit_when_runs_are_gone, daemon=True).start()
                    return

        tg.start_soon(stop_on_signal)
        await serve_stdio(server, drain_s, early)
        tg.cancel_scope.cancel()


def _exit_when_runs_are_gone() -> None:
    deadline = time.monotonic() + GRACE_S + 3
    while active_groups() and time.monotonic() < deadline:
        time.sleep(0.02)
    kill_all_runs()  # what SIGTERM did not end by now (a daemon that ignores it) is killed; os._exit skips atexit
    shared_store().close()
    logging.shutdown()
    os._exit(0)


# How long an idle keep-alive connection stays open. uvicorn's default (5 s) equals the idle expiry of
# httpx (the Python SDK's client) to the second: a client reusing a connection idle for just under 5 s
# sent its call as the server closed it, and the call was lost (httpx.ReadError, seen under load; with
# both timers at 1 s, 30 of 1,000 spaced requests failed, none with the server's above the client's).
# Clients' idle expiries: httpx 5 s, Node's undici 4 s, Go 90 s; the server must outlast them all.
KEEP_ALIVE_S = 120


async def _serve_app(app: ASGIApp, host: str, port: int, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on", timeout_keep_alive=KEEP_ALIVE_S
    )
    await uvicorn.Server(config).serve()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _security(host: str, port: int) -> TransportSecuritySettings:
    names = {"127.0.0.1", "localhost", "[::1]"} | ({host} if host not in ("0.0.0.0", "::") else set())
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:{port}" for name in names] + [*names],
        allowed_origins=[f"http://{name}:{port}" for name in names],
    )


class BearerToken:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers", [])).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)


MAX_BODY = DEFAULT_MAX_REQUEST_BODY_SIZE  # the SDK's own limit (4 MiB), applied before the body is read


class SseBackpressure:
    """ASGI middleware for SSE: a session's POSTs wait (SSE_WAIT_S at most) while its event stream is still
    sending the client an answer it has not taken (uvicorn waits for the socket to drain), so a client that posts
    calls and reads no answers is slowed to its reading instead of having them buffered (33 MB a second)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._sent: dict[str, anyio.Event] = {}  # session id → set once its stream's last send is done
        self._said: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            await self._room(scope.get("query_string", b""))
            await self.app(scope, receive, send)
        elif scope["type"] == "http" and scope["method"] == "GET":
            await self._stream(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _room(self, query: bytes) -> None:
        found = _SESSION.search(query)
        session = found.group(1).decode() if found else ""
        sent = self._sent.get(session)
        if sent is None or sent.is_set():
            return
        if session not in self._said:
            self._said.add(session)
            log.info("the SSE client of session %s reads no answers: its POSTs wait", session)
        with anyio.move_on_after(SSE_WAIT_S):  # (a client that reads only between its POSTs goes on)
            await sent.wait()

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = ""

        async def watched(message: Message) -> None:
            nonlocal session
            if not session and message["type"] == "http.response.body":  # the first event names the session
                found = _SESSION.search(message.get("body", b""))
                session = found.group(1).decode() if found else ""
            if not session:
                await send(message)
                return
            sent = self._sent[session] = anyio.Event()
            try:
                await send(message)
            finally:
                sent.set()

        try:
            await self.app(scope, receive, watched)
        finally:
            self._sent.pop(session, None)
            self._said.discard(session)


_SESSION = re.compile(rb"session_id=([0-9a-fA-F]+)")
SSE_WAIT_S = 30.0  # the longest a POST waits for its session's stream


async def _too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Request body too large (over 4 MiB)"})


class CancelOnDisconnect:
    """ASGI middleware for streamable HTTP: a call whose connection drops before its answer is cancelled.

    On sessions of handshake-era protocol versions the SDK keeps a request's work running when the
    POST carrying it disconnects (it expects an event store and a client that reconnects; Volley
    keeps no store, so the answer is lost anyway) — a test run would go on with nobody to tell. This
    hands the session the ``notifications/cancelled`` a departing client would have sent, through the
    same app, so the usual cancellation kills the work. 2026-07-28 sessions cancel on disconnect
    themselves and carry no session id, so they pass straight through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or b"mcp-session-id" not in dict(scope["headers"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY:
            await _too_large(send)  # refused before a byte of it is read
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # gone before it finished sending
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY:  # a body streamed without a length: refused as it passes the limit
                await _too_large(send)
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        request_id = _request_id(body)
        answered = False
        inbox, outbox = anyio.create_memory_object_stream[Message](1)

        async def send_answer(message: Message) -> None:
            nonlocal answered
            answered = answered or (message["type"] == "http.response.body" and not message.get("more_body"))
            await send(message)

        async def receive_rest() -> Message:
            return await outbox.receive()

        async def watch_connection() -> None:
            while (message := await receive())["type"] != "http.disconnect":
                await inbox.send(message)
            if not answered and request_id is not None:
                log.info("the connection of request %s closed before its answer: cancelling it", request_id)
                await self._cancel(scope, request_id)
            await inbox.send(message)

        inbox.send_nowait({"type": "http.request", "body": body, "more_body": False})  # the body, read, goes first
        async with inbox, outbox, anyio.create_task_group() as tg:
            tg.start_soon(watch_connection)
            await self.app(scope, receive_rest, send_answer)
            tg.cancel_scope.cancel()

    async def _cancel(self, scope: Scope, request_id: object) -> None:
        note = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "the client's connection closed"},
            }
        ).encode()
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(note)).encode()))
        messages = iter([{"type": "http.request", "body": note, "more_body": False}])

        async def receive() -> Message:
            return next(messages, {"type": "http.disconnect"})

        async def discard(_: Message) -> None:
            pass

        await self.app({**scope, "headers": headers}, receive, discard)


def _request_id(body: bytes) -> object | None:
    """The id of the JSON-RPC request in a POST body (None for notifications, responses and batches)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if isinstance(message, dict) and "method" in message and "id" in message:
        return message["id"]
    return None
