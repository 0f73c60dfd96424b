"""Request middleware: take the correlation id and W3C traceparent from the caller, or make them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from strangler.observability.context import trace_context

CORRELATION_HEADER = "X-Correlation-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def incoming_correlation_id(value: str | None) -> str:
    """The caller's correlation id when it is well formed, else a fresh one (never trust junk)."""
    if value and _SANE_ID.match(value):
        return value
    return str(uuid.uuid4())


def incoming_traceparent(value: str | None) -> str | None:
    return value if value and _TRACEPARENT.match(value.strip().lower()) else None


class TraceContextMiddleware:
    """Makes the request's ids current, so events it records and lines it logs carry them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation_id = incoming_correlation_id(request.headers.get(CORRELATION_HEADER))
        traceparent = incoming_traceparent(request.headers.get("traceparent"))
        with trace_context(correlation_id=correlation_id, traceparent=traceparent):
            response = self.get_response(request)
        response[CORRELATION_HEADER] = correlation_id
        return response
