"""Each way the other side can fail to be a strangler-kit peer gives one line: what, what to do.

A real HTTP server on 127.0.0.1 answers as each kind of mismatch would (another web server, a JSON
API, a peer of another version, a refusal, silence); the client's message is asserted whole.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strangler.cutover.sides import HttpSide
from strangler.sync.conf import sync_settings
from strangler.sync.internal_api import (
    PROTOCOL_VERSION,
    InternalClient,
    NotAPeer,
    PeerAnswerInvalid,
    PeerFailed,
    PeerRefused,
    PeerTimeout,
    PeerUnreachable,
    PeerVersionMismatch,
    kit_version,
)
from strangler.sync.peers import HttpPeer

PEERS = "STRANGLER_SYNC['PEERS']['catalog']"
DESCRIBE = "/internal/sync/catalog/product/describe/"
SYNC_MOUNT = (
    f"check {PEERS} points at the other side's base URL and that side includes "
    "strangler.sync.urls at /internal/sync/"
)
SAME_KIT = "install the same strangler-kit version on both sides"
NEWER = PROTOCOL_VERSION + 1  # a peer of a later kit
OURS = {"X-Strangler-Protocol": str(PROTOCOL_VERSION), "X-Strangler-Kit": "0.1.0"}
BOUNDS = {"signature": "id:int", "count": 3, "min_key": 1, "max_key": 3}
HTML = b"<!doctype html><html><body><h1>Not Found</h1></body></html>"


@dataclass
class Reply:
    """What the fake server answers next; `hang` waits until released, `drop` closes the socket."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    drop: bool = False


@dataclass
class FakeServer:
    url: str
    reply: Reply = field(default_factory=Reply)
    received: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        fake: FakeServer = self.server.fake  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake.received.append(dict(self.headers))
        reply = fake.reply
        if reply.hang:
            fake.release.wait(timeout=30)
            return
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests assert on what the client says, not on the server's log."""


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    fake = FakeServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture
def fake(server: FakeServer) -> Iterator[FakeServer]:
    server.reply = Reply()
    server.received.clear()
    server.release.clear()
    yield server
    server.release.set()


def json_reply(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(data).encode(), headers=dict(headers or {}))


def describe(url: str, *, timeout: float = 10.0) -> None:
    client = InternalClient(
        url, context="catalog", configured_by=PEERS, token="t0ken", timeout=timeout
    )
    peer = HttpPeer(client)
    try:
        peer.describe(sync_settings().aggregate("catalog", "product"))
    finally:
        peer.close()


def message_of(error: type[Exception], url: str, **kwargs: float) -> str:
    with pytest.raises(error) as caught:
        describe(url, **kwargs)
    text = str(caught.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html", HTML),
        (200, "text/html", HTML),
        (200, "text/plain", b"hello"),
        (405, "application/json", b'{"detail": "Method \\"POST\\" not allowed."}'),
    ],
    ids=["404-html", "200-html", "200-text", "405-json"],
)
def test_another_web_server_at_the_peer_url_is_named_as_such(fake, status, content_type, body):
    fake.reply = Reply(status=status, content_type=content_type, body=body)
    assert message_of(NotAPeer, fake.url) == (
        f"peer {fake.url} for context catalog answered {status} {content_type} at {DESCRIBE}: "
        f"not a strangler-kit sync endpoint; {SYNC_MOUNT}"
    )


def test_json_of_another_shape_without_a_protocol_version_is_not_a_peer(fake):
    fake.reply = json_reply({"status": "ok", "items": []})
    assert message_of(NotAPeer, fake.url) == (
        f"peer {fake.url} for context catalog answered 200 application/json without a protocol "
        f"version at {DESCRIBE}: not a strangler-kit sync endpoint, or one older than protocol "
        f"{PROTOCOL_VERSION}; {SYNC_MOUNT}, and both sides run the same strangler-kit version"
    )


def test_a_peer_of_another_protocol_version_is_named_with_both_versions(fake):
    newer = {"X-Strangler-Protocol": str(NEWER), "X-Strangler-Kit": "9.0.0"}
    fake.reply = json_reply({"bounds": BOUNDS}, headers=newer)
    assert message_of(PeerVersionMismatch, fake.url) == (
        f"peer {fake.url} for context catalog speaks internal protocol {NEWER} "
        f"(strangler-kit 9.0.0), this side {PROTOCOL_VERSION} "
        f"(strangler-kit {kit_version()}): {SAME_KIT}"
    )


def test_the_version_in_the_body_counts_when_a_proxy_dropped_the_header(fake):
    fake.reply = json_reply({**BOUNDS, "protocol": NEWER, "kit": "9.0.0"})
    assert f"speaks internal protocol {NEWER} (strangler-kit 9.0.0)" in message_of(
        PeerVersionMismatch, fake.url
    )


