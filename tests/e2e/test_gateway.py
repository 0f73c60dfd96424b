"""The gateway as a real process on loopback, in front of real backend processes."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import (
    PYTHON,
    ROOT,
    ProcessGroup,
    base_env,
    free_port,
    process_group,
    wait_until,
)

pytestmark = pytest.mark.e2e

TOKEN = "test-registration-token"
OPTIONS = {
    "HEALTH_INTERVAL": 0.3,
    "HEALTH_TIMEOUT": 0.5,
    "RELOAD_INTERVAL": 0.3,
    "MAX_BODY_BYTES": 8_000_000,
    "SHADOW_WORKERS": 4,
    "CONNECT_TIMEOUT": 0.5,
}


@dataclass
class Gateway:
    port: int
    routes: Path
    env: dict[str, str]
    ports: dict[str, int]

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        port: int | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()

    def backend_log(self, name: str) -> list[dict]:
        _, _, body = self.request("GET", "/_log", port=self.ports[name])
        return json.loads(body)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout


@pytest.fixture(scope="session")
def gateway_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database of the gateway's own, migrated once: real processes share it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gateway-db') / 'gateway.sqlite3'}"
    env = base_env(DATABASE_URL=url)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "strangler_gateway", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    return url


def start_backend(group: ProcessGroup, name: str, port: int, *extra: str) -> None:
    group.start_http(
        name,
        [PYTHON, "-m", "tests.e2e.gateway_backend", "--port", str(port), "--name", name, *extra],
        base_env(),
        f"http://127.0.0.1:{port}/readyz",
    )


def start_gateway(
    group: ProcessGroup, routes: Path, database: str, ports: dict[str, int], **options: object
) -> Gateway:
    port = free_port()
    env = base_env(
        DATABASE_URL=database,
        STRANGLER_GATEWAY_TOKEN=TOKEN,
        STRANGLER_GATEWAY_OPTIONS=json.dumps({**OPTIONS, **options}),
    )
    group.start_http(
        "gateway",
        [PYTHON, "manage.py", "rungateway", "--port", str(port), "--routes", str(routes)],
        env,
        f"http://127.0.0.1:{port}/_gateway/readyz",
    )
    return Gateway(port, routes, env, ports)


ROUTES = """
backends:
  monolith: ["http://127.0.0.1:{monolith}"]
  catalog: ["http://127.0.0.1:{catalog1}", "http://127.0.0.1:{catalog2}"]
  slow: ["http://127.0.0.1:{slow}"]
  down: ["http://127.0.0.1:{dead}"]
  orders: []
routes:
  - name: slow-shadow
    prefix: /api/catalog/products/slow/
    mode: shadow
    service: slow
    ignore: ["$.results[*].updated_at"]
  - name: catalog-shadow
    prefix: /api/catalog/
    methods: [GET, HEAD]
    mode: shadow
    service: catalog
    ignore: ["$.results[*].updated_at"]
  - name: catalog-canary
    prefix: /api/catalog/
    mode: canary
    percent: 20
    service: catalog
  - {{name: c20, prefix: /api/c20/, mode: canary, percent: 20, service: catalog}}
  - {{name: service, prefix: /api/service/, mode: service, service: catalog}}
  - {{name: orders, prefix: /api/orders/, mode: service, service: orders}}
  - {{name: legacy, prefix: /api/legacy/, mode: monolith}}
  - {{name: fallback, prefix: /api/fallback/, mode: canary, percent: 100, service: down}}
  - {{name: switch, prefix: /api/switch/, mode: monolith}}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, gateway_database: str) -> Iterator[Gateway]:
    """Monolith, two catalog instances answering a different price, a slow service, a dead port."""
    tmp = tmp_path_factory.mktemp("gateway")
    ports = {n: free_port() for n in ("monolith", "catalog1", "catalog2", "slow", "dead")}
    routes = tmp / "routes.yaml"
    routes.write_text(ROUTES.format(**ports))
    with process_group(tmp) as group:
        start_backend(group, "monolith", ports["monolith"])
        start_backend(group, "catalog1", ports["catalog1"], "--variant", "different")
        start_backend(group, "catalog2", ports["catalog2"], "--variant", "different")
        start_backend(group, "slow", ports["slow"], "--delay", "2")
        gw = start_gateway(group, routes, gateway_database, ports)
        gw.manage("shadow_report", "--reset")
        yield gw


