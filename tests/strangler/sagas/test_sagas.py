"""strangler.sagas: a saga starts with the write, ends once, and the sweep gives up on it late."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from strangler.cutover.management.commands.migration_status import render_status
from strangler.cutover.status import context_status
from strangler.sagas.conf import SagaConfigurationError, saga_settings
from strangler.sagas.models import Saga, SagaState
from strangler.sagas.services import SagaUsageError, expire_sagas, saga_end, saga_start

pytestmark = pytest.mark.django_db

TIMED_OUT: list[str] = []


def compensate(saga: Saga) -> None:
    """The test type's on_timeout: it sees the saga already ended as timed out."""
    assert Saga.objects.get(pk=saga.pk).state == SagaState.COMPENSATED
    TIMED_OUT.append(saga.key)


SAGAS = {
    "TYPES": {
        "shop.test": {
            "context": "inventory",
            "timeout": 30,
            "on_timeout": "tests.strangler.sagas.test_sagas.compensate",
        }
    }
}


@pytest.fixture(autouse=True)
def test_type() -> Any:
    TIMED_OUT.clear()
    with override_settings(STRANGLER_SAGAS=SAGAS):
        yield


def start(key: str) -> Saga:
    with transaction.atomic():
        return saga_start(saga_type="shop.test", key=key, step="reserve")


def test_a_saga_starts_waiting_with_its_types_context_and_deadline() -> None:
    before = timezone.now()
    saga = start("1")

    assert (saga.state, saga.context, saga.step) == (SagaState.WAITING, "inventory", "reserve")
    assert before + timedelta(seconds=30) <= saga.deadline <= timezone.now() + timedelta(seconds=30)


@pytest.mark.django_db(transaction=True)
def test_a_saga_starts_only_inside_the_transaction_of_its_write() -> None:
    with pytest.raises(SagaUsageError, match=r"transaction\.atomic"):
        saga_start(saga_type="shop.test", key="1", step="reserve")


def test_an_unknown_saga_type_names_the_known_ones() -> None:
    with pytest.raises(SagaConfigurationError, match=r"lists: shop\.test"), transaction.atomic():
        saga_start(saga_type="shop.other", key="1", step="reserve")


def test_a_saga_ends_once_and_a_second_answer_finds_it_ended() -> None:
    start("1")
    with transaction.atomic():
        ended = saga_end(saga_type="shop.test", key="1", outcome="confirmed", compensated=False)
        again = saga_end(saga_type="shop.test", key="1", outcome="refused", compensated=True)

    assert ended is not None and again is None
    saga = Saga.objects.get(key="1")
    assert (saga.state, saga.outcome) == (SagaState.COMPLETED, "confirmed")


def test_the_sweep_ends_overdue_sagas_as_timed_out_and_compensates_each_once() -> None:
    start("late")
    start("early")
    start("answered")
    Saga.objects.filter(key__in=["late", "answered"]).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    with transaction.atomic():
        saga_end(saga_type="shop.test", key="answered", outcome="confirmed", compensated=False)

    assert [saga.key for saga in expire_sagas()] == ["late"]
    assert expire_sagas() == []

    assert TIMED_OUT == ["late"]
    states = dict(Saga.objects.values_list("key", "outcome"))
    assert states == {"late": "timed_out", "early": "", "answered": "confirmed"}


def test_expire_sagas_command_reports_what_it_ended() -> None:
    start("late")
    Saga.objects.update(deadline=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("expire_sagas", stdout=out)

    assert "timed out: shop.test late" in out.getvalue()
    assert "1 saga(s) timed out" in out.getvalue()


def test_migration_status_shows_the_sagas_waiting_for_a_context() -> None:
    start("1")
    start("2")
    start("3")
    Saga.objects.filter(key="2").update(deadline=timezone.now() - timedelta(seconds=1))
    with transaction.atomic():
        saga_end(saga_type="shop.test", key="3", outcome="refused", compensated=True)

    status = context_status("inventory", versions=False)

    assert status["sagas"]["in_flight"] == 2
    assert status["sagas"]["overdue"] == 1
    assert status["sagas"]["ended"] == {"refused": 1}
    assert "sagas waiting for it: 2 in flight, 1 overdue" in render_status(status)


@pytest.mark.parametrize(
    ("configured", "message"),
    [
        ({"TYPE": {}}, "unknown STRANGLER_SAGAS setting"),
        ({"TYPES": {"t": {"context": "inventory", "timeout": 0, "on_timeout": "x.y"}}}, "positive"),
        ({"TYPES": {"t": {"context": "inventory", "timeout": 5}}}, "needs 'on_timeout'"),
        (
            {"TYPES": {"t": {"context": "c", "timeout": 5, "on_timeout": "x.y", "z": 1}}},
            r"unknown key\(s\) z",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_by_name(configured: Any, message: str) -> None:
    with (
        override_settings(STRANGLER_SAGAS=configured),
        pytest.raises(SagaConfigurationError, match=message),
    ):
        saga_settings()


def test_an_on_timeout_that_cannot_be_imported_fails_the_system_check() -> None:
    broken = {"TYPES": {"t": {"context": "c", "timeout": 5, "on_timeout": "nowhere.at_all"}}}
    with override_settings(STRANGLER_SAGAS=broken):
        errors = [e for e in run_checks() if e.id == "sagas.E001"]
    assert errors and "nowhere.at_all" in errors[0].msg
