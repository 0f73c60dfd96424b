"""The direct path (GatewayHttpProtocol without uvicorn's request cycle) answers byte for byte
as the ASGI path does; what it does not take goes through the ASGI path (ADR 0014).

Two servers on loopback share one gateway app: one with the direct path, one without it. The
same raw requests go to both and the bytes that come back are compared, along with what the
backend received. A plain request on a warm backend connection takes the express lane (no task);
each way it hands a request back to a task (an answer not whole and short, a closed or silent
backend) is compared the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httptools
import pytest
import uvicorn
from uvicorn.server import ServerState

from strangler.gateway import app as app_module
from strangler.gateway import server as server_module
from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.server import ConnectionLimits, GatewayHttpProtocol, protocol_class
from strangler.gateway.sources import FileSource

CID = b"x-correlation-id: test-correlation-1\r\n"
TRACE = re.compile(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01")


async def backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echoes what it received as JSON; /chunked answers chunked, /204 with no body."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = [line.split(":", 1) for line in lines[1:]]
            length = next((int(v) for n, v in fields if n.lower() == "content-length"), 0)
            body = await reader.readexactly(length) if length else b""
            echo = json.dumps(
                {"method": method, "target": target, "fields": fields, "body": body.decode()}
            ).encode()
            common = (
                b"X-Custom: Mixed\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                b"X-Correlation-ID: backend-own\r\n"  # the client gets the gateway's id only
            )
            if target.startswith("/close"):
                return  # closes without answering
            if target.startswith("/silent"):
                await asyncio.sleep(10)
            if target.startswith("/pieces") or target.startswith("/stall"):
                # The head in two pieces, then the body in two: each arrival wakes the gateway.
                answer = b"HTTP/1.1 201 Created\r\n%sContent-Length: %d\r\n\r\n%s" % (
                    common,
                    len(echo),
                    echo,
                )
                cut = answer.index(b"\r\n\r\n") + 4
                for piece in (answer[:20], answer[20:cut], answer[cut : cut + 10]):
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.05)
                if target.startswith("/stall"):
                    await asyncio.sleep(10)  # the rest of the body never comes
                writer.write(answer[cut + 10 :])
            elif target.startswith("/chunked"):
                half = len(echo) // 2
                writer.write(
                    b"HTTP/1.1 200 OK\r\n" + common + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                    % (half, echo[:half], len(echo) - half, echo[half:])
                )
            elif target.startswith("/204"):
                writer.write(b"HTTP/1.1 204 No Content\r\n" + common + b"\r\n")
            else:
                writer.write(
                    b"HTTP/1.1 201 Created\r\n" + common + b"Content-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(echo), b"" if method == "HEAD" else echo)
                )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def listening(app: GatewayApp, *, direct: bool) -> AsyncIterator[int]:
    """The gateway's protocol on a loopback port, with or without its direct path."""
    config = uvicorn.Config(
        app if direct else _Wrapped(app),
        lifespan="off",
        ws="none",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        access_log=False,
        log_level="warning",
    )
    config.load()
    cls = protocol_class(ConnectionLimits(header_timeout=5.0))
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: cls(config=config, server_state=state, app_state={}, _loop=loop), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(state.connections):
            connection.shutdown()


class _Wrapped:
    """The gateway app as any other ASGI app: the protocol cannot call it directly."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


async def exchange(port: int, *pieces: bytes, pause: float = 0.0) -> bytes:
    """Send the pieces (pausing between them) and read until the gateway closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for index, piece in enumerate(pieces):
        if index and pause:
            await asyncio.sleep(pause)
        writer.write(piece)
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    return TRACE.sub(b"<trace>", answer)


@pytest.fixture
def gateway(tmp_path: Path) -> Any:
    async def make() -> tuple[GatewayApp, asyncio.Server]:
        back = await asyncio.start_server(backend, "127.0.0.1", 0)
        port = back.sockets[0].getsockname()[1]
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            f'backends:\n  monolith: ["http://127.0.0.1:{port}"]\n'
            "routes:\n  - {name: denied, prefix: /denied/, mode: deny}\n"
            "  - {name: rest, prefix: /, mode: monolith}\n"
        )
        app = GatewayApp(
            GatewaySettings(health_interval=0, max_body_bytes=1000, read_timeout=0.5),
            FileSource(routes),
        )
        await app.start()
        return app, back

    return make