def served_by(gateway: Gateway, method: str, path: str, **kwargs: object) -> str:
    status, headers, _ = gateway.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert status == 200, (method, path, status)
    return headers["x-served-by"]


def test_each_mode_routes_as_specified(gateway: Gateway) -> None:
    assert served_by(gateway, "GET", "/api/legacy/x") == "monolith"
    assert served_by(gateway, "GET", "/api/anything-else") == "monolith"
    assert {served_by(gateway, "GET", "/api/service/x") for _ in range(4)} == {
        "catalog1",
        "catalog2",
    }
    assert served_by(gateway, "GET", "/api/catalog/products/") == "monolith"  # shadow
    client = "a-client-in-the-canary"
    sides = {
        served_by(gateway, "POST", "/api/catalog/products/", headers={"X-Client-Id": client})
        for _ in range(5)
    }
    assert len(sides) == 1  # sticky


def test_canary_of_20_percent_over_5000_clients_is_20_percent_and_sticky(gateway: Gateway) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    sides: dict[str, bool] = {}
    try:
        for n in range(5000):
            key = f"client-{n}"
            conn.request("GET", "/api/c20/items", headers={"X-Client-Id": key})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            sides[key] = response.getheader("x-served-by") != "monolith"
        share = sum(sides.values()) / len(sides)
        assert 0.18 <= share <= 0.22, share
        for n in range(0, 5000, 10):  # every key keeps its side
            key = f"client-{n}"
            conn.request("GET", "/api/c20/items", headers={"X-Client-Id": key})
            response = conn.getresponse()
            response.read()
            assert (response.getheader("x-served-by") != "monolith") == sides[key]
    finally:
        conn.close()


def test_without_a_client_key_the_canary_sticks_to_the_client_address(gateway: Gateway) -> None:
    assert len({served_by(gateway, "GET", "/api/c20/x") for _ in range(10)}) == 1


def shadow_routes(gateway: Gateway) -> dict[str, dict]:
    report = json.loads(gateway.manage("shadow_report", "--json"))
    return {r["route"]: r for r in report["routes"]}


def test_shadow_reports_a_different_price_but_not_the_ignored_timestamp(gateway: Gateway) -> None:
    for _ in range(5):
        assert served_by(gateway, "GET", "/api/catalog/products/") == "monolith"
    route = wait_until(
        lambda: (r := shadow_routes(gateway).get("catalog-shadow")) and r["requests"] >= 5 and r,
        timeout=20,
        what="5 shadow comparisons stored",
    )
    assert route["mismatches"] == route["requests"] and route["match_rate"] == 0.0
    patterns = [d["pattern"] for d in route["top_differences"]]
    assert patterns == ["$.results[*].price"]
    assert route["top_differences"][0]["example"] == '$.results[0].price: "10.00" -> "12.00"'
    text = gateway.manage("shadow_report", "--route", "catalog-shadow")
    assert '$.results[0].price: "10.00" -> "12.00"' in text and "updated_at" not in text
    # the mirror went to the service, marked as such
    mirrored = [
        e
        for n in ("catalog1", "catalog2")
        for e in gateway.backend_log(n)
        if e["path"] == "/api/catalog/products/"
    ]
    assert mirrored and all(["x-strangler-shadow", "1"] in e["headers"] for e in mirrored)


def test_unsafe_methods_are_not_mirrored(gateway: Gateway) -> None:
    before = len(gateway.backend_log("slow"))
    status, _, _ = gateway.request("DELETE", "/api/catalog/products/slow/1")
    assert status == 200
    time.sleep(0.3)  # nothing to wait for: this asserts something does NOT happen
    assert len(gateway.backend_log("slow")) == before


def test_a_slow_shadow_service_does_not_slow_the_client(gateway: Gateway) -> None:
    def timed(path: str, port: int | None = None) -> float:
        started = time.perf_counter()
        status, _, _ = gateway.request("GET", path, port=port)
        assert status == 200
        return time.perf_counter() - started

    direct = [timed("/api/catalog/products/slow/", gateway.ports["monolith"]) for _ in range(10)]
    shadowed = [timed("/api/catalog/products/slow/") for _ in range(10)]
    assert max(shadowed) < 0.5, shadowed  # the service sleeps 2 s per request
    assert statistics.median(shadowed) < statistics.median(direct) + 0.05
    route = wait_until(
        lambda: (r := shadow_routes(gateway).get("slow-shadow")) and r["requests"] >= 10 and r,
        timeout=30,
        what="slow mirrors compared",
    )
    assert route["matches"] == route["requests"]  # same data, timestamps ignored


