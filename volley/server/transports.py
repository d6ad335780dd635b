"""Running the server over stdio, SSE or streamable HTTP, with host checks and an optional bearer token."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import signal
import threading
import time

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from volley.errors import InputError
from volley.process import GRACE_S, active_groups

log = logging.getLogger(__name__)


def run(server: MCPServer, transport: str, *, host: str, port: int, token: str | None) -> None:
    """Serve until the client goes away (stdio) or the process is stopped (HTTP)."""
    if transport == "stdio":
        anyio.run(_stdio_until_signalled, server)
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
        app: ASGIApp = server.sse_app(transport_security=security, host=host)
    else:
        app = server.streamable_http_app(transport_security=security, host=host)
    return BearerToken(app, token) if token else app


async def _stdio_until_signalled(server: MCPServer) -> None:
    """Serve stdio until the client closes it or SIGTERM/SIGINT arrives; either way, running tools
    are cancelled, which kills their process groups, before the process exits."""
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
                async for received in signals:
                    log.info("received %s: stopping", signal.Signals(received).name)
                    tg.cancel_scope.cancel()
                    # the SDK reads stdin in a thread that no cancellation reaches: once the runs are
                    # killed, leave without waiting for a line that may never come
                    threading.Thread(target=_exit_when_runs_are_gone, daemon=True).start()
                    return

        tg.start_soon(stop_on_signal)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()


def _exit_when_runs_are_gone() -> None:
    deadline = time.monotonic() + GRACE_S + 3
    while active_groups() and time.monotonic() < deadline:
        time.sleep(0.02)
    logging.shutdown()
    os._exit(0)


async def _serve_app(app: ASGIApp, host: str, port: int, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
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
