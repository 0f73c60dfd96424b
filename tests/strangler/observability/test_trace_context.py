"""Correlation ids flow from a request into recorded events and log lines."""

from __future__ import annotations

import json
import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from strangler.observability.context import current_trace, trace_context
from strangler.observability.logging import JsonLinesFormatter, logging_config
from strangler.observability.middleware import (
    CORRELATION_HEADER,
    TraceContextMiddleware,
    incoming_correlation_id,
    incoming_traceparent,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def run_middleware(**headers: str) -> tuple[HttpResponse, dict]:
    seen = {}

    def view(request):
        trace = current_trace()
        seen.update(correlation_id=trace.correlation_id, traceparent=trace.traceparent)
        return HttpResponse("ok")

    request = RequestFactory().get("/", headers=headers)
    return TraceContextMiddleware(view)(request), seen


def test_the_callers_correlation_id_and_traceparent_are_current_in_the_view():
    response, seen = run_middleware(**{CORRELATION_HEADER: "order-42", "traceparent": TRACEPARENT})
    assert seen == {"correlation_id": "order-42", "traceparent": TRACEPARENT}
    assert response[CORRELATION_HEADER] == "order-42"


def test_a_request_without_ids_gets_a_fresh_correlation_id_and_no_traceparent():
    response, seen = run_middleware()
    assert len(seen["correlation_id"]) == 36
    assert seen["traceparent"] is None
    assert response[CORRELATION_HEADER] == seen["correlation_id"]
    assert current_trace().correlation_id is None  # nothing leaks past the request


@pytest.mark.parametrize("junk", ["", "a b", "x" * 101, "<script>", "id\r\nSet-Cookie: x"])
def test_malformed_correlation_ids_are_replaced(junk):
    assert incoming_correlation_id(junk) != junk


@pytest.mark.parametrize("junk", ["", "00-zz", "01-" + "0" * 32, TRACEPARENT + "-extra"])
def test_malformed_traceparents_are_dropped(junk):
    assert incoming_traceparent(junk) is None


def test_json_lines_carry_message_trace_ids_and_extra_fields():
    record = logging.makeLogRecord(
        {"name": "strangler.test", "levelname": "INFO", "msg": "applied %d", "args": (3,)}
    )
    record.event_type = "catalog.product.upserted"
    with trace_context(correlation_id="c-1", causation_id="e-9"):
        line = JsonLinesFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "applied 3"
    assert entry["correlation_id"] == "c-1" and entry["causation_id"] == "e-9"
    assert entry["event_type"] == "catalog.product.upserted"
    assert entry["level"] == "INFO" and entry["logger"] == "strangler.test"


def test_logging_config_chooses_the_formatter():
    assert "()" in logging_config(json_lines=True)["formatters"]["default"]
    assert "format" in logging_config(json_lines=False)["formatters"]["default"]
