"""SSE and streamable HTTP: the same tools over the network transports, with host checks and tokens."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import SERVER_ENV, text_of, wait_for, wait_until_gone, write

pytestmark = pytest.mark.anyio
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def http_server(
    workspace: Path, transport: str, *extra: str, launcher: tuple[str, ...] | list[str] = ()
) -> AsyncIterator[str]:
    """`volley serve` over an HTTP transport; yields its base URL once it accepts connections. ``launcher``:
    arguments to Python before `-m volley`."""
    port = free_port()
    argv = [
        sys.executable,
        *launcher,
        "-m",
        "volley",
        "serve",
        "--workspace",
        str(workspace),
        "--transport",
        transport,
        "--port",
        str(port),
        "--set",
        "structured_output=true",  # the tests read each answer's fields
        *extra,
    ]
    async with await anyio.open_process(argv, env=SERVER_ENV, stdout=subprocess.DEVNULL) as process:
        try:
            with anyio.fail_after(30):
                while True:
                    try:
                        stream = await anyio.connect_tcp("127.0.0.1", port)
                        await stream.aclose()
                        break
                    except OSError:
                        await anyio.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()


async def test_streamable_http_serves_the_tools_and_concurrent_calls(project: Path) -> None:
    async with http_server(project, "http") as url, Client(f"{url}/mcp") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        results: dict[str, list[str]] = {}

        async def grep(pattern: str) -> None:
            result = await client.call_tool("grep", {"pattern": pattern, "output_mode": "files"})
            results[pattern] = result.structured_content["files"]

        async with anyio.create_task_group() as tg:
            for pattern in ("hello", "def main", "get_path"):
                tg.start_soon(grep, pattern)
        read = await client.call_tool("read_file", {"path": "src/app.py", "limit": 1})
    assert {"read_file", "grep", "list_dir", "run_tests", "batch"} <= tools
    assert results["def main"] == ["src/app.py"] and results["get_path"] == ["src/util.py"]
    assert "docs/guide.md" in results["hello"]
    assert text_of(read).startswith("     1\tdef main():")


async def test_sse_serves_the_tools(project: Path) -> None:
    async with http_server(project, "sse") as url, Client(sse_client(f"{url}/sse")) as client:
        result = await client.call_tool("list_dir", {"path": "docs"})
    assert "guide.md" in text_of(result)


async def test_a_token_is_required_and_checked(project: Path) -> None:
    async with http_server(project, "http", "--token", "s3cret") as url:
        async with httpx2.AsyncClient() as http:
            missing = await http.post(f"{url}/mcp", json=INIT, headers=HEADERS)
            wrong = await http.post(f"{url}/mcp", json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"})
        assert (missing.status_code, wrong.status_code) == (401, 401)
        authorized = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"})
        async with authorized, Client(streamable_http_client(f"{url}/mcp", http_client=authorized)) as client:
            result = await client.call_tool("read_file", {"path": "docs/guide.md"})
    assert "hello docs" in text_of(result)


async def test_a_forged_host_header_is_refused(project: Path) -> None:
    async with http_server(project, "http") as url, httpx2.AsyncClient() as http:
        forged = await http.post(f"{url}/mcp", json=INIT, headers={**HEADERS, "Host": "evil.example:80"})
        origin = await http.post(f"{url}/mcp", json=INIT, headers={**HEADERS, "Origin": "http://evil.example"})
    assert forged.status_code == 421 and origin.status_code == 403


def test_binding_a_non_loopback_address_without_a_token_is_refused(project: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "volley",
            "serve",
            "--workspace",
            str(project),
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        env={k: v for k, v in SERVER_ENV.items() if k != "VOLLEY_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "non-loopback address needs a bearer token" in done.stderr


@pytest.mark.slow
async def test_several_http_clients_with_many_calls_in_flight_each_get_their_own_answers(tmp_path: Path) -> None:
    for i in range(50):
        write(tmp_path, f"files/f{i:02}.txt", f"content of file {i}\n")
    answers: dict[tuple[int, int], str] = {}
    async with http_server(tmp_path, "http") as url:

        async def one_client(c: int) -> None:
            async with Client(f"{url}/mcp") as client:

                async def call(i: int) -> None:
                    k = (c * 7 + i) % 50
                    if i % 2:
                        result = await client.call_tool("read_file", {"path": f"files/f{k:02}.txt"})
                        answers[c, i] = result.structured_content["files"][0]["content"]
                    else:
                        result = await client.call_tool("grep", {"pattern": f"file {k}$", "output_mode": "files"})
                        answers[c, i] = result.structured_content["files"][0]

                async with anyio.create_task_group() as tg:
                    for i in range(100):
                        tg.start_soon(call, i)

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for c in range(4):
                    tg.start_soon(one_client, c)
    assert len(answers) == 400
    for (c, i), answer in answers.items():
        k = (c * 7 + i) % 50
        assert answer == (f"content of file {k}" if i % 2 else f"files/f{k:02}.txt"), (c, i)


@pytest.mark.slow
async def test_an_idle_connection_outlives_the_clients_idle_expiry(tmp_path: Path) -> None:
    """httpx keeps an idle connection 5 s; a server that closes it at the same moment loses the call the
    client sends on it then (httpx.ReadError under load). The server must still hold it after 6 s."""
    async with http_server(tmp_path, "http") as url:
        port = int(url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", "/nothing")
        response = connection.getresponse()
        response.read()  # the whole answer: the connection is idle from here
        assert response.getheader("connection") != "close"
        connection.sock.settimeout(6.0)  # past httpx's idle expiry: the server must not have closed by then
        try:
            with pytest.raises(TimeoutError):
                closed = connection.sock.recv(1) == b""
                pytest.fail(f"the server {'closed' if closed else 'wrote to'} an idle connection within 6 s")
        finally:
            connection.close()


async def test_an_http_client_whose_connection_drops_mid_run_gets_its_run_killed(tmp_path: Path) -> None:
    """A handshake-era client that vanishes: no cancellation, no session end — only the connection closes."""
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\nversion='0'\n")
    write(
        tmp_path,
        "tests/test_wait.py",
        "import os, subprocess, sys, time\n"
        "def test_wait():\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "    open(os.path.join(os.path.dirname(__file__), '..', 'pids.txt'), 'w').write(f'{os.getpid()} {child.pid}')\n"
        "    time.sleep(120)\n",
    )
    pids_file = tmp_path / "pids.txt"
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run_tests", "arguments": {}}}
    async with http_server(tmp_path, "http") as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            started = await http.post(f"{url}/mcp", json=INIT, headers=HEADERS)
            session = {
                **HEADERS,
                "mcp-session-id": started.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-06-18",
            }
            await http.post(
                f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
            )

            async def run_tests() -> None:
                async with http.stream("POST", f"{url}/mcp", json=call, headers=session) as response:
                    async for _ in response.aiter_bytes():
                        pass

            async with anyio.create_task_group() as tg:
                tg.start_soon(run_tests)
                await wait_for(pids_file)
                tg.cancel_scope.cancel()  # closes the connection; nothing else is sent
        await wait_until_gone([int(p) for p in pids_file.read_text().split()])
        async with Client(f"{url}/mcp") as client:  # the server is still serving
            assert not (await client.call_tool("list_dir", {})).is_error


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_a_client_that_asks_gets_log_notifications(project: Path) -> None:
    received: list[tuple[str, str]] = []

    async def on_log(params) -> None:
        received.append((params.level, str(params.data)))

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "volley", "serve", "--workspace", str(project)], env=SERVER_ENV
    )
    async with Client(params, mode="legacy", logging_callback=on_log) as client:
        await client.call_tool("list_dir", {})
        assert received == []  # nothing until the client asks
        await client.set_logging_level("debug")
        await client.call_tool("read_file", {"path": "src/app.py"})
        await client.call_tool("read_file", {"path": "nope.txt"})
    assert received[0][0] == "debug" and received[0][1].startswith("read_file answered in")
    assert received[1][0] == "info" and "read_file failed" in received[1][1] and "nope.txt" in received[1][1]


@asynccontextmanager
async def connected(workspace: Path, transport: str) -> AsyncIterator[Client]:
    """The SDK's client connected to `volley serve` over the given transport."""
    if transport == "stdio":
        from tests.conftest import serve

        async with serve(workspace) as client:
            yield client
        return
    async with http_server(workspace, transport) as url:
        target = sse_client(f"{url}/sse") if transport == "sse" else f"{url}/mcp"
        async with Client(target) as client:
            yield client