def test_a_missing_field_is_named(fake):
    fake.reply = json_reply({"count": 3, "min_key": 1, "max_key": 3}, headers=OURS)
    assert message_of(PeerAnswerInvalid, fake.url) == (
        f"peer {fake.url} for context catalog answered {DESCRIBE} without the field "
        f"'signature': {SAME_KIT}"
    )


def test_a_field_of_the_wrong_type_is_named(fake):
    fake.reply = json_reply({**BOUNDS, "count": "many"}, headers=OURS)
    assert message_of(PeerAnswerInvalid, fake.url) == (
        f"peer {fake.url} for context catalog answered {DESCRIBE} with a malformed field "
        f"(invalid literal for int() with base 10: 'many'): {SAME_KIT}"
    )


def test_a_peer_that_refuses_the_token_says_so(fake):
    refusal = {"error": "missing or wrong X-Strangler-Token."}
    fake.reply = json_reply(refusal, status=403, headers=OURS)
    assert message_of(PeerRefused, fake.url) == (
        f"peer {fake.url} for context catalog refused the token (403: missing or wrong "
        "X-Strangler-Token.): set the same STRANGLER_INTERNAL_TOKEN on both sides"
    )
    assert fake.received[-1]["X-Strangler-Token"] == "t0ken"
    assert fake.received[-1]["X-Strangler-Protocol"] == str(PROTOCOL_VERSION)


def test_a_401_from_whatever_answers_is_a_refusal(fake):
    fake.reply = Reply(status=401, content_type="text/html", body=b"<h1>Unauthorized</h1>")
    assert message_of(PeerRefused, fake.url) == (
        f"peer {fake.url} for context catalog refused the request (401 text/html) at "
        f"{DESCRIBE}: set the same STRANGLER_INTERNAL_TOKEN on both sides"
    )


def test_a_server_error_points_at_the_other_sides_log(fake):
    fake.reply = Reply(status=500, content_type="text/html", body=b"<h1>Server Error</h1>")
    assert message_of(PeerFailed, fake.url) == (
        f"peer {fake.url} for context catalog failed with 500 text/html at {DESCRIBE}: read the "
        "log of the other side"
    )


def test_a_peer_that_does_not_know_the_aggregate_says_which_setting_to_align(fake):
    error = "unknown aggregate catalog.product; STRANGLER_SYNC lists: nothing."
    fake.reply = json_reply({"error": error}, status=404, headers=OURS)
    assert message_of(PeerFailed, fake.url) == (
        f"peer {fake.url} for context catalog answered 404 at {DESCRIBE}: {error}; list the "
        "same aggregates in STRANGLER_SYNC['CONTEXTS'] on both sides"
    )


def test_nothing_listening_is_a_refused_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        # Bound but not listening: every connection to the port is refused.
        assert message_of(PeerUnreachable, url) == (
            f"peer {url} for context catalog refused the connection: check that the other side "
            f"is running and {PEERS} is its base URL"
        )


def test_a_silent_peer_times_out(fake):
    fake.reply = Reply(hang=True)
    assert message_of(PeerTimeout, fake.url, timeout=0.3) == (
        f"peer {fake.url} for context catalog did not answer {DESCRIBE} within 0.3s: check that "
        f"the other side is running and {PEERS} is its base URL, or raise "
        "STRANGLER_SYNC['PEER_TIMEOUT'] if it is only slow"
    )


def test_a_peer_that_hangs_up_without_an_answer(fake):
    fake.reply = Reply(drop=True)
    assert message_of(PeerUnreachable, fake.url) == (
        f"peer {fake.url} for context catalog broke off at {DESCRIBE} (RemoteProtocolError: "
        "Server disconnected without sending a response.): check that the other side is "
        f"running and {PEERS} is its base URL"
    )


def test_the_cutover_side_names_its_own_endpoints_and_option(fake):
    fake.reply = Reply(status=404, content_type="text/html", body=HTML)
    client = InternalClient(
        fake.url, context="catalog", configured_by="--peer", token="t0ken", timeout=10
    )
    side = HttpSide("service", client)
    try:
        with pytest.raises(NotAPeer) as caught:
            side.state("catalog")
    finally:
        side.close()
    assert str(caught.value) == (
        f"peer {fake.url} for context catalog answered 404 text/html at "
        "/internal/cutover/catalog/state/: not a strangler-kit cutover endpoint; check --peer "
        "points at the other side's base URL and that side includes strangler.cutover.urls at "
        "/internal/cutover/"
    )


def test_a_cutover_state_missing_a_field_is_named(fake):
    fake.reply = json_reply({"outbox_pending": 0}, headers=OURS)
    client = InternalClient(
        fake.url, context="catalog", configured_by="--peer", token="t0ken", timeout=10
    )
    side = HttpSide("service", client)
    try:
        with pytest.raises(PeerAnswerInvalid, match="without the field 'name'"):
            side.state("catalog")
    finally:
        side.close()


