"""Each caller of an internal endpoint has a key of its own; two keys are accepted in a rotation.

The serving side's one check (`token_refusal`) is exercised through the real views, the calling
side (`InternalClient`) against a live server of this project: one HTTP request each, no mocks.
"""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from strangler.sync import internal_api
from strangler.sync.conf import SyncConfigurationError, sync_settings
from strangler.sync.internal_api import PROTOCOL_VERSION, InternalClient, PeerRefused

STATE_URL = "/internal/cutover/catalog/state/"
DESCRIBE_URL = "/internal/sync/catalog/product/describe/"
CREDENTIALS = {"catalog-service": ["cat-key-1"], "search-service": ["search-key-1"]}


@pytest.fixture
def credentials(settings: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """DEBUG off, no shared token: only the listed callers, each with its own key, get in."""
    monkeypatch.delenv("STRANGLER_INTERNAL_TOKEN", raising=False)
    monkeypatch.delenv("STRANGLER_INTERNAL_CREDENTIALS", raising=False)
    monkeypatch.delenv("STRANGLER_INTERNAL_KEY", raising=False)
    settings.DEBUG = False
    mapping = {caller: list(keys) for caller, keys in CREDENTIALS.items()}
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": mapping}
    return mapping


def ask(client: Any, caller: str | None, key: str | None, url: str = STATE_URL) -> Any:
    headers = {"X-Strangler-Protocol": str(PROTOCOL_VERSION)}
    if caller is not None:
        headers["X-Strangler-Caller"] = caller
    if key is not None:
        headers["X-Strangler-Token"] = key
    return client.post(url, content_type="application/json", headers=headers)


@pytest.mark.django_db(databases=["default", "control"])
@pytest.mark.parametrize("url", [STATE_URL, DESCRIBE_URL])
def test_each_caller_gets_in_with_its_own_key_only(client, credentials, url):
    assert ask(client, "catalog-service", "cat-key-1", url).status_code == 200
    assert ask(client, "search-service", "search-key-1", url).status_code == 200
    # Another caller's key, even a valid one, does not open the door.
    refused = ask(client, "catalog-service", "search-key-1", url)
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "missing or wrong X-Strangler-Token for X-Strangler-Caller 'catalog-service'."
    )


@pytest.mark.django_db(databases=["default", "control"])
def test_an_unknown_or_unnamed_caller_is_refused(client, credentials):
    assert ask(client, "intruder", "cat-key-1").status_code == 403
    assert ask(client, None, "cat-key-1").status_code == 403
    assert ask(client, "catalog-service", None).status_code == 403
    assert ask(client, "catalog-service", "").status_code == 403


@pytest.mark.django_db(databases=["default", "control"])
def test_two_keys_are_accepted_while_one_is_rotated(client, credentials, settings):
    credentials["catalog-service"] = ["cat-key-1", "cat-key-2"]
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": credentials}
    assert ask(client, "catalog-service", "cat-key-1").status_code == 200
    assert ask(client, "catalog-service", "cat-key-2").status_code == 200
    # The rotation ends: the old key is gone from the list, and refused.
    credentials["catalog-service"] = ["cat-key-2"]
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": credentials}
    assert ask(client, "catalog-service", "cat-key-1").status_code == 403
    assert ask(client, "catalog-service", "cat-key-2").status_code == 200


@pytest.mark.django_db(databases=["default", "control"])
def test_every_accepted_key_is_compared_in_constant_time(
    client, credentials, settings, monkeypatch
):
    credentials["catalog-service"] = ["cat-key-1", "cat-key-2"]
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": credentials}
    compared: list[bytes] = []
    real = hmac.compare_digest

    def spy(given: bytes, key: bytes) -> bool:
        compared.append(key)
        return real(given, key)

    monkeypatch.setattr(internal_api.hmac, "compare_digest", spy)
    assert ask(client, "catalog-service", "cat-key-1").status_code == 200
    # The first key matched, and the second was compared all the same.
    assert compared == [b"cat-key-1", b"cat-key-2"]


