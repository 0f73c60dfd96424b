"""Generate a standalone DRF service for one context of the monolith (`manage.py extract_context`).

The service has the shape of `extracted/catalog/`: settings from the environment, `manage.py`, the
context's models (relations to other contexts become plain id columns), migrations, the monolith's
serializers and read views (writes answer 409 until cutover), inbox handlers for the context's
state-transfer events, and tests of the API contract and the handlers.

Reads happen in the monolith's process (the app registry, URLconf, OpenAPI schema and source);
everything written is plain text, so nothing of the monolith is imported by the service.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from django.apps import AppConfig
from django.db import models
from django.db.migrations.writer import MigrationWriter

from strangler.contracts.conf import contracts_settings

TEMPLATES = Path(__file__).resolve().parent / "templates" / "seams" / "scaffold"
SAFE_METHODS = ("get", "head", "options")
WRITE_METHODS = ("post", "put", "patch", "delete")
# Packages a generated service may import from besides its own.
ALLOWED_IMPORTS = (
    "__future__",
    "django",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "strangler",
)
ON_DELETE_NAMES = {
    models.CASCADE: "CASCADE",
    models.PROTECT: "DO_NOTHING",
    models.RESTRICT: "DO_NOTHING",
    models.SET_NULL: "SET_NULL",
    models.SET_DEFAULT: "SET_DEFAULT",
    models.DO_NOTHING: "DO_NOTHING",
}


def contract_roots() -> tuple[str, ...]:
    """Top-level packages of the project's contract packages: a service may import them too."""
    return tuple(name.split(".")[0] for name in contracts_settings().packages)


class ScaffoldError(Exception):
    """The service cannot be generated as asked; the message says why and what to do."""


@dataclass
class GeneratedFile:
    path: Path
    content: str


@dataclass
class ContextSource:
    """What the generator reads from the monolith about one context."""

    app_config: AppConfig
    prefix: str  # URL prefix the monolith mounts the context's urls at, e.g. "api/customers/"
    contract: dict[str, Any]  # the context's OpenAPI paths and components
    rest_framework: dict[str, Any]
    events: dict[str, dict[str, Any]]  # state-transfer event type -> JSON schema (newest)
    other_packages: dict[str, str]  # other context packages -> their app label


@dataclass
class Plan:
    """Where the service goes and how its modules are named."""

    name: str
    app: str
    out: Path
    package: str
    import_root: Path
    tests_dir: Path
    notes: list[str] = field(default_factory=list)
    vendored: set[str] = field(default_factory=set)  # shared monolith modules copied over

    @property
    def app_package(self) -> str:
        return f"{self.package}.{self.app}"


def plan_output(name: str, app: str, out: Path, repo_root: Path) -> Plan:
    """Decide the package name and test folder from where the service is written."""
    out = out.resolve()
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", out.name):
        raise ScaffoldError(
            f"{out.name!r} is not a Python package name; use lower case letters, digits and _."
        )
    try:
        relative = out.relative_to(repo_root.resolve())
    except ValueError:
        relative = None
    if relative is not None and relative.parts and relative.parts[0] == "extracted":
        package = ".".join(relative.parts)
        import_root = repo_root.resolve()
        tests_dir = repo_root.resolve() / "tests" / "extracted" / out.name
    else:
        package = out.name
        import_root = out.parent
        tests_dir = out / "tests"
    return Plan(name, app, out, package, import_root, tests_dir)


# --- reading the monolith ----------------------------------------------------------------------


def read_context(app_config: AppConfig, all_configs: Iterable[AppConfig]) -> ContextSource:
    """Read one context's URL prefix, API contract, REST settings and event schemas."""
    from django.conf import settings
    from django.urls import URLResolver, get_resolver

    from strangler.contracts import registry
    from strangler.seams.contract import context_contract, current_openapi_schema

    urls_module = f"{app_config.name}.urls"
    prefix = None
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            module = getattr(pattern.urlconf_module, "__name__", pattern.urlconf_name)
            if module == urls_module:
                prefix = str(pattern.pattern)
    if prefix is None:
        raise ScaffoldError(
            f"{urls_module} is not included in the monolith's ROOT_URLCONF; the service mirrors "
            "the context's routes, so the context needs a urls module that is mounted."
        )
    contract = context_contract(current_openapi_schema(), f"/{prefix}")
    events = {}
    for event_type in registry.event_types():
        context, _, verb = event_type.partition(".")
        if context == app_config.label and verb.rsplit(".", 1)[-1] in {"upserted", "deleted"}:
            version = registry.current_version(event_type)
            if version != 1:
                raise ScaffoldError(
                    f"{event_type} is at v{version}; the generator writes v1 handlers only."
                )
            events[event_type] = registry.schema(event_type, version)
    root = app_config.name.rsplit(".", 1)[0] + "."
    others = {
        config.name: config.label
        for config in all_configs
        if config.label != app_config.label and config.name.startswith(root)
    }
    return ContextSource(
        app_config=app_config,
        prefix=prefix,
        contract=contract,
        rest_framework=dict(getattr(settings, "REST_FRAMEWORK", {})),
        events=events,
        other_packages=others,
    )