@pytest.mark.parametrize("transport", ["stdio", "http", "sse"])
async def test_every_read_only_tool_concurrently_and_a_cancelled_run_over_each_transport(
    tmp_path: Path, transport: str
) -> None:
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\nversion='0'\n")
    write(tmp_path, "pkg/mod.py", "import os\n")
    write(
        tmp_path,
        "tests/test_wait.py",
        "import os, time\n"
        "def test_wait():\n"
        "    open(os.path.join(os.path.dirname(__file__), '..', 'pids.txt'), 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n",
    )
    calls = {
        "read_file": {"path": "pkg/mod.py"},
        "grep": {"pattern": "import"},
        "list_dir": {"depth": 2},
        "run_linter": {},
        "list_toolchains": {},
    }
    async with connected(tmp_path, transport) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert all(tools[name].annotations.read_only_hint for name in calls if name != "run_linter")
        results: dict[str, object] = {}

        async def call(name: str) -> None:
            results[name] = await client.call_tool(name, calls[name])

        async with anyio.create_task_group() as tg:
            for name in calls:
                tg.start_soon(call, name)
        assert not any(r.is_error for r in results.values())  # type: ignore[attr-defined]
        assert "pkg/mod.py:1:import os" in text_of(results["grep"])
        assert "F401" in text_of(results["run_linter"])

        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "run_tests", {})
            await wait_for(tmp_path / "pids.txt")
            tg.cancel_scope.cancel()
        await wait_until_gone([int((tmp_path / "pids.txt").read_text())])
        assert not (await client.call_tool("read_file", {"path": "pkg/mod.py"})).is_error


