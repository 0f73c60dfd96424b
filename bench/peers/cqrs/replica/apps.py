"""App configuration of the django-cqrs replica."""

from django.apps import AppConfig


class ReplicaConfig(AppConfig):
    name = "bench.peers.cqrs.replica"
    label = "cqrs_replica"
    default_auto_field = "django.db.models.BigAutoField"
