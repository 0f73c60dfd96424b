"""The CloudEvents 1.0 envelope and its RabbitMQ binary-mode binding (ce- headers, JSON body)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

SPECVERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
HEADER_PREFIX = "ce-"

# Extension attributes we define (CloudEvents names: lower-case letters and digits only).
EXTENSIONS = ("dataversion", "aggregateversion", "correlationid", "causationid", "traceparent")
_INT_ATTRIBUTES = frozenset({"dataversion", "aggregateversion"})
_OPTIONAL_ATTRIBUTES = ("subject", "time", "dataschema", *EXTENSIONS)


class EnvelopeError(ValueError):
    """A message is not a valid CloudEvents 1.0 envelope in our binding."""


@dataclass(frozen=True, slots=True)
class TransportMessage:
    """A message as it travels: AMQP headers, the content-type property and the body bytes."""

    headers: dict[str, str]
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """One integration event: `data` is its JSON payload, the rest CloudEvents attributes."""

    id: str
    source: str
    type: str
    data: Mapping[str, Any]
    subject: str | None = None
    time: datetime | None = None
    specversion: str = SPECVERSION
    datacontenttype: str = JSON_CONTENT_TYPE
    dataschema: str | None = None
    dataversion: int = 1
    aggregateversion: int | None = None
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    # Broker-level facts that are not CloudEvents attributes (redelivery count, retry attempts).
    delivery: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def new(
        cls,
        *,
        type: str,
        source: str,
        data: Mapping[str, Any],
        subject: str | int | None = None,
        dataversion: int = 1,
        aggregateversion: int | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
        traceparent: str | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        """A fresh event with a random UUID id and the current UTC time."""
        return cls(
            id=str(uuid.uuid4()),
            source=source,
            type=type,
            data=data,
            subject=None if subject is None else str(subject),
            time=time or datetime.now(UTC),
            dataversion=dataversion,
            aggregateversion=aggregateversion,
            correlationid=correlationid,
            causationid=causationid,
            traceparent=traceparent,
        )

    @property
    def aggregate_type(self) -> str:
        """`catalog.product` for `catalog.product.upserted`."""
        return self.type.rsplit(".", 1)[0]

    def with_data(self, data: Mapping[str, Any], dataversion: int) -> Envelope:
        """The same event carrying another version of its payload (used by upcasters)."""
        return replace(self, data=data, dataversion=dataversion)

    def attributes(self) -> dict[str, str]:
        """Every attribute except data, as CloudEvents string values."""
        values: dict[str, str] = {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "specversion": self.specversion,
        }
        for name in _OPTIONAL_ATTRIBUTES:
            value = getattr(self, name)
            if value is None:
                continue
            values[name] = format_time(value) if isinstance(value, datetime) else str(value)
        return values

    def body(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()

    def to_message(self) -> TransportMessage:
        """The RabbitMQ binding's binary mode: attributes as ce- headers, data as the body."""
        headers = {HEADER_PREFIX + name: value for name, value in self.attributes().items()}
        return TransportMessage(headers, self.datacontenttype, self.body())

    @classmethod
    def from_message(
        cls, headers: Mapping[str, Any], content_type: str | None, body: bytes | str
    ) -> Envelope:
        """Parse a binary-mode message; raises EnvelopeError naming what is wrong."""
        attrs = {
            key[len(HEADER_PREFIX) :]: value
            for key, value in headers.items()
            if isinstance(key, str) and key.startswith(HEADER_PREFIX)
        }
        missing = [name for name in ("id", "source", "type", "specversion") if not attrs.get(name)]
        if missing:
            raise EnvelopeError(f"missing required CloudEvents attribute(s): {', '.join(missing)}")
        if str(attrs["specversion"]) != SPECVERSION:
            raise EnvelopeError(f"unsupported specversion {attrs['specversion']!r}; expected 1.0")
        content_type = content_type or JSON_CONTENT_TYPE
        if content_type.split(";")[0].strip() != JSON_CONTENT_TYPE:
            raise EnvelopeError(f"unsupported datacontenttype {content_type!r}")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("body must be a JSON object")
        kwargs: dict[str, Any] = {}
        for name in _OPTIONAL_ATTRIBUTES:
            raw = attrs.get(name)
            if raw is None:
                continue
            raw = raw.decode() if isinstance(raw, bytes) else str(raw)
            if name in _INT_ATTRIBUTES:
                try:
                    kwargs[name] = int(raw)
                except ValueError as exc:
                    raise EnvelopeError(f"ce-{name} must be an integer, got {raw!r}") from exc
            elif name == "time":
                kwargs[name] = parse_time(raw)
            else:
                kwargs[name] = raw
        return cls(
            id=str(attrs["id"]),
            source=str(attrs["source"]),
            type=str(attrs["type"]),
            data=data,
            datacontenttype=content_type,
            **kwargs,
        )


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix, as the CloudEvents SDK writes it."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EnvelopeError(f"ce-time is not an RFC 3339 timestamp: {text!r}") from exc
