"""Settings of the django-revproxy project: no database, no middleware beyond the common one."""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["revproxy"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.peers.revproxy.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
# Where ProxyView forwards every request: the same gunicorn backend the others reach.
REVPROXY_UPSTREAM = os.environ["REVPROXY_UPSTREAM"]
