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
_PREFIX_LENGTH = len(HEADER_PREFIX)

REQUIRED_ATTRIBUTES = ("id", "source", "type", "specversion")
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

    def __post_init__(self) -> None:
        # Fail where a bad envelope is built, not later on a consumer that cannot say who made it.
        for name in ("id", "source", "type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise EnvelopeError(f"CloudEvents attribute {name!r} must be a non-empty string")
        if self.specversion != SPECVERSION:
            raise EnvelopeError(f"unsupported specversion {self.specversion!r}; expected 1.0")
        if self.time is not None and self.time.utcoffset() is None:
            raise EnvelopeError("CloudEvents attribute 'time' must be timezone-aware")
        if isinstance(self.dataversion, bool) or not isinstance(self.dataversion, int):
            raise EnvelopeError(f"dataversion must be an integer, got {self.dataversion!r}")
        if self.dataversion < 1:
            raise EnvelopeError(f"dataversion must be 1 or more, got {self.dataversion}")
        if not isinstance(self.data, Mapping):
            raise EnvelopeError(f"data must be a JSON object, got {type(self.data).__name__}")

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
        """Every attribute except data and datacontenttype, as CloudEvents string values."""
        return attribute_strings(
            self.id,
            self.source,
            self.type,
            {name: getattr(self, name) for name in _OPTIONAL_ATTRIBUTES},
            specversion=self.specversion,
        )

    def body(self) -> bytes:
        """The data as compact UTF-8 JSON."""
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()

    def to_message(self) -> TransportMessage:
        """The RabbitMQ binding's binary mode: attributes as ce- headers, data as the body."""
        return binary_message(self.attributes(), self.datacontenttype, self.body())

    @classmethod
    def from_message(
        cls, headers: Mapping[str, Any], content_type: str | None, body: bytes | str
    ) -> Envelope:
        """Parse a binary-mode message; raises EnvelopeError naming what is wrong.

        Header names are matched case-insensitively (as the binding and the SDK do) and values
        may arrive as bytes (AMQP long strings) or native integers.
        """
        attrs: dict[str, str] = {}
        for key, value in headers.items():
            name = key.decode() if type(key) is bytes else key
            if type(name) is not str:
                continue
            lowered = name.lower()
            if lowered[:_PREFIX_LENGTH] != HEADER_PREFIX:
                continue
            # Text is what every client sends; anything else is checked and converted.
            attrs[lowered[_PREFIX_LENGTH:]] = (
                value if type(value) is str else _header_text(name, value)
            )
        missing = [name for name in REQUIRED_ATTRIBUTES if not attrs.get(name)]
        if missing:
            raise EnvelopeError(
                "missing required CloudEvents attribute(s): "
                + ", ".join(HEADER_PREFIX + name for name in missing)
            )
        if attrs["specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported specversion {attrs['specversion']!r}; expected 1.0")
        content_type = content_type or JSON_CONTENT_TYPE
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != JSON_CONTENT_TYPE:
            raise EnvelopeError(
                f"unsupported content type {content_type!r}: events travel in binary mode with "
                f"{JSON_CONTENT_TYPE} data"
            )
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError(f"body must be a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for name in _OPTIONAL_ATTRIBUTES:
            raw = attrs.get(name)
            if raw is None or raw == "":
                continue
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
            id=attrs["id"],
            source=attrs["source"],
            type=attrs["type"],
            data=data,
            datacontenttype=content_type,
            **kwargs,
        )


def attribute_strings(
    id: str,
    source: str,
    type: str,
    optional: Mapping[str, Any],
    *,
    specversion: str = SPECVERSION,
) -> dict[str, str]:
    """CloudEvents attribute values as strings; absent, None and empty optional ones left out.

    `optional` maps names of _OPTIONAL_ATTRIBUTES (subject, time, dataschema and our
    extensions) to values; times become RFC 3339 in UTC. Envelope.attributes() and the outbox
    relay (which builds messages from table rows, not envelopes) both go through here.
    """
    values: dict[str, str] = {"id": id, "source": source, "type": type, "specversion": specversion}
    for name in _OPTIONAL_ATTRIBUTES:
        value = optional.get(name)
        if value is None or value == "":
            # An empty string is not a value in CloudEvents: an absent attribute says it.
            continue
        values[name] = format_time(value) if isinstance(value, datetime) else str(value)
    return values


def binary_message(
    attributes: Mapping[str, str], content_type: str, body: bytes
) -> TransportMessage:
    """A binary-mode message: each attribute as a `ce-` header, the data as the body."""
    headers = {HEADER_PREFIX + name: value for name, value in attributes.items()}
    return TransportMessage(headers, content_type, body)


def _header_text(name: str, value: Any) -> str:
    """A header value as text; AMQP clients hand long strings over as bytes."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {name} is not UTF-8 text") from exc
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EnvelopeError(f"header {name} must be a string, got {type(value).__name__}")
    return str(value)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix, as the CloudEvents SDK writes it."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp with an offset (Z or +hh:mm) as an aware datetime."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise EnvelopeError(f"ce-time is not an RFC 3339 timestamp: {text!r}") from exc
    if value.utcoffset() is None:
        raise EnvelopeError(f"ce-time must carry a time-zone offset (RFC 3339): {text!r}")
    return value