def test_canary_falls_back_to_the_monolith_when_the_service_is_down(gateway: Gateway) -> None:
    for _ in range(5):
        assert served_by(gateway, "GET", "/api/fallback/x") == "monolith"
    status, _, _ = gateway.request("POST", "/api/fallback/x")
    assert status in (502, 503)  # writes are never replayed elsewhere
    _, _, metrics = gateway.request("GET", "/metrics")
    assert 'gateway_canary_fallbacks_total{route="fallback"}' in metrics.decode()


def test_hop_by_hop_headers_are_removed_and_forwarding_headers_rebuilt(gateway: Gateway) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    status, headers, body = gateway.request(
        "GET",
        "/api/echo?q=1",
        headers={
            "Connection": "keep-alive, X-Private",
            "X-Private": "secret",
            "Keep-Alive": "timeout=99",
            "TE": "trailers",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Correlation-ID": "order-42",
            "traceparent": trace,
        },
    )
    assert status == 200
    seen = {}
    for name, value in json.loads(body)["headers"]:
        seen.setdefault(name, []).append(value)
    for name in ("x-private", "keep-alive", "te", "proxy-authorization"):
        assert name not in seen
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-host"] == [f"127.0.0.1:{gateway.port}"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-correlation-id"] == ["order-42"]
    assert seen["traceparent"][0].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert seen["traceparent"][0] != trace
    assert json.loads(body)["query"] == "q=1"
    # and on the way back: what the backend marked hop-by-hop stops at the gateway
    assert "x-secret-hop" not in headers and "keep-alive" not in headers
    assert headers["x-correlation-id"] == "order-42"


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_transfer_encoding_with_content_length_is_refused_and_never_proxied(
    gateway: Gateway,
) -> None:
    request = (
        b"POST /api/echo/smuggle HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert raw_request(gateway.port, request).startswith(b"HTTP/1.1 400")
    assert not [e for e in gateway.backend_log("monolith") if e["path"] == "/api/echo/smuggle"]


def test_a_body_over_the_limit_is_refused_with_413(gateway: Gateway) -> None:
    request = b"POST /api/echo/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9000000\r\n\r\n"
    assert raw_request(gateway.port, request).startswith(b"HTTP/1.1 413")

    def chunks() -> Iterator[bytes]:
        for _ in range(140):  # 140 x 64 KiB > 8 MB, sent chunked so no length is announced
            yield b"x" * 65536

    status, _, _ = gateway.request("POST", "/api/echo/big-chunked", body=chunks())  # type: ignore[arg-type]
    assert status == 413
    assert not [e for e in gateway.backend_log("monolith") if e["path"] == "/api/echo/big"]


def test_large_bodies_stream_both_ways(gateway: Gateway) -> None:
    payload = bytes(range(256)) * 20_000  # 5 MB
    status, _, body = gateway.request("POST", "/api/echo/upload", body=payload)
    assert status == 200
    assert json.loads(body)["body_sha256"] == hashlib.sha256(payload).hexdigest()
    status, _, body = gateway.request("GET", "/api/stream?n=3000000")
    assert status == 200 and len(body) == 3_000_000


def test_requests_for_hosts_the_gateway_does_not_serve_are_refused(gateway: Gateway) -> None:
    status, _, _ = gateway.request("GET", "/api/echo/evil", headers={"Host": "evil.example"})
    assert status == 421
    absolute = b"GET http://evil.example/api/echo/evil HTTP/1.1\r\nHost: evil.example\r\n\r\n"
    assert raw_request(gateway.port, absolute).startswith(b"HTTP/1.1 421")
    assert not [e for e in gateway.backend_log("monolith") if e["path"] == "/api/echo/evil"]


def test_redirects_are_passed_to_the_client_never_followed(gateway: Gateway) -> None:
    status, headers, _ = gateway.request("GET", "/api/redirect")
    assert status == 302 and headers["location"] == "http://203.0.113.9/elsewhere"


def test_registration_needs_the_token_and_a_known_backend(gateway: Gateway) -> None:
    body = json.dumps(
        {"backend": "orders", "url": f"http://127.0.0.1:{gateway.ports['catalog1']}", "ttl": 30}
    )
    status, _, _ = gateway.request("GET", "/api/orders/x")
    assert status == 503  # no instance yet
    assert gateway.request("POST", "/_gateway/instances", body=body.encode())[0] == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        gateway.request("POST", "/_gateway/instances", body=body.encode(), headers=wrong)[0] == 401
    )
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    unknown = json.dumps({"backend": "evil", "url": "http://127.0.0.1:1"}).encode()
    assert gateway.request("POST", "/_gateway/instances", body=unknown, headers=auth)[0] == 400
    assert (
        gateway.request("POST", "/_gateway/instances", body=body.encode(), headers=auth)[0] == 200
    )
    assert served_by(gateway, "GET", "/api/orders/x") == "catalog1"
    assert (
        gateway.request("DELETE", "/_gateway/instances", body=body.encode(), headers=auth)[0] == 200
    )
    assert gateway.request("GET", "/api/orders/x")[0] == 503


