"""The internal APIs answer bad numbers and unknown aggregates with a 400 naming them, never 500."""

from __future__ import annotations

import pytest

from strangler.sync.internal_api import PROTOCOL_VERSION

pytestmark = pytest.mark.django_db

PREPARE = "/internal/cutover/catalog/prepare/"
FENCE = "/internal/cutover/catalog/fence/"
CHECKSUMS = "/internal/sync/catalog/product/checksums/"


@pytest.fixture
def post(client, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")

    def send(url: str, raw: str):
        return client.post(
            url,
            raw,
            content_type="application/json",
            HTTP_X_STRANGLER_TOKEN="s3cret",
            HTTP_X_STRANGLER_PROTOCOL=str(PROTOCOL_VERSION),
        )

    return send


@pytest.mark.parametrize("value", ["1e400", "1.5", "-1", "true", '"12"', "99999999999999999999"])
def test_a_floor_that_is_not_an_id_is_a_400_naming_it(post, value):
    response = post(PREPARE, f'{{"floors": {{"catalog.product": {value}}}}}')
    assert response.status_code == 400, response.content
    assert "floors['catalog.product']" in response.json()["error"]


def test_an_unknown_aggregate_in_the_floors_is_a_400_naming_it(post):
    response = post(PREPARE, '{"floors": {"catalog.product": 1, "spaceship": 5}}')
    assert response.status_code == 400
    assert "spaceship" in response.json()["error"]


@pytest.mark.parametrize("value", ["1e400", "-1", '"x"'])
def test_a_fence_timeout_that_is_not_seconds_is_a_400(post, value):
    response = post(FENCE, f'{{"timeout": {value}}}')
    assert response.status_code == 400
    assert "'timeout'" in response.json()["error"]


@pytest.mark.parametrize(
    "segment",
    ["[1e400, 5]", "[1, 1e400]", "[1, 5, 1e400]", "[1.5, 5]", "[1, 99999999999999999999]"],
)
def test_a_segment_bound_that_is_not_a_key_is_a_400(post, segment):
    response = post(CHECKSUMS, f'{{"segments": [{segment}]}}')
    assert response.status_code == 400, response.content
