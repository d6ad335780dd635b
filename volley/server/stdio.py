"""MCP over stdio with the pipes read and written on the event loop.

The SDK's ``stdio_server`` reads each line and writes and flushes each message in a worker thread:
three thread hops per call, about a third of a small call's CPU on both cores a client and server
share. When stdin and stdout are pipes or sockets (as every MCP client starts a server), Volley
serves them with asyncio's pipe transports instead, after the same claim the SDK makes: the wire
moves to private descriptors, fd 0 reads the null device and fd 1 writes to stderr, so nothing a
tool or a child process prints can reach the protocol. Anything else (a regular file, a terminal)
is served by the SDK's own transport.

Either way, the end of input drains: requests already read are answered (within ``drain_s``) before
the session ends, as a client that writes its calls and closes stdin (``printf … | volley serve``)
expects; the SDK alone would cancel them at once. On the event loop, a client that leaves answers unread
(more than OUT_BOUND bytes of them) or has MAX_IN_FLIGHT calls unanswered is read no further until it reads
or they end: what it sends is not piled up in memory (a client that wrote calls without reading grew the
server by 130 MB a second).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from volley.platform import private_copy
from volley.server import wire_check
from volley.server.early import Early, is_stream
from volley.server.fast_lane import FastLane

log = logging.getLogger(__name__)

_MAX_LINE = 32 << 20  # a message is one line; no call needs more (the SDK's transport sets no limit)
OUT_BOUND = 16 << 20  # bytes of answers the client has not read before no more requests are read
MAX_IN_FLIGHT = 256  # calls unanswered before no more requests are read (a host runs a few at once)


async def serve_stdio(server: MCPServer, drain_s: float, early: Early | None = None) -> None:
    """Serve one MCP connection over this process's stdin and stdout until the client closes stdin
    and the requests it sent are answered (or ``drain_s`` has passed); ``early``: the pipes were claimed
    at start and the handshake may be answered already (early.py)."""
    async with _wire(early) as (stdin, stdout), stdio_server(stdin, stdout) as (read_stream, write_stream):  # type: ignore[arg-type]
        in_flight = _InFlight()
        lane = None
        if stdin is not None and stdout is not None:
            lane = stdin.lane = FastLane(server, stdout.write_soon, in_flight.started, in_flight.settle)
            stdin.room = functools.partial(_room, stdout, in_flight)
        lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async does, on our streams
        try:
            await lowlevel.run(
                _Draining(read_stream, in_flight, drain_s),  # type: ignore[arg-type]
                _Answering(write_stream, in_flight, lane, early),  # type: ignore[arg-type]
                lowlevel.create_initialization_options(),
            )
        finally:
            if lane is not None:
                await lane.close()


async def _room(stdout: _LinesOut, in_flight: _InFlight) -> None:
    """Wait, before a request is read, while the client leaves OUT_BOUND bytes of answers unread or has
    MAX_IN_FLIGHT calls unanswered (said in the log)."""
    waiting = stdout.unread() >= OUT_BOUND
    if waiting or len(in_flight.ids) >= MAX_IN_FLIGHT:
        in_flight.held, said = in_flight.held + 1, log.info if not in_flight.held else log.debug
        said(
            "the client has %d calls unanswered and %d bytes of answers unread: no more requests are read until "
            "it reads them or they end",
            len(in_flight.ids),
            stdout.unread(),
        )
        if waiting:
            await stdout.flush()
        await in_flight.below(MAX_IN_FLIGHT)


class _InFlight:
    """The ids of requests read and not yet answered (nor cancelled by the client)."""

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self._idle = anyio.Event()
        self._idle.set()
        self._fewer = anyio.Event()  # set when a call ends
        self.held = 0  # how often reading waited for the client (said once in the log)

    def read(self, item: object) -> None:
        message = getattr(item, "message", None)
        if isinstance(message, JSONRPCRequest):
            self.started(message.id)
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            self.settle((message.params or {}).get("requestId"))

    def wrote(self, item: object) -> None:
        message = getattr(item, "message", None)
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            self.settle(message.id)

    def started(self, request_id: Any) -> None:
        self.ids.add(request_id)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle

    def settle(self, request_id: Any) -> None:
        self.ids.discard(request_id)
        self._fewer.set()
        if not self.ids:
            self._idle.set()

    async def below(self, count: int) -> None:
        """Wait until fewer than ``count`` calls are unanswered."""
        while len(self.ids) >= count:
            self._fewer = anyio.Event()
            await self._fewer.wait()

    async def drained(self, bound_s: float) -> None:
        if self.ids:
            log.info("input ended with %d calls in flight: answering them first", len(self.ids))
            with anyio.move_on_after(bound_s):
                await self._idle.wait()


class _Draining:
    """The SDK's read stream, whose end waits for the requests in flight to be answered."""

    def __init__(self, stream: Any, in_flight: _InFlight, drain_s: float) -> None:
        self._stream, self._in_flight, self._drain_s = stream, in_flight, drain_s

    async def receive(self) -> Any:
        try:
            item = await self._stream.receive()
        except anyio.EndOfStream:
            await self._in_flight.drained(self._drain_s)
            raise
        self._in_flight.read(item)
        return item

    def __aiter__(self) -> _Draining:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> _Draining:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Answering:
    """The SDK's write stream, noting each answer (the fast lane opens once ``initialize`` is answered)."""

    def __init__(self, stream: Any, in_flight: _InFlight, lane: FastLane | None, early: Early | None) -> None:
        self._stream, self._in_flight, self._lane, self._early = stream, in_flight, lane, early

    async def send(self, item: Any) -> None:
        message = getattr(item, "message", None)
        early = self._early
        dropped = False
        if early is not None and isinstance(message, JSONRPCResponse) and message.id in early.asked:
            dropped = early.settle(message.id, message.model_dump_json(by_alias=True, exclude_unset=True))
        if not dropped:  # else answered before the SDK was up: the same answer
            await self._stream.send(item)
        self._in_flight.wrote(item)
        if self._lane is not None and isinstance(message, JSONRPCResponse):
            self._lane.answered(message.id, message.result)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> _Answering:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _LinesIn:
    """The part of anyio's AsyncFile the SDK reads stdin through: async iteration over lines. A line that is
    not a message MCP accepts is answered with its JSON-RPC error here (wire_check.py), never handed on."""

    def __init__(self, reader: asyncio.StreamReader, answer: Callable[[bytes], None]) -> None:
        self._reader, self._answer = reader, answer
        self.lane: FastLane | None = None  # takes the plain tool calls before the SDK reads them
        self.room: Callable[[], Awaitable[None]] | None = None  # waits while the client reads no answers
        self.early: Early | None = None  # notes the handshake's requests, whose answers it keeps

    def __aiter__(self) -> _LinesIn:
        return self

    async def __anext__(self) -> str:
        while True:
            if self.room is not None:
                await self.room()
            try:
                line = await self._reader.readline()
            except ValueError:  # over the limit: the reader dropped what it held of the line
                self._answer(wire_check.too_long(_MAX_LINE))
                continue
            if not line:
                raise StopAsyncIteration
            message, refusal = wire_check.inspect(line)
            if refusal is not None:
                if refusal:
                    log.info("answered a malformed line with %s", refusal[:200].decode(errors="replace").strip())
                    self._answer(refusal)
                continue
            if self.early is not None and message is not None and b'"method"' in line:
                self.early.note(message)
            if self.lane is not None and self.lane.take(line, message):
                continue
            if message is not None and (refusal := wire_check.refused_by_sdk(line, message)) is not None:
                if refusal:
                    self._answer(refusal)
                continue
            return line.decode("utf-8", errors="replace")


