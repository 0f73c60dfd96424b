"""Settings of strangler.sync (STRANGLER_SYNC): the aggregate registry, peers and tuning knobs."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string

# The kinds a compared field can have; each has one canonical text (see strangler.sync.canonical).
FIELD_KINDS = ("int", "text", "money", "bool", "timestamp", "date")

DEFAULTS: dict[str, Any] = {
    # {context: {aggregate: {...}}}: what backfill, reconcile and rebuild_projection work on.
    # Each aggregate: "model" (app_label.Model), "event" (the snapshot event type), "deleted_event",
    # "fields" ({payload field: kind}, the compared fields, identical on both sides; when left out
    # they are read from the event's published schema: every property but "id" and those listed
    # in "exclude", kinds from the JSON types and formats, "kinds" overriding some), optional
    # "columns" ({payload field: model attribute} where they differ), on the writer "snapshot"
    # (dotted path of the payload builder) and "deleted_payload", on a reader "projection" (the
    # name its ProjectionVersion rows carry; default "<context>.<aggregate>").
    "CONTEXTS": {},
    # {context: base URL of the other side} for `reconcile <context>` without --target.
    "PEERS": {},
    # {caller name: [key, ...]}: who may call this side's /internal/ endpoints, each caller with
    # a secret of its own; list the current and the next key while one is rotated. Empty means
    # $STRANGLER_INTERNAL_CREDENTIALS (the same mapping as JSON).
    "INTERNAL_CREDENTIALS": {},
    # This side's name as a caller of the other side's /internal/ endpoints (the name the other
    # side lists in its INTERNAL_CREDENTIALS); empty means STRANGLER_SERVICE_NAME ("monolith").
    "INTERNAL_CALLER": "",
    # This side's own key as a caller; empty means $STRANGLER_INTERNAL_KEY.
    "INTERNAL_KEY": "",
    # One secret shared by every caller (before per-caller credentials; still accepted, with a
    # warning outside DEBUG); empty means $STRANGLER_INTERNAL_TOKEN.
    "INTERNAL_TOKEN": "",
    # Rows read and recorded per backfill transaction.
    "BACKFILL_BATCH_SIZE": 1000,
    # Events published per replay batch (publish all, then wait for all confirms).
    "REPLAY_BATCH_SIZE": 500,
    # Key ranges compared per level of the reconcile tree, and sub-ranges of a differing one.
    "RECONCILE_FANOUT": 16,
    # A differing range with at most this many rows on either side is fetched and diffed.
    "RECONCILE_LEAF_ROWS": 64,
    # Seconds an HTTP call to a peer's /internal/sync/ endpoint may take.
    "PEER_TIMEOUT": 60.0,
    # Connections per side that compute one level of reconcile checksums on PostgreSQL (each
    # query may also use PostgreSQL's own parallel workers); raise it where the database has
    # cores to spare.
    "RECONCILE_WORKERS": 1,
    # Rows per copy_context chunk: one REPEATABLE READ read on the writer, one merge here.
    "COPY_CHUNK_ROWS": 20_000,
    # copy_context pauses while the writer's outbox holds more unpublished events than this...
    "COPY_MAX_WRITER_BACKLOG": 20_000,
    # ...or while a probe of the writer takes longer than this many seconds.
    "COPY_MAX_WRITER_LATENCY": 2.0,
    # Seconds copy_context waits after the last chunk for the event stream to catch up and
    # reconcile to come out equal.
    "COPY_CATCH_UP_TIMEOUT": 300.0,
}

POSITIVE_INTS = (
    "BACKFILL_BATCH_SIZE",
    "REPLAY_BATCH_SIZE",
    "RECONCILE_LEAF_ROWS",
    "RECONCILE_WORKERS",
    "COPY_CHUNK_ROWS",
    "COPY_MAX_WRITER_BACKLOG",
)


class SyncConfigurationError(RuntimeError):
    """STRANGLER_SYNC cannot be used as configured; the message says what to change."""


class UnknownAggregate(SyncConfigurationError):
    """A command named a context or aggregate that STRANGLER_SYNC does not list."""


@dataclass(frozen=True)
class AggregateSpec:
    """One synchronised aggregate: its model, events and the fields both sides compare."""

    context: str
    name: str
    model_label: str
    event: str
    deleted_event: str
    fields: tuple[tuple[str, str], ...]  # (payload field, kind), sorted by field
    columns: tuple[tuple[str, str], ...]  # (payload field, model attribute), same order
    snapshot_path: str
    deleted_payload_path: str
    projection: str

    @property
    def label(self) -> str:
        """`catalog.product`: also the aggregate type of its events."""
        return f"{self.context}.{self.name}"

    @property
    def model(self) -> type[models.Model]:
        try:
            return apps.get_model(self.model_label)
        except (LookupError, ValueError) as exc:
            raise SyncConfigurationError(
                f"STRANGLER_SYNC aggregate {self.label}: model {self.model_label!r} is not an "
                f"installed model ({exc})."
            ) from exc

    @property
    def signature(self) -> str:
        """The compared fields and kinds; both sides must agree on it before comparing."""
        return ",".join(f"{name}:{kind}" for name, kind in self.fields)

    def snapshot(self) -> Callable[[models.Model], Mapping[str, Any]]:
        """The writer's payload builder for a row (e.g. product_upserted_payload)."""
        if not self.snapshot_path:
            raise SyncConfigurationError(
                f"STRANGLER_SYNC aggregate {self.label} has no 'snapshot' builder: this side is "
                "not the writer of it, or the builder is missing from settings."
            )
        return _import(self.snapshot_path, self.label, "snapshot")

    def deleted_payload(self) -> Callable[[Any], Mapping[str, Any]]:
        """The writer's payload builder of a `...deleted` event, given the key."""
        if not self.deleted_payload_path:
            return lambda key: {"id": key}
        return _import(self.deleted_payload_path, self.label, "deleted_payload")


