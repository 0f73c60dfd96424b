"""The embedded, no-server transport: kombu's filesystem transport with durable, ordered queues.

kombu's filesystem transport keeps the exchange *type* in process memory and silently drops
messages nobody is bound to, names files so that messages of the same millisecond can swap, and
deletes a message the moment it is read. This module keeps kombu's message format and folder
convention but routes by a topology file of its own, names files in publication order, writes them
atomically, and holds fetched messages in an in-flight folder until they are acked (see
docs/adr/0002-embedded-transport.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kombu
from kombu.transport import filesystem

from strangler.transport.base import (
    Consumer,
    Delivery,
    OutgoingMessage,
    PublishOutcome,
    Subscription,
    Transport,
    TransportError,
)
from strangler.transport.conf import TransportSettings
from strangler.transport.topology import topic_matches

logger = logging.getLogger(__name__)

_sequence = itertools.count()


class QueueNotFound(TransportError):
    """The queue was never declared in this data folder (run `manage.py setup_broker`)."""


def message_filename(queue: str) -> str:
    """A file name that sorts in publication order: zero-padded monotonic ns, pid, counter.

    CLOCK_MONOTONIC is system-wide on Linux, so names from different processes compare too.
    kombu reads the queue name as everything after the first dot.
    """
    return f"{time.monotonic_ns():020d}-{os.getpid():08d}-{next(_sequence):012d}.{queue}.msg"


class OrderedFilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, writing each message atomically under an ordered name."""

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:
        folder = Path(self.data_folder_out)
        final = folder / message_filename(queue)
        temporary = folder / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(temporary, "wb") as handle:
                handle.write(json.dumps(payload).encode())
                handle.flush()
                os.fsync(handle.fileno())
            # rename is atomic: a reader never sees half a message.
            os.replace(temporary, final)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise TransportError(f"cannot write a message to {folder}: {exc}") from exc


class OrderedFilesystemTransport(filesystem.Transport):
    Channel = OrderedFilesystemChannel


