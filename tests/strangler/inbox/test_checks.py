"""System checks of STRANGLER_INBOX: a wrong setting fails `manage.py check` with an id."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from strangler.inbox.checks import check_inbox_settings
from strangler.inbox.conf import InboxConfigurationError, inbox_settings

HANDLERS = {"catalog.product.upserted": print}
VALID = {
    "SUBSCRIBER": "catalog-service",
    "QUEUE": "catalog-service.events",
    "BINDING_KEYS": ["catalog.#"],
    "HANDLERS": "tests.strangler.inbox.test_checks.HANDLERS",
}


def error_ids(inbox: Any) -> list[str]:
    with override_settings(STRANGLER_INBOX=inbox):
        return [error.id for error in check_inbox_settings()]


def test_valid_settings_pass() -> None:
    assert error_ids(VALID) == []


@pytest.mark.parametrize(
    ("change", "error_id"),
    [
        ({"BATCH_SIZ": 10}, "inbox.E002"),
        ({"BATCH_SIZE": 0}, "inbox.E003"),
        ({"MAX_ATTEMPTS": "5"}, "inbox.E003"),
        ({"RETRY_BACKOFF": -1}, "inbox.E003"),
        ({"BINDING_KEYS": []}, "inbox.E004"),
        ({"BATCH_SIZE": 500, "PREFETCH": 100}, "inbox.E006"),
        ({"HANDLERS": "tests.strangler.inbox.test_checks.MISSING"}, "inbox.E007"),
        ({"HANDLERS": "tests.strangler.inbox.test_checks.VALID"}, "inbox.E007"),
    ],
)
def test_wrong_settings_are_reported(change: dict[str, Any], error_id: str) -> None:
    assert error_id in error_ids({**VALID, **change})


def test_missing_setting_is_reported() -> None:
    with override_settings():
        from django.conf import settings

        if hasattr(settings, "STRANGLER_INBOX"):
            del settings.STRANGLER_INBOX
        assert [e.id for e in check_inbox_settings()] == ["inbox.E001"]


def test_queue_defaults_to_the_subscriber_name() -> None:
    with override_settings(STRANGLER_INBOX={**VALID, "QUEUE": ""}):
        assert inbox_settings().queue == "catalog-service.events"


def test_empty_handlers_path_names_the_fix() -> None:
    with (
        override_settings(STRANGLER_INBOX={**VALID, "HANDLERS": ""}),
        pytest.raises(InboxConfigurationError, match="dotted path"),
    ):
        inbox_settings().handlers()
