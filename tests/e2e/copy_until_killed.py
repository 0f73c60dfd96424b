"""Run the catalog service's copy_context and SIGKILL this process after chunk N is committed.

    python -m tests.e2e.copy_until_killed N copy_context catalog --source ... (arguments as usual)

The crash is injected through copy_context's on_chunk callback, the hook production code offers;
nothing in the kit knows about it.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def main(argv: list[str]) -> None:
    kill_after = int(argv[0])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.catalog.config.settings")
    import django
    from django.core.management import call_command

    django.setup()

    def die_at_boundary(done: Any) -> None:  # a strangler.sync.copy_phase.ChunkDone
        if done.chunk >= kill_after:
            print(f"killed after chunk {done.chunk}, key {done.last_key}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    call_command(*argv[1:], on_chunk=die_at_boundary)


if __name__ == "__main__":
    main(sys.argv[1:])
