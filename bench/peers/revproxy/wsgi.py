"""WSGI entry of the django-revproxy project (served by gunicorn in bench/gateway.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.revproxy.settings")
application = get_wsgi_application()