# --- models ------------------------------------------------------------------------------------


class _Imports:
    """Import lines a generated module needs (ruff sorts them and drops the unused ones)."""

    def __init__(self) -> None:
        self.lines: set[str] = {"from django.db import models"}

    def serialize(self, value: Any) -> str:
        text, imports = MigrationWriter.serialize(value)
        self.lines.update(imports)
        return text


def render_models(source: ContextSource, plan: Plan) -> tuple[str, dict[str, str]]:
    """models.py of the service and {model label: renamed cross-context field -> new name}."""
    config = source.app_config
    module = sys.modules[config.models_module.__name__] if config.models_module else None
    if module is None:
        raise ScaffoldError(f"{config.name} has no models module.")
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    imports = _Imports()
    model_names = {model.__name__ for model in config.get_models()}
    renamed: dict[str, dict[str, str]] = {}
    preamble: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            rewritten = _rewrite_import(node, config, plan, source.other_packages, [])
            if rewritten and rewritten != "from __future__ import annotations":
                imports.lines.add(rewritten)
        elif isinstance(node, ast.ClassDef) and node.name in model_names:
            continue
        elif isinstance(node, ast.ClassDef | ast.Assign | ast.AnnAssign | ast.FunctionDef):
            # Choices, constants and helpers the models module defines travel with it.
            preamble.append(ast.unparse(node))
    bodies = []
    for model in config.get_models():
        text, fields_renamed = _render_model(model, classes.get(model.__name__), imports)
        renamed[model._meta.label] = fields_renamed
        bodies.append(text)
    docstring = (
        f'"""Models of the {plan.name} service: the monolith\'s {config.label} tables, keyed by '
        "its ids.\n\nGenerated by `manage.py extract_context`. Relations to other contexts are "
        "plain id columns\n(the other context's rows live in another service); relations inside "
        "the context carry no\ndatabase constraint, since events of different aggregates may "
        'arrive in any order.\n"""'
    )
    parts = [docstring, "from __future__ import annotations", *sorted(imports.lines), *preamble]
    return "\n\n".join([*parts, *bodies]) + "\n", renamed


def _render_model(
    model: type[models.Model], node: ast.ClassDef | None, imports: _Imports
) -> tuple[str, dict[str, str]]:
    opts = model._meta
    lines = [f"class {model.__name__}(models.Model):"]
    docstring = ast.get_docstring(node) if node else None
    if docstring:
        lines.append(f"    {_docstring(docstring)}")
        lines.append("")
    renamed: dict[str, str] = {}
    own_fields = sorted(
        [*opts.local_fields, *opts.local_many_to_many], key=lambda f: f.creation_counter
    )
    for model_field in own_fields:
        if model_field.auto_created and model_field.primary_key:
            continue
        text, new_name = _render_field(model, model_field, imports)
        if new_name != model_field.name:
            renamed[model_field.name] = new_name
        lines.append(text)
    meta = _render_meta(opts, renamed, imports)
    if meta:
        lines.append("")
        lines.extend(meta)
    if node is not None:
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                lines.append("")
                lines.extend("    " + line for line in ast.unparse(statement).splitlines())
    return "\n".join(lines), renamed


def _docstring(text: str) -> str:
    return '"""' + text.replace('"""', "'''") + '"""'


def _render_field(
    model: type[models.Model], model_field: models.Field, imports: _Imports
) -> tuple[str, str]:
    name, path, args, kwargs = model_field.deconstruct()
    if model_field.is_relation and model_field.related_model is not None:
        target = model_field.related_model
        if target._meta.app_label != model._meta.app_label:
            return _render_cross_context(model_field, imports)
        kwargs.pop("to", None)
        on_delete = kwargs.pop("on_delete", None)
        reference = "self" if target is model else target.__name__
        rendered = [imports.serialize(reference)]
        if on_delete is not None:
            rendered.append(f"on_delete=models.{ON_DELETE_NAMES.get(on_delete, 'DO_NOTHING')}")
        if not model_field.many_to_many:
            kwargs["db_constraint"] = False
        rendered.extend(f"{key}={imports.serialize(value)}" for key, value in kwargs.items())
        field_class = path.rsplit(".", 1)[1]
        return f"    {name} = models.{field_class}({', '.join(rendered)})", name
    comment = ""
    if kwargs.pop("auto_now", False) or kwargs.pop("auto_now_add", False):
        comment = "    # Set from the events: the monolith's timestamps are the truth.\n"
        kwargs.pop("editable", None)
        kwargs.pop("blank", None)
    call = imports.serialize(model_field.__class__(*args, **kwargs))
    return f"{comment}    {name} = {call}", name


