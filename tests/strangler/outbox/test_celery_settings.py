"""The kit's Celery settings: its task on a queue of its own, ticks that expire within a tick."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery
from django.core.exceptions import ImproperlyConfigured

from strangler.settings_blocks import (
    RELAY_TASK,
    celery_settings,
    relay_beat_schedule,
    strangler_task_routes,
)


def test_a_relay_tick_expires_no_later_than_the_next_one() -> None:
    (entry,) = relay_beat_schedule(every=2.5).values()
    assert entry["task"] == RELAY_TASK
    assert entry["schedule"] == 2.5 and entry["options"]["expires"] <= entry["schedule"]
    with pytest.raises(ImproperlyConfigured):
        relay_beat_schedule(every=0)


def test_the_kit_task_is_routed_to_its_queue_beside_your_own_routes() -> None:
    app = Celery("routing", set_as_current=False)
    app.conf.task_routes = {"shop.*": {"queue": "shop"}, **strangler_task_routes("kit")}
    route = app.amqp.router.route({}, RELAY_TASK)
    assert route["queue"].name == "kit"
    assert app.amqp.router.route({}, "shop.tasks.report")["queue"].name == "shop"


def test_the_schedule_follows_the_run_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGLER_CELERY_QUEUE", raising=False)
    monkeypatch.delenv("STRANGLER_RELAY_EVERY", raising=False)
    monkeypatch.delenv("STRANGLER_RUN_MODE", raising=False)
    block = celery_settings(service_name="shop", broker_url="amqp://x", var_dir=Path("/v"))
    assert block["CELERY_BEAT_SCHEDULE"] == {}
    assert block["CELERY_TASK_ROUTES"] == {"strangler.*": {"queue": "shop.strangler"}}
    monkeypatch.setenv("STRANGLER_RUN_MODE", "celery")
    monkeypatch.setenv("STRANGLER_RELAY_EVERY", "0.5")
    block = celery_settings(service_name="shop", broker_url="amqp://x", var_dir=Path("/v"))
    assert block["CELERY_BEAT_SCHEDULE"] == relay_beat_schedule(every=0.5)
    monkeypatch.setenv("STRANGLER_RUN_MODE", "celry")
    with pytest.raises(ImproperlyConfigured, match="STRANGLER_RUN_MODE"):
        celery_settings(service_name="shop", broker_url="amqp://x", var_dir=Path("/v"))