@pytest.fixture
def direct_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the direct path answered (on the express lane or in a task)."""
    calls: list[str] = []
    init = server_module._DirectCycle.__init__

    def counted(self: Any, protocol: Any, scope: Any, body: bytes, *, keep_alive: bool) -> None:
        calls.append(scope["path"])
        init(self, protocol, scope, body, keep_alive=keep_alive)

    monkeypatch.setattr(server_module._DirectCycle, "__init__", counted)
    return calls


@pytest.fixture
def express_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the express lane took, and of those it handed to a task."""
    calls: list[str] = []
    answer = GatewayApp.answer_direct
    hand_off = app_module._Express._hand_off

    def counted(self: GatewayApp, cycle: Any) -> bool:
        taken = answer(self, cycle)
        if taken:
            calls.append(cycle.scope["path"])
        return taken

    def handed(self: Any) -> None:
        calls.append("task:" + self.cycle.scope["path"])
        hand_off(self)

    monkeypatch.setattr(GatewayApp, "answer_direct", counted)
    monkeypatch.setattr(app_module._Express, "_hand_off", handed)
    return calls


def both(gateway: Any, *pieces: bytes, pause: float = 0.0) -> tuple[bytes, bytes]:
    """The answers of the direct path and of the ASGI path to the same bytes."""

    async def run() -> tuple[bytes, bytes]:
        app, back = await gateway()
        try:
            async with listening(app, direct=True) as port:
                direct = await exchange(port, *pieces, pause=pause)
            async with listening(app, direct=False) as port:
                asgi = await exchange(port, *pieces, pause=pause)
            return direct, asgi
        finally:
            await app.stop()
            back.close()

    return asyncio.run(run())


def get(path: str, *extra: bytes, method: bytes = b"GET", close: bool = True) -> bytes:
    head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s" % (method, path.encode(), CID)
    return head + b"".join(extra) + (b"Connection: close\r\n" if close else b"") + b"\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        get("/api/products/?page=2&x=%41"),
        get("/api/%7Euser/"),
        get("/api/head", method=b"HEAD"),
        get("/chunked/"),
        get("/204"),
        get("/denied/x"),
        get("/api/x", b"Keep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 6.6.6.6\r\n"),
        get("/api/post", b"Content-Length: 5\r\n", method=b"POST") + b"hello",
        get("/api/post", b"Content-Length: 1001\r\n", method=b"POST") + b"x" * 1001,
        get("/api/chunked-up", b"Transfer-Encoding: chunked\r\n", method=b"PUT")
        + b"5\r\nhello\r\n0\r\nX-Trailer: no\r\n\r\n",
        get("/api/te", b"Transfer-Encoding: gzip, chunked\r\n", method=b"POST") + b"0\r\n\r\n",
        get("/api/x", close=False).replace(b"Host: 127.0.0.1", b"Host: evil.example"),
        b"GET /api/old HTTP/1.0\r\nHost: 127.0.0.1\r\n" + CID + b"\r\n",
        b"GET http://127.0.0.1/api/absolute HTTP/1.1\r\nHost: x\r\n" + CID + b"Connection: close"
        b"\r\n\r\n",
    ],
    ids=[
        "query",
        "escaped-path",
        "head",
        "chunked-answer",
        "204",
        "denied",
        "hop-by-hop",
        "post",
        "post-over-limit",
        "chunked-body",
        "gzip-chunked",
        "unknown-host",
        "http-1.0",
        "absolute-form",
    ],
)
def test_the_direct_path_answers_as_the_asgi_path_does(
    gateway: Any, direct_calls: list[str], request_bytes: bytes
) -> None:
    direct, asgi = both(gateway, request_bytes)
    assert direct == asgi
    assert direct.startswith(b"HTTP/1.1 ")
    assert b"backend-own" not in direct
    assert len(direct_calls) == 1  # the direct server answered directly, the other did not


def test_what_the_backend_sees_is_the_same(gateway: Any, direct_calls: list[str]) -> None:
    request = get("/api/echo?q=1", b"Content-Length: 3\r\nX-Forwarded-Host: h\r\n", method=b"PATCH")
    direct, asgi = both(gateway, request + b"abc")
    echoed = json.loads(direct.split(b"\r\n\r\n", 1)[1])
    assert echoed["method"] == "PATCH" and echoed["target"] == "/api/echo?q=1"
    assert echoed["body"] == "abc"
    names = [name.lower() for name, _ in echoed["fields"]]
    assert "x-forwarded-for" in names and "traceparent" in names and "connection" not in names
    assert direct == asgi and direct_calls == ["/api/echo"]