def _render_cross_context(model_field: models.Field, imports: _Imports) -> tuple[str, str]:
    target = model_field.related_model._meta.label
    kind = type(model_field).__name__
    if model_field.many_to_many:
        name = f"{model_field.name}_ids"
        return (
            f"    # Was a {kind} to {target} (another context): the ids of its rows.\n"
            f"    {name} = models.JSONField(default=list, blank=True)",
            name,
        )
    name = model_field.attname
    options = ["db_index=True"]
    if model_field.null:
        options.append("null=True")
    if model_field.blank:
        options.append("blank=True")
    if model_field.unique:
        options = ["unique=True", *options[1:]]
    return (
        f"    # Was a {kind} to {target} (another context): a plain id now.\n"
        f"    {name} = models.BigIntegerField({', '.join(options)})",
        name,
    )


def _render_meta(opts: Any, renamed: Mapping[str, str], imports: _Imports) -> list[str]:
    original = opts.original_attrs
    lines = []
    for key in ("ordering", "verbose_name", "verbose_name_plural", "unique_together"):
        if key in original:
            value = _rename_names(original[key], renamed)
            lines.append(f"        {key} = {imports.serialize(value)}")
    for key in ("indexes", "constraints"):
        items = []
        for item in original.get(key, []):
            _, args, kwargs = item.deconstruct()
            if "fields" in kwargs:
                kwargs["fields"] = _rename_names(kwargs["fields"], renamed)
            if kwargs.get("condition") is not None:
                kwargs["condition"] = _rename_q(kwargs["condition"], renamed)
            items.append(type(item)(*args, **kwargs))
        if items:
            lines.append(f"        {key} = {imports.serialize(items)}")
    return ["    class Meta:", *lines] if lines else []


