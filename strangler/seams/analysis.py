"""Find what couples a project's apps: relations, imports, ORM traversals and signal receivers.

Everything here is a pure function over two inputs: the model graph (read once from Django's app
registry by `model_graph_from_registry`) and the apps' source files, parsed with `ast`. Nothing is
imported from the analysed apps' source except what the app registry has already loaded.
"""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strangler.seams.discovery import display_path

RELATION_KINDS = ("foreign_key", "one_to_one", "many_to_many")
EDGE_KINDS = (*RELATION_KINDS, "orm", "signal", "import")

# Queryset methods whose result is again a queryset of the same model.
QUERYSET_METHODS = frozenset(
    {
        "all",
        "filter",
        "exclude",
        "select_related",
        "prefetch_related",
        "order_by",
        "annotate",
        "alias",
        "distinct",
        "only",
        "defer",
        "select_for_update",
        "using",
        "reverse",
        "none",
        "complete",
    }
)
# Queryset methods that return one instance of the model.
INSTANCE_METHODS = frozenset(
    {"get", "first", "last", "latest", "earliest", "create", "aget", "afirst", "alast"}
)
# Methods whose string arguments are lookup paths.
PATH_ARGUMENT_METHODS = frozenset(
    {
        "select_related",
        "prefetch_related",
        "order_by",
        "values",
        "values_list",
        "only",
        "defer",
        "distinct",
        "latest",
        "earliest",
        "in_bulk",
    }
)
# Paths that load the related rows whatever comes after the relation (joins, prefetches).
LOADING_METHODS = frozenset({"select_related", "prefetch_related", "Prefetch"})
# Methods whose keyword names are lookup paths.
KEYWORD_LOOKUP_METHODS = frozenset(
    {
        "filter",
        "exclude",
        "get",
        "get_or_create",
        "update_or_create",
        "aget",
        "aget_or_create",
        "aupdate_or_create",
    }
)
NOT_LOOKUP_KEYWORDS = frozenset({"defaults", "create_defaults"})
# Calls whose first string argument is a lookup path (expressions and Prefetch).
PATH_EXPRESSIONS = frozenset(
    {"F", "Count", "Sum", "Avg", "Min", "Max", "StdDev", "Variance", "ArrayAgg", "Prefetch"}
)
SHORTCUTS = frozenset({"get_object_or_404", "get_list_or_404", "aget_object_or_404"})
MANAGER_ATTRIBUTES = frozenset({"objects", "_default_manager", "_base_manager"})
# Class attributes (ModelAdmin, FilterSet, DRF views) that hold lookup paths of the class's model.
CLASS_PATH_ATTRIBUTES = frozenset(
    {
        "list_select_related",
        "search_fields",
        "list_filter",
        "ordering",
        "ordering_fields",
        "filterset_fields",
    }
)
LOOKUP_PREFIXES = "-^=@?"


class SeamsError(Exception):
    """The analysis cannot run as asked (unknown app, unreadable source)."""


@dataclass(frozen=True, order=True)
class Edge:
    """One thing that couples app `source` to app `target`, found at `file`:`line`."""

    source: str
    target: str
    kind: str
    file: str
    line: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "kind": self.kind,
            "file": self.file,
            "line": self.line,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Relation:
    """A relation a model can be traversed through, by lookup name or attribute."""

    name: str
    target: str  # model label, e.g. "catalog.Product"
    many: bool  # a related manager (reverse FK, many-to-many) rather than one instance


@dataclass(frozen=True)
class ModelInfo:
    label: str  # "catalog.Product"
    app: str  # "catalog"
    name: str  # "Product"
    module: str  # "monolith.catalog.models"
    source_file: str | None
    managers: tuple[str, ...]
    pk: str
    fields: frozenset[str]  # concrete non-relation field names
    lookups: Mapping[str, Relation]  # query names (filter, select_related paths)
    accessors: Mapping[str, Relation]  # attribute names (prefetch paths, instance attributes)
    db_table: str = ""


