"""Tracing: off and inert without an exporter; on, kit spans continue and link events' traces."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangler.observability import tracing
from strangler.observability.context import trace_context

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402

PRODUCER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Tracing on for this test only: a provider of its own writing JSON lines to a file."""
    path = tmp_path / "spans.jsonl"
    provider = sdk.TracerProvider(
        resource=Resource.create({"service.name": "unit", "strangler.process": "pytest"}),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(tracing.JsonLinesSpanExporter(path)))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield path
    provider.shutdown()


def test_without_an_exporter_nothing_is_turned_on() -> None:
    assert tracing.exporters_requested({}) == []
    assert tracing.exporters_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ["otlp"]
    assert tracing.exporters_requested({"STRANGLER_TRACE_FILE": "/tmp/t"}) == ["file"]
    disabled = {"STRANGLER_TRACE_FILE": "/tmp/t", "OTEL_SDK_DISABLED": "true"}
    assert tracing.exporters_requested(disabled) == []


def test_spans_are_one_shared_no_op_when_tracing_is_off() -> None:
    assert not tracing.tracing_enabled()
    consumed = []

    def traceparents() -> Iterator[str]:
        consumed.append(True)
        yield PRODUCER

    with tracing.span("x") as current, tracing.batch_span("y", traceparents()) as batch:
        assert current is None and batch is None
    assert tracing.span("a") is tracing.batch_span("b", ())
    assert not consumed, "an off batch span must not iterate its events"


def test_off_the_event_carries_the_traceparent_the_request_brought() -> None:
    with trace_context(traceparent=PRODUCER):
        assert tracing.current_traceparent() == PRODUCER
    assert tracing.active_traceparent() is None


def test_malformed_traceparents_are_ignored() -> None:
    for value in (None, "", "junk", "00-xyz-abc-01", f"00-{'0' * 32}-{'1' * 16}-01"):
        assert tracing.parse_traceparent(value) is None
    context = tracing.parse_traceparent(PRODUCER)
    assert f"{context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.is_remote


def test_a_batch_of_one_trace_continues_it_and_links_every_event(exported: Path) -> None:
    with tracing.batch_span("strangler.relay.publish", [PRODUCER, PRODUCER, None]):
        inner = tracing.current_traceparent()
    (span,) = tracing.read_spans(exported)
    assert span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_span_id"] == "00f067aa0ba902b7"
    assert span["links"] == [
        {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}
    ]
    assert inner.split("-")[2] == span["span_id"], "events recorded inside carry this span"


def test_a_batch_mixing_traces_starts_its_own_and_links_each(exported: Path) -> None:
    with tracing.batch_span("strangler.inbox.apply", [PRODUCER, OTHER], kind="consumer"):
        pass
    (span,) = tracing.read_spans(exported)
    assert span["trace_id"] not in {PRODUCER.split("-")[1], OTHER.split("-")[1]}
    assert span["parent_span_id"] is None and span["kind"] == "consumer"
    assert {link["span_id"] for link in span["links"]} == {"00f067aa0ba902b7", "b7ad6b7169203331"}


def test_traced_names_what_it_works_on_and_records_failures(exported: Path) -> None:
    @tracing.traced("strangler.reconcile", lambda name, **_: {"strangler.aggregate": name})
    def reconcile(name: str, *, fail: bool = False) -> str:
        if fail:
            raise RuntimeError("peer down")
        return name

    assert reconcile("product") == "product"
    with contextlib.suppress(RuntimeError):
        reconcile("category", fail=True)
    ok, failed = tracing.read_spans(exported)
    assert ok["attributes"] == {"strangler.aggregate": "product"} and ok["status"] == "unset"
    assert failed["status"] == "error"


def test_a_torn_last_line_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text('{"name": "whole"}\n{"name": "cut')
    assert tracing.read_spans(path) == [{"name": "whole"}]
    assert tracing.read_spans(tmp_path / "missing.jsonl") == []


def test_the_process_role_is_the_management_command() -> None:
    assert tracing.process_role(["manage.py", "outbox_relay"]) == "outbox_relay"
    assert tracing.process_role(["/usr/bin/celery", "-A", "x", "worker"]) == "celery"
    assert tracing.process_role(["deploy/demo.py"]) == "demo"