async def test_an_oversize_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """50 MB took 5.5 s of CPU (the body grew by `+=` before the SDK's 4 MiB check), stalling other clients."""
    async with http_server(tmp_path, "http") as url, httpx2.AsyncClient(timeout=60) as http:
        started = await http.post(f"{url}/mcp", json=INIT, headers=HEADERS)
        session = {**HEADERS, "mcp-session-id": started.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        declared = await http.post(f"{url}/mcp", content=b"x" * (50 << 20), headers=session)

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: refused as it passes the limit
            for _ in range(50):
                yield b"x" * (1 << 20)

        streamed = await http.post(f"{url}/mcp", content=chunks(), headers=session)
        async with Client(f"{url}/mcp") as client:  # still serving
            assert not (await client.call_tool("list_dir", {})).is_error
    assert declared.status_code == 413 and streamed.status_code == 413


@pytest.mark.parametrize(("transport", "path"), [("http", "/mcp"), ("sse", "/sse")])
def test_http_transports_say_where_they_listen(tmp_path: Path, transport: str, path: str) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "volley", "serve", "--workspace", str(tmp_path), "--transport", transport]
    server = subprocess.Popen([*argv, "--port", str(port)], env=SERVER_ENV, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert f"at http://127.0.0.1:{port}{path}" in server.stderr.readline()
    finally:
        server.terminate()
        server.wait(timeout=30)


DESKTOP_LIMIT = (  # run Python with Linux's default soft limit of descriptors (1,024), as on a desktop
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, "
    "(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptor limits")
async def test_connections_held_open_do_not_run_the_server_out_of_descriptors(tmp_path: Path) -> None:
    """A local process holding 1,500 idle connections (no token is needed to connect) left a server started
    with Linux's default soft limit of 1,024 descriptors (macOS's: 256) unable to accept or open a file. It
    raises its soft limit to the hard one at start."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))  # (this process holds them)
    write(tmp_path, "a.txt", "held\n")
    held: list[socket.socket] = []
    try:
        async with http_server(tmp_path, "http", launcher=["-c", DESKTOP_LIMIT]) as url:
            port = int(url.rsplit(":", 1)[1])
            held += [socket.create_connection(("127.0.0.1", port)) for _ in range(1500)]
            with anyio.fail_after(30):  # (it hung: connecting never ended)
                async with Client(f"{url}/mcp") as client:
                    answer = await client.call_tool("read_file", {"path": "a.txt"})
        assert "held" in text_of(answer)
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow  # (32 MB of answers: make test-slow)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads a process's peak memory from /proc")
def test_an_sse_client_that_reads_no_answers_has_its_posts_wait_and_every_call_answered(tmp_path: Path) -> None:
    """SSE answers go down the event stream: a client that posted calls and read none grew the server by
    33 MB a second. Its POSTs now wait while the stream is still sending it an answer."""
    write(tmp_path, "big.txt", "".join(f"line {i} {'x' * 80}\n" for i in range(600)))  # answers of 54 KB
    port = free_port()
    argv = [sys.executable, "-m", "volley", "serve", "--workspace", str(tmp_path), "--transport", "sse"]
    argv += ["--port", str(port), "--log-level", "INFO"]
    server = subprocess.Popen(argv, env=SERVER_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    calls = 600  # 32 MB of answers, more than the sockets' buffers hold
    try:
        waiting = threading.Event()  # the log read throughout (uvicorn logs each POST: a full pipe would stall it)
        threading.Thread(target=_watch_log, args=(server, "reads no answers: its POSTs wait", waiting)).start()
        stream = _connected(port)
        stream.sendall(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        seen = b""
        while not (found := re.search(rb"session_id=([0-9a-f]+)", seen)):
            seen += stream.recv(4096)
        session = found.group(1).decode()

        def post(body: dict[str, object]) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            headers = {"Content-Type": "application/json"}
            connection.request("POST", f"/messages/?session_id={session}", json.dumps(body), headers)
            assert connection.getresponse().status == 202
            connection.close()

        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})
        post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        read = {"name": "read_file", "arguments": {"path": "big.txt", "limit": 600}}
        posts = [{"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": read} for n in range(2, calls + 2)]
        poster = threading.Thread(target=lambda: [post(body) for body in posts])
        poster.start()
        assert waiting.wait(60), "the server never held the POSTs back"
        with open(f"/proc/{server.pid}/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
        assert peak < 400
        answered: set[int] = set()
        stream.settimeout(60)  # (a hang fails here)
        while len(answered) < calls:  # the client reads now: every call is answered
            seen += stream.recv(1 << 20)
            answered |= {int(n) for n in re.findall(rb'"id":(\d+),"result"', seen)} - {1}
            seen = seen[-200:]
        poster.join()
    finally:
        server.kill()
        server.communicate()


def _connected(port: int) -> socket.socket:
    """A connection to the server, once it listens (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _watch_log(server: subprocess.Popen[bytes], text: str, seen: threading.Event) -> None:
    """Read the server's log to its end, setting ``seen`` once ``text`` shows."""
    assert server.stderr is not None
    tail = b""
    while chunk := server.stderr.read1(65536):
        tail = tail[-len(text) :] + chunk
        if text.encode() in tail:
            seen.set()
