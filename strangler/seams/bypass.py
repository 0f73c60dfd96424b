"""Find the writes in a project's code that change a tracked model's table without an event.

A context's services record an integration event in the outbox in the same transaction as their
writes; any other write path (a queryset `update()`, `bulk_create`, raw SQL, an admin action, a
`save()` in a view) changes the table in silence and the service that follows it drifts. This
reads the project's source with `ast`, with the seams scanner's inference of what a name holds
(model, instance, queryset), and lists every such write with its file and line.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strangler.seams.analysis import (
    Inferred,
    ModelGraph,
    ModuleScanner,
    _assigned_names,
    _call_name,
    _expressions,
    _parse,
    module_name,
    source_files,
)
from strangler.seams.discovery import display_path

BYPASS_KINDS = (
    "update",
    "bulk_create",
    "bulk_update",
    "queryset_delete",
    "raw_sql",
    "admin_action",
    "save",
    "delete",
    "create",
)
# Queryset (and manager) methods that write, by the kind of bypass they are.
QUERYSET_WRITES = {
    "update": "update",
    "bulk_create": "bulk_create",
    "bulk_update": "bulk_update",
    "delete": "queryset_delete",
    "create": "create",
    "get_or_create": "create",
    "update_or_create": "create",
}
INSTANCE_WRITES = {"save": "save", "delete": "delete"}
# Django's async twins (`abulk_create`, `asave`...) write the same way.
ASYNC_TWINS = {f"a{name}": name for name in (*QUERYSET_WRITES, *INSTANCE_WRITES)}
# Directories never read for bypasses, whatever STRANGLER_SEAMS["SKIP_DIRS"] says: migrations
# write on purpose, before any event exists.
ALWAYS_SKIPPED = ("migrations",)
WRITE_SQL = re.compile(
    r"\b(insert\s+into|update\s+[\w\".]+\s+set|delete\s+from|truncate|merge\s+into|copy\s+[\w\".]+"
    r"\s*(\([^)]*\)\s*)?from)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, order=True)
class Bypass:
    """One write at `file`:`line` that changes `model`'s table without recording an event."""

    file: str
    line: int
    kind: str
    model: str  # "catalog.Product", or "?" when raw SQL cannot be read
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "file": self.file,
            "line": self.line,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class BypassReport:
    bypasses: tuple[Bypass, ...]
    tracked: tuple[str, ...]  # model labels whose writes must record events
    files: int  # Python files read
    skipped: tuple[str, ...]  # inbox handler modules and functions left out

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracked_models": list(self.tracked),
            "files_read": self.files,
            "skipped": list(self.skipped),
            "bypasses": [bypass.to_dict() for bypass in self.bypasses],
        }


@dataclass
class _Registration:
    model: str
    admin: str | None  # dotted path of the ModelAdmin class, None for the default ModelAdmin
    file: str
    line: int


@dataclass
class ProjectIndex:
    """What the first pass learns about the whole project before any write is judged."""

    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    bases: dict[str, list[str]] = field(default_factory=dict)
    registrations: list[_Registration] = field(default_factory=list)
    class_actions: dict[str, list[str]] = field(default_factory=dict)  # admin -> action paths
    decorated_actions: set[str] = field(default_factory=set)
    delete_selected_disabled: bool = False
    recording_modules: set[str] = field(default_factory=set)
    handler_functions: set[str] = field(default_factory=set)

    def attribute(self, class_path: str, name: str) -> ast.AST | None:
        """`name` as a project class (or a project base class) defines it, depth first."""
        seen: set[str] = set()
        stack = [class_path]
        while stack:
            current = stack.pop(0)
            if current in seen or current not in self.classes:
                continue
            seen.add(current)
            for statement in self.classes[current].body:
                if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                    if statement.name == name:
                        return statement
                elif name in _assigned_names(statement):
                    return statement
            stack = self.bases.get(current, []) + stack
        return None

    def action_models(self) -> dict[str, str | None]:
        """Admin action function paths -> the model whose rows they receive (None: unknown)."""
        admin_models: dict[str, str] = {}
        for registration in self.registrations:
            if registration.admin:
                admin_models.setdefault(registration.admin, registration.model)
        actions: dict[str, str | None] = dict.fromkeys(self.decorated_actions)
        for admin, paths in self.class_actions.items():
            for path in paths:
                actions[path] = admin_models.get(admin) or actions.get(path)
        for path in list(actions):
            owner = path.rpartition(".")[0]
            if actions[path] is None and owner in admin_models:
                actions[path] = admin_models[owner]
        return actions


@dataclass(frozen=True)
class ProjectModule:
    module: str
    path: Path
    is_package: bool


