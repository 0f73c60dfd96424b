"""The issuer's token endpoint answers its errors in the kit's error shape, as documented."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


@pytest.mark.parametrize("active", [True, False])
def test_refused_credentials_are_a_401_in_the_error_shape_with_a_challenge(
    anonymous_api: APIClient, active: bool
) -> None:
    User.objects.create_user(username="ada", password="pw-ada", is_active=active)
    attempts = [
        {"username": "ada", "password": "wrong"},
        {"username": "nobody", "password": "pw-ada"},
    ]
    if not active:
        attempts.append({"username": "ada", "password": "pw-ada"})
    for attempt in attempts:
        response = anonymous_api.post(TOKEN, attempt, format="json")
        assert response.status_code == 401, (attempt, response.content)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
        assert error_of(response) == {
            "code": "invalid_credentials",
            "message": "Unknown username or wrong password.",
            "fields": {},
        }


def test_a_body_without_username_and_password_is_a_400_naming_the_fields(
    anonymous_api: APIClient,
) -> None:
    response = anonymous_api.post(TOKEN, {"username": "ada"}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"password"}

    response = anonymous_api.post(TOKEN, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_the_schema_documents_every_status_of_the_token_endpoint(client) -> None:
    schema = client.get("/api/schema/", {"format": "json"}).json()
    responses = schema["paths"][TOKEN]["post"]["responses"]
    assert set(responses) == {"200", "400", "401"}
    for status in ("400", "401"):
        content = responses[status]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/Error"}, (status, content)
        assert responses[status]["description"]
    assert "invalid_credentials" in responses["401"]["description"]