def test_pipelined_requests_are_answered_in_order(gateway: Any, direct_calls: list[str]) -> None:
    pipelined = (
        get("/api/1", close=False)
        + get("/api/2", b"Content-Length: 2\r\n", method=b"POST", close=False)
        + b"ok"
        + get("/_gateway/readyz", close=False)
        + get("/api/4", b"Expect: 100-continue\r\nContent-Length: 1\r\n", close=False)
        + b"x"
        + get("/api/5")
    )
    direct, asgi = both(gateway, pipelined)
    assert direct == asgi
    answers = direct.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"201", b"201", b"200", b"100", b"201", b"201"]
    targets = [json.loads(a.split(b"\r\n\r\n", 1)[1])["target"] for a in answers if b"201" in a[:3]]
    assert targets == ["/api/1", "/api/2", "/api/4", "/api/5"]
    assert sorted(direct_calls) == ["/api/1", "/api/2", "/api/5"]


def test_a_body_in_pieces_goes_through_the_asgi_path(gateway: Any, direct_calls: list[str]) -> None:
    head = get("/api/slow-body", b"Content-Length: 10\r\n", method=b"POST")
    direct, asgi = both(gateway, head + b"hello", b"world", pause=0.05)
    assert direct == asgi and b'"body": "helloworld"' in direct
    assert direct_calls == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        get("/healthz"),
        get("/_gateway/readyz"),
        get("/metrics"),
        get("/api/x", b"Expect: 100-continue\r\nContent-Length: 2\r\n", method=b"POST") + b"ok",
    ],
    ids=["healthz", "readyz", "metrics", "expect"],
)
def test_the_gateways_own_paths_and_expect_go_through_the_asgi_path(
    gateway: Any, direct_calls: list[str], request_bytes: bytes
) -> None:
    direct, asgi = both(gateway, request_bytes)
    if b"/metrics" not in request_bytes:  # the metrics' own numbers differ between the calls
        assert direct == asgi
    assert direct.startswith(b"HTTP/1.1 ") and direct_calls == []


def test_only_the_bare_gateway_app_is_served_directly(tmp_path: Path) -> None:
    async def run() -> tuple[Any, Any]:
        routes = tmp_path / "routes.yaml"
        routes.write_text('backends:\n  monolith: ["http://127.0.0.1:9"]\nroutes: []\n')
        app = GatewayApp(GatewaySettings(health_interval=0), FileSource(routes))
        made = []
        for wrapped in (app, _Wrapped(app)):
            config = uvicorn.Config(
                wrapped, lifespan="off", access_log=False, proxy_headers=False, log_level="warning"
            )
            config.load()
            protocol = GatewayHttpProtocol(config=config, server_state=ServerState(), app_state={})
            made.append(protocol._direct_app)
        return made[0], made[1]

    bare, wrapped = asyncio.run(run())
    assert isinstance(bare, GatewayApp) and wrapped is None


def test_plain_requests_on_a_warm_connection_take_the_express_lane(
    gateway: Any, express_calls: list[str]
) -> None:
    """The first request opens the backend connection (in a task); the next ones reuse it from
    the protocol's callbacks, with the same bytes to the client and the backend."""
    pipelined = (
        get("/api/1", close=False)
        + get("/api/2", b"X-Forwarded-For: 6.6.6.6\r\n", close=False)
        + get("/api/3", method=b"HEAD", close=False)
        + get("/204", close=False)
        + get("/api/5", b"Content-Length: 2\r\n", method=b"POST", close=False)
        + b"ok"
        + get("/api/6")
    )
    direct, asgi = both(gateway, pipelined)
    assert direct == asgi
    assert [a[:3] for a in direct.split(b"HTTP/1.1 ")[1:]] == [b"201"] * 3 + [b"204"] + [b"201"] * 2
    # /api/1 opens the backend connection and the POST has a body: both go through a task.
    assert express_calls == ["/api/2", "/api/3", "/204", "/api/6"]