def project_modules(
    graph: ModelGraph,
    apps: Sequence[str],
    packages: Sequence[tuple[str, Path]],
    skip_dirs: Sequence[str],
) -> list[ProjectModule]:
    """The modules of the analysed apps and of the packages holding them (config, common code).

    A file inside an installed app that is not analysed stays out: it is that app's code.
    """
    skip = tuple({*skip_dirs, *ALWAYS_SKIPPED})
    found: dict[Path, ProjectModule] = {}
    for app in apps:
        for file in graph.app_files(app, skip):
            module = module_name(graph.app_packages[app], graph.app_paths[app], file)
            found[file.resolve()] = ProjectModule(module, file, file.name == "__init__.py")
    other_apps = [path.resolve() for label, path in graph.app_paths.items() if label not in apps]
    for package, folder in packages:
        for file in source_files(folder, skip):
            resolved = file.resolve()
            if resolved in found or any(resolved.is_relative_to(path) for path in other_apps):
                continue
            module = module_name(package, folder, file)
            found[resolved] = ProjectModule(module, file, file.name == "__init__.py")
    return sorted(found.values(), key=lambda m: m.module)


def holding_package(graph: ModelGraph, apps: Sequence[str]) -> tuple[str, Path] | None:
    """The deepest package that holds every analysed app (`monolith` for `monolith.catalog`...),
    with its folder; None when the apps are top-level packages of their own."""
    packages = [graph.app_packages[app].split(".") for app in apps]
    common: list[str] = []
    for parts in zip(*packages, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if not common or not apps:
        return None
    first = apps[0]
    depth = len(graph.app_packages[first].split(".")) - len(common)
    folder = graph.app_paths[first]
    for _ in range(depth):
        folder = folder.parent
    return ".".join(common), folder


def bypass_report(
    graph: ModelGraph,
    modules: Sequence[ProjectModule],
    tracked: Iterable[str],
    root: Path,
    handlers: Sequence[str] = (),
) -> BypassReport:
    """Every write in `modules` that changes a tracked model's table outside its recording services.

    `handlers` are dotted paths of inbox handler dicts (STRANGLER_INBOX["HANDLERS"]): their module
    and the functions they list write outside outbox capture by design and are left out.
    """
    tracked = frozenset(tracked)
    trees = {entry.module: (entry, _parse(entry.path)) for entry in modules}
    handlers = _handler_dicts(handlers, {module: tree for module, (_, tree) in trees.items()})
    handler_modules = {path.rpartition(".")[0] for path in handlers}
    parsed = []
    index = ProjectIndex()
    for entry, tree in trees.values():
        scanner = BypassScanner(graph, entry.module, display_path(entry.path, root), tracked)
        scanner.bind_symbols(tree, is_package=entry.is_package)
        scanner.index(tree, index, handlers)
        parsed.append((entry, tree, scanner))
    _index_base_classes(graph, index, tracked)
    actions = index.action_models()
    bypasses: list[Bypass] = []
    for entry, tree, scanner in parsed:
        if entry.module in handler_modules:
            continue
        bypasses.extend(scanner.find(tree, index, actions))
    bypasses.extend(_delete_selected(graph, index, tracked))
    read = {entry.module for entry in modules}
    skipped = sorted(
        {module for module in handler_modules if module in read}
        | {
            path
            for path in index.handler_functions
            if path.rpartition(".")[0] in read - handler_modules
        }
    )
    return BypassReport(
        bypasses=tuple(sorted(set(bypasses))),
        tracked=tuple(sorted(tracked)),
        files=len(modules),
        skipped=tuple(skipped),
    )


def _index_base_classes(graph: ModelGraph, index: ProjectIndex, tracked: frozenset[str]) -> None:
    """Read the base classes defined outside the files read (a mixin in another app), so that
    an admin's `has_delete_permission` is found wherever it is declared. Django's own are known."""
    pending = [base for bases in list(index.bases.values()) for base in bases]
    read: set[str] = set()
    while pending:
        module = pending.pop().rpartition(".")[0]
        if not module or module in read or module.split(".")[0] == "django":
            continue
        read.add(module)
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        tree = _parse(Path(spec.origin))
        scanner = BypassScanner(graph, module, spec.origin, tracked)
        scanner.bind_symbols(tree, is_package=spec.origin.endswith("__init__.py"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and f"{module}.{node.name}" not in index.classes:
                path = f"{module}.{node.name}"
                index.classes[path] = node
                index.bases[path] = [scanner.dotted(b) or ast.unparse(b) for b in node.bases]
                pending.extend(index.bases[path])


def _delete_selected(
    graph: ModelGraph, index: ProjectIndex, tracked: frozenset[str]
) -> list[Bypass]:
    """Django's default admin action deletes the selected rows with no event, unless turned off."""
    if index.delete_selected_disabled:
        return []
    found = []
    for registration in index.registrations:
        if registration.model not in tracked:
            continue
        if registration.admin and _delete_selected_off(index, registration.admin):
            continue
        admin = registration.admin.rpartition(".")[2] if registration.admin else "ModelAdmin"
        found.append(
            Bypass(
                registration.file,
                registration.line,
                "admin_action",
                registration.model,
                f"{admin} keeps Django's default action delete_selected",
            )
        )
    return found


def _delete_selected_off(index: ProjectIndex, admin: str) -> bool:
    actions = index.attribute(admin, "actions")
    if isinstance(actions, ast.Assign) and _is_none(actions.value):
        return True
    permission = index.attribute(admin, "has_delete_permission")
    if isinstance(permission, ast.FunctionDef) and _returns_false(permission):
        return True
    if index.attribute(admin, "delete_queryset") is not None:
        return True  # deletes go through the project's own code, scanned like any other
    get_actions = index.attribute(admin, "get_actions")
    return get_actions is not None and "delete_selected" in ast.unparse(get_actions)


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _returns_false(function: ast.FunctionDef) -> bool:
    body = [
        statement
        for statement in function.body
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
    ]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Constant)
        and body[0].value.value is False
    )


class BypassScanner(ModuleScanner):
    """The seams scanner, reporting writes to tracked models instead of couplings."""

    def __init__(self, graph: ModelGraph, module: str, file: str, tracked: frozenset[str]) -> None:
        app = graph.app_of_module(module) or ""
        super().__init__(graph, [app] if app else [], app, module, file)
        self.tracked = tracked
        self.found: list[Bypass] = []
        self._path: list[str] = []  # enclosing class and function names
        self._action: str | None = None  # name of the admin action being scanned
        self._index = ProjectIndex()
        self._actions: Mapping[str, str | None] = {}
        self.constants: dict[str, str] = {}  # module-level string constants (SQL kept aside)

    # -- first pass: classes, admin registrations and actions, recording modules

    def index(self, tree: ast.Module, index: ProjectIndex, handlers: Sequence[str]) -> None:
        decorators = {
            id(decorator)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            for decorator in node.decorator_list
        }
        for statement in tree.body:
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
                for name in _assigned_names(statement):
                    if isinstance(statement.value.value, str):
                        self.constants[name] = statement.value.value
        for node in ast.walk(tree):
            if id(node) in decorators:
                continue  # `@admin.register(Model)`: read with its class
            if isinstance(node, ast.ClassDef):
                self._index_class(node, index)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                self._is_action_decorator(d) for d in node.decorator_list
            ):
                index.decorated_actions.add(f"{self.module}.{node.name}")
            if isinstance(node, ast.Call):
                self._index_call(node, index)
        for path in handlers:
            module, _, name = path.rpartition(".")
            if module == self.module:
                index.handler_functions |= self._handler_functions(tree, name)

    def _index_class(self, node: ast.ClassDef, index: ProjectIndex) -> None:
        path = f"{self.module}.{node.name}"
        index.classes[path] = node
        index.bases[path] = [self.dotted(base) or ast.unparse(base) for base in node.bases]
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and _call_name(decorator) == "register":
                for argument in decorator.args:
                    model = self._model_of(argument)
                    if model:
                        index.registrations.append(
                            _Registration(model, path, self.file, decorator.lineno)
                        )
        for statement in node.body:
            if isinstance(statement, ast.Assign) and "actions" in _assigned_names(statement):
                value = statement.value
                elements = value.elts if isinstance(value, ast.List | ast.Tuple) else []
                index.class_actions[path] = [
                    self._action_path(element, path) for element in elements
                ]
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                self._is_action_decorator(d) for d in statement.decorator_list
            ):
                index.class_actions.setdefault(path, []).append(f"{path}.{statement.name}")

    def _action_path(self, element: ast.expr, admin: str) -> str:
        if isinstance(element, ast.Constant) and isinstance(element.value, str):
            return f"{admin}.{element.value}"
        return self.dotted(element) or f"{self.module}.{ast.unparse(element)}"

    def _is_action_decorator(self, decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        dotted = self.dotted(target) or ""
        return dotted in {"django.contrib.admin.action", "django.contrib.admin.decorators.action"}

    def _index_call(self, node: ast.Call, index: ProjectIndex) -> None:
        name = _call_name(node)
        if name == "record_event":
            index.recording_modules.add(self.module)
        elif name == "disable_action" and any(
            isinstance(a, ast.Constant) and a.value == "delete_selected" for a in node.args
        ):
            index.delete_selected_disabled = True
        elif name == "register" and node.args and isinstance(node.func, ast.Attribute):
            model = self._model_of(node.args[0])
            if model is None:
                return
            admin = None
            if len(node.args) > 1:
                admin = self.dotted(node.args[1]) or f"{self.module}.{ast.unparse(node.args[1])}"
            index.registrations.append(_Registration(model, admin, self.file, node.lineno))

    def _handler_functions(self, tree: ast.Module, name: str) -> set[str]:
        """Dotted paths of the functions an inbox HANDLERS dict lists."""
        functions: set[str] = set()
        for statement in tree.body:
            if isinstance(statement, ast.Assign | ast.AnnAssign) and name in _assigned_names(
                statement
            ):
                for node in ast.walk(statement.value or ast.Constant(None)):
                    if not isinstance(node, ast.Dict):
                        continue
                    for value in node.values:
                        if isinstance(value, ast.Name):
                            functions.add(self.dotted(value) or f"{self.module}.{value.id}")
        return functions

    # -- second pass: the writes

    def find(
        self, tree: ast.Module, index: ProjectIndex, actions: Mapping[str, str | None]
    ) -> list[Bypass]:
        self._index = index
        self._actions = actions
        self._scan_scope(tree.body, {})
        return self.found

    def _scan_class(self, node: ast.ClassDef, env: dict[str, Inferred]) -> None:
        self._path.append(node.name)
        self._scan_block(node.body, env)
        self._path.pop()

    def _scan_function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, env: dict[str, Inferred]
    ) -> None:
        path = ".".join([self.module, *self._path, node.name])
        if path in self._index.handler_functions:
            return
        local = dict(env)
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for argument in arguments:
            if argument.annotation is not None:
                inferred = self._annotation(argument.annotation)
                if inferred:
                    local[argument.arg] = inferred
        owner = self._model_of(ast.Name(self._path[-1])) if self._path else None
        positional = [*node.args.posonlyargs, *node.args.args]
        if owner and positional:
            # A model's own method: `self` is an instance, `cls` (classmethod) the model.
            is_classmethod = any(
                isinstance(d, ast.Name) and d.id == "classmethod" for d in node.decorator_list
            )
            local[positional[0].arg] = Inferred("model" if is_classmethod else "instance", owner)
        outer_action = self._action
        if path in self._actions:
            self._action = node.name
            model = self._actions[path]
            if model and len(positional) >= 3:
                local[positional[2].arg] = Inferred("queryset", model)
        self._path.append(node.name)
        self._scan_block(node.body, local)
        self._path.pop()
        self._action = outer_action

    def _learn(self, statement: ast.stmt, env: dict[str, Inferred]) -> None:
        super()._learn(statement, env)
        if isinstance(statement, ast.With | ast.AsyncWith):
            for item in statement.items:
                if isinstance(item.optional_vars, ast.Name):
                    inferred = self.infer(item.context_expr, env)
                    if inferred:
                        env[item.optional_vars.id] = inferred

    def infer(self, node: ast.expr, env: Mapping[str, Inferred]) -> Inferred | None:
        if isinstance(node, ast.Call):
            if _call_name(node) == "cursor":
                return Inferred("cursor", "")
            model = self._model_of(node.func)
            if model:
                return Inferred("instance", model)  # `Product(...)`: a new, unsaved row
        return super().infer(node, env)

    def _visit_expressions(self, root: ast.AST, env: Mapping[str, Inferred]) -> None:
        for node in _expressions(root):
            if isinstance(node, ast.Call):
                self._write_call(node, env)

    def _write_call(self, node: ast.Call, env: Mapping[str, Inferred]) -> None:
        name = _call_name(node)
        method = ASYNC_TWINS.get(name, name)
        if not isinstance(node.func, ast.Attribute):
            if (self.dotted(node.func) or name).endswith("RawSQL") and node.args:
                self._raw_sql(node, node.args[0], "RawSQL")
            return
        receiver = self.infer(node.func.value, env)
        if method in {"execute", "executemany"} and node.args:
            is_cursor = receiver is not None and receiver.kind == "cursor"
            if is_cursor or "cursor" in ast.unparse(node.func.value).lower():
                self._raw_sql(node, node.args[0], f"cursor.{method}")
            return
        if receiver is None:
            return
        if method == "raw" and receiver.kind == "queryset" and node.args:
            self._raw_sql(node, node.args[0], "raw", receiver.model)
        elif receiver.kind == "queryset" and method in QUERYSET_WRITES:
            self._write(node, QUERYSET_WRITES[method], receiver.model)
        elif receiver.kind == "instance" and method in INSTANCE_WRITES:
            self._write(node, INSTANCE_WRITES[method], receiver.model)

    def _raw_sql(self, node: ast.Call, sql: ast.expr, how: str, model: str = "") -> None:
        text, complete = _sql_text(sql, self.constants)
        tables = {
            info.db_table: label
            for label, info in self.graph.models.items()
            if label in self.tracked and info.db_table
        }
        if text is not None and WRITE_SQL.search(text):
            written = [
                label
                for table, label in tables.items()
                if re.search(rf"(?<![\w.]){re.escape(table)}(?!\w)", text, re.IGNORECASE)
            ]
            for label in sorted(set(written)):
                self._write(
                    node, "raw_sql", label, f"{how}: writes {self.graph.models[label].db_table}"
                )
            if not written and not complete:
                self._write(node, "raw_sql", "?", f"{how}: a write to a table named at run time")
        elif not complete and text is None:
            detail = f"{how}: SQL built at run time, cannot tell what it writes"
            self._write(node, "raw_sql", model or "?", detail)

    def _write(self, node: ast.Call, kind: str, model: str, detail: str = "") -> None:
        if model != "?" and model not in self.tracked:
            return
        if model != "?" and self._in_recording_services(model):
            return
        what = detail or _shorten(ast.unparse(node.func)) + "()"
        if self._action is not None:
            what = f"{what} in admin action {self._action}"
            kind = "admin_action"
        elif kind in {"save", "delete", "create"}:
            app = model.partition(".")[0]
            where = (
                f"in {app}'s services, which record no event"
                if self._in_own_services(model)
                else f"outside {app}'s services"
            )
            what = f"{what} {where}"
        self.found.append(Bypass(self.file, node.lineno, kind, model, what))

    def _in_own_services(self, model: str) -> bool:
        """True when this module is the model's own app's services module (or inside it)."""
        package = self.graph.app_packages.get(self.graph.models[model].app, "")
        services = f"{package}.services"
        return self.module == services or self.module.startswith(services + ".")

    def _in_recording_services(self, model: str) -> bool:
        """Writes in the model's own services module are trusted when that module records events."""
        return self._in_own_services(model) and self.module in self._index.recording_modules


