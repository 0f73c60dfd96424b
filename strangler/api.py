"""DRF conventions shared by every side of a migration: pagination, filters, the error shape."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class DomainError(Exception):
    """A business rule refused the request; HTTP 409 unless a subclass says otherwise."""

    status_code = status.HTTP_409_CONFLICT
    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render DRF, Django validation and domain errors in the shared shape."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DomainError):
        body = {"error": {"code": exc.code, "message": exc.message, "fields": {}}}
        # e.g. Retry-After on a 503 while a cutover has writes frozen
        headers = getattr(exc, "headers", None)
        return Response(body, status=exc.status_code, headers=headers)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = "The request is not valid."
        code = "invalid"
    else:
        fields = {}
        detail = getattr(exc, "detail", "")
        message = str(detail)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response


class StandardPagination(PageNumberPagination):
    """Page-number pagination with a client-chosen page size, bounded."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 200


_TRUE = ("true", "1")
_BOOLEAN_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """A true/false filter that rejects anything else with a 400 instead of ignoring it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", _BOOLEAN_CHOICES)
        kwargs.setdefault("coerce", lambda value: value.lower() in _TRUE)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.ModelChoiceFilter):
    """A filter on a related row's id: 400 for an unknown id, documented as an integer.

    drf-spectacular would otherwise publish today's ids as an enum, so the API schema would
    change with the data and differ between two stores holding the same contract.
    """
