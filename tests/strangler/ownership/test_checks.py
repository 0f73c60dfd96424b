"""System checks of strangler.ownership: a side that is no side of any context is an error."""

from __future__ import annotations

from django.test import override_settings

from strangler.ownership.checks import check_ownership_settings

CONTEXTS = {"CONTEXTS": {"library": {"service": "bookservice", "default_writer": "monolith"}}}


def error_ids() -> list[str]:
    return [message.id for message in check_ownership_settings()]


@override_settings(STRANGLER_SERVICE_NAME="libraryproject", STRANGLER_OWNERSHIP=CONTEXTS)
def test_a_monolith_that_names_itself_otherwise_is_told_to_run_as_monolith() -> None:
    (message,) = [m for m in check_ownership_settings() if m.id == "ownership.E006"]
    assert "'libraryproject' is no side of any context" in message.msg
    assert "'monolith'" in message.hint and "bookservice" in message.hint


@override_settings(STRANGLER_SERVICE_NAME="monolith", STRANGLER_OWNERSHIP=CONTEXTS)
def test_the_monolith_is_a_side_of_every_context() -> None:
    assert "ownership.E006" not in error_ids()


@override_settings(STRANGLER_SERVICE_NAME="bookservice", STRANGLER_OWNERSHIP=CONTEXTS)
def test_a_service_is_a_side_of_its_context() -> None:
    assert "ownership.E006" not in error_ids()


@override_settings(STRANGLER_SERVICE_NAME="anything", STRANGLER_OWNERSHIP={"CONTEXTS": {}})
def test_no_context_no_side_to_be() -> None:
    assert "ownership.E006" not in error_ids()