def _import(path: str, label: str, what: str) -> Callable[..., Any]:
    try:
        return import_string(path)
    except ImportError as exc:
        raise SyncConfigurationError(
            f"STRANGLER_SYNC aggregate {label}: {what} {path!r} cannot be imported: {exc}"
        ) from exc


@dataclass(frozen=True)
class SyncSettings:
    aggregates: tuple[AggregateSpec, ...]
    peers: Mapping[str, str]
    internal_token: str
    backfill_batch_size: int
    replay_batch_size: int
    reconcile_fanout: int
    reconcile_leaf_rows: int
    peer_timeout: float
    reconcile_workers: int = 1
    copy_chunk_rows: int = 20_000
    copy_max_writer_backlog: int = 20_000
    copy_max_writer_latency: float = 2.0
    copy_catch_up_timeout: float = 300.0
    # {caller: (key, ...)} accepted on this side's /internal/ endpoints.
    internal_credentials: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    # Who this side is, and its key, when it calls the other side.
    internal_caller: str = ""
    internal_key: str = ""

    @property
    def contexts(self) -> list[str]:
        return sorted({spec.context for spec in self.aggregates})

    def known(self) -> str:
        """The aggregates this side lists, for messages: `catalog.category, catalog.product`."""
        return ", ".join(spec.label for spec in self.aggregates) or "nothing"

    def aggregate(self, context: str, name: str) -> AggregateSpec:
        for spec in self.aggregates:
            if spec.context == context and spec.name == name:
                return spec
        raise UnknownAggregate(
            f"unknown aggregate {context}.{name!s}; STRANGLER_SYNC lists: "
            f"{', '.join(s.label for s in self.aggregates) or 'nothing'}."
        )

    def resolve(self, target: str) -> list[AggregateSpec]:
        """`catalog` (every aggregate of the context, in settings order) or `catalog.product`."""
        context, _, name = target.partition(".")
        if name:
            return [self.aggregate(context, name)]
        found = [spec for spec in self.aggregates if spec.context == context]
        if not found:
            raise UnknownAggregate(
                f"unknown context {context!r}; STRANGLER_SYNC lists: "
                f"{', '.join(self.contexts) or 'no context'}."
            )
        return found


# The contract's spelling of a money amount: a decimal with two places, as text, optionally
# signed ("^-?[0-9]+\\.[0-9]{2}$") or bounded in its whole digits ("^[0-9]{1,10}\\.[0-9]{2}$").
MONEY_PATTERN = re.compile(r"\^(?:-\?)?\[0-9\](?:\+|\{1,[1-9][0-9]*\})\\\.\[0-9\]\{2\}\$")


