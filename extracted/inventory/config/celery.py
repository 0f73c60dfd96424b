"""The service's Celery application; its workers also run the inbox consumer step."""

from __future__ import annotations

import os

from celery import Celery

from strangler.inbox.celery import install_inbox_consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.inventory.config.settings")

app = Celery("inventory-service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
install_inbox_consumer(app)
