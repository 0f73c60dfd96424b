from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "strangler.outbox"
    label = "strangler_outbox"
    verbose_name = "Outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.outbox import checks  # noqa: F401 - registers the system checks
        from strangler.outbox.bypass import watch_from_settings

        # STRANGLER_OUTBOX["BYPASS_GUARD"]: off by default, and then nothing is installed.
        self.bypass_watch = watch_from_settings()
