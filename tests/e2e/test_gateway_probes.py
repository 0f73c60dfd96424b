"""The gateway probed as an attacker would, over raw sockets, as a real process on loopback.

Each test sends bytes a careful proxy must refuse (or must pass on cleaned) and checks both the
answer and what reached the backend. Limits are set small so the bounds show quickly.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.e2e.test_gateway import (  # noqa: F401 - gateway_database is a fixture
    TOKEN,
    Gateway,
    gateway_database,
    start_backend,
    start_gateway,
)
from tests.processes import free_port, process_group, wait_until

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
KEEPALIVE_TIMEOUT = 1.0
MAX_CONNECTIONS = 12
MAX_IN_FLIGHT = 2
LIMITS = {
    "HEADER_TIMEOUT": HEADER_TIMEOUT,
    "BODY_TIMEOUT": BODY_TIMEOUT,
    "KEEPALIVE_TIMEOUT": KEEPALIVE_TIMEOUT,
    "MAX_CONNECTIONS": MAX_CONNECTIONS,
    "MAX_IN_FLIGHT": MAX_IN_FLIGHT,
    "MAX_BODY_BYTES": 1_000_000,
    "UNMATCHED": "deny",
    "HEALTH_INTERVAL": 0,  # passive health alone decides: what the answers do to an instance
    "PASSIVE_FAILURES": 3,
    "EJECT_SECONDS": 60,
}

ROUTES = """
backends:
  monolith: ["http://127.0.0.1:{monolith}"]
  catalog: ["http://127.0.0.1:{catalog}"]
  slow: ["http://127.0.0.1:{slow}"]
  down: ["http://127.0.0.1:{dead}"]
  frozen: ["http://127.0.0.1:{catalog}"]
  failing: ["http://127.0.0.1:{catalog}"]
routes:
  - {{name: admin, prefix: /admin/, mode: deny}}
  - {{name: closed, prefix: /api/closed/, mode: deny, status: 403}}
  - {{name: slow, prefix: /api/catalog/products/, mode: service, service: slow}}
  - {{name: fallback, prefix: /api/fallback/, mode: canary, percent: 100, service: down}}
  - {{name: frozen, prefix: /api/frozen/, mode: service, service: frozen}}
  - {{name: failing, prefix: /api/fail/, mode: service, service: failing}}
  - {{name: api, prefix: /api/, mode: monolith}}