def test_reconcile_turns_a_mismatch_into_a_command_error_of_one_line(db, fake):
    fake.reply = Reply(status=404, content_type="text/html", body=HTML)
    with pytest.raises(CommandError) as caught:
        call_command(
            "reconcile",
            "catalog.product",
            "--target",
            fake.url,
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert str(caught.value) == (
        f"peer {fake.url} for context catalog answered 404 text/html at {DESCRIBE}: not a "
        "strangler-kit sync endpoint; check --target points at the other side's base URL and "
        "that side includes strangler.sync.urls at /internal/sync/"
    )


def test_reconcile_names_the_peers_setting_when_the_url_came_from_it(db, fake, settings):
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "PEERS": {"catalog": fake.url}}
    fake.reply = json_reply({"status": "ok"})
    with pytest.raises(CommandError, match=r"\['PEERS'\]\['catalog'\] points at"):
        call_command("reconcile", "catalog", stdout=StringIO(), stderr=StringIO())


# -- the serving side: the same check for both internal APIs, and a stamp on every answer --------

SYNC_URL = "/internal/sync/catalog/product/describe/"
CUTOVER_URL = "/internal/cutover/catalog/state/"


@pytest.mark.parametrize("url", [SYNC_URL, CUTOVER_URL])
def test_a_caller_of_another_protocol_is_refused_with_both_versions(client, db, monkeypatch, url):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    response = client.post(
        url,
        content_type="application/json",
        HTTP_X_STRANGLER_TOKEN="s3cret",
        HTTP_X_STRANGLER_PROTOCOL="7",
        HTTP_X_STRANGLER_KIT="7.0.0",
    )
    assert response.status_code == 409
    assert response.json()["error"] == (
        f"this side speaks internal protocol {PROTOCOL_VERSION} (strangler-kit {kit_version()}), "
        f"the caller 7 (strangler-kit 7.0.0): {SAME_KIT}."
    )
    assert response["X-Strangler-Protocol"] == str(PROTOCOL_VERSION)


def test_a_caller_without_a_protocol_version_is_refused(client, db, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    response = client.post(
        SYNC_URL, content_type="application/json", HTTP_X_STRANGLER_TOKEN="s3cret"
    )
    assert response.status_code == 409
    assert "the caller none (strangler-kit older than protocol 1)" in response.json()["error"]


@pytest.mark.parametrize("url", [SYNC_URL, CUTOVER_URL])
def test_both_internal_apis_refuse_a_wrong_token_the_same_way(client, db, monkeypatch, url):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    response = client.post(
        url,
        content_type="application/json",
        HTTP_X_STRANGLER_TOKEN="wrong",
        HTTP_X_STRANGLER_PROTOCOL=str(PROTOCOL_VERSION),
    )
    assert response.status_code == 403
    assert response.json()["error"] == "missing or wrong X-Strangler-Token."
    assert response["X-Strangler-Protocol"] == str(PROTOCOL_VERSION)


def test_every_answer_carries_the_protocol_and_kit_version(client, db, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    response = client.post(
        CUTOVER_URL,
        content_type="application/json",
        HTTP_X_STRANGLER_TOKEN="s3cret",
        HTTP_X_STRANGLER_PROTOCOL=str(PROTOCOL_VERSION),
    )
    assert response.status_code == 200
    assert response["X-Strangler-Protocol"] == str(PROTOCOL_VERSION)
    assert response["X-Strangler-Kit"] == kit_version()
    body = response.json()
    assert (body["protocol"], body["kit"], body["name"]) == (
        PROTOCOL_VERSION,
        kit_version(),
        "monolith",
    )


@pytest.mark.django_db(databases=["default", "control"])
def test_migration_status_shows_the_mismatch_in_place_of_the_other_side(fake):
    fake.reply = Reply(status=404, content_type="text/html", body=HTML)
    out = StringIO()
    call_command("migration_status", "catalog", "--peer", fake.url, "--no-versions", stdout=out)
    assert (
        f"  catalog-service: cannot be asked: peer {fake.url} for context catalog answered 404 "
        "text/html at /internal/cutover/catalog/state/: not a strangler-kit cutover endpoint; "
        "check --peer "
        "points at the other side's base URL and that side includes strangler.cutover.urls at "
        "/internal/cutover/\n"
    ) in out.getvalue()


@pytest.mark.django_db(databases=["default", "control"])
def test_a_cutover_dry_run_names_a_peer_of_another_version(fake):
    fake.reply = json_reply(
        {"error": "x"}, status=409, headers={"X-Strangler-Protocol": str(NEWER)}
    )
    out = StringIO()
    call_command(
        "cutover", "catalog", "--to", "service", "--peer", fake.url, "--dry-run", stdout=out
    )
    assert (
        f"catalog-service: cannot be asked: peer {fake.url} for context catalog speaks internal "
        f"protocol {NEWER} (strangler-kit unknown), this side {PROTOCOL_VERSION} (strangler-kit "
        f"{kit_version()}): {SAME_KIT}\n"
    ) in out.getvalue()
