"""System checks refuse misspelt or invalid transport settings."""

from __future__ import annotations

from strangler.transport.checks import check_transport_settings


def ids(settings: object) -> set[str]:
    return {error.id for error in check_transport_settings()}


def test_default_settings_pass(settings: object) -> None:
    assert check_transport_settings() == []


def test_misspelt_setting_is_reported(settings: object) -> None:
    settings.STRANGLER_TRANSPORT = {"EXCHANGES": "x"}  # type: ignore[attr-defined]
    assert "transport.E002" in ids(settings)


def test_unknown_queue_type_and_bad_limit_are_reported(settings: object) -> None:
    settings.STRANGLER_TRANSPORT = {"QUEUE_TYPE": "stream", "DELIVERY_LIMIT": 0}  # type: ignore[attr-defined]
    assert {"transport.E003", "transport.E004"} <= ids(settings)


def test_unsupported_broker_scheme_is_reported(settings: object) -> None:
    settings.STRANGLER_TRANSPORT = {"URL": "redis://127.0.0.1:6379/0"}  # type: ignore[attr-defined]
    assert "transport.E006" in ids(settings)


def test_malformed_subscription_is_reported(settings: object) -> None:
    settings.STRANGLER_SUBSCRIPTIONS = [  # type: ignore[attr-defined]
        {"subscriber": "s", "queue": "q", "binding_keys": ["catalog..x"]},
        {"subscriber": "s", "queue": "q"},
    ]
    assert {"transport.E011", "transport.E013"} <= ids(settings)
