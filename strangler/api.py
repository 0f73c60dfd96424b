"""DRF conventions shared by every side of a migration: pagination, filters, the error shape."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core import validators
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
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
# The largest value of a bigint column (ids, counts): a filter value beyond it is a 400 naming
# the parameter, never an overflow in the query (a 500).
BIGINT_MAX = 2**63 - 1


@extend_schema_field({"type": "string", "enum": [value for value, _ in _BOOLEAN_CHOICES]})
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """A true/false filter that rejects anything else with a 400 instead of ignoring it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", _BOOLEAN_CHOICES)
        kwargs.setdefault("coerce", lambda value: value.lower() in _TRUE)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX})
class IdFilter(django_filters.NumberFilter):
    """A filter on a row's id (a foreign key, or a plain id column): a whole number from 1 to
    BIGINT_MAX, documented so; an id no row has matches nothing (an empty page).

    Anything the schema admits is accepted: an unknown id is not an error, as the schema cannot
    say which ids exist (and must not: it would change with the data and differ between two
    stores holding the same contract). Anything else is a 400 naming the parameter.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        kwargs.setdefault("decimal_places", 0)
        super().__init__(*args, **kwargs)


@extend_schema_field(
    {"type": "integer", "format": "int64", "minimum": -BIGINT_MAX, "maximum": BIGINT_MAX}
)
class WholeNumberFilter(django_filters.NumberFilter):
    """A filter on a bigint column (a count, a quantity): a whole number within the column's
    range, documented so; anything else is a 400 naming the parameter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -BIGINT_MAX)
        kwargs.setdefault("max_value", BIGINT_MAX)
        kwargs.setdefault("decimal_places", 0)
        super().__init__(*args, **kwargs)


# django-filter's NumberFilter refuses a number above 1e50 (a guard against huge exponents); the
# schema says so, and the same bound below.
DECIMAL_FILTER_MAX = 1e50


@extend_schema_field(
    {"type": "number", "minimum": -DECIMAL_FILTER_MAX, "maximum": DECIMAL_FILTER_MAX}
)
class DecimalFilter(django_filters.NumberFilter):
    """A filter on a decimal column (a price bound): a number within +-1e50, documented so; a
    bound no row reaches matches nothing. Anything else is a 400 naming the parameter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -DECIMAL_FILTER_MAX)
        super().__init__(*args, **kwargs)

    def get_max_validator(self) -> Any:
        return validators.MaxValueValidator(DECIMAL_FILTER_MAX)


# -- the error shape, for the OpenAPI schema (strangler.api_schema) ----------------------------


class ErrorDetailSerializer(serializers.Serializer):
    """What went wrong: a stable code, a message for people, and the fields at fault."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # `fields` cannot be declared as an attribute: it is the serializer's own property.
        return {
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(
                help_text="Per field at fault (nested for nested input): what is wrong with it."
            ),
        }


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer (api_exception_handler)."""

    error = ErrorDetailSerializer()
