"""Settings of the django-cqrs master project."""

from __future__ import annotations

from bench.peers.cqrs.base_settings import *  # noqa: F403
from bench.peers.cqrs.base_settings import cqrs_settings

INSTALLED_APPS = ["django.contrib.contenttypes", "dj_cqrs", "bench.peers.cqrs.master"]
CQRS = cqrs_settings()
