"""OpenTelemetry for every process: set up once, and off (one global check) when nothing exports.

Tracing is on when the process has somewhere to send spans: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) exports OTLP over HTTP, `STRANGLER_TRACE_FILE` appends one
JSON object per span to a file (the demo and the tests read it). Without either, or without the
`otel` extra installed, `span()` and `batch_span()` return a shared no-op context manager and no
SDK code runs on the hot path.

The official instrumentations (Django, psycopg, httpx, Celery, ASGI for the gateway) are turned
on when tracing is. The kit's own spans are made here: `record_event`, relay publish and inbox
apply per batch (linked to each event's producing span), cutover steps, reconcile and backfill.
W3C trace context travels on the broker in each event's CloudEvents `traceparent` attribute.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from strangler.observability.context import current_trace

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

TRACE_FILE_VARIABLE = "STRANGLER_TRACE_FILE"
_OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_NOOP = contextlib.nullcontext()
_tracer: Any = None  # an opentelemetry Tracer once configure_tracing() turned tracing on
_configured = False
_lock = threading.Lock()


def tracing_enabled() -> bool:
    """True when this process exports spans."""
    return _tracer is not None


def exporters_requested(environ: Mapping[str, str] | None = None) -> list[str]:
    """Which exporters the environment asks for: "otlp", "file" (none means tracing is off)."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    wanted = []
    if any(environ.get(name) for name in _OTLP_VARIABLES):
        wanted.append("otlp")
    if environ.get(TRACE_FILE_VARIABLE):
        wanted.append("file")
    return wanted


def process_role(argv: Sequence[str] | None = None) -> str:
    """What this process is, for the `strangler.process` resource attribute: the management
    command (`runserver`, `outbox_relay`, `consume_events`, `rungateway`) or the program."""
    argv = sys.argv if argv is None else argv
    program = os.path.basename(argv[0]) if argv else ""
    if program in ("manage.py", "django-admin") and len(argv) > 1:
        return argv[1]
    if program in ("celery", "uvicorn", "gunicorn"):
        return program
    return program.removesuffix(".py") or "python"


def configure_tracing(service_name: str | None = None) -> bool:
    """Turn tracing on for this process when an exporter is configured; True when it is on.

    Called once per process (InboxConfig.ready, the gateway's entry points); later calls return
    what the first decided. `service_name` defaults to OTEL_SERVICE_NAME, then "gateway" for
    the gateway, then the project's STRANGLER_SERVICE_NAME.
    """
    global _configured, _tracer
    with _lock:
        if _configured:
            return _tracer is not None
        _configured = True
        wanted = exporters_requested()
        if not wanted:
            return False
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError:
            logger.warning(
                "tracing asked for (%s) but OpenTelemetry is not installed: "
                "pip install 'strangler-kit[otel]'",
                ", ".join(wanted),
            )
            return False
        role = process_role()
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name or _default_service_name(role)
        provider = TracerProvider(
            resource=Resource.create({"service.name": name, "strangler.process": role})
        )
        if "otlp" in wanted:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        if "file" in wanted:
            path = os.environ.get("STRANGLER_TRACE_FILE", "")
            # Synchronous: the demo and tests read the file while processes run, and a
            # short-lived command must not exit with spans still queued.
            provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
        trace.set_tracer_provider(provider)
        _tracer = provider.get_tracer("strangler")
        _instrument_libraries()
        logger.info("tracing on", extra={"service": name, "role": role, "exporters": wanted})
        return True


def _default_service_name(role: str) -> str:
    if role == "rungateway":
        return "gateway"
    try:
        from django.conf import settings

        return getattr(settings, "STRANGLER_SERVICE_NAME", "") or "strangler"
    except ImportError:  # pragma: no cover - the kit always has Django
        return "strangler"