@pytest.mark.parametrize(
    ("path", "expected", "status"),
    [
        ("/chunked/", ["/chunked/", "task:/chunked/"], b"200"),  # not a Content-Length answer
        ("/pieces/", ["/pieces/"], b"201"),  # head and body in pieces: still the express lane's
        ("/close/", ["/close/", "task:/close/"], b"502"),  # closed unanswered: retried, then 502
        ("/silent/", ["/silent/", "task:/silent/"], b"504"),  # no head within READ_TIMEOUT
        ("/stall/", ["/stall/", "task:/stall/"], b"504"),  # a short body stops: nothing sent yet
    ],
    ids=["chunked", "pieces", "closed", "silent", "stalled-body"],
)
def test_what_the_express_lane_hands_to_a_task_is_answered_as_before(
    gateway: Any, express_calls: list[str], path: str, expected: list[str], status: bytes
) -> None:
    warm = get("/api/warm", close=False)  # opens the connection the express lane then reuses
    direct, asgi = both(gateway, warm + get(path))
    assert direct == asgi
    assert direct.rsplit(b"HTTP/1.1 ", 1)[1][:3] == status  # the second answer's status
    assert express_calls == expected


@pytest.fixture
def unparsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The targets of the heads taken without the parser (`_plain_head`)."""
    taken: list[str] = []
    plain = server_module.GatewayHttpProtocol._plain_head

    def counted(self: Any, data: bytes) -> bool:
        result = plain(self, data)
        if result:
            taken.append(self.scope["raw_path"].decode())
        return result

    monkeypatch.setattr(server_module.GatewayHttpProtocol, "_plain_head", counted)
    return taken


@pytest.mark.parametrize(
    ("request_bytes", "plain"),
    [
        (get("/api/q?page=2&x=%41", close=False), True),
        (get("/api/%7Euser/", close=False), True),
        (get("/api/q?a?b=", close=False), True),
        (get("/api/q?", close=False), True),
        (get('//api/{x}|"^`!$;', close=False), True),
        (get("/api/head", method=b"HEAD", close=False), True),
        (get("/api/ows", b"X-Padded:  \tvalue \t\r\nx-lower:v\r\n", close=False), True),
        (get("/api/obs", b"X-Text: caf\xc3\xa9\r\n", close=False), True),
        (get("/api/two-hosts", b"Host: other\r\n", close=False), True),  # the app's 400
        (get("/healthz", close=False), False),  # the gateway's own path
        (get("/api/frag#x", close=False), False),
        (get("/api/k", b"Keep-Alive: 5\r\n", close=False), False),
        (get("/api/c", b"Content-Length: 0\r\n", close=False), False),
        (get("/api/bad name", close=False), False),
        (get("/api/p", method=b"POST", close=False), False),
        (get("/api/x", b"Bad Name: v\r\n", close=False), False),
        (b"GET /api/old HTTP/1.0\r\nHost: 127.0.0.1\r\n" + CID + b"\r\n", False),
    ],
    ids=[
        "query",
        "escaped-path",
        "two-question-marks",
        "empty-query",
        "odd-characters",
        "head",
        "padded-values",
        "obs-text",
        "two-hosts",
        "own-path",
        "fragment",
        "keep-alive-field",
        "content-length",
        "space-in-target",
        "post",
        "bad-field-name",
        "http-1.0",
    ],
)
def test_a_plain_head_in_one_read_skips_the_parser_and_is_answered_the_same(
    gateway: Any, unparsed: list[str], request_bytes: bytes, plain: bool
) -> None:
    """Its own read (the last request, with Connection: close, comes a moment later): answered
    byte for byte as the ASGI path answers it, parsed by httptools or not."""
    direct, asgi = both(gateway, request_bytes, get("/api/last"), pause=0.05)
    assert direct == asgi and direct.startswith(b"HTTP/1.1 ")
    path = request_bytes.split(b" ", 2)[1].partition(b"?")[0].decode()
    assert unparsed == ([path] if plain else [])


def test_a_plain_targets_path_and_query_are_what_the_url_parser_makes_of_it() -> None:
    """The plain head splits its target at the first `?` instead of calling httptools'
    parse_url: the same for every target its pattern lets through (no space, `#` or control)."""
    alphabet = [bytes([c]) for c in range(0x21, 0x7F) if c != ord("#")]
    targets = [b"/" + a + b"x" + b + b"?" + a + b for a in alphabet for b in (b"", b"?", b"/", a)]
    for target in targets:
        assert server_module._PLAIN_REQUEST.fullmatch(b"GET %s HTTP/1.1\r\n\r\n" % target)
        parsed = httptools.parse_url(target)
        raw_path, _, query = target.partition(b"?")
        assert (raw_path, query) == (parsed.path, parsed.query or b""), target