def _rename_names(value: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        bare = value.lstrip("-")
        return value.replace(bare, renamed.get(bare, bare), 1)
    if isinstance(value, list | tuple):
        return type(value)(_rename_names(v, renamed) for v in value)
    return value


def _rename_q(q: Any, renamed: Mapping[str, str]) -> Any:
    clone = q.copy() if hasattr(q, "copy") else q
    children = []
    for child in q.children:
        if isinstance(child, tuple):
            lookup, value = child
            head, _, rest = lookup.partition("__")
            if head in renamed:
                if rest and rest.split("__")[0] not in {"in", "exact", "isnull", "gt", "lt"}:
                    raise ScaffoldError(
                        f"a constraint condition follows {head} into another context ({lookup})"
                    )
                lookup = renamed[head] + (f"__{rest}" if rest else "")
            children.append((lookup, value))
        else:
            children.append(_rename_q(child, renamed))
    clone.children = children
    return clone


# --- modules transplanted from the monolith's source ----------------------------------------


def _rewrite_import(
    node: ast.Import | ast.ImportFrom,
    config: AppConfig,
    plan: Plan,
    others: Mapping[str, str],
    dropped: list[str],
) -> str | None:
    """The import with the context's package renamed; None (and noted) when it cannot travel.

    Modules of the monolith outside any context (a shared kernel such as `monolith.common`) are
    copied into the service (`plan.vendored`): the service never imports the monolith.
    """
    own = config.name
    root = own.rsplit(".", 1)[0]
    if isinstance(node, ast.ImportFrom) and node.level:
        raise ScaffoldError(f"relative imports are not supported: {ast.unparse(node)}")
    if isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
    else:
        modules = [alias.name for alias in node.names]
    text = ast.unparse(node)
    for module in modules:
        if module == own or module.startswith(own + "."):
            continue
        in_other_context = any(module == o or module.startswith(o + ".") for o in others)
        allowed = (*ALLOWED_IMPORTS, *contract_roots(), root.split(".")[0])
        if in_other_context or module.split(".")[0] not in allowed:
            dropped.append(text)
            return None
        if module.startswith(root + "."):
            plan.vendored.add(module)
            text = re.sub(rf"\b{re.escape(root)}\.", f"{plan.package}.", text)
    return re.sub(rf"\b{re.escape(own)}\b", plan.app_package, text)


def transplant_module(
    source_text: str, config: AppConfig, plan: Plan, others: Mapping[str, str]
) -> tuple[str, list[str]]:
    """A module of the context (selectors, filters, urls) with its imports renamed."""
    tree = ast.parse(source_text)
    dropped: list[str] = []
    lines = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            rewritten = _rewrite_import(node, config, plan, others, dropped)
            if rewritten:
                lines.append(rewritten)
        else:
            lines.append(ast.unparse(node))
    return "\n\n".join(lines) + "\n", dropped


def transplant_apis(
    source_text: str, config: AppConfig, plan: Plan, others: Mapping[str, str]
) -> tuple[str, list[str]]:
    """apis.py: the monolith's serializers (fields only) and views (reads kept, writes refused)."""
    tree = ast.parse(source_text)
    notes: list[str] = []
    foreign_names: set[str] = set()
    body: list[str] = [
        '"""HTTP API of the service: the monolith\'s contract for the context.\n\n'
        "Generated by `manage.py extract_context` from the monolith's apis.py: the same serializers"
        "\nand read views; every write answers 409 while the monolith is the writer (see "
        'services.py).\n"""'
    ]
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring, replaced above
        if isinstance(node, ast.Import | ast.ImportFrom):
            dropped: list[str] = []
            rewritten = _rewrite_import(node, config, plan, others, dropped)
            if rewritten:
                body.append(rewritten)
            else:
                foreign_names.update(alias.asname or alias.name for alias in node.names)
                notes.extend(f"apis.py: dropped `{line}` (another context)" for line in dropped)
            continue
        if isinstance(node, ast.ClassDef) and _is_serializer(node):
            body.append(ast.unparse(_serializer_fields_only(node, foreign_names, notes)))
        elif isinstance(node, ast.ClassDef):
            body.append(ast.unparse(_view_reads_only(node, notes)))
        else:
            body.append(ast.unparse(node))
    body.insert(1, f"from {plan.app_package}.services import write_refused")
    return "\n\n".join(body) + "\n", notes


def _is_serializer(node: ast.ClassDef) -> bool:
    return any(ast.unparse(base).endswith("Serializer") for base in node.bases)


def _serializer_fields_only(
    node: ast.ClassDef, foreign_names: set[str], notes: list[str]
) -> ast.ClassDef:
    kept: list[ast.stmt] = []
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            # Validation and conversion of writes: they travel with the write services.
            notes.append(f"apis.py: {node.name}.{statement.name}() left in the monolith (writes)")
            continue
        if isinstance(statement, ast.Assign) and _uses(statement.value, foreign_names):
            statement = _plain_id_field(statement)
            notes.append(
                f"apis.py: {node.name}.{ast.unparse(statement.targets[0])} refers to another "
                "context's model; it is a plain IntegerField here"
            )
        kept.append(statement)
    clone = copy.copy(node)
    clone.body = kept or [ast.Pass()]
    return clone


def _uses(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _plain_id_field(statement: ast.Assign) -> ast.Assign:
    call = statement.value
    keywords = []
    if isinstance(call, ast.Call):
        keywords = [k for k in call.keywords if k.arg in {"allow_null", "default", "required"}]
    value = ast.Call(
        func=ast.Attribute(value=ast.Name("serializers"), attr="IntegerField"),
        args=[],
        keywords=keywords,
    )
    return ast.Assign(targets=statement.targets, value=value, lineno=statement.lineno)


def _view_reads_only(node: ast.ClassDef, notes: list[str]) -> ast.ClassDef:
    kept: list[ast.stmt] = []
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef) and statement.name in WRITE_METHODS:
            operation = f"{node.name}.{statement.name}"
            refusal = copy.copy(statement)
            refusal.body = ast.parse(f"raise write_refused({operation!r})").body
            kept.append(refusal)
        else:
            kept.append(statement)
    # Private helpers only the writes used go with them.
    used = {
        n.attr
        for statement in kept
        if isinstance(statement, ast.FunctionDef) and not statement.name.startswith("_")
        for n in ast.walk(statement)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
    }
    final = []
    for statement in kept:
        private = isinstance(statement, ast.FunctionDef) and statement.name.startswith("_")
        if private and statement.name not in used and not statement.name.startswith("__"):
            notes.append(f"apis.py: {node.name}.{statement.name}() left in the monolith (writes)")
            continue
        final.append(statement)
    clone = copy.copy(node)
    clone.body = final
    return clone


# --- handlers and event samples ----------------------------------------------------------------


@dataclass
class AggregateMapping:
    """How one event payload (or a nested list of it) maps onto a model's columns."""

    model: type[models.Model]
    fields: dict[str, str]  # payload property -> model attribute
    converters: dict[str, str]  # payload property -> converter function name
    children: dict[str, tuple[AggregateMapping, str]]  # property -> (mapping, parent attname)
    ignored: list[str]


def map_payload(
    model: type[models.Model], schema: Mapping[str, Any], renamed: Mapping[str, Mapping[str, str]]
) -> AggregateMapping:
    """Match a payload schema's properties with the model's columns and reverse relations."""
    opts = model._meta
    columns = {}
    for model_field in opts.concrete_fields:
        if model_field.is_relation and model_field.related_model is not None:
            columns[model_field.attname] = model_field
        else:
            columns[model_field.name] = model_field
    for old, new in renamed.get(opts.label, {}).items():
        columns.pop(old, None)
        columns.pop(f"{old}_id", None)
        columns[new] = opts.get_field(old)
    reverse = {
        rel.get_accessor_name(): rel
        for rel in opts.related_objects
        if rel.related_model._meta.app_label == opts.app_label and rel.one_to_many
    }
    fields, converters, children, ignored = {}, {}, {}, []
    for prop, prop_schema in schema.get("properties", {}).items():
        if prop in columns:
            fields[prop] = "pk" if columns[prop].primary_key else prop
            internal = columns[prop].get_internal_type()
            if internal == "DecimalField":
                converters[prop] = "_decimal"
            elif internal == "DateTimeField":
                converters[prop] = "_datetime"
            elif internal == "DateField":
                converters[prop] = "_date"
        elif prop in reverse and prop_schema.get("type") == "array":
            rel = reverse[prop]
            child = map_payload(rel.related_model, prop_schema.get("items", {}), renamed)
            children[prop] = (child, rel.field.attname)
        else:
            ignored.append(prop)
    return AggregateMapping(model, fields, converters, children, ignored)


def render_handlers(
    source: ContextSource, plan: Plan, renamed: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """handlers.py and the samples its tests use, one entry per state-transfer event type."""
    config = source.app_config
    functions: list[str] = []
    registry_lines: list[str] = []
    samples: dict[str, Any] = {}
    models_used: set[str] = set()
    for event_type, schema in sorted(source.events.items()):
        _, aggregate, verb = event_type.split(".")
        model = _model_for(config, aggregate, schema)
        if model is None:
            plan.notes.append(
                f"no model named {aggregate!r} in {config.label}: {event_type} skipped"
            )
            continue
        function = f"apply_{aggregate}_{verb}"
        models_used.add(model.__name__)
        data = sample_payload(schema)
        if verb == "deleted":
            functions.append(
                f"def {function}(event: Envelope) -> None:\n"
                f'    """Remove the {aggregate} (and what cascades with it); the inbox keeps its '
                'tombstone version."""\n'
                f'    {model.__name__}.objects.filter(pk=event.data["id"]).delete()\n'
            )
            samples[event_type] = {"model": model._meta.label, "data": data}
        else:
            mapping = map_payload(model, schema, renamed)
            functions.append(_upsert_function(function, aggregate, mapping, models_used))
            samples[event_type] = {
                "model": model._meta.label,
                "data": data,
                **_sample_mapping(mapping),
            }
            for prop in mapping.ignored:
                plan.notes.append(f"{event_type}: payload property {prop!r} has no column; ignored")
        registry_lines.append(f"    {event_type!r}: {function},")
    header = (
        f'"""Inbox handlers of the {plan.name} service: the one place that maps event types to '
        "functions.\n\nGenerated by `manage.py extract_context` from the context's state-transfer "
        "event schemas.\nEach handler applies one snapshot to this service's own tables; the inbox "
        "has already\nvalidated it, dropped duplicates and checked the aggregate version, and runs "
        'the handler in\nthe transaction that records the event as applied.\n"""'
    )
    imports = [
        "from __future__ import annotations",
        "from decimal import Decimal",
        "from typing import Any",
        "from django.utils.dateparse import parse_date, parse_datetime",
        "from strangler.contracts.envelope import Envelope",
    ]
    if models_used:
        imports.append(f"from {plan.app_package}.models import {', '.join(sorted(models_used))}")
    converters = (
        "def _decimal(value: Any) -> Decimal | None:\n"
        "    return None if value is None else Decimal(value)\n\n\n"
        "def _datetime(value: Any) -> Any:\n"
        "    return None if value is None else parse_datetime(value)\n\n\n"
        "def _date(value: Any) -> Any:\n"
        "    return None if value is None else parse_date(value)\n"
    )
    handlers = "HANDLERS = {\n" + "\n".join(registry_lines) + "\n}\n"
    text = "\n\n".join([header, *imports, converters, *functions, handlers])
    return text, samples


def _model_for(
    config: AppConfig, aggregate: str, schema: Mapping[str, Any]
) -> type[models.Model] | None:
    """The model an event's aggregate names; else the one whose columns the payload covers best.

    `inventory.stock.upserted` carries a StockItem: the name alone does not say so, the payload's
    properties (sku, on_hand, reserved...) do.
    """
    wanted = aggregate.replace("_", "")
    candidates = list(config.get_models())
    for model in candidates:
        if model._meta.model_name == wanted:
            return model
    properties = set(schema.get("properties", {}))

    def coverage(model: type[models.Model]) -> int:
        names = {f.name for f in model._meta.concrete_fields}
        names |= {f.attname for f in model._meta.concrete_fields}
        return len(properties & names)

    ranked = sorted(candidates, key=coverage, reverse=True)
    if not ranked or coverage(ranked[0]) * 2 <= len(properties):
        return None
    unique_best = len(ranked) == 1 or coverage(ranked[0]) > coverage(ranked[1])
    return ranked[0] if unique_best else None


def _defaults(mapping: AggregateMapping, source: str) -> str:
    items = []
    for prop, attribute in mapping.fields.items():
        if attribute == "pk":
            continue
        value = f"{source}[{prop!r}]"
        if prop in mapping.converters:
            value = f"{mapping.converters[prop]}({value})"
        items.append(f"{attribute!r}: {value}")
    return "{" + ", ".join(items) + "}"


def _upsert_function(
    function: str, aggregate: str, mapping: AggregateMapping, models_used: set[str]
) -> str:
    name = mapping.model.__name__
    lines = [
        f"def {function}(event: Envelope) -> None:",
        f'    """Create or replace the {aggregate} with the snapshot (the monolith\'s id is the '
        'key)."""',
        "    data = event.data",
        f"    {name}.objects.update_or_create("
        f'pk=data["id"], defaults={_defaults(mapping, "data")})',
    ]
    for prop, (child, parent_attname) in mapping.children.items():
        child_name = child.model.__name__
        models_used.add(child_name)
        lines += [
            f"    # The snapshot holds every {prop} item: replace them all (ids kept), so",
            "    # constraints across items (one default, unique pairs) hold at every step.",
            f'    {child_name}.objects.filter({parent_attname}=data["id"]).delete()',
            f"    {child_name}.objects.bulk_create(",
            "        [",
            f'            {child_name}(pk=item["id"], {parent_attname}=data["id"], '
            f"**{_defaults(child, 'item')})",
            f"            for item in data[{prop!r}]",
            "        ]",
            "    )",
        ]
    return "\n".join(lines) + "\n"


def _sample_mapping(mapping: AggregateMapping) -> dict[str, Any]:
    return {
        "fields": dict(mapping.fields),
        "children": {
            prop: {
                "model": child.model._meta.label,
                "parent_field": parent,
                **_sample_mapping(child),
            }
            for prop, (child, parent) in mapping.children.items()
        },
    }


def sample_payload(schema: Mapping[str, Any]) -> Any:
    """A small valid instance of a JSON schema (checked with jsonschema by the caller)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {name: sample_payload(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [
            sample_payload(schema.get("items", {}))
            for _ in range(max(1, schema.get("minItems", 1)))
        ]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        return _sample_string(schema)
    raise ScaffoldError(f"cannot make a sample for schema {schema!r}")


def _sample_string(schema: Mapping[str, Any]) -> str:
    if schema.get("format") == "date-time":
        return "2026-01-02T03:04:05Z"
    if schema.get("format") == "date":
        return "2026-01-02"
    minimum, maximum = schema.get("minLength", 1), schema.get("maxLength", 40)
    pattern = schema.get("pattern")
    candidates = ["sample@example.com", "12.50", "EUR", "DE", "sample"]
    if pattern:
        for candidate in candidates:
            if re.search(pattern, candidate) and minimum <= len(candidate) <= maximum:
                return candidate
        return _string_from_pattern(pattern, minimum, maximum)
    text = "sample text"
    return (text * (minimum // len(text) + 1))[: max(minimum, min(len(text), maximum))]


def _string_from_pattern(pattern: str, minimum: int, maximum: int) -> str:
    """The simplest string that matches `pattern` and the length bounds (hypothesis finds it)."""
    from hypothesis import find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    strategy = st.from_regex(pattern).filter(lambda s: minimum <= len(s) <= maximum)
    try:
        return find(strategy, lambda s: True, settings=settings(database=None, max_examples=500))
    except NoSuchExample as exc:
        raise ScaffoldError(f"no sample string matches {pattern!r}") from exc


# --- the whole service -------------------------------------------------------------------------


SECTION = re.compile(r"^# section: (\w+)\n(.*?)^# end section\n", re.MULTILINE | re.DOTALL)


def _template(template_name: str, sections: Mapping[str, bool] | None = None, **values: Any) -> str:
    """A template with $values substituted; `# section: NAME` blocks kept when sections[NAME]."""
    text = (TEMPLATES / template_name).read_text(encoding="utf-8")
    wanted = sections or {}
    text = SECTION.sub(lambda m: m.group(2) if wanted.get(m.group(1)) else "", text)
    return Template(text).substitute(**values)


def generate(source: ContextSource, plan: Plan) -> list[GeneratedFile]:
    """Every file of the service, in memory (nothing is written here)."""
    config = source.app_config
    app_dir = plan.out / plan.app
    name_upper = plan.name.upper()
    title = plan.name.replace("_", " ").title().replace(" ", "")
    values = {
        "name": plan.name,
        "NAME": name_upper,
        "app": plan.app,
        "package": plan.package,
        "title": title,
        "prefix": source.prefix,
    }
    models_text, renamed = render_models(source, plan)
    handlers_text, samples = render_handlers(source, plan, renamed)
    if not source.events:
        plan.notes.append(
            f"no state-transfer events of {config.label} in the contract packages "
            "(STRANGLER_CONTRACTS)"
        )
    binding_keys = sorted(samples)
    files = [
        GeneratedFile(plan.out / "__init__.py", f'"""The {plan.name} service."""\n'),
        GeneratedFile(
            plan.out / "manage.py",
            _template("manage.py.tmpl", depth=len(plan.package.split(".")), **values),
        ),
        GeneratedFile(plan.out / "config" / "__init__.py", '"""Configuration of the service."""\n'),
        GeneratedFile(
            plan.out / "config" / "settings.py",
            _template(
                "settings.py.tmpl",
                rest_framework=json.dumps(source.rest_framework, indent=4),
                binding_keys=json.dumps(binding_keys),
                contract_packages=json.dumps(list(contracts_settings().packages)),
                **values,
            ),
        ),
        GeneratedFile(plan.out / "config" / "urls.py", _template("urls.py.tmpl", **values)),
        GeneratedFile(plan.out / "config" / "wsgi.py", _template("wsgi.py.tmpl", **values)),
        GeneratedFile(plan.out / "config" / "asgi.py", _template("asgi.py.tmpl", **values)),
        GeneratedFile(
            app_dir / "__init__.py",
            f'"""The {config.label} context of the {plan.name} service."""\n',
        ),
        GeneratedFile(
            app_dir / "apps.py",
            _template("apps.py.tmpl", verbose_name=str(config.verbose_name), **values),
        ),
        GeneratedFile(app_dir / "models.py", models_text),
        GeneratedFile(app_dir / "handlers.py", handlers_text),
        GeneratedFile(
            app_dir / "services.py",
            _template(
                "services.py.tmpl",
                monolith_services=f"{config.name.replace('.', '/')}/services.py",
                **values,
            ),
        ),
        GeneratedFile(app_dir / "migrations" / "__init__.py", ""),
    ]
    app_path = Path(config.path)
    for module in ("selectors", "filters", "urls"):
        path = app_path / f"{module}.py"
        if path.exists():
            text, dropped = transplant_module(
                path.read_text(encoding="utf-8"), config, plan, source.other_packages
            )
            plan.notes.extend(
                f"{module}.py: dropped `{line}` (another context)" for line in dropped
            )
            files.append(GeneratedFile(app_dir / f"{module}.py", text))
    apis_path = app_path / "apis.py"
    if not apis_path.exists():
        raise ScaffoldError(f"{config.name} has no apis.py to mirror the API from.")
    apis_text, notes = transplant_apis(
        apis_path.read_text(encoding="utf-8"), config, plan, source.other_packages
    )
    plan.notes.extend(notes)
    files.append(GeneratedFile(app_dir / "apis.py", apis_text))
    files.extend(_vendored_files(config, plan, source.other_packages))

    tests = plan.tests_dir
    files += [
        GeneratedFile(
            tests / "__init__.py", f'"""Tests of the generated {plan.name} service."""\n'
        ),
        GeneratedFile(tests / "conftest.py", _template("conftest.py.tmpl", **values)),
        GeneratedFile(
            tests / "test_api_contract.py",
            _template("test_api_contract.py.tmpl", _contract_sections(source.contract), **values),
        ),
        GeneratedFile(
            tests / "test_handlers.py",
            _template(
                "test_handlers.py.tmpl",
                {
                    "events": bool(samples),
                    "upserted": any(t.endswith(".upserted") for t in samples),
                    "deleted": any(t.endswith(".deleted") for t in samples),
                },
                **values,
            ),
        ),
        GeneratedFile(tests / "event_samples.json", json.dumps(samples, indent=2) + "\n"),
        GeneratedFile(
            tests / "monolith_contract.json",
            json.dumps(source.contract, indent=2, sort_keys=True) + "\n",
        ),
    ]
    if tests.is_relative_to(plan.out):
        pythonpath = Path(*[".."] * len(plan.package.split("."))).as_posix()
        files.append(
            GeneratedFile(
                plan.out / "pytest.ini",
                _template(
                    "pytest.ini.tmpl",
                    pythonpath=pythonpath,
                    tests_path=tests.relative_to(plan.out).as_posix(),
                    **values,
                ),
            )
        )
    return files


def _vendored_files(
    config: AppConfig, plan: Plan, others: Mapping[str, str]
) -> list[GeneratedFile]:
    """Copies of the shared monolith modules the context's modules import (and theirs)."""
    import importlib

    root = config.name.rsplit(".", 1)[0]
    done: set[str] = set()
    files: list[GeneratedFile] = []
    while pending := sorted(plan.vendored - done):
        module_name = pending[0]
        done.add(module_name)
        module = importlib.import_module(module_name)
        relative = module_name.removeprefix(root + ".").split(".")
        target = plan.out.joinpath(*relative[:-1], f"{relative[-1]}.py")
        if module.__file__ and module.__file__.endswith("__init__.py"):
            target = plan.out.joinpath(*relative, "__init__.py")
        text, dropped = transplant_module(Path(module.__file__).read_text(), config, plan, others)
        plan.notes.extend(f"{module_name}: dropped `{line}` (another context)" for line in dropped)
        files.append(GeneratedFile(target, text))
        for depth in range(1, len(relative)):
            package_init = plan.out.joinpath(*relative[:depth], "__init__.py")
            if all(f.path != package_init for f in files):
                files.append(
                    GeneratedFile(package_init, f'"""Copied from {root}.{relative[0]}."""\n')
                )
    return files


def _contract_sections(contract: Mapping[str, Any]) -> dict[str, bool]:
    paths = contract.get("paths", {})
    return {
        "lists": any("{" not in path and "get" in item for path, item in paths.items()),
        "details": any("{" in path and "get" in item for path, item in paths.items()),
        "writes": any(set(item) & set(WRITE_METHODS) for item in paths.values()),
    }


def check_samples(samples: Mapping[str, Any], events: Mapping[str, Mapping[str, Any]]) -> None:
    """Every generated sample is valid against its schema (else the generated tests would lie)."""
    import jsonschema

    for event_type, sample in samples.items():
        try:
            jsonschema.validate(sample["data"], events[event_type])
        except jsonschema.ValidationError as exc:
            raise ScaffoldError(
                f"generated sample of {event_type} is invalid: {exc.message}"
            ) from exc


def existing_files(files: Sequence[GeneratedFile]) -> list[Path]:
    return [f.path for f in files if f.path.exists()]


def write_files(files: Sequence[GeneratedFile]) -> None:
    for generated in files:
        generated.path.parent.mkdir(parents=True, exist_ok=True)
        generated.path.write_text(generated.content, encoding="utf-8")


def run_tool(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a step of the generation (ruff, makemigrations); ScaffoldError with its output."""
    result = subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise ScaffoldError(
            f"`{' '.join(argv)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def ruff_files(paths: Sequence[Path], cwd: Path, config: Path) -> None:
    """Fix what ruff can (import order, unused imports), format, then check what is left."""
    ruff = [sys.executable, "-m", "ruff"]
    names = ["--config", str(config), *(str(p) for p in paths)]
    subprocess.run(
        [*ruff, "check", "--fix", "--quiet", *names], cwd=cwd, capture_output=True, timeout=120
    )
    run_tool([*ruff, "format", "--quiet", *names], cwd)
    run_tool([*ruff, "check", *names], cwd)