def test_the_routing_file_is_reloaded_without_restart(gateway: Gateway) -> None:
    assert served_by(gateway, "GET", "/api/switch/x") == "monolith"
    original = gateway.routes.read_text()
    try:
        gateway.routes.write_text(
            original.replace(
                "{name: switch, prefix: /api/switch/, mode: monolith}",
                "{name: switch, prefix: /api/switch/, mode: service, service: catalog}",
            )
        )
        wait_until(
            lambda: served_by(gateway, "GET", "/api/switch/x") != "monolith",
            timeout=10,
            what="reload",
        )
        gateway.routes.write_text("routes: [ broken")  # a broken table keeps the last good one
        time.sleep(1)  # nothing to wait for: the old table must simply stay in force
        assert served_by(gateway, "GET", "/api/switch/x") != "monolith"
    finally:
        gateway.routes.write_text(original)
    wait_until(
        lambda: served_by(gateway, "GET", "/api/switch/x") == "monolith", timeout=10, what="restore"
    )


def test_healthz_and_metrics(gateway: Gateway) -> None:
    status, _, body = gateway.request("GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    served_by(gateway, "GET", "/api/legacy/metrics-check")
    _, headers, body = gateway.request("GET", "/metrics")
    text = body.decode()
    assert headers["content-type"].startswith("text/plain")
    assert 'gateway_requests_total{route="legacy",status="200",target="monolith"}' in text
    assert "gateway_request_duration_seconds_bucket" in text
    assert 'gateway_shadow_comparisons_total{result="mismatch",route="catalog-shadow"}' in text
    assert "gateway_circuit_state" in text and "gateway_instance_healthy" in text


def test_a_killed_service_instance_causes_no_client_error_and_rejoins(
    tmp_path: Path, gateway_database: str
) -> None:
    ports = {n: free_port() for n in ("monolith", "catalog1", "catalog2")}
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        ROUTES.split("routes:")[0]
        .replace('  slow: ["http://127.0.0.1:{slow}"]\n  down: ["http://127.0.0.1:{dead}"]\n', "")
        .format(slow=0, dead=0, **ports)
        + "routes:\n  - {prefix: /api/, mode: service, service: catalog}\n"
    )
    with process_group(tmp_path) as group:
        start_backend(group, "monolith", ports["monolith"])
        start_backend(group, "catalog1", ports["catalog1"])
        second = ["--port", str(ports["catalog2"]), "--name", "catalog2"]
        start_backend(group, "catalog2", ports["catalog2"])
        gw = start_gateway(group, routes, gateway_database, ports)
        assert {served_by(gw, "GET", "/api/x") for _ in range(6)} == {"catalog1", "catalog2"}

        group.processes[2].kill()  # catalog2, SIGKILL: no goodbye
        answers = [gw.request("GET", "/api/x") for _ in range(100)]
        assert [status for status, _, _ in answers] == [200] * 100
        assert {h["x-served-by"] for _, h, _ in answers} == {"catalog1"}

        group.start_http(
            "catalog2-again",
            [PYTHON, "-m", "tests.e2e.gateway_backend", *second],
            base_env(),
            f"http://127.0.0.1:{ports['catalog2']}/readyz",
        )
        wait_until(
            lambda: "catalog2" in {served_by(gw, "GET", "/api/x") for _ in range(4)},
            timeout=15,
            what="catalog2 back in the pool",
        )
