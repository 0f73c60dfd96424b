"""App config of strangler.contracts (commands check_contracts and generate_asyncapi)."""

from __future__ import annotations

from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "strangler.contracts"
    label = "strangler_contracts"
    verbose_name = "Event contracts"

    def ready(self) -> None:
        from strangler.contracts import checks  # noqa: F401 - registers the system checks
