"""The OpenAPI schema of every side: drf-spectacular's AutoSchema plus the error answers.

A module of its own, apart from strangler.api: drf_spectacular.openapi imports DRF's generic
views, which load REST_FRAMEWORK's pagination class from strangler.api.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from rest_framework import permissions, serializers

from strangler.api import ErrorSerializer

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Permissions that let anyone read: only writes can be refused for want of credentials.
_OPEN_TO_READS = (
    permissions.AllowAny,
    permissions.IsAuthenticatedOrReadOnly,
    permissions.DjangoModelPermissionsOrAnonReadOnly,
)
_ERROR_TEXTS = {
    400: "The request is not valid: `error.fields` names each field at fault and why.",
    401: "No valid credentials: send `Authorization: Bearer <token>`.",
    403: "The credentials do not allow this (a missing permission; for a session, a CSRF failure).",
    404: "No such row, or no such page of the list.",
    409: "Refused: a business rule (`error.code` says which), or another side writes this "
    "context (`writes_owned_elsewhere`, naming the writer).",
    503: "Nothing was written: writes are frozen for a moment while a cutover moves this "
    "context (`writes_frozen`), or the database did not answer (`database_unavailable`). "
    "Retry after `Retry-After` seconds.",
}


# DRF's and Django's CharFields refuse a NUL character; DRF's trim whitespace first, so a string
# of spaces is blank. JSON Schema's minLength cannot say either: patterns do (no lookahead, which
# not every generator supports).
BLANK_OK = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


class DocumentedErrorsSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers each operation can give.

    REST_FRAMEWORK['DEFAULT_SCHEMA_CLASS'] on every side (strangler.settings_blocks), so that
    the monolith and its services document the same statuses for the same views. What an
    operation can answer follows from the view: 400 for a body or filters, 401/403 where the
    permissions need credentials, 404 for a path parameter or a page of a list, 409 and 503
    (with Retry-After) for the writes of a context's data. Each in the kit's error shape
    (ErrorSerializer); statuses a view's `extend_schema(responses=...)` names stay as it says.
    Request fields get the patterns their validation implies: decimals (decimal_pattern), text
    without NUL and, unless blank is allowed, not only whitespace; a list that may not be empty
    has minItems 1.
    """

    def error_statuses(self) -> list[int]:
        """The error statuses this operation can answer, in order."""
        method = self.method.upper()
        guarded = self._needs_credentials(method)
        found: list[int] = []
        if method in _BODY_METHODS or self._get_filter_parameters():
            found.append(400)
        if guarded:
            if self.view.get_authenticators():
                found.append(401)
            found.append(403)
        if re.search(r"{\w+}", self.path) or (self._is_list_view() and self._get_paginator()):
            found.append(404)
        if guarded and method not in _SAFE_METHODS:
            found += [409, 503]
        return found

    def _needs_credentials(self, method: str) -> bool:
        checks = self.view.get_permissions()
        if all(isinstance(check, permissions.AllowAny) for check in checks):
            return False
        return not (
            method in _SAFE_METHODS and all(isinstance(check, _OPEN_TO_READS) for check in checks)
        )

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self.error_statuses():
            if str(code) in responses:
                continue
            response = self._get_response_for_code(ErrorSerializer, str(code), direction=direction)
            response["description"] = _ERROR_TEXTS[code]
            if code == 503:
                response["headers"] = {
                    "Retry-After": {
                        "description": "Seconds after which the write may be sent again.",
                        "schema": {"type": "integer"},
                    }
                }
            responses[str(code)] = response
        return responses

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.DecimalField) and "pattern" in schema:
            schema = {**schema, "pattern": decimal_pattern(field)}
        if direction != "request":
            return schema  # what a field accepts, not what a stored value may look like
        if (
            isinstance(field, serializers.ListSerializer | serializers.ListField)
            and not field.allow_empty
            and schema.get("type") == "array"
        ):
            schema = {**schema, "minItems": max(1, schema.get("minItems", 0))}
        if (
            isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
            and not any(isinstance(check, RegexValidator) for check in field.validators)
        ):
            schema = {**schema, "pattern": BLANK_OK if field.allow_blank else NOT_BLANK}
        return schema

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_filter_parameters()
        for parameter in parameters:
            found = parameter.get("schema", {})
            if found.get("type") == "string" and not {"pattern", "format", "enum"} & set(found):
                parameter["schema"] = {**found, "pattern": BLANK_OK}  # a form field's rule too
        return parameters


def decimal_pattern(field: serializers.DecimalField) -> str:
    """A pattern for a DecimalField sent as a string: at least one digit, at most its whole and
    decimal digits, a minus sign only where `min_value` lets negatives pass.

    drf-spectacular's own pattern admits "" and, whatever `min_value` says, negatives, so a
    schema-valid request could be refused. (A `min_value` above 0 or a `max_value` cannot be
    said in a pattern: keep such bounds in the API's own validation and its documentation.)
    """
    whole, places = field.max_whole_digits, field.decimal_places
    fraction = rf"(?:\.\d{{1,{places}}})?" if places else ""
    number = rf"\d{{1,{whole}}}{fraction}" if whole else rf"0?\.\d{{1,{places}}}|0"
    negatives = field.min_value is None or Decimal(str(field.min_value)) < 0
    return rf"^{'-?' if negatives else ''}(?:{number})$"
