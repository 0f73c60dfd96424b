"""One RabbitMQ user per side: its permissions, derived from the topology, applied by rabbitmqctl.

RabbitMQ grants three regular expressions per user and vhost, matched against exchange and queue
names: configure (declare, delete), write (publish to an exchange; bind a queue, as the queue's
side) and read (consume or purge a queue; bind a queue *from* an exchange, so a queue's side needs
read on every exchange it binds from). The default exchange is checked as `amq.default`; no side
gets it, since writing there reaches any queue by name.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import kombu

from strangler.transport.base import Subscription
from strangler.transport.conf import TransportSettings


class BrokerUserError(RuntimeError):
    """rabbitmqctl is missing or refused to create a user or grant its permissions."""


@dataclass(frozen=True)
class BrokerPermissions:
    """The three regular expressions RabbitMQ matches resource names against (one vhost)."""

    configure: str
    write: str
    read: str


def side_permissions(
    settings: TransportSettings, subscriptions: Sequence[Subscription]
) -> BrokerPermissions:
    """What this side's user may touch: its exchange, its subscriber exchange and its queues.

    configure and write: the side's events exchange, each subscriber's own direct exchange
    (dead-lettering, retries), its queues and their `.dead` queues. read: the subscriber
    exchange and queues, and the exchanges its queues bind from (queue.bind needs read on the
    source exchange).
    """
    owned = {settings.own_exchange}
    readable: set[str] = set()
    for subscription in subscriptions:
        mine = {
            settings.dead_letter_exchange_of(subscription.subscriber),
            subscription.queue,
            subscription.dead_letter_queue,
        }
        owned |= mine
        readable |= mine
        readable |= {
            exchange for exchange, _key in settings.source_exchanges(subscription.binding_keys)
        }
    return BrokerPermissions(
        configure=names_pattern(owned), write=names_pattern(owned), read=names_pattern(readable)
    )


def names_pattern(names: set[str]) -> str:
    """A regular expression matching exactly these names (none when the set is empty)."""
    if not names:
        return "^$"
    return "^(" + "|".join(re.escape(name) for name in sorted(names)) + ")$"


@dataclass(frozen=True)
class BrokerUser:
    """The outcome of ensure_broker_user: the user, its vhost, and a new password if one was set."""

    name: str
    vhost: str
    created: bool
    password: str  # empty when an existing user kept its password

    def url(self, operator_url: str) -> str:
        """operator_url with this user's name (and new password) in place of the operator's."""
        parts = urlsplit(operator_url)
        host = parts.hostname or "127.0.0.1"
        netloc = f"{quote(self.name, safe='')}:{quote(self.password or '...', safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def vhost_of(url: str) -> str:
    """The virtual host a broker URL names ("/" when it names none), as kombu reads it."""
    return str(kombu.Connection(url).virtual_host or "/")


def ensure_broker_user(
    name: str,
    *,
    vhost: str,
    permissions: BrokerPermissions,
    password: str = "",
    rabbitmqctl: str = "rabbitmqctl",
) -> BrokerUser:
    """Create the user if missing (password given or generated), then set its permissions.

    An existing user keeps its password unless one is given. The password goes to rabbitmqctl
    on standard input, never on its command line (where `ps` would show it).
    """
    created = name not in _users(rabbitmqctl)
    if created:
        password = password or secrets.token_urlsafe(24)
        _run(rabbitmqctl, ["add_user", name], stdin=password)
    elif password:
        _run(rabbitmqctl, ["change_password", name], stdin=password)
    _run(
        rabbitmqctl,
        [
            "set_permissions",
            "-p",
            vhost,
            name,
            permissions.configure,
            permissions.write,
            permissions.read,
        ],
    )
    return BrokerUser(name=name, vhost=vhost, created=created, password=password)


def _users(rabbitmqctl: str) -> set[str]:
    output = _run(rabbitmqctl, ["-q", "list_users", "--formatter", "json"])
    try:
        return {str(row["user"]) for row in json.loads(output)}
    except (ValueError, KeyError, TypeError) as exc:
        raise BrokerUserError(f"cannot read `rabbitmqctl list_users`: {output[:200]!r}") from exc


def _run(rabbitmqctl: str, arguments: list[str], *, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            [rabbitmqctl, *arguments],
            input=f"{stdin}\n" if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerUserError(
            f"cannot run {rabbitmqctl} ({exc}); it must run on the broker's host as a user "
            "allowed to manage RabbitMQ (root or rabbitmq), or pass --rabbitmqctl."
        ) from exc
    if done.returncode != 0:
        raise BrokerUserError(
            f"`rabbitmqctl {arguments[0] if arguments[0] != '-q' else arguments[1]}` failed: "
            f"{(done.stderr or done.stdout).strip()[:500]}"
        )
    return done.stdout
