"""Monolith settings for bench.reconcile's replay run: a subscription and exchange of its own."""

from __future__ import annotations

import json
import os

from monolith.config.settings import *  # noqa: F403

STRANGLER_TRANSPORT = {"EXCHANGE": os.environ["STRANGLER_EXCHANGE"], "QUEUE_TYPE": "quorum"}
STRANGLER_SUBSCRIPTIONS = json.loads(os.environ["BENCH_SUBSCRIPTIONS"])
