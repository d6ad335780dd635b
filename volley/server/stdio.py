"""MCP over stdio with the pipes read and written on the event loop.

The SDK's ``stdio_server`` reads each line and writes and flushes each message in a worker thread:
three thread hops per call, about a third of a small call's CPU on both cores a client and server
share. When stdin and stdout are pipes or sockets (as every MCP client starts a server), Volley
serves them with asyncio's pipe transports instead, after the same claim the SDK makes: the wire
moves to private descriptors, fd 0 reads the null device and fd 1 writes to stderr, so nothing a
tool or a child process prints can reach the protocol. Anything else (a regular file, a terminal)
is served by the SDK's own transport.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

_MAX_LINE = 1 << 30  # a message is one line; the SDK's transport sets no limit either


async def serve_stdio(server: MCPServer) -> None:
    """Serve one MCP connection over this process's stdin and stdout until the client closes stdin."""
    async with _wire() as (stdin, stdout), stdio_server(stdin, stdout) as (read_stream, write_stream):  # type: ignore[arg-type]
        lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async does, on our streams
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class _LinesIn:
    """The part of anyio's AsyncFile the SDK reads stdin through: async iteration over lines."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _LinesIn:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class _LinesOut:
    """The part of anyio's AsyncFile the SDK writes stdout through: write, then flush (wait for the pipe)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


@asynccontextmanager
async def _wire() -> AsyncIterator[tuple[_LinesIn | None, _LinesOut | None]]:
    """The client's pipes as event-loop streams, or (None, None) to let the SDK serve them its way."""
    if not (_is_stream(0) and _is_stream(1)):
        yield None, None
        return
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_MAX_LINE)
    in_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
    )
    out_transport, out_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(out_transport, out_protocol, None, loop)
    try:
        yield _LinesIn(reader), _LinesOut(writer)
    finally:
        in_transport.close()
        out_transport.close()  # what is still buffered is written first


def _is_stream(fd: int) -> bool:
    """Whether fd is a pipe or socket, which asyncio can watch (a regular file or /dev/null cannot be)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
