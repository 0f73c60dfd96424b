from django.apps import AppConfig


class TransportConfig(AppConfig):
    name = "strangler.transport"
    label = "strangler_transport"
    verbose_name = "Transport"

    def ready(self) -> None:
        from strangler.transport import checks  # noqa: F401 - registers the system checks
