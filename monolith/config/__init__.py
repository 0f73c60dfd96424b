"""Project configuration of the monolith: settings, URLs, ASGI/WSGI and Celery."""

from monolith.config.celery import app as celery_app

__all__ = ["celery_app"]
