"""Make the token issuer's Ed25519 key pair (or the next one, for a rotation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.identity.conf import identity_settings
from strangler.identity.keys import PEM_MARK, generate_key_pair, write_key_pair


class Command(BaseCommand):
    help = (
        "Write a new Ed25519 key pair for signing tokens: the private key to --signing-key "
        "(default STRANGLER_IDENTITY['SIGNING_KEY']) and the public key to public/<kid>.pem "
        "beside it. An existing private key is kept unless --rotate: then the new one replaces "
        "it and the old public key stays, so tokens signed before the rotation keep verifying."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--signing-key", help="Where to write the private key (PEM).")
        parser.add_argument(
            "--rotate", action="store_true", help="Replace an existing private key."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = options["signing_key"] or identity_settings().signing_key
        if not target or target.lstrip().startswith(PEM_MARK):
            raise CommandError(
                "Name the private key's file: --signing-key PATH "
                "(STRANGLER_IDENTITY['SIGNING_KEY'] is empty or holds the key itself)."
            )
        path = Path(target)
        pair = generate_key_pair()
        if path.exists() and not options["rotate"]:
            self.stdout.write(f"{path} exists; kept (pass --rotate to make the next key).")
            return
        public = write_key_pair(path, pair, replace=options["rotate"])
        self.stdout.write(f"kid {pair.kid}: private key {path}, public key {public}")
        if options["rotate"]:
            self.stdout.write(
                "Give the new public key to every verifier (VERIFYING_KEYS) before this side "
                "signs with it; remove the old public key after TOKEN_LIFETIME seconds."
            )
