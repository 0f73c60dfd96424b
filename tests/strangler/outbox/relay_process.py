"""Run the outbox relay in a process of its own for tests (`python -m tests...relay_process`).

Runs the real `outbox_relay` command against a private exchange, or with --kill-after-confirm a
relay that SIGKILLs itself after the broker confirmed a batch and before the rows are marked.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker-url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--kill-after-confirm", action="store_true")
    options, relay_args = parser.parse_known_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.STRANGLER_TRANSPORT = {"URL": options.broker_url, "EXCHANGE": options.exchange}
    if options.kill_after_confirm:
        from strangler.outbox.relay import OutboxRelay

        def die(rows: object) -> None:
            print("confirmed; killing myself before the mark", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        OutboxRelay(after_confirm=die).publish_all_pending()
        return
    from django.core.management import call_command

    call_command("outbox_relay", *relay_args)


if __name__ == "__main__":
    main(sys.argv[1:])
