"""Retry and dead-letter bookkeeping of the inbox (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from strangler.inbox.retries import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    MAX_ERROR_LENGTH,
    NOT_BEFORE_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    REASON_HEADER,
    DeadLetterReason,
    RetryPolicy,
    attempts_of,
    carried_headers,
    dead_letter_headers,
    not_before_of,
    retry_headers,
)

POLICY = RetryPolicy(max_attempts=4, backoff=0.5, backoff_max=3.0)


@pytest.mark.parametrize(("failures", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)])
def test_backoff_doubles_per_failure_up_to_the_cap(failures: int, delay: float) -> None:
    assert POLICY.delay(failures) == delay


def test_attempts_are_exhausted_at_the_limit() -> None:
    assert not POLICY.exhausted(3)
    assert POLICY.exhausted(4)


def test_fresh_message_has_no_attempts_and_no_delay() -> None:
    assert attempts_of({}) == 0
    assert not_before_of({}) == 0.0


def test_garbage_attempt_headers_count_as_fresh() -> None:
    assert attempts_of({ATTEMPTS_HEADER: "many"}) == 0
    assert not_before_of({NOT_BEFORE_HEADER: None}) == 0.0


def test_retry_headers_carry_attempts_due_time_and_error() -> None:
    headers = retry_headers(2, "boom", POLICY, now=1000.0)
    assert attempts_of(headers) == 2
    assert not_before_of(headers) == 1001.0
    assert headers["x-strangler-last-error"] == "boom"


def test_republished_copy_keeps_cloudevents_and_drops_broker_bookkeeping() -> None:
    headers = {
        "ce-id": "e1",
        "ce-type": "catalog.product.upserted",
        "x-delivery-count": 3,
        "x-death": [{"queue": "q"}],
        ATTEMPTS_HEADER: 1,
        NOT_BEFORE_HEADER: 5.0,
        "traceparent-extra": "kept",
    }
    assert carried_headers(headers) == {
        "ce-id": "e1",
        "ce-type": "catalog.product.upserted",
        "traceparent-extra": "kept",
    }


def test_dead_letter_headers_say_why_how_often_when_and_from_where() -> None:
    headers = dead_letter_headers(
        reason=DeadLetterReason.ATTEMPTS_EXHAUSTED,
        error="x" * (MAX_ERROR_LENGTH + 10),
        attempts=5,
        subscriber="catalog-service",
        queue="catalog-service.events",
        original_routing_key="catalog.product.upserted",
        now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert headers[REASON_HEADER] == "attempts_exhausted"
    assert len(headers[ERROR_HEADER]) == MAX_ERROR_LENGTH
    assert headers[ERROR_HEADER].endswith("...")
    assert headers[ATTEMPTS_HEADER] == 5
    assert headers[FAILED_AT_HEADER] == "2026-01-02T03:04:05Z"
    assert headers[ORIGINAL_ROUTING_KEY_HEADER] == "catalog.product.upserted"