def _handler_dicts(handlers: Sequence[str], trees: Mapping[str, ast.Module]) -> list[str]:
    """The handler dicts named, plus every dict they merge in (`{**CATALOG_HANDLERS, ...}`).

    A project often builds STRANGLER_INBOX["HANDLERS"] from each app's own HANDLERS; the
    functions of those dicts are inbox handlers too, wherever they are imported from.
    """
    found = list(dict.fromkeys(handlers))
    for path in found:  # grows while it is walked: each merged dict is followed in turn
        module, _, name = path.rpartition(".")
        tree = trees.get(module)
        if tree is None:
            continue
        imported = _imported_names(tree, module)
        for statement in tree.body:
            if not (
                isinstance(statement, ast.Assign | ast.AnnAssign)
                and name in _assigned_names(statement)
            ):
                continue
            for node in ast.walk(statement.value or ast.Constant(None)):
                if isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if key is None and isinstance(value, ast.Name):
                            merged = imported.get(value.id, f"{module}.{value.id}")
                            if merged not in found:
                                found.append(merged)
    return found


def _imported_names(tree: ast.Module, module: str) -> dict[str, str]:
    """{local name: dotted path} of a module's `from x import y [as z]` statements."""
    names: dict[str, str] = {}
    package = module.rpartition(".")[0]
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module is not None:
            source = statement.module
            if statement.level:
                base = (
                    package.rsplit(".", statement.level - 1)[0] if statement.level > 1 else package
                )
                source = f"{base}.{source}"
            for alias in statement.names:
                names[alias.asname or alias.name] = f"{source}.{alias.name}"
    return names


def _sql_text(node: ast.expr, constants: Mapping[str, str]) -> tuple[str | None, bool]:
    """The SQL an argument holds as far as the source tells (literals, module-level constants,
    the literal parts of f-strings and concatenations), and whether that is all of it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id], True
    if isinstance(node, ast.JoinedStr):
        parts = [value.value if isinstance(value, ast.Constant) else " ? " for value in node.values]
        return "".join(str(part) for part in parts), False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, left_complete = _sql_text(node.left, constants)
        right, right_complete = _sql_text(node.right, constants)
        if left is None and right is None:
            return None, False
        return f"{left or ' ? '}{right or ' ? '}", left_complete and right_complete
    return None, False


def _shorten(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
