"""The AsyncAPI 3.0 document of the published language, generated from the catalog and schemas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from strangler.contracts.declarations import EventKind, EventSpec
from strangler.contracts.envelope import EXTENSIONS, JSON_CONTENT_TYPE
from strangler.contracts.registry import SchemaRegistry

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
# strangler.transport's default events exchange; the routing key of every event is its type.
DEFAULT_EXCHANGE = "strangler.events"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
AMQP_BINDING_VERSION = "0.3.0"
HEADER_COMMENT = (
    "# Generated from the project's contract packages (EVENTS and schemas/) by\n"
    "#   python manage.py generate_asyncapi\n"
    "# Do not edit: `python manage.py check_contracts` fails when this file is not current.\n"
)

_HEADER_DESCRIPTIONS = {
    "ce-id": "Event id (UUID); consumers deduplicate on it.",
    "ce-source": "The producing service (its STRANGLER_SERVICE_NAME).",
    "ce-specversion": "CloudEvents specification version.",
    "ce-type": "Event type, <context>.<aggregate>.<verb>; also the routing key.",
    "ce-time": "When it happened, RFC 3339 in UTC.",
    "ce-subject": "The aggregate id; ordering is per aggregate.",
    "ce-dataschema": "URI of the JSON Schema of the data, when set.",
    "ce-dataversion": "Version of the data's schema (an integer as text).",
    "ce-aggregateversion": "Monotonic version of the aggregate (an integer as text).",
    "ce-correlationid": "Correlation id of the request that caused the event.",
    "ce-causationid": "Id of the message that caused this event.",
    "ce-traceparent": "W3C trace context.",
}


def message_id(event_type: str, version: int) -> str:
    """`catalog.product.upserted.v1`: the component name of one version's message."""
    return f"{event_type}.v{version}"


def _headers_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name in ("id", "source", "specversion", "type", "time", "subject", "dataschema"):
        properties[f"ce-{name}"] = {"type": "string"}
    for name in EXTENSIONS:
        properties[f"ce-{name}"] = {"type": "string"}
    properties["ce-specversion"]["const"] = "1.0"
    properties["ce-time"]["format"] = "date-time"
    properties["ce-dataversion"]["pattern"] = "^[1-9][0-9]*$"
    properties["ce-aggregateversion"]["pattern"] = "^[1-9][0-9]*$"
    for key, text in _HEADER_DESCRIPTIONS.items():
        properties[key]["description"] = text
    return {
        "type": "object",
        "description": (
            "CloudEvents 1.0 attributes in the RabbitMQ binding's binary mode: each attribute "
            "is a ce- header; datacontenttype is the message's content type."
        ),
        "required": ["ce-id", "ce-source", "ce-specversion", "ce-type"],
        "properties": properties,
    }


def build_asyncapi(
    registry: SchemaRegistry,
    specs: Iterable[EventSpec],
    *,
    exchange: str = DEFAULT_EXCHANGE,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a dict: one channel per event type, one message per version.

    A channel lists every version's message (a replay may deliver any of them); the producer's
    send operation lists only the current version, the one producers write.
    """
    specs = sorted(specs, key=lambda s: s.type)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventsHeaders": _headers_schema()}
    for spec in specs:
        versions = registry.published_versions(spec.type)
        current = versions[-1]
        channel_messages: dict[str, Any] = {}
        for version in versions:
            name = message_id(spec.type, version)
            schema = registry.schema(spec.type, version)
            schemas[name] = {"schemaFormat": SCHEMA_FORMAT, "schema": schema}
            messages[name] = {
                "name": name,
                "title": f"{spec.type} v{version}",
                "summary": spec.description,
                "contentType": JSON_CONTENT_TYPE,
                "headers": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEventsHeaders"},
                        {
                            "type": "object",
                            "properties": {
                                "ce-type": {"const": spec.type},
                                "ce-dataversion": {"const": str(version)},
                            },
                        },
                    ]
                },
                "payload": {"$ref": f"#/components/schemas/{name}"},
                "tags": [{"name": spec.context}, {"name": str(spec.kind)}],
                "bindings": {
                    "amqp": {"messageType": spec.type, "bindingVersion": AMQP_BINDING_VERSION}
                },
            }
            if version < current:
                messages[name]["description"] = (
                    f"Superseded by v{current}; consumers upcast it on read."
                )
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[spec.type] = {
            "address": spec.type,
            "title": spec.type,
            "description": (
                f"{_kind_text(spec.kind)} of the {spec.context} context's {spec.aggregate} "
                f"(subject: the {spec.subject}). Routing key {spec.type!r} on the topic "
                f"exchange {exchange!r}."
            ),
            "messages": channel_messages,
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": exchange,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        operations[f"{spec.type}.publish"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{spec.type}"},
            "title": f"Publish {spec.type}",
            "summary": (
                f"Written by the {spec.producer} context's writer (the monolith until cutover, "
                "then the extracted service) through its transactional outbox."
            ),
            "messages": [
                {"$ref": f"#/channels/{spec.type}/messages/{message_id(spec.type, current)}"}
            ],
            "tags": [{"name": spec.context}],
            "bindings": {
                "amqp": {
                    "deliveryMode": 2,
                    "mandatory": True,
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "strangler-kit integration events",
            "version": DOCUMENT_VERSION,
            "description": (
                "The published language between a monolith and its extracted services: "
                "CloudEvents 1.0 in the RabbitMQ binding's binary mode, with JSON data validated "
                "against one JSON Schema per event type and version. See events.md beside "
                "this document."
            ),
            "tags": [{"name": context} for context in sorted({s.context for s in specs})]
            + [{"name": str(kind)} for kind in EventKind],
        },
        "defaultContentType": JSON_CONTENT_TYPE,
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ, as set by BROKER_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _kind_text(kind: EventKind) -> str:
    return "State-transfer events" if kind is EventKind.STATE_TRANSFER else "Domain events"


def render_asyncapi(
    registry: SchemaRegistry,
    specs: Iterable[EventSpec],
    *,
    exchange: str = DEFAULT_EXCHANGE,
) -> str:
    """The AsyncAPI document as YAML text, byte-for-byte stable for the same inputs."""
    document = build_asyncapi(registry, specs, exchange=exchange)
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return HEADER_COMMENT + body
