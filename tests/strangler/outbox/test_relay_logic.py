"""Pure relay logic: backoff schedules and failure labels."""

from __future__ import annotations

from strangler.outbox.metrics import failure_reason
from strangler.outbox.relay import Backoff, retry_delay


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_refused_row_waits_longer_after_each_attempt_up_to_the_maximum() -> None:
    delays = [retry_delay(n, base=1.0, maximum=60.0) for n in range(1, 9)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_failure_reasons_have_low_cardinality() -> None:
    assert failure_reason("unroutable: no queue bound to exchange 'x'") == "unroutable"
    assert failure_reason("nacked by the broker") == "nacked"
    assert failure_reason("no confirm before the timeout") == "unconfirmed"
    assert failure_reason("something else") == "other"