@dataclass(frozen=True)
class ForwardRelation:
    """A relation field declared on a model (the schema's view of a seam)."""

    model: str
    field: str
    kind: str
    target: str


@dataclass
class ModelGraph:
    """The models of a project and how their relations connect them."""

    models: dict[str, ModelInfo]
    app_packages: dict[str, str]  # app label -> package ("monolith.catalog")
    app_paths: dict[str, Path]
    forward_relations: list[ForwardRelation] = field(default_factory=list)

    def model_by_path(self, dotted: str) -> ModelInfo | None:
        """The model a dotted path names (`monolith.catalog.models.Product`, re-exports too)."""
        module, _, name = dotted.rpartition(".")
        candidates = [m for m in self.models.values() if m.name == name]
        for model in candidates:
            if model.module == module:
                return model
        app = self.app_of_module(module)
        for model in candidates:
            if app is not None and model.app == app:
                return model
        return None

    def model_by_label(self, label: str) -> ModelInfo | None:
        """A model from "app_label.ModelName" (model name case-insensitive, as Django allows)."""
        app, _, name = label.partition(".")
        for model in self.models.values():
            if model.app == app and model.name.lower() == name.lower():
                return model
        return None

    def app_of_module(self, module: str) -> str | None:
        """The app whose package contains `module` (the longest matching package wins)."""
        best: tuple[int, str] | None = None
        for label, package in self.app_packages.items():
            inside = module == package or module.startswith(package + ".")
            if inside and (best is None or len(package) > best[0]):
                best = (len(package), label)
        return best[1] if best else None

    def nested_app_paths(self, app: str) -> list[Path]:
        """Folders of the installed apps that lie inside `app`'s folder (their files are theirs)."""
        outer = self.app_paths[app].resolve()
        return [
            path
            for label, path in self.app_paths.items()
            if label != app and path.resolve() != outer and path.resolve().is_relative_to(outer)
        ]

    def app_files(self, app: str, skip_dirs: Sequence[str]) -> list[Path]:
        """The Python files of `app` itself: a file of a nested app belongs to that app only."""
        nested = [path.resolve() for path in self.nested_app_paths(app)]
        return [
            file
            for file in source_files(self.app_paths[app], skip_dirs)
            if not any(file.resolve().is_relative_to(path) for path in nested)
        ]


def model_graph_from_registry(app_configs: Iterable[Any]) -> ModelGraph:
    """Read every model's relations from Django's app registry (forward and reverse)."""
    models: dict[str, ModelInfo] = {}
    packages: dict[str, str] = {}
    paths: dict[str, Path] = {}
    forward: list[ForwardRelation] = []
    for config in app_configs:
        packages[config.label] = config.name
        paths[config.label] = Path(config.path)
        for model in config.get_models(include_auto_created=True):
            info, declared = _model_info(model)
            models[info.label] = info
            forward.extend(declared)
    return ModelGraph(models, packages, paths, forward)


def _model_info(model: Any) -> tuple[ModelInfo, list[ForwardRelation]]:
    opts = model._meta
    lookups: dict[str, Relation] = {}
    accessors: dict[str, Relation] = {}
    declared: list[ForwardRelation] = []
    for rel_field in opts.get_fields(include_hidden=True):
        related = getattr(rel_field, "related_model", None)
        if not rel_field.is_relation or related is None or isinstance(related, str):
            continue
        target = related._meta.label
        if rel_field.auto_created and not rel_field.concrete:
            # A reverse relation: query name for lookups, accessor for related managers.
            many = rel_field.one_to_many or rel_field.many_to_many
            if not rel_field.hidden:
                lookups[rel_field.name] = Relation(rel_field.name, target, many)
                accessor = rel_field.get_accessor_name()
                if accessor:
                    accessors[accessor] = Relation(accessor, target, many)
            continue
        many = bool(rel_field.many_to_many)
        lookups[rel_field.name] = Relation(rel_field.name, target, many)
        accessors[rel_field.name] = Relation(rel_field.name, target, many)
        if getattr(rel_field, "model", None) is model and not opts.auto_created:
            kind = (
                "many_to_many"
                if rel_field.many_to_many
                else "one_to_one"
                if rel_field.one_to_one
                else "foreign_key"
            )
            declared.append(ForwardRelation(opts.label, rel_field.name, kind, target))
    try:
        source_file = inspect.getsourcefile(model)
    except TypeError:
        source_file = None
    info = ModelInfo(
        label=opts.label,
        app=opts.app_label,
        name=model.__name__,
        module=model.__module__,
        source_file=source_file,
        managers=tuple(manager.name for manager in opts.managers),
        pk=opts.pk.name if opts.pk else "id",
        fields=frozenset(
            f.name for f in opts.get_fields() if not f.is_relation and getattr(f, "concrete", False)
        ),
        lookups=lookups,
        accessors=accessors,
        db_table=opts.db_table,
    )
    return info, declared


