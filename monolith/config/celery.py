"""The monolith's Celery application (broker from BROKER_URL).

Its workers run the kit's relay task (beat-scheduled with STRANGLER_RUN_MODE=celery) and the
inbox consumer step that applies the service's events after a cutover (reverse sync); see
docs/howto/run-with-celery.md.
"""

from __future__ import annotations

import os

from celery import Celery

from strangler.inbox.celery import install_inbox_consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")

app = Celery("monolith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
install_inbox_consumer(app)
