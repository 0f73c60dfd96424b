"""App configuration of the django-cqrs master."""

from django.apps import AppConfig


class MasterConfig(AppConfig):
    name = "bench.peers.cqrs.master"
    label = "cqrs_master"
    default_auto_field = "django.db.models.BigAutoField"
