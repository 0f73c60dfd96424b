"""Parsing and checking of the operator commands' arguments, with messages a person can act on."""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError
from datetime import UTC, datetime

from django.core.management.base import CommandError

from strangler.sync.conf import AggregateSpec, SyncConfigurationError, sync_settings


def aggregates_named(target: str) -> list[AggregateSpec]:
    """`catalog` or `catalog.product` as specs; CommandError naming what exists otherwise."""
    try:
        return sync_settings().resolve(target)
    except SyncConfigurationError as exc:
        raise CommandError(str(exc)) from exc


def moment(text: str) -> datetime:
    """An ISO 8601 date or date-time (UTC when no offset is given), for --since/--until.

    The argument parsers' `type`: ArgumentTypeError makes argparse name the option.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArgumentTypeError(
            f"{text!r} is not a date or date-time; use ISO 8601, e.g. 2026-11-28 or "
            "2026-11-28T14:30:00Z."
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def key_list(text: str) -> list[int]:
    """`1,2,5-9` as [1, 2, 5, 6, 7, 8, 9]."""
    keys: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            keys.extend(range(int(low), int(high) + 1) if high else [int(low)])
    except ValueError as exc:
        raise ArgumentTypeError(f"{text!r} is not a list of ids; use e.g. 1,2,5-9.") from exc
    if not keys:
        raise ArgumentTypeError("--ids needs at least one id.")
    return keys


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise ArgumentTypeError(f"{text!r} is not a number.") from exc
    if value <= 0:
        raise ArgumentTypeError(f"{text!r} must be greater than zero.")
    return value


def confirm(prompt: str, *, assume_yes: bool) -> bool:
    """True when the operator agreed; a run without a terminal must say --yes, never guessed."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise CommandError(f"{prompt} Refusing without confirmation; pass --yes to proceed.")
    return input(f"{prompt} Type 'yes' to proceed: ").strip().lower() in {"y", "yes"}
