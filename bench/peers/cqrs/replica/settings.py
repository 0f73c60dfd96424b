"""Settings of the django-cqrs replica project."""

from __future__ import annotations

import os

from bench.peers.cqrs.base_settings import *  # noqa: F403
from bench.peers.cqrs.base_settings import cqrs_settings

INSTALLED_APPS = ["django.contrib.contenttypes", "dj_cqrs", "bench.peers.cqrs.replica"]
CQRS = cqrs_settings(queue=os.environ["PEER_QUEUE"])
