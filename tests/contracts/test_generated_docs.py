"""docs/reference/asyncapi.yaml and the event table in events.md are generated and current."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from strangler.contracts import registry, services
from strangler.contracts.asyncapi import build_asyncapi, message_id
from strangler.contracts.conf import contracts_settings
from strangler.contracts.project import project_contracts
from strangler.contracts.reference_docs import MissingTableMarkers, with_event_table


def catalog_types() -> list[str]:
    return project_contracts().catalog.types()


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_committed_asyncapi_and_event_table_are_current() -> None:
    stale = services.stale_documents()

    assert stale == [], f"run `python manage.py generate_asyncapi`; stale: {stale}"


def test_generate_asyncapi_check_passes_on_the_repository() -> None:
    out = io.StringIO()
    call_command("generate_asyncapi", "--check", stdout=out)

    assert "current" in out.getvalue()


def test_committed_asyncapi_is_an_asyncapi_3_document_of_every_channel() -> None:
    document = yaml.safe_load((contracts_settings().docs_dir / services.ASYNCAPI_NAME).read_text())

    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(catalog_types())
    for event_type in catalog_types():
        channel = document["channels"][event_type]
        assert channel["address"] == event_type
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
        operation = document["operations"][f"{event_type}.publish"]
        assert operation["action"] == "send"
        current = message_id(event_type, registry.current_version(event_type))
        assert operation["messages"] == [{"$ref": f"#/channels/{event_type}/messages/{current}"}]
        payload = resolve(document, document["components"]["messages"][current]["payload"]["$ref"])
        assert payload["schema"] == registry.schema(
            event_type, registry.current_version(event_type)
        )


def test_every_reference_in_the_asyncapi_document_resolves() -> None:
    document = build_asyncapi(registry.default_registry(), project_contracts().catalog)
    internal = [ref for ref in refs(document) if ref.startswith("#/")]

    assert len(internal) > 3 * len(project_contracts().catalog)
    for ref in internal:
        resolve(document, ref)


def test_event_table_lists_every_type_once() -> None:
    text = (contracts_settings().docs_dir / services.EVENTS_NAME).read_text()

    for event_type in catalog_types():
        assert text.count(f"| `{event_type}` |") == 1


def test_event_table_needs_its_markers() -> None:
    with pytest.raises(MissingTableMarkers):
        with_event_table("# Events\n", "| table |\n")