# --- relations declared in the schema ----------------------------------------------------------


def relation_edges(graph: ModelGraph, apps: Sequence[str], root: Path) -> list[Edge]:
    """Relation fields from a model of one analysed app to a model of another."""
    edges = []
    for relation in graph.forward_relations:
        source = graph.models[relation.model]
        target = graph.models.get(relation.target)
        if target is None or source.app not in apps or target.app not in apps:
            continue
        if source.app == target.app:
            continue
        file, line = _field_location(source, relation.field)
        detail = f"{relation.model}.{relation.field} -> {relation.target}"
        edges.append(
            Edge(source.app, target.app, relation.kind, display_path(file, root), line, detail)
        )
    return edges


def _field_location(model: ModelInfo, field_name: str) -> tuple[str, int]:
    """File and line of `field_name = ...` in the model's class body (or of the class)."""
    if model.source_file is None:
        return "<unknown>", 0
    tree = _parse(Path(model.source_file))
    class_line = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == model.name:
            class_line = node.lineno
            for statement in node.body:
                targets = _assigned_names(statement)
                if field_name in targets:
                    return model.source_file, statement.lineno
    return model.source_file, class_line


def _assigned_names(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.Assign):
        return [t.id for t in statement.targets if isinstance(t, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return [statement.target.id]
    return []


# --- the source: imports, ORM traversals, signals ----------------------------------------------


def source_files(app_path: Path, skip_dirs: Sequence[str]) -> list[Path]:
    """The Python files of an app, skipping generated and test directories."""
    files = []
    for path in sorted(app_path.rglob("*.py")):
        relative = path.relative_to(app_path).parts[:-1]
        if any(part in skip_dirs for part in relative):
            continue
        files.append(path)
    return files


def module_name(package: str, app_path: Path, file: Path) -> str:
    """Dotted module name of `file` inside the app package rooted at `app_path`."""
    parts = list(file.relative_to(app_path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def source_edges(
    graph: ModelGraph, apps: Sequence[str], root: Path, skip_dirs: Sequence[str] = ()
) -> list[Edge]:
    """Imports, ORM traversals and signal receivers that cross from one analysed app to another."""
    edges: list[Edge] = []
    for app in apps:
        app_path = graph.app_paths[app]
        for file in graph.app_files(app, skip_dirs):
            module = module_name(graph.app_packages[app], app_path, file)
            tree = _parse(file)
            scanner = ModuleScanner(graph, apps, app, module, display_path(str(file), root))
            edges.extend(scanner.scan(tree, is_package=file.name == "__init__.py"))
    return edges


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise SeamsError(f"cannot read {path}: {exc}") from exc


@dataclass(frozen=True)
class Inferred:
    """What an expression is known to be: a model class, an instance, or a queryset."""

    kind: str  # "model" | "instance" | "queryset"
    model: str  # model label


class ModuleScanner:
    """Walks one module's syntax tree and reports the edges leaving its app."""

    def __init__(
        self, graph: ModelGraph, apps: Sequence[str], app: str, module: str, file: str
    ) -> None:
        self.graph = graph
        self.apps = set(apps)
        self.app = app
        self.module = module
        self.file = file
        self.symbols: dict[str, str] = {}  # local name -> dotted path it was bound to
        self.edges: list[Edge] = []
        self._seen: set[tuple[str, int, str, str]] = set()

    # -- entry point

    def scan(self, tree: ast.Module, *, is_package: bool) -> list[Edge]:
        self.bind_symbols(tree, is_package=is_package)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._import_edges(node)
        self._scan_scope(tree.body, {})
        return self.edges

    def bind_symbols(self, tree: ast.Module, *, is_package: bool) -> None:
        """Learn what each imported name and module-level class refers to (dotted paths)."""
        self.package = self.module if is_package else self.module.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._bind_import(node)
            elif isinstance(node, ast.ClassDef):
                self.symbols.setdefault(node.name, f"{self.module}.{node.name}")

    # -- imports

    def _absolute_module(self, node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        base = self.package.split(".")
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, *([node.module] if node.module else [])])

    def _bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.symbols[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    self.symbols[head] = head
            return
        module = self._absolute_module(node)
        for alias in node.names:
            if alias.name != "*":
                self.symbols[alias.asname or alias.name] = f"{module}.{alias.name}"

    def _imported_app(self, dotted: str) -> str | None:
        app = self.graph.app_of_module(dotted)
        return app if app in self.apps else None

    def _import_edges(self, node: ast.Import | ast.ImportFrom) -> None:
        targets: dict[str, list[str]] = {}
        if isinstance(node, ast.Import):
            for alias in node.names:
                app = self._imported_app(alias.name)
                if app:
                    targets.setdefault(app, []).append(alias.name)
            statement = "import {}"
        else:
            module = self._absolute_module(node)
            for alias in node.names:
                app = self._imported_app(f"{module}.{alias.name}") or self._imported_app(module)
                if app:
                    targets.setdefault(app, []).append(alias.name)
            statement = f"from {module} import {{}}"
        for app, names in targets.items():
            if app != self.app:
                self._add(app, "import", node.lineno, statement.format(", ".join(names)))

    # -- scopes and inference

    def _scan_scope(self, body: Sequence[ast.stmt], env: dict[str, Inferred]) -> None:
        """Visit a module's statements in order, tracking what names hold (models, querysets)."""
        self._scan_block(body, dict(env))

    def _scan_block(self, body: Sequence[ast.stmt], env: dict[str, Inferred]) -> None:
        # Blocks (if/for/with/try) share the enclosing scope's names, so no copy here.
        for statement in body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                self._scan_function(statement, env)
            elif isinstance(statement, ast.ClassDef):
                self._scan_class(statement, env)
            else:
                self._visit_expressions(statement, env)
                self._learn(statement, env)
                for child_body in _child_bodies(statement):
                    self._scan_block(child_body, env)

    def _scan_function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, env: dict[str, Inferred]
    ) -> None:
        local = dict(env)
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for argument in arguments:
            if argument.annotation is not None:
                inferred = self._annotation(argument.annotation)
                if inferred:
                    local[argument.arg] = inferred
        for decorator in node.decorator_list:
            self._visit_expressions(decorator, local)
            self._receiver_decorator(decorator, node.name)
        self._scan_block(node.body, local)

    def _scan_class(self, node: ast.ClassDef, env: dict[str, Inferred]) -> None:
        for decorator in node.decorator_list:
            self._visit_expressions(decorator, env)
        for base in node.bases:
            self._visit_expressions(base, env)
        model = self._class_model(node, env)
        for statement in node.body:
            if model and isinstance(statement, ast.Assign | ast.AnnAssign):
                self._class_paths(statement, model)
        self._scan_block(node.body, env)

    def _class_model(self, node: ast.ClassDef, env: dict[str, Inferred]) -> str | None:
        """The model a ModelAdmin, inline, FilterSet or view class is about, when it says so."""
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and _call_name(decorator) == "register":
                for argument in decorator.args:
                    inferred = self.infer(argument, env)
                    if inferred and inferred.kind == "model":
                        return inferred.model
        bodies = [node.body] + [
            inner.body
            for inner in node.body
            if isinstance(inner, ast.ClassDef) and inner.name == "Meta"
        ]
        for body in bodies:
            for statement in body:
                if isinstance(statement, ast.Assign) and "model" in _assigned_names(statement):
                    inferred = self.infer(statement.value, env)
                    if inferred and inferred.kind == "model":
                        return inferred.model
        return None

    def _class_paths(self, statement: ast.Assign | ast.AnnAssign, model: str) -> None:
        names = _assigned_names(statement)
        value = statement.value
        if value is None:
            return
        if any(name in CLASS_PATH_ATTRIBUTES for name in names) and isinstance(
            value, ast.List | ast.Tuple
        ):
            for element in value.elts:
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    loads = "list_select_related" in names
                    how = f"{names[0]} path"
                    self._lookup(model, element.value, element.lineno, how, loads=loads)
        # django-filter: `country = CharFilter(field_name="addresses__country")`.
        for node in ast.walk(value):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "field_name" and _is_str(keyword.value):
                        self._lookup(
                            model, keyword.value.value, keyword.value.lineno, "filter field_name"
                        )

    def _learn(self, statement: ast.stmt, env: dict[str, Inferred]) -> None:
        """Remember what a simple assignment or loop variable holds."""
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                inferred = self.infer(statement.value, env)
                if inferred:
                    env[target.id] = inferred
                else:
                    env.pop(target.id, None)
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            inferred = self._annotation(statement.annotation)
            if inferred is None and statement.value is not None:
                inferred = self.infer(statement.value, env)
            if inferred:
                env[statement.target.id] = inferred
        elif isinstance(statement, ast.For | ast.AsyncFor) and isinstance(
            statement.target, ast.Name
        ):
            inferred = self.infer(statement.iter, env)
            if inferred and inferred.kind == "queryset":
                env[statement.target.id] = Inferred("instance", inferred.model)

    def _annotation(self, annotation: ast.expr) -> Inferred | None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.Subscript):
            container = self.dotted(annotation.value) or ""
            if container.rpartition(".")[2] in {"QuerySet", "Manager"}:
                inner = self._annotation(annotation.slice)
                return Inferred("queryset", inner.model) if inner else None
            return None
        model = self._model_of(annotation)
        return Inferred("instance", model) if model else None

    def dotted(self, node: ast.expr) -> str | None:
        """The dotted path a name or attribute chain refers to, through this module's imports."""
        if isinstance(node, ast.Name):
            return self.symbols.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _model_of(self, node: ast.expr) -> str | None:
        dotted = self.dotted(node)
        if dotted is None:
            return None
        model = self.graph.model_by_path(dotted)
        return model.label if model else None

    def infer(self, node: ast.expr, env: Mapping[str, Inferred]) -> Inferred | None:
        """What `node` evaluates to, when the model graph and local names tell."""
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.Name | ast.Attribute):
            model = self._model_of(node)
            if model:
                return Inferred("model", model)
        if isinstance(node, ast.Attribute):
            base = self.infer(node.value, env)
            if base is None:
                return None
            info = self.graph.models.get(base.model)
            if info is None:
                return None
            if base.kind == "model" and (
                node.attr in MANAGER_ATTRIBUTES or node.attr in info.managers
            ):
                return Inferred("queryset", base.model)
            if base.kind == "instance" and node.attr in info.accessors:
                relation = info.accessors[node.attr]
                return Inferred("queryset" if relation.many else "instance", relation.target)
            return None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                base = self.infer(node.func.value, env)
                if base and base.kind == "queryset":
                    if node.func.attr in QUERYSET_METHODS:
                        return base
                    if node.func.attr in INSTANCE_METHODS:
                        return Inferred("instance", base.model)
                return None
            if _call_name(node) in SHORTCUTS and node.args:
                base = self.infer(node.args[0], env)
                if base and base.kind in {"model", "queryset"}:
                    many = _call_name(node) == "get_list_or_404"
                    return Inferred("queryset" if many else "instance", base.model)
        return None

    # -- what is recorded

    def _visit_expressions(self, root: ast.AST, env: Mapping[str, Inferred]) -> None:
        """Record ORM traversals and signal connections in one statement's expressions."""
        for node in _expressions(root):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                self._attribute_traversal(node, env)
            elif isinstance(node, ast.Call):
                self._call_lookups(node, env)
                self._connect_call(node)

    def _attribute_traversal(self, node: ast.Attribute, env: Mapping[str, Inferred]) -> None:
        base = self.infer(node.value, env)
        if base is None or base.kind != "instance":
            return
        info = self.graph.models.get(base.model)
        if info and node.attr in info.accessors:
            self._hop(base.model, info.accessors[node.attr], node.lineno, f".{node.attr}")

    def _call_lookups(self, node: ast.Call, env: Mapping[str, Inferred]) -> None:
        name = _call_name(node)
        if isinstance(node.func, ast.Attribute):
            base = self.infer(node.func.value, env)
            if base is None or base.kind != "queryset":
                return
            model = base.model
        elif name in SHORTCUTS and node.args:
            base = self.infer(node.args[0], env)
            if base is None or base.kind not in {"model", "queryset"}:
                return
            model = base.model
        else:
            return
        for path, line, loads in _lookup_paths(node, name):
            self._lookup(model, path, line, f"{name}({path!r})", loads=loads)

    def _lookup(self, model: str, path: str, line: int, how: str, *, loads: bool = False) -> None:
        """Follow a `a__b__c` path from `model`; record each hop between two apps.

        A hop in a filter or ordering path only couples when the path goes on to read the other
        model (`product__sku`); `product=...` or `product__in=...` compares the local id column.
        Paths that load rows (select_related, prefetch_related) always cross.
        """
        current = model
        parts = path.lstrip(LOOKUP_PREFIXES).split("__")
        for index, part in enumerate(parts):
            info = self.graph.models.get(current)
            if info is None:
                return
            relation = info.lookups.get(part) or info.accessors.get(part)
            if relation is None:
                return
            target = self.graph.models.get(relation.target)
            following = parts[index + 1] if index + 1 < len(parts) else None
            reads_target = (
                target is not None
                and following is not None
                and (
                    following in target.lookups
                    or (following in target.fields and following != target.pk)
                )
            )
            if loads or reads_target:
                self._hop(current, relation, line, how)
            current = relation.target

    def _hop(self, origin: str, relation: Relation, line: int, how: str) -> None:
        origin_app = self.graph.models[origin].app
        target_info = self.graph.models.get(relation.target)
        if target_info is None or origin_app == target_info.app:
            return
        other = target_info.app if target_info.app != self.app else origin_app
        if other == self.app or other not in self.apps:
            return
        detail = f"{how}: {origin}.{relation.name} -> {relation.target}"
        self._add(other, "orm", line, detail)

    def _receiver_decorator(self, decorator: ast.expr, handler: str) -> None:
        if not (isinstance(decorator, ast.Call) and _call_name(decorator) == "receiver"):
            return
        signals = decorator.args[0] if decorator.args else None
        self._signal_edges(signals, _keyword(decorator, "sender"), decorator.lineno, handler)

    def _connect_call(self, node: ast.Call) -> None:
        if not (isinstance(node.func, ast.Attribute) and node.func.attr == "connect"):
            return
        handler = node.args[0] if node.args else _keyword(node, "receiver")
        handler_name = (self.dotted(handler) or "") if handler is not None else ""
        if isinstance(handler, ast.Name):
            handler_name = handler.id
        self._signal_edges(node.func.value, _keyword(node, "sender"), node.lineno, handler_name)

    def _signal_edges(
        self, signals: ast.expr | None, sender: ast.expr | None, line: int, handler: str
    ) -> None:
        signal_nodes = list(signals.elts) if isinstance(signals, ast.List | ast.Tuple) else []
        if signals is not None and not signal_nodes:
            signal_nodes = [signals]
        signal_names = [self.dotted(s) or ast.unparse(s) for s in signal_nodes]
        targets: dict[str, str] = {}
        sender_model = None
        if sender is not None:
            if _is_str(sender):
                found = self.graph.model_by_label(sender.value)
                sender_model = found.label if found else None
            else:
                sender_model = self._model_of(sender)
        if sender_model:
            app = self.graph.models[sender_model].app
            if app != self.app and app in self.apps:
                targets[app] = f"sent by {sender_model}"
        for dotted in signal_names:
            app = self._imported_app(dotted)
            if app and app != self.app:
                targets.setdefault(app, f"signal defined in {app}")
        short = ", ".join(name.rpartition(".")[2] for name in signal_names)
        for app, why in targets.items():
            self._add(app, "signal", line, f"receiver {handler} of {short} {why}")

    def _add(self, target: str, kind: str, line: int, detail: str) -> None:
        key = (target, line, kind, detail)
        if key in self._seen:
            return
        self._seen.add(key)
        self.edges.append(Edge(self.app, target, kind, self.file, line, detail))


def _child_bodies(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        body = getattr(statement, name, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            yield body
    for handler in getattr(statement, "handlers", []):
        yield handler.body
    for case in getattr(statement, "cases", []):
        yield case.body


def _expressions(statement: ast.AST) -> Iterator[ast.AST]:
    """Every node of a statement except nested statements (visited in their own scope)."""
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                continue
            stack.append(child)


def _call_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return ""


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_str(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _lookup_paths(node: ast.Call, method: str) -> Iterator[tuple[str, int, bool]]:
    """(path, line, loads) for each lookup path a queryset call names: string arguments,
    keyword names, and the paths inside Q, F, aggregates and Prefetch."""
    loads = method in LOADING_METHODS
    if method in PATH_ARGUMENT_METHODS:
        for argument in node.args:
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield argument.value, argument.lineno, loads
    if method in KEYWORD_LOOKUP_METHODS or method in SHORTCUTS:
        for keyword in node.keywords:
            if keyword.arg and keyword.arg not in NOT_LOOKUP_KEYWORDS:
                yield keyword.arg, keyword.value.lineno, False
    for argument in [*node.args, *(k.value for k in node.keywords)]:
        for path, line, in_prefetch in _expression_paths(argument):
            yield path, line, in_prefetch or loads


def _expression_paths(node: ast.expr) -> Iterator[tuple[str, int, bool]]:
    # Method calls inside (a Prefetch's queryset, a Subquery) have a model of their own: skip.
    if not isinstance(node, ast.Call) or isinstance(node.func, ast.Attribute):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr) and not isinstance(node, ast.Call):
                yield from _expression_paths(child)
        return
    name = _call_name(node)
    if name in PATH_EXPRESSIONS and node.args and _is_str(node.args[0]):
        yield node.args[0].value, node.args[0].lineno, name in LOADING_METHODS
    if name == "Q":
        for keyword in node.keywords:
            if keyword.arg:
                yield keyword.arg, keyword.value.lineno, False
    for child in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
            continue
        yield from _expression_paths(child)


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextScore:
    """How coupled one context is, and where it falls in the suggested extraction order."""

    app: str
    score: int
    inbound: dict[str, int]
    outbound: dict[str, int]
    order: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "score": self.score,
            "inbound": self.inbound,
            "outbound": self.outbound,
            "order": self.order,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SeamsReport:
    apps: tuple[str, ...]
    edges: tuple[Edge, ...]
    contexts: tuple[ContextScore, ...]
    weights: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "apps": list(self.apps),
            "weights": dict(self.weights),
            "contexts": [context.to_dict() for context in self.contexts],
            "edges": [edge.to_dict() for edge in self.edges],
        }

    def pairs(self) -> dict[tuple[str, str], Counter[str]]:
        """Edge counts by kind for each (source, target) pair."""
        pairs: dict[tuple[str, str], Counter[str]] = {}
        for edge in self.edges:
            pairs.setdefault((edge.source, edge.target), Counter())[edge.kind] += 1
        return pairs


def coupling_score(counts: Mapping[str, int], weights: Mapping[str, int]) -> int:
    """Weighted sum of edge counts: sum(weight[kind] * count[kind])."""
    return sum(weights.get(kind, 0) * count for kind, count in counts.items())


def score_contexts(
    apps: Sequence[str], edges: Sequence[Edge], weights: Mapping[str, int]
) -> list[ContextScore]:
    """Score each context (inbound + outbound edges, weighted) and order them for extraction.

    Least coupled first; ties go to the context fewer relations point at (its rows are easier to
    move), then by name.
    """
    inbound = {app: Counter[str]() for app in apps}
    outbound = {app: Counter[str]() for app in apps}
    for edge in edges:
        outbound[edge.source][edge.kind] += 1
        inbound[edge.target][edge.kind] += 1

    def inbound_relations(app: str) -> int:
        return sum(inbound[app][kind] for kind in RELATION_KINDS)

    scores = {
        app: coupling_score(inbound[app], weights) + coupling_score(outbound[app], weights)
        for app in apps
    }
    ordered = sorted(apps, key=lambda app: (scores[app], inbound_relations(app), app))
    contexts = []
    for position, app in enumerate(ordered, start=1):
        reason = _reason(app, position, len(ordered), inbound[app], outbound[app], edges)
        contexts.append(
            ContextScore(
                app=app,
                score=scores[app],
                inbound=dict(sorted(inbound[app].items())),
                outbound=dict(sorted(outbound[app].items())),
                order=position,
                reason=reason,
            )
        )
    return contexts


def _reason(
    app: str,
    position: int,
    total: int,
    inbound: Counter[str],
    outbound: Counter[str],
    edges: Sequence[Edge],
) -> str:
    def partners(direction: str) -> str:
        if direction == "in":
            names = {edge.source for edge in edges if edge.target == app}
        else:
            names = {edge.target for edge in edges if edge.source == app}
        return ", ".join(sorted(names))

    relations_out = sum(outbound[k] for k in RELATION_KINDS)
    relations_in = sum(inbound[k] for k in RELATION_KINDS)
    if not inbound and not outbound:
        return "no couplings to other contexts: extract it any time"
    parts = []
    if outbound:
        parts.append(
            f"depends on {partners('out')} ({relations_out} relation(s), "
            f"{sum(outbound.values()) - relations_out} code edge(s))"
        )
    else:
        parts.append("depends on no other context")
    if inbound:
        parts.append(
            f"used by {partners('in')} ({relations_in} relation(s), "
            f"{sum(inbound.values()) - relations_in} code edge(s))"
        )
    else:
        parts.append("nothing depends on it")
    if position == 1:
        verdict = "least coupled: extract first"
    elif position == total:
        verdict = "most coupled: extract last"
    else:
        verdict = "extract after the ones above"
    return f"{'; '.join(parts)}; {verdict}"


def analyse(
    graph: ModelGraph,
    apps: Sequence[str],
    root: Path,
    weights: Mapping[str, int],
    skip_dirs: Sequence[str] = (),
) -> SeamsReport:
    """The whole report: every edge between the analysed apps, scores and extraction order."""
    unknown = [app for app in apps if app not in graph.app_packages]
    if unknown:
        raise SeamsError(f"unknown app label(s): {', '.join(unknown)}")
    edges = relation_edges(graph, apps, root) + source_edges(graph, apps, root, skip_dirs)
    edges = sorted(set(edges), key=lambda e: (e.source, e.target, e.kind, e.file, e.line))
    contexts = score_contexts(apps, edges, weights)
    return SeamsReport(tuple(apps), tuple(edges), tuple(contexts), dict(weights))
