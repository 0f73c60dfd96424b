"""The Celery step's supervisor restarts a dying consumer, gives up after deaths in a row, and
its probe says which; build_consumer refuses what consume_events refuses.

The supervisor's logic runs here with stand-in consumers (pure thread logic, no broker); the
real worker, broker and database are in tests/extracted/catalog/test_celery_step.py.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from strangler.bootstrap import build_consumer, check_inbox
from strangler.inbox.celery import ConsumerState, InboxSupervisor, serve_health
from strangler.inbox.conf import InboxConfigurationError, inbox_settings
from strangler.inbox.consumer import ConsumerStats
from tests.processes import free_port, wait_until

FAST = (0.01, 0.05)  # restart backoff for these tests


class StandInConsumer:
    """Dies with `error` when run, or runs until stop() when error is None."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.stats = ConsumerStats()
        self._stop = threading.Event()

    def run(self) -> ConsumerStats:
        if self.error is not None:
            raise self.error
        self._stop.wait(30)
        return self.stats

    def stop(self) -> None:
        self._stop.set()


class Builds:
    """Hands out the given consumers in order, the last one again and again."""

    def __init__(self, *consumers: StandInConsumer) -> None:
        self.consumers = list(consumers)
        self.count = 0

    def __call__(self) -> StandInConsumer:
        self.count += 1
        return self.consumers.pop(0) if len(self.consumers) > 1 else self.consumers[0]


@pytest.fixture
def gave_up() -> list[str]:
    return []


@pytest.fixture
def supervisors() -> Iterator[list[InboxSupervisor]]:
    started: list[InboxSupervisor] = []
    yield started
    for supervisor in started:
        supervisor.stop(timeout=5)


def supervise(
    builds: Builds, gave_up: list[str], started: list[InboxSupervisor], max_restarts: int = 3
) -> InboxSupervisor:
    supervisor = InboxSupervisor(
        builds, max_restarts=max_restarts, on_give_up=gave_up.append, backoff=FAST
    )
    started.append(supervisor)
    supervisor.start()
    return supervisor


def test_a_consumer_that_dies_is_restarted_and_then_reported_running(
    gave_up: list[str], supervisors: list[InboxSupervisor]
) -> None:
    builds = Builds(StandInConsumer(RuntimeError("boom")), StandInConsumer())
    supervisor = supervise(builds, gave_up, supervisors)
    wait_until(lambda: supervisor.health().restarts == 1, timeout=5, what="one restart")
    wait_until(lambda: supervisor.health().healthy, timeout=5, what="running again")
    health = supervisor.health()
    assert health.state == "running" and health.last_error == "RuntimeError: boom"
    assert builds.count == 2 and gave_up == []


def test_deaths_in_a_row_beyond_the_limit_give_up_and_report_failed(
    gave_up: list[str], supervisors: list[InboxSupervisor]
) -> None:
    supervisor = supervise(Builds(StandInConsumer(ValueError("bad"))), gave_up, supervisors, 2)
    wait_until(lambda: gave_up, timeout=5, what="the supervisor to give up")
    health = supervisor.health()
    assert gave_up == ["ValueError: bad"]
    assert (health.state, health.restarts, health.deaths_in_a_row) == ("failed", 2, 3)
    assert not health.healthy


def test_a_consumer_that_cannot_be_built_counts_as_a_death(
    gave_up: list[str], supervisors: list[InboxSupervisor]
) -> None:
    def refuse() -> StandInConsumer:
        raise InboxConfigurationError("no handlers")

    supervisor = InboxSupervisor(refuse, max_restarts=1, on_give_up=gave_up.append, backoff=FAST)
    supervisors.append(supervisor)
    supervisor.start()
    wait_until(lambda: gave_up, timeout=5, what="the supervisor to give up")
    assert gave_up == ["InboxConfigurationError: no handlers"]


def test_stop_during_the_backoff_ends_without_another_start(
    gave_up: list[str], supervisors: list[InboxSupervisor]
) -> None:
    builds = Builds(StandInConsumer(RuntimeError("boom")))
    supervisor = InboxSupervisor(
        builds, max_restarts=5, on_give_up=gave_up.append, backoff=(30, 30)
    )
    supervisor.start()
    wait_until(lambda: supervisor.health().state == "restarting", timeout=5, what="backoff")
    supervisor.stop(timeout=5)
    assert supervisor.health().state == "stopped" and builds.count == 1 and gave_up == []


def test_stop_ends_a_running_consumer(
    gave_up: list[str], supervisors: list[InboxSupervisor]
) -> None:
    consumer = StandInConsumer()
    supervisor = supervise(Builds(consumer), gave_up, supervisors)
    wait_until(lambda: supervisor.health().healthy, timeout=5, what="running")
    supervisor.stop(timeout=5)
    assert consumer._stop.is_set() and supervisor.health().state == ConsumerState.STOPPED


def test_the_health_endpoint_answers_200_while_running_and_503_otherwise(
    gave_up: list[str], supervisors: list[InboxSupervisor]
) -> None:
    builds = Builds(StandInConsumer(RuntimeError("boom")))
    supervisor = InboxSupervisor(
        builds, max_restarts=5, on_give_up=gave_up.append, backoff=(30, 30)
    )
    supervisors.append(supervisor)
    server = serve_health(supervisor, free_port())
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        supervisor.start()
        wait_until(lambda: supervisor.health().state == "restarting", timeout=5, what="a death")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
        assert answer.value.code == 503
        body: dict[str, Any] = json.loads(answer.value.read())
        assert body["state"] == "restarting" and body["last_error"] == "RuntimeError: boom"
        supervisor.stop(timeout=5)
        builds.consumers = [StandInConsumer()]
        supervisor.start()
        wait_until(lambda: supervisor.health().healthy, timeout=5, what="running")
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            assert response.status == 200 and json.loads(response.read())["state"] == "running"
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as response:
            assert b"# TYPE" in response.read()
    finally:
        server.shutdown()
        server.server_close()


def test_build_consumer_refuses_a_prefetch_below_the_batch_size() -> None:
    with pytest.raises(InboxConfigurationError, match=r"PREFETCH \(10\) is smaller than"):
        build_consumer(batch_size=50, prefetch=10)
    check_inbox(inbox_settings(batch_size=50, prefetch=50))


def test_build_consumer_refuses_handlers_that_cannot_be_imported() -> None:
    with pytest.raises(InboxConfigurationError, match="cannot be imported"):
        build_consumer(handlers_path="nowhere.handlers.HANDLERS")


def test_consume_events_refuses_the_same_configuration() -> None:
    with pytest.raises(CommandError, match=r"PREFETCH \(10\) is smaller than BATCH_SIZE \(50\)"):
        call_command("consume_events", "--batch-size", "50", "--prefetch", "10", stdout=StringIO())