@pytest.mark.django_db(databases=["default", "control"])
def test_credentials_come_from_the_environment_as_json(client, settings, monkeypatch):
    monkeypatch.delenv("STRANGLER_INTERNAL_TOKEN", raising=False)
    settings.DEBUG = False
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": {}}
    monkeypatch.setenv("STRANGLER_INTERNAL_CREDENTIALS", '{"catalog-service": ["env-key"]}')
    assert ask(client, "catalog-service", "env-key").status_code == 200
    assert ask(client, "catalog-service", "cat-key-1").status_code == 403


def test_malformed_credentials_say_what_to_write_and_never_show_a_key(settings, monkeypatch):
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": {}}
    monkeypatch.setenv("STRANGLER_INTERNAL_CREDENTIALS", '{"catalog-service": ["s3cret-key"')
    with pytest.raises(SyncConfigurationError) as caught:
        sync_settings()
    assert "is not JSON" in str(caught.value)
    assert '{"<caller>": ["<key>", "<next key>"]}' in str(caught.value)
    assert "s3cret-key" not in str(caught.value)
    monkeypatch.setenv("STRANGLER_INTERNAL_CREDENTIALS", '{"catalog-service": [7]}')
    with pytest.raises(SyncConfigurationError, match="keys of 'catalog-service' must be strings"):
        sync_settings()


@pytest.mark.django_db(databases=["default", "control"])
def test_without_credentials_every_call_is_refused_outside_debug(client, settings, monkeypatch):
    monkeypatch.delenv("STRANGLER_INTERNAL_TOKEN", raising=False)
    monkeypatch.delenv("STRANGLER_INTERNAL_CREDENTIALS", raising=False)
    settings.DEBUG = False
    settings.STRANGLER_SYNC = {**settings.STRANGLER_SYNC, "INTERNAL_CREDENTIALS": {}}
    refused = ask(client, "catalog-service", "cat-key-1")
    assert refused.status_code == 403
    assert "neither STRANGLER_INTERNAL_CREDENTIALS nor" in refused.json()["error"]


# -- the calling side: its own name and key, over a real connection -------------------------------


def own_client(url: str) -> InternalClient:
    return InternalClient.from_settings(url, context="catalog", configured_by="--peer")


def state(client: InternalClient) -> dict[str, Any]:
    try:
        return client.call("cutover", "catalog/state/", {}, read=dict)
    finally:
        client.close()


@pytest.mark.django_db(databases=["default", "control"], transaction=True)
def test_a_caller_names_itself_and_shows_its_own_key(live_server, credentials, settings):
    settings.STRANGLER_SYNC = {
        **settings.STRANGLER_SYNC,
        "INTERNAL_CALLER": "catalog-service",
        "INTERNAL_KEY": "cat-key-1",
    }
    answer = state(own_client(live_server.url))
    assert answer["name"] == "monolith"  # the side that answered


@pytest.mark.django_db(databases=["default", "control"], transaction=True)
def test_a_refused_caller_is_told_where_its_key_must_be_listed(
    live_server, credentials, settings, monkeypatch
):
    settings.STRANGLER_SERVICE_NAME = "catalog-service"  # the caller's name by default
    monkeypatch.setenv("STRANGLER_INTERNAL_KEY", "cat-key-retired")
    with pytest.raises(PeerRefused) as caught:
        state(own_client(live_server.url))
    assert str(caught.value) == (
        f"peer {live_server.url} for context catalog refused the token (403: missing or wrong "
        "X-Strangler-Token for X-Strangler-Caller 'catalog-service'.): list this side's "
        "STRANGLER_INTERNAL_KEY under 'catalog-service' in the other side's "
        "STRANGLER_INTERNAL_CREDENTIALS"
    )
    assert "cat-key-retired" not in str(caught.value)
