"""`manage.py expire_sagas`: end every saga past its deadline with its type's compensation."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sagas.conf import SagaConfigurationError
from strangler.sagas.services import expire_sagas


class Command(BaseCommand):
    help = (
        "End the waiting sagas whose deadline passed (STRANGLER_SAGAS['TYPES'][type]['timeout']): "
        "each type's on_timeout runs in the transaction that ends the saga (the order is rejected "
        "and the participant asked to undo a late step). Once by default; --every N sweeps every "
        "N seconds (a process of its own, or cron without --every)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=float, default=0.0, help="Sweep again every N seconds (> 0)."
        )
        parser.add_argument(
            "--sweeps", type=int, default=0, help="With --every: stop after N sweeps (0: never)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every, sweeps = options["every"], options["sweeps"]
        if every < 0 or sweeps < 0:
            raise CommandError("--every and --sweeps take a number >= 0.")
        done = 0
        while True:
            try:
                expired = expire_sagas()
            except SagaConfigurationError as exc:
                raise CommandError(str(exc)) from exc
            for saga in expired:
                self.stdout.write(f"timed out: {saga.saga_type} {saga.key}")
            done += 1
            if not every or (sweeps and done >= sweeps):
                self.stdout.write(f"{len(expired)} saga(s) timed out")
                return
            time.sleep(every)