"""


@pytest.fixture(scope="module")
def probed(
    tmp_path_factory: pytest.TempPathFactory,
    gateway_database: str,  # noqa: F811 - the fixture imported above
) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("probes")
    ports = {n: free_port() for n in ("monolith", "catalog", "slow", "dead", "admin")}
    routes = tmp / "routes.yaml"
    routes.write_text(ROUTES.format(**ports))
    with process_group(tmp) as group:
        start_backend(group, "monolith", ports["monolith"])
        start_backend(group, "catalog", ports["catalog"])
        start_backend(group, "slow", ports["slow"], "--delay", "30")
        yield start_gateway(
            group,
            routes,
            gateway_database,
            ports,
            ADMIN_LISTEN=f"127.0.0.1:{ports['admin']}",
            **LIMITS,
        )


# -- raw socket helpers ----------------------------------------------------------------------
def connect(gateway: Gateway) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the gateway sends until it closes the connection (or the timeout passes)."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(
                f"still open after {timeout}s: {b''.join(chunks)[:200]!r}"
            ) from None
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One response: the head and a Content-Length body."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if b"transfer-encoding: chunked" in head.lower():
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def send(gateway: Gateway, data: bytes) -> bytes:
    """Send a whole request and read the answer until the gateway closes or answers."""
    with connect(gateway) as sock:
        sock.sendall(data)
        return read_response(sock)


def send_until_answered(gateway: Gateway, head: bytes, pieces: Iterator[bytes]) -> bytes:
    """Send `head` then `pieces` one at a time, stopping as soon as the gateway answers."""
    with connect(gateway) as sock:
        sock.sendall(head)
        for piece in pieces:
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_until_closed(sock)


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


def body_of(response: bytes) -> dict:
    head, _, body = response.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        data = b""
        while body:
            size, _, rest = body.partition(b"\r\n")
            length = int(size, 16)
            if not length:
                break
            data, body = data + rest[:length], rest[length + 2 :]
        body = data
    return json.loads(body)


def seen_by(gateway: Gateway, backend: str, path: str) -> list[dict]:
    return [e for e in gateway.backend_log(backend) if e["path"] == path]


def admin(gateway: Gateway, method: str, path: str, *, token: bool = True) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    status, _, body = gateway.request(method, path, headers=headers, port=gateway.ports["admin"])
    return status, body


# -- limits on the head ----------------------------------------------------------------------
def test_a_one_mebibyte_header_gets_431_before_it_is_all_sent(probed: Gateway) -> None:
    head = b"GET /api/echo/big-header HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    pieces = (b"a" * 16384 for _ in range(64))  # 1 MiB in all
    response = send_until_answered(probed, head, pieces)
    assert status_of(response) == 431
    assert body_of(response)["error"]["code"] == "headers_too_large"
    assert not seen_by(probed, "monolith", "/api/echo/big-header")


def test_one_header_line_over_the_line_limit_gets_431(probed: Gateway) -> None:
    response = send(
        probed,
        b"GET /api/echo/line HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    )
    assert status_of(response) == 431
    assert body_of(response)["error"]["code"] == "header_too_large"


def test_more_than_a_hundred_headers_get_431(probed: Gateway) -> None:
    fields = b"".join(b"X-H%d: 1\r\n" % n for n in range(101))
    response = send(
        probed, b"GET /api/echo/many HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields + b"\r\n"
    )
    assert status_of(response) == 431
    assert body_of(response)["error"]["code"] == "too_many_headers"


def test_a_request_target_over_the_line_limit_gets_414(probed: Gateway) -> None:
    response = send(
        probed, b"GET /api/echo/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert status_of(response) == 414


# -- timeouts --------------------------------------------------------------------------------
def test_a_slow_header_connection_is_closed_with_408_within_the_header_timeout(
    probed: Gateway,
) -> None:
    with connect(probed) as sock:
        sock.sendall(b"GET /api/echo/slowloris HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        for _ in range(100):  # one header byte every 50 ms: well past the timeout in all
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                break
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
        response = read_until_closed(sock, timeout=HEADER_TIMEOUT * 4)
        waited = time.monotonic() - started
    assert status_of(response) == 408
    assert waited < 5.0  # 100 bytes x 50 ms: the head timer, not the trickle, ended it
    assert not seen_by(probed, "monolith", "/api/echo/slowloris")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(probed: Gateway) -> None:
    with connect(probed) as sock:
        assert read_until_closed(sock, timeout=HEADER_TIMEOUT * 4) == b""


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
    probed: Gateway,
) -> None:
    with connect(probed) as sock:
        sock.sendall(b"GET /api/echo/keepalive HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status_of(read_response(sock)) == 200
        assert read_until_closed(sock, timeout=KEEPALIVE_TIMEOUT * 4) == b""


def test_a_body_that_stops_arriving_gets_408_within_the_body_timeout(probed: Gateway) -> None:
    with connect(probed) as sock:
        sock.sendall(
            b"POST /api/echo/slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 100\r\n\r\nonly-some"
        )
        response = read_until_closed(sock, timeout=BODY_TIMEOUT * 4)
    assert status_of(response) == 408
    assert body_of(response)["error"]["code"] == "body_timeout"


# -- bounds on connections and in-flight requests ---------------------------------------------
def test_connections_over_the_bound_are_answered_503_and_closed(probed: Gateway) -> None:
    held = [connect(probed) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:  # each accepted: it answers a request
            sock.sendall(b"GET /api/echo/held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert status_of(read_response(sock)) == 200
        with connect(probed) as extra:
            response = read_until_closed(extra)
        assert status_of(response) == 503
        assert body_of(response)["error"]["code"] == "too_many_connections"
    finally:
        for sock in held:
            sock.close()
    wait_until(
        lambda: probed.request("GET", "/api/echo/after")[0] == 200,
        timeout=10,
        what="connections accepted again",
    )


def in_flight(gateway: Gateway, backend: str) -> int:
    _, body = admin(gateway, "GET", "/_gateway/status")
    return sum(i["outstanding"] for i in json.loads(body)["backends"][backend]["instances"])


def test_requests_over_the_in_flight_bound_of_a_backend_get_503_at_once(probed: Gateway) -> None:
    def slow_request() -> None:
        try:
            with connect(probed) as sock:
                sock.sendall(b"GET /api/catalog/products/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                sock.settimeout(2)
                sock.recv(1)
        except OSError:
            pass  # closed by the test when it is done; the answer does not matter

    threads = [threading.Thread(target=slow_request, daemon=True) for _ in range(MAX_IN_FLIGHT)]
    for thread in threads:
        thread.start()
    wait_until(
        lambda: in_flight(probed, "slow") == MAX_IN_FLIGHT, timeout=10, what="requests in flight"
    )
    status, headers, body = probed.request("GET", "/api/catalog/products/")
    assert status == 503 and headers["retry-after"] == "1"
    assert json.loads(body)["error"]["code"] == "overloaded"
    assert probed.request("GET", "/api/echo/other-backend")[0] == 200  # other backends unaffected
    for thread in threads:
        thread.join(timeout=10)


# -- the target's authority, Host, framing ----------------------------------------------------
def test_an_absolute_form_target_for_another_host_gets_421(probed: Gateway) -> None:
    response = send(probed, b"GET http://evil.example/steal HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(response) == 421
    response = send(probed, b"GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(response) == 421
    assert not seen_by(probed, "monolith", "/steal")


def test_an_absolute_form_target_for_a_served_host_is_its_host(probed: Gateway) -> None:
    response = send(
        probed, b"GET http://127.0.0.1/api/echo/absolute HTTP/1.1\r\nHost: evil.example\r\n\r\n"
    )
    assert status_of(response) == 200
    headers = dict(body_of(response)["headers"])
    assert headers["host"] == "127.0.0.1"


def test_a_second_host_header_gets_400(probed: Gateway) -> None:
    response = send(
        probed,
        b"GET /api/echo/two-hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    )
    assert status_of(response) == 400
    assert not seen_by(probed, "monolith", "/api/echo/two-hosts")


def test_chunked_trailers_never_become_request_headers(probed: Gateway) -> None:
    response = send(
        probed,
        b"POST /api/echo/trailers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Injected-Auth: admin\r\n\r\n",
    )
    assert status_of(response) == 200
    echoed = body_of(response)
    assert echoed["body_length"] == 5
    assert "x-injected-auth" not in {name for name, _ in echoed["headers"]}


def test_an_unsupported_transfer_coding_gets_501(probed: Gateway) -> None:
    response = send(
        probed,
        b"POST /api/echo/gzip HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    )
    assert status_of(response) == 501
    assert not seen_by(probed, "monolith", "/api/echo/gzip")


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 4\r\nContent-Length: 5\r\n",  # two lengths
        b"Content-Length: +4\r\n",  # a signed length
        b"Content-Length: -4\r\n",
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",  # both framings
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"Transfer-Encoding: xchunked\r\n",
        b"Transfer-Encoding: chunked\x0b\r\n",
        b"Transfer-Encoding: \x0bchunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"X-Folded: a\r\n b\r\n",  # obs-fold
    ],
)
def test_ambiguous_framing_is_refused_and_never_proxied(probed: Gateway, framing: bytes) -> None:
    path = b"/api/echo/framing-%d" % abs(hash(framing))
    response = send(
        probed, b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + b"\r\n0\r\n\r\n"
    )
    assert status_of(response) in (400, 501)
    assert not seen_by(probed, "monolith", path.decode())


def test_bare_line_feeds_are_refused(probed: Gateway) -> None:
    response = send(probed, b"GET /api/echo/bare-lf HTTP/1.1\nHost: 127.0.0.1\n\n")
    assert status_of(response) == 400
    assert not seen_by(probed, "monolith", "/api/echo/bare-lf")


def test_an_oversize_body_gets_413_before_any_of_it_is_sent(probed: Gateway) -> None:
    with connect(probed) as sock:
        sock.sendall(
            b"POST /api/echo/huge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000000\r\n\r\n"
        )
        response = read_until_closed(sock)
    assert status_of(response) == 413
    assert not seen_by(probed, "monolith", "/api/echo/huge")


def test_hop_by_hop_headers_are_stripped_and_forwarding_rebuilt(probed: Gateway) -> None:
    response = send(
        probed,
        b"GET /api/echo/hops HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: X-Private\r\n"
        b"X-Private: secret\r\nProxy-Authorization: Basic eA==\r\nX-Forwarded-For: 6.6.6.6\r\n"
        b"Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n",
    )
    assert status_of(response) == 200
    headers = dict(body_of(response)["headers"])
    for name in ("x-private", "proxy-authorization", "forwarded", "x-real-ip"):
        assert name not in headers
    assert headers["x-forwarded-for"] == "127.0.0.1"
    head = response.partition(b"\r\n\r\n")[0].lower()
    assert b"x-secret-hop" not in head and b"keep-alive:" not in head  # and on the way back


# -- exposure --------------------------------------------------------------------------------
def test_denied_prefixes_and_unmatched_paths_are_answered_at_the_edge(probed: Gateway) -> None:
    assert probed.request("GET", "/admin/login/")[0] == 404
    assert probed.request("POST", "/api/closed/x", body=b"{}")[0] == 403
    assert probed.request("GET", "/not-routed/")[0] == 404  # UNMATCHED = deny
    log = probed.backend_log("monolith")
    assert not [e for e in log if e["path"].startswith(("/admin/", "/api/closed/", "/not-routed"))]


def test_metrics_and_the_admin_api_live_on_the_admin_listener(probed: Gateway) -> None:
    assert probed.request("GET", "/metrics")[0] == 404
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert probed.request("GET", "/_gateway/status", headers=headers)[0] == 404
    status, body = admin(probed, "GET", "/metrics", token=False)
    assert status == 200 and b"gateway_requests_total" in body
    assert admin(probed, "GET", "/_gateway/status", token=False)[0] == 401
    assert admin(probed, "GET", "/_gateway/status")[0] == 200
    assert probed.request("GET", "/healthz")[0] == 200  # probes stay on the main listener


# -- answers and instance health --------------------------------------------------------------
def instance(gateway: Gateway, backend: str) -> dict:
    _, body = admin(gateway, "GET", "/_gateway/status")
    return json.loads(body)["backends"][backend]["instances"][0]


def test_an_intended_503_never_ejects_an_instance_nor_opens_its_breaker(probed: Gateway) -> None:
    for _ in range(10):
        status, headers, _ = probed.request("POST", "/api/frozen/x", body=b"{}")
        assert status == 503 and headers["retry-after"] == "1"
    frozen = instance(probed, "frozen")
    assert frozen["healthy"] and frozen["circuit"] == "closed" and frozen["failures"] == 0
    # the same 503 without the mark is a failing instance: out after PASSIVE_FAILURES
    for _ in range(3):
        assert probed.request("GET", "/api/fail/x")[0] == 503
    failing = instance(probed, "failing")
    assert not failing["healthy"] and failing["failures"] == 3


def test_safe_methods_fall_back_to_the_monolith_when_the_service_is_down(probed: Gateway) -> None:
    status, headers, _ = probed.request("GET", "/api/fallback/x")
    assert status == 200 and headers["x-served-by"] == "monolith"
    assert probed.request("POST", "/api/fallback/x", body=b"{}")[0] in (502, 503)


def test_the_probes_leave_the_gateway_serving(probed: Gateway) -> None:
    assert probed.request("GET", "/api/echo/still-here")[0] == 200