def _instrument_libraries() -> None:
    """The official instrumentations that are installed; each is optional."""
    instrumentations = (
        ("opentelemetry.instrumentation.django", "DjangoInstrumentor"),
        ("opentelemetry.instrumentation.psycopg", "PsycopgInstrumentor"),
        ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
        ("opentelemetry.instrumentation.celery", "CeleryInstrumentor"),
    )
    import importlib

    for module_name, class_name in instrumentations:
        try:
            instrumentor = getattr(importlib.import_module(module_name), class_name)()
        except ImportError:
            continue
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def instrument_asgi(app: Any) -> Any:
    """The gateway's ASGI app wrapped in OpenTelemetry's ASGI middleware when tracing is on."""
    if _tracer is None:
        return app
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError:
        return app
    return OpenTelemetryMiddleware(app)


# -- trace context ---------------------------------------------------------------------------


def active_traceparent() -> str | None:
    """The W3C traceparent of the span current in this process, or None (tracing off, no span)."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The traceparent to stamp on an event: the current span's, else the one the request or
    event being handled carried (TraceContextMiddleware, the inbox)."""
    return active_traceparent() or current_trace().traceparent


def parse_traceparent(value: str | None) -> Any:
    """A remote SpanContext from a W3C traceparent, or None when it is absent or malformed."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    from opentelemetry.trace import SpanContext, TraceFlags

    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))


# -- spans -----------------------------------------------------------------------------------


def span(
    name: str,
    *,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    parent: str | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A span around a block (a no-op when tracing is off); `parent` is a traceparent to continue
    instead of the current span (an event's producing span)."""
    if _tracer is None:
        return _NOOP
    return _start(name, kind, attributes, parent_context=parse_traceparent(parent), links=())


def batch_span(
    name: str,
    traceparents: Iterable[str | None],
    *,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A span for a batch of events, linked to each event's producing span.

    When every event of the batch comes from one trace, the span also continues that trace (a
    request that wrote three events is one trace from the front door to the service); a batch
    mixing traces starts under the current span, its events reachable through the links.
    `traceparents` is not iterated when tracing is off.
    """
    if _tracer is None:
        return _NOOP
    contexts = {}
    for value in traceparents:
        context = parse_traceparent(value)
        if context is not None:
            contexts.setdefault((context.trace_id, context.span_id), context)
    linked = list(contexts.values())
    parent = linked[0] if linked and len({c.trace_id for c in linked}) == 1 else None
    return _start(name, kind, attributes, parent_context=parent, links=linked)


def traced(
    name: str, attributes: Callable[..., Mapping[str, Any]] | None = None
) -> Callable[[F], F]:
    """Decorate a coarse operation (a reconcile, a backfill run) with a span of its own;
    `attributes(*args, **kwargs)` names what it works on and runs only when tracing is on."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _tracer is None:
                return function(*args, **kwargs)
            with span(name, attributes=attributes(*args, **kwargs) if attributes else None):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


@contextlib.contextmanager
def _start(
    name: str,
    kind: str,
    attributes: Mapping[str, Any] | None,
    *,
    parent_context: Any,
    links: Sequence[Any],
) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.trace import Link, NonRecordingSpan, SpanKind

    context = None
    if parent_context is not None:
        context = trace.set_span_in_context(NonRecordingSpan(parent_context))
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=getattr(SpanKind, kind.upper()),
        attributes=dict(attributes or {}),
        links=[Link(link) for link in links],
    ) as current:
        yield current


# -- the JSON-lines file exporter ------------------------------------------------------------


def span_record(span: Any) -> dict[str, Any]:
    """One finished SDK span as a plain dict (one line of STRANGLER_TRACE_FILE)."""
    context = span.get_span_context()
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "kind": span.kind.name.lower(),
        "service": span.resource.attributes.get("service.name"),
        "process": span.resource.attributes.get("strangler.process"),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
        "attributes": dict(span.attributes or {}),
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
    }


class JsonLinesSpanExporter:
    """Appends finished spans to a file, one JSON object a line (O_APPEND: processes may share
    a file; each export is one write)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(descriptor, lines.encode())
            finally:
                os.close(descriptor)
        except OSError as exc:
            logger.warning("spans not written to %s: %s", self.path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing is held open between exports."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_spans(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The spans a JsonLinesSpanExporter wrote (a partly written last line is left out)."""
    spans = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n"):
                    spans.append(json.loads(line))
    except FileNotFoundError:
        return []
    return spans
