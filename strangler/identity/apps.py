from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "strangler.identity"
    label = "strangler_identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from strangler.identity import checks  # noqa: F401 - registers the system checks
