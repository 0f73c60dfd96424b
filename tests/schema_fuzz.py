"""Schemathesis against a side's own OpenAPI schema, in-process through its WSGI app.

Bounded and repeatable: a fixed number of examples per operation, derandomised (a fixed seed),
no deadline (a loaded CI machine is not a failure). Every answer, to a valid request or not: no
5xx, and a status, content type, body and headers the schema documents for the operation. A
schema-valid request is not refused (no 400: the schema admits exactly what the API accepts).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 25
# Explicit examples and generated ones; no shrinking: a failure is reported as found, fast.
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # Only for schema-valid cases: 400 or 422 is a refusal (401, 403, 404, 409 are not).
    positive_data_acceptance,
]


@functools.cache
def wsgi_schema() -> Any:
    """This process's OpenAPI schema (drf-spectacular), called through its WSGI application."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(_plain(document))
    schema.app = get_wsgi_application()
    return schema


def _plain(node: Any) -> Any:
    """The generator's document as plain JSON types (it holds lazy strings and ordered dicts)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, str | int | float | bool) or node is None:
        return node
    return str(node)


def operation_labels(exclude: str) -> list[str]:
    """`METHOD /path` of every operation whose path does not match `exclude` (a regex)."""
    labels = []
    for result in wsgi_schema().get_all_operations():
        operation = result.ok()
        if not re.search(exclude, operation.path):
            labels.append(operation.label)
    return sorted(labels)


def fuzz(
    label: str,
    headers: dict[str, str],
    ids: dict[str, int] | None = None,
    *,
    prepare: Callable[[Any], None] | None = None,
) -> None:
    """Send the operation its examples and generated cases; fail on the first answer that
    breaks a check (CHECKS).

    `ids` pins path parameters to rows that exist (`{"customer_id": 1}`): a random id is a 404
    before the request's body or query is even read, and the body is what breaks things.
    `prepare` edits each schema-valid case before it is sent (see `valid_rows`).
    """
    operation = next(
        result.ok() for result in wsgi_schema().get_all_operations() if result.ok().label == label
    )
    names = {p.name for p in operation.path_parameters}
    pinned = {name: value for name, value in (ids or {}).items() if name in names} or None
    # Schema-valid requests and invalid ones (a wrong type, a missing required field): neither
    # may make the side answer 5xx.
    cases = st.one_of(
        operation.as_strategy(mode, path_parameters=pinned)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )

    @FUZZ_SETTINGS
    @given(case=cases)
    def run(case: Any) -> None:
        if prepare is not None and case.meta.generation.mode.is_positive:
            prepare(case)
        case.call_and_validate(headers=headers, checks=CHECKS)

    # As Django's test client does: the WSGI handler must not close the test's connection (and
    # its transaction) at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        run()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def valid_rows(
    references: Mapping[str, Any],
    fresh: Mapping[str, Callable[[int], Any]],
    *,
    per_operation: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[Any], None]:
    """A `prepare` for what a schema cannot say: which rows exist and which values are taken.

    In a schema-valid body (nested objects and lists of objects included), a field named in
    `references` (e.g. `"category"`) gets that existing row's value, and one named in `fresh`
    (e.g. `"sku"`) a value no row has yet, made from a counter; `per_operation` pins more fields
    for one operation (`{"POST /api/inventory/stock/adjust/": {"sku": "A-1"}}`), over `fresh`.
    """
    counter = itertools.count()

    def fill(node: Any, pinned: Mapping[str, Any], number: int) -> None:
        if isinstance(node, list):
            for item in node:
                fill(item, pinned, number)
        if not isinstance(node, dict):
            return
        for name, value in list(node.items()):
            if name in pinned:
                if value is not None:
                    node[name] = pinned[name]
            elif name in fresh:
                node[name] = fresh[name](number)
            else:
                fill(value, pinned, number)

    def prepare(case: Any) -> None:
        pinned = {**references, **(per_operation or {}).get(case.operation.label, {})}
        fill(case.body, pinned, next(counter))

    return prepare
