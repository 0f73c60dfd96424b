"""The service serves the monolith's API contract for the context."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from strangler.seams.contract import context_contract, current_openapi_schema

from .conftest import MONOLITH_CONTRACT

# The one write (POST stock/adjust/) is ported to the service, a hand edit: it validates
# before asking who writes, as the monolith does; test_stock_adjust.py covers it.

PREFIX = "/api/inventory/"


def url_of(path: str, pk: str = "1") -> str:
    """A concrete URL of an OpenAPI path: every {parameter} becomes `pk`."""
    return re.sub(r"\{[^}]+\}", pk, path)


def test_openapi_paths_and_components_match_the_monolith() -> None:
    assert context_contract(current_openapi_schema(), PREFIX) == MONOLITH_CONTRACT


def test_every_monolith_path_and_method_is_served() -> None:
    served = context_contract(current_openapi_schema(), PREFIX)["paths"]
    for path, item in MONOLITH_CONTRACT["paths"].items():
        assert sorted(served[path]) == sorted(item), path


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [p for p, item in MONOLITH_CONTRACT["paths"].items() if "{" not in p and "get" in item]
)
def test_list_routes_answer_with_the_paginated_shape(path: str, staff: APIClient) -> None:
    response = staff.get(path)

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"count", "next", "previous", "results"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [p for p, item in MONOLITH_CONTRACT["paths"].items() if "{" in p and "get" in item]
)
def test_missing_resource_answers_404_in_the_shared_error_shape(
    path: str, staff: APIClient
) -> None:
    response = staff.get(url_of(path, "999999999"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
