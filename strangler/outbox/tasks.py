"""Celery alternative to the long-running relay: one beat-scheduled pass over the outbox.

Schedule it and give it a queue of its own in the project's settings (see
docs/howto/run-with-celery.md)::

    from strangler.settings_blocks import relay_beat_schedule, strangler_task_routes

    CELERY_TASK_ROUTES = {**your_routes, **strangler_task_routes("monolith.strangler")}
    CELERY_BEAT_SCHEDULE = {**your_schedule, **relay_beat_schedule(every=1.0)}

Each tick expires after one interval, so ticks sent while no worker runs never pile up. Each run
publishes what is pending with batched confirms (not Celery's per-message `confirm_publish`) and
returns; overlapping runs are safe on PostgreSQL (partition locks).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strangler.settings_blocks import RELAY_TASK

# Bounds one task run so a huge backlog cannot pin a worker: the next beat tick continues.
MAX_BATCHES_PER_RUN = 200


@shared_task(name=RELAY_TASK, ignore_result=True)
def publish_outbox_task(max_batches: int = MAX_BATCHES_PER_RUN) -> dict[str, Any]:
    """Publish pending outbox events (one pass); a broker outage leaves them for the next run."""
    from strangler.bootstrap import build_relay

    relay = build_relay()
    try:
        summary = relay.publish_all_pending(max_batches=max_batches)
    finally:
        relay.close()
    return {"published": summary.published, "failed": summary.failed, "batches": summary.batches}
