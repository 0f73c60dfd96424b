"""Celery alternative to the long-running relay: one beat-scheduled pass over the outbox.

Schedule it in the project's Celery configuration, e.g.::

    CELERY_BEAT_SCHEDULE = {
        "publish-outbox": {"task": "strangler.outbox.tasks.publish_outbox_task", "schedule": 1.0},
    }

Each run publishes what is pending with batched confirms (not Celery's per-message
`confirm_publish`) and returns; overlapping runs are safe on PostgreSQL (partition locks).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from strangler.outbox.relay import OutboxRelay

# Bounds one task run so a huge backlog cannot pin a worker: the next beat tick continues.
MAX_BATCHES_PER_RUN = 200


@shared_task(name="strangler.outbox.tasks.publish_outbox_task", ignore_result=True)
def publish_outbox_task(max_batches: int = MAX_BATCHES_PER_RUN) -> dict[str, Any]:
    """Publish pending outbox events (one pass); a broker outage leaves them for the next run."""
    relay = OutboxRelay()
    try:
        summary = relay.publish_all_pending(max_batches=max_batches)
    finally:
        relay.close()
    return {"published": summary.published, "failed": summary.failed, "batches": summary.batches}