class _LinesOut:
    """The part of anyio's AsyncFile the SDK writes stdout through: write, then flush (wait for the pipe)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._queued: list[bytes] = []  # the fast lane's answers, written together once the loop comes round

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    def write_soon(self, line: bytes) -> None:
        """Write one whole line once the event loop comes round, with the others answered meanwhile: 20
        answers finishing together cost one write to the pipe (and one wake-up of the client), not 20."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self.write_queued)
        self._queued.append(line)

    def write_queued(self) -> None:
        if self._queued:
            self._writer.write(b"".join(self._queued))
            self._queued.clear()

    async def flush(self) -> None:
        await self._writer.drain()

    def unread(self) -> int:
        """Bytes written that the client has not taken from the pipe yet (beyond the pipe's own buffer)."""
        return self._writer.transport.get_write_buffer_size() + sum(map(len, self._queued))


@asynccontextmanager
async def _wire(early: Early | None = None) -> AsyncIterator[tuple[_LinesIn | None, _LinesOut | None]]:
    """The client's pipes as event-loop streams, or (None, None) to let the SDK serve them its way."""
    read_already = b""
    if early is not None:  # claimed at start; what its thread read and did not answer comes first
        wire_in, wire_out = early.wire_in, early.wire_out
        read_already = early.hand_over()
    elif sys.platform == "win32" or not (is_stream(0) and is_stream(1)):  # Windows: the SDK's threads read the pipes
        yield None, None
        return
    else:
        wire_in, wire_out = private_copy(0), private_copy(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_MAX_LINE)
    if read_already:
        reader.feed_data(read_already)
    in_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
    )
    out_transport, out_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
    )
    out_transport.set_write_buffer_limits(high=OUT_BOUND)  # (a flush waits until a quarter of it is left)
    writer = asyncio.StreamWriter(out_transport, out_protocol, None, loop)
    lines_out = _LinesOut(writer)
    try:
        lines_in = _LinesIn(reader, lines_out.write_soon)
        lines_in.early = early
        yield lines_in, lines_out
    finally:
        lines_out.write_queued()
        in_transport.close()
        out_transport.close()  # what is still buffered is written first