def is_money_pattern(pattern: object) -> bool:
    """Whether a schema's `pattern` is one of the contract's spellings of a money amount."""
    return isinstance(pattern, str) and MONEY_PATTERN.fullmatch(pattern) is not None


def schema_field_kinds(
    event_type: str,
    *,
    exclude: Iterable[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """{payload field: kind} of a state-transfer event, read from its newest published schema.

    Every property but `id` (the key) and `exclude`: integer -> int, boolean -> bool, a string
    with format date-time -> timestamp, date -> date, the money pattern -> money, any other
    string -> text (a nullable type counts as its non-null type); `kinds` overrides some. A
    property with no kind (an array, an object, a float) must be excluded or given one.
    """
    from strangler.contracts import registry

    try:
        schema = registry.schema(event_type, registry.current_version(event_type))
    except registry.ContractError as exc:
        raise SyncConfigurationError(
            f"the fields of {event_type} cannot be read from its schema: {exc}"
        ) from exc
    properties = schema.get("properties", {})
    overrides = dict(kinds or {})
    unknown = (set(overrides) | set(exclude)) - set(properties)
    if unknown:
        raise SyncConfigurationError(
            f"{event_type} has no propert(ies) {', '.join(sorted(unknown))} to exclude or "
            "override; "
            f"its schema has: {', '.join(sorted(properties))}."
        )
    derived: dict[str, str] = {}
    for field, definition in properties.items():
        if field == "id" or field in exclude:
            continue
        kind = overrides.get(field) or _kind_of(definition)
        if kind is None:
            raise SyncConfigurationError(
                f"{event_type}.{field} has no comparable kind ({definition.get('type')}); list it "
                "in 'exclude' or give it one in 'kinds'."
            )
        derived[field] = kind
    return derived


def _kind_of(definition: Mapping[str, Any]) -> str | None:
    types = definition.get("type")
    listed = [types] if isinstance(types, str) else list(types or [])
    listed = [t for t in listed if t != "null"]
    if len(listed) != 1:
        return None
    if listed[0] == "integer":
        return "int"
    if listed[0] == "boolean":
        return "bool"
    if listed[0] != "string":
        return None
    if definition.get("format") == "date-time":
        return "timestamp"
    if definition.get("format") == "date":
        return "date"
    if is_money_pattern(definition.get("pattern")):
        return "money"
    return "text"


def parse_aggregate(context: str, name: str, raw: Mapping[str, Any]) -> AggregateSpec:
    """One STRANGLER_SYNC aggregate entry as a spec; SyncConfigurationError names what is wrong."""
    label = f"{context}.{name}"
    if not isinstance(raw, Mapping):
        raise SyncConfigurationError(f"STRANGLER_SYNC aggregate {label} must be a dict.")
    if not raw.get("model"):
        raise SyncConfigurationError(f"STRANGLER_SYNC aggregate {label} needs 'model'.")
    fields = raw.get("fields") or schema_field_kinds(
        str(raw.get("event") or f"{label}.upserted"),
        exclude=raw.get("exclude") or (),
        kinds=raw.get("kinds"),
    )
    if not isinstance(fields, Mapping):
        raise SyncConfigurationError(f"STRANGLER_SYNC aggregate {label}: 'fields' must be a dict.")
    bad = {field: kind for field, kind in fields.items() if kind not in FIELD_KINDS}
    if bad:
        raise SyncConfigurationError(
            f"STRANGLER_SYNC aggregate {label}: unknown field kind(s) {bad}; "
            f"use one of {', '.join(FIELD_KINDS)}."
        )
    columns = dict(raw.get("columns") or {})
    unknown = set(columns) - set(fields)
    if unknown:
        raise SyncConfigurationError(
            f"STRANGLER_SYNC aggregate {label}: 'columns' names fields not in 'fields': "
            f"{', '.join(sorted(unknown))}."
        )
    ordered = tuple(sorted((str(f), str(k)) for f, k in fields.items()))
    return AggregateSpec(
        context=context,
        name=name,
        model_label=str(raw["model"]),
        event=str(raw.get("event") or f"{label}.upserted"),
        deleted_event=str(raw.get("deleted_event") or f"{label}.deleted"),
        fields=ordered,
        columns=tuple((field, str(columns.get(field, field))) for field, _ in ordered),
        snapshot_path=str(raw.get("snapshot") or ""),
        deleted_payload_path=str(raw.get("deleted_payload") or ""),
        projection=str(raw.get("projection") or label),
    )


def sync_settings() -> SyncSettings:
    """STRANGLER_SYNC merged over DEFAULTS; raises SyncConfigurationError when unusable."""
    configured = getattr(settings, "STRANGLER_SYNC", {}) or {}
    if not isinstance(configured, Mapping):
        raise SyncConfigurationError("STRANGLER_SYNC must be a dict.")
    values = {**DEFAULTS, **configured}
    aggregates: list[AggregateSpec] = []
    contexts = values["CONTEXTS"]
    if not isinstance(contexts, Mapping):
        raise SyncConfigurationError("STRANGLER_SYNC['CONTEXTS'] must be a dict of dicts.")
    for context, entries in contexts.items():
        if not isinstance(entries, Mapping):
            raise SyncConfigurationError(f"STRANGLER_SYNC['CONTEXTS'][{context!r}] must be a dict.")
        aggregates.extend(parse_aggregate(context, name, raw) for name, raw in entries.items())
    token = str(values["INTERNAL_TOKEN"] or os.environ.get("STRANGLER_INTERNAL_TOKEN", ""))
    # Like strangler.ownership: a side that names no STRANGLER_SERVICE_NAME is the monolith.
    side = getattr(settings, "STRANGLER_SERVICE_NAME", "") or "monolith"
    caller = str(values["INTERNAL_CALLER"] or side)
    key = str(values["INTERNAL_KEY"] or os.environ.get("STRANGLER_INTERNAL_KEY", ""))
    return SyncSettings(
        aggregates=tuple(aggregates),
        peers=dict(values["PEERS"] or {}),
        internal_token=token,
        backfill_batch_size=int(values["BACKFILL_BATCH_SIZE"]),
        replay_batch_size=int(values["REPLAY_BATCH_SIZE"]),
        reconcile_fanout=int(values["RECONCILE_FANOUT"]),
        reconcile_leaf_rows=int(values["RECONCILE_LEAF_ROWS"]),
        peer_timeout=float(values["PEER_TIMEOUT"]),
        reconcile_workers=int(values["RECONCILE_WORKERS"]),
        copy_chunk_rows=int(values["COPY_CHUNK_ROWS"]),
        copy_max_writer_backlog=int(values["COPY_MAX_WRITER_BACKLOG"]),
        copy_max_writer_latency=float(values["COPY_MAX_WRITER_LATENCY"]),
        copy_catch_up_timeout=float(values["COPY_CATCH_UP_TIMEOUT"]),
        internal_credentials=parse_internal_credentials(
            values["INTERNAL_CREDENTIALS"] or os.environ.get("STRANGLER_INTERNAL_CREDENTIALS", "")
        ),
        internal_caller=caller,
        internal_key=key,
    )


def parse_internal_credentials(raw: Any) -> dict[str, tuple[str, ...]]:
    """{caller: (key, ...)} from a mapping (or its JSON text) of a caller to one key or a list;
    SyncConfigurationError names what is wrong, never a key."""
    where = "STRANGLER_SYNC['INTERNAL_CREDENTIALS'] (or $STRANGLER_INTERNAL_CREDENTIALS)"
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise SyncConfigurationError(
                f"{where} is not JSON ({exc.msg}, position {exc.pos}); write it as "
                '{"<caller>": ["<key>", "<next key>"]}.'
            ) from None
    if not isinstance(raw, Mapping):
        raise SyncConfigurationError(f"{where} must map each caller's name to its key(s).")
    credentials: dict[str, tuple[str, ...]] = {}
    for caller, keys in raw.items():
        listed = [keys] if isinstance(keys, str) else keys
        if not isinstance(listed, list | tuple) or not all(isinstance(k, str) for k in listed):
            raise SyncConfigurationError(f"{where}: the keys of {caller!r} must be strings.")
        kept = tuple(k for k in listed if k)
        if not str(caller) or not kept:
            raise SyncConfigurationError(f"{where}: caller {caller!r} needs a name and a key.")
        credentials[str(caller)] = kept
    return credentials