class EmbeddedTransport(Transport):
    """Queues are files under DATA_FOLDER; the topology lives in DATA_FOLDER/topology.json."""

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self.folder = Path(settings.data_folder)
        self.queue_folder = self.folder / "queues"
        self.inflight_folder = self.folder / "inflight"
        self.topology_file = self.folder / "topology.json"
        self._connection: kombu.Connection | None = None
        self._channel: OrderedFilesystemChannel | None = None

    # -- plumbing -----------------------------------------------------------------------------

    def channel(self) -> OrderedFilesystemChannel:
        if self._channel is None:
            for sub in ("queues", "inflight", "control"):
                (self.folder / sub).mkdir(parents=True, exist_ok=True)
            self._connection = kombu.Connection(
                "filesystem://",
                transport=OrderedFilesystemTransport,
                transport_options={
                    "data_folder_in": str(self.queue_folder),
                    "data_folder_out": str(self.queue_folder),
                    "control_folder": str(self.folder / "control"),
                },
            )
            self._channel = self._connection.default_channel
        return self._channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            connection.release()

    @contextlib.contextmanager
    def _topology_lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "topology.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def topology(self) -> dict[str, Any]:
        """{"queues": {name: {...}}, "bindings": [{"exchange", "key", "queue"}]} as on disk."""
        try:
            return json.loads(self.topology_file.read_text())
        except FileNotFoundError:
            return {"queues": {}, "bindings": []}

    def _write_topology(self, topology: dict[str, Any]) -> None:
        temporary = self.topology_file.with_suffix(f".tmp-{uuid.uuid4().hex}")
        temporary.write_text(json.dumps(topology, indent=2, sort_keys=True))
        os.replace(temporary, self.topology_file)

    # -- topology -----------------------------------------------------------------------------

    def declare_exchanges(self) -> None:
        """Exchanges are implicit here: the topology file is the whole broker state."""
        self.channel()

    def declare_subscription(self, subscription: Subscription) -> None:
        self.channel()
        with self._topology_lock():
            topology = self.topology()
            topology["queues"][subscription.queue] = {
                "subscriber": subscription.subscriber,
                "dead_letter_queue": subscription.dead_letter_queue,
                "delivery_limit": self.settings.delivery_limit,
            }
            topology["queues"].setdefault(subscription.dead_letter_queue, {})
            bindings = {(b["exchange"], b["key"], b["queue"]) for b in topology["bindings"]}
            for exchange, key in self.settings.source_exchanges(subscription.binding_keys):
                bindings.add((exchange, key, subscription.queue))
            own = self.subscriber_exchange(subscription.subscriber)
            for queue in (subscription.queue, subscription.dead_letter_queue):
                bindings.add((own, queue, queue))
            topology["bindings"] = [
                {"exchange": e, "key": k, "queue": q} for e, k, q in sorted(bindings)
            ]
            self._write_topology(topology)

    def delete_subscription(self, subscription: Subscription) -> None:
        channel = self.channel()
        with self._topology_lock():
            topology = self.topology()
            for queue in (subscription.queue, subscription.dead_letter_queue):
                topology["queues"].pop(queue, None)
                channel._purge(queue)
            gone = {subscription.queue, subscription.dead_letter_queue}
            topology["bindings"] = [b for b in topology["bindings"] if b["queue"] not in gone]
            self._write_topology(topology)

    def route(self, exchange: str, routing_key: str, topology: dict[str, Any]) -> list[str]:
        """Queues a message reaches: the named queue on the default exchange, else topic match."""
        if exchange == "":
            return [routing_key] if routing_key in topology["queues"] else []
        queues: list[str] = []
        for binding in topology["bindings"]:
            if (
                binding["exchange"] == exchange
                and binding["queue"] not in queues
                and topic_matches(binding["key"], routing_key)
            ):
                queues.append(binding["queue"])
        return queues

    # -- publishing ---------------------------------------------------------------------------

    def publish_batch(
        self, messages: Sequence[OutgoingMessage], *, timeout: float | None = None
    ) -> list[PublishOutcome]:
        """Write each message to every bound queue; a message on disk counts as confirmed."""
        if not messages:
            return []
        channel = self.channel()
        topology = self.topology()
        outcomes = []
        for outgoing in messages:
            exchange = (
                self.settings.own_exchange if outgoing.exchange is None else outgoing.exchange
            )
            queues = self.route(exchange, outgoing.routing_key, topology)
            if not queues:
                outcomes.append(
                    PublishOutcome(
                        outgoing.message_id,
                        False,
                        f"unroutable: no queue bound to exchange {exchange!r} "
                        f"for key {outgoing.routing_key!r}",
                    )
                )
                continue
            for queue in queues:
                self._put(channel, queue, outgoing, exchange)
            outcomes.append(PublishOutcome(outgoing.message_id, True))
        self._sync_folder()
        return outcomes

    def _put(
        self,
        channel: OrderedFilesystemChannel,
        queue: str,
        outgoing: OutgoingMessage,
        exchange: str,
    ) -> None:
        payload = channel.prepare_message(
            outgoing.message.body,
            content_type=outgoing.message.content_type,
            headers={**outgoing.message.headers, **outgoing.extra_headers},
            properties={"delivery_mode": 2, "message_id": outgoing.message_id},
        )
        channel._inplace_augment_message(payload, exchange, outgoing.routing_key)
        channel._put(queue, payload)

    def _sync_folder(self) -> None:
        """fsync the queue folder so the renames of this batch survive a power cut."""
        descriptor = os.open(self.queue_folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    # -- consuming ----------------------------------------------------------------------------

    def consumer(self, queue: str, *, prefetch: int = 100) -> Consumer:
        self.channel()
        if queue not in self.topology()["queues"]:
            raise QueueNotFound(f"queue {queue!r} is not declared in {self.folder}")
        return EmbeddedConsumer(self, queue, prefetch)

    def queue_depth(self, queue: str) -> int:
        if queue not in self.topology()["queues"]:
            raise QueueNotFound(f"queue {queue!r} is not declared in {self.folder}")
        return int(self.channel()._size(queue))

    def recover_inflight(self) -> int:
        """Return messages held by consumers that died (their pid is gone) to their queues."""
        recovered = 0
        for owner in self.inflight_folder.iterdir() if self.inflight_folder.exists() else ():
            pid = int(owner.name.split("-", 1)[0])
            if _process_alive(pid):
                continue
            for path in sorted(owner.iterdir()):
                payload = json.loads(path.read_bytes())
                payload["redelivered"] = True
                headers = payload.setdefault("headers", {})
                headers["x-delivery-count"] = int(headers.get("x-delivery-count", 0)) + 1
                _write_atomically(self.queue_folder / path.name, payload)
                path.unlink()
                recovered += 1
            owner.rmdir()
        if recovered:
            logger.warning("returned %d unacked message(s) of dead consumers", recovered)
        return recovered


class EmbeddedDelivery(Delivery):
    """A message moved to its consumer's in-flight folder; ack deletes it."""

    def __init__(self, consumer: EmbeddedConsumer, path: Path, payload: dict[str, Any]) -> None:
        self._consumer = consumer
        self._path = path
        self._payload = payload
        properties = payload.get("properties", {})
        self.headers = dict(payload.get("headers") or {})
        self.content_type = payload.get("content-type")
        body = consumer.transport.channel().decode_body(
            payload["body"], properties.get("body_encoding")
        )
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.redelivered = bool(payload.get("redelivered"))
        self.message_id = properties.get("message_id", "")

    @property
    def delivery_count(self) -> int:
        return int(self.headers.get("x-delivery-count", 0))

    def ack(self) -> None:
        self._path.unlink()

    def reject(self, *, requeue: bool) -> None:
        """requeue=True puts it back (dead-lettered past the delivery limit, as RabbitMQ does)."""
        transport = self._consumer.transport
        queue = self._consumer.queue
        spec = transport.topology()["queues"].get(queue, {})
        headers = self._payload.setdefault("headers", {})
        count = int(headers.get("x-delivery-count", 0)) + 1
        if requeue and count <= int(spec.get("delivery_limit", transport.settings.delivery_limit)):
            headers["x-delivery-count"] = count
            self._payload["redelivered"] = True
            _write_atomically(transport.queue_folder / message_filename(queue), self._payload)
        else:
            reason = "delivery_limit" if requeue else "rejected"
            info = self._payload.get("properties", {}).get("delivery_info", {})
            death = {
                "queue": queue,
                "reason": reason,
                "count": 1,
                "exchange": info.get("exchange", ""),
                "routing-keys": [info.get("routing_key", "")],
                "time": datetime.now(UTC).isoformat(),
            }
            headers["x-death"] = [death, *headers.get("x-death", [])]
            headers.setdefault("x-first-death-queue", queue)
            headers.setdefault("x-first-death-reason", reason)
            dead = spec.get("dead_letter_queue", f"{queue}.dead")
            _write_atomically(transport.queue_folder / message_filename(dead), self._payload)
        self._path.unlink()


class EmbeddedConsumer(Consumer):
    """Claims message files in name order by renaming them into its own in-flight folder."""

    def __init__(self, transport: EmbeddedTransport, queue: str, prefetch: int) -> None:
        self.transport = transport
        self.queue = queue
        self.prefetch = prefetch
        transport.recover_inflight()
        self._inflight = transport.inflight_folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._inflight.mkdir(parents=True)
        self._candidates: deque[str] = deque()
        self._suffix = f".{queue}.msg"

    def _refill(self) -> None:
        names = [
            name
            for name in os.listdir(self.transport.queue_folder)
            if name.partition(".")[2] == self._suffix[1:]
        ]
        self._candidates = deque(sorted(names))

    def _claim_one(self) -> EmbeddedDelivery | None:
        while True:
            if not self._candidates:
                return None
            name = self._candidates.popleft()
            target = self._inflight / name
            try:
                os.rename(self.transport.queue_folder / name, target)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            return EmbeddedDelivery(self, target, json.loads(target.read_bytes()))

    def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Claim up to max_messages (bounded by prefetch), polling the folder until timeout."""
        limit = max(1, min(max_messages, self.prefetch))
        deadline = time.monotonic() + timeout
        deliveries: list[Delivery] = []
        delay = 0.005
        while True:
            while len(deliveries) < limit:
                delivery = self._claim_one()
                if delivery is None:
                    break
                deliveries.append(delivery)
            if len(deliveries) >= limit:
                return deliveries
            self._refill()
            if self._candidates:
                continue
            if deliveries or time.monotonic() >= deadline:
                return deliveries
            # No server pushes to us: poll with a short, growing pause.
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.1)

    def close(self) -> None:
        """Unacked messages go back to the queue under their original names (original order)."""
        if not self._inflight.exists():
            return
        for path in sorted(self._inflight.iterdir()):
            payload = json.loads(path.read_bytes())
            payload["redelivered"] = True
            _write_atomically(self.transport.queue_folder / path.name, payload)
            path.unlink()
        self._inflight.rmdir()


def _write_atomically(target: Path, payload: dict[str, Any]) -> None:
    temporary = target.parent / f".tmp-{uuid.uuid4().hex}"
    with open(temporary, "wb") as handle:
        handle.write(json.dumps(payload).encode())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
