"""Modules of the context carried over from the monolith's source, imports renamed.

The monolith's text is kept as written (comments, formatting): only import statements are
replaced, and in apis.py the write methods' bodies and the write-only members are cut. Modules
of the monolith outside any context (a shared kernel such as `monolith.common`) are copied into
the service (`plan.vendored`): the service never imports the monolith.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.apps import AppConfig

from strangler.seams.scaffold.plan import GeneratedFile, Plan, ScaffoldError
from strangler.seams.scaffold.source import contract_roots

WRITE_METHODS = ("post", "put", "patch", "delete")
# Packages a generated service may import from besides its own (and the contract packages).
ALLOWED_IMPORTS = (
    "__future__",
    "django",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "strangler",
)
LINE_LENGTH = 99


@dataclass(frozen=True)
class Edit:
    """Replace lines first..last (1-based, inclusive) of a module by `lines`."""

    first: int
    last: int
    lines: tuple[str, ...]


def apply_edits(text: str, edits: list[Edit]) -> str:
    """The text with every edit applied (edits do not overlap)."""
    lines = text.splitlines()
    for edit in sorted(edits, key=lambda e: e.first, reverse=True):
        lines[edit.first - 1 : edit.last] = list(edit.lines)
    return _tidy_blank_lines("\n".join(lines)) + "\n"


def _tidy_blank_lines(text: str) -> str:
    """At most two blank lines in a row, none at the end (what cutting statements leaves)."""
    return re.sub(r"\n{4,}", "\n\n\n", text).rstrip("\n")


def first_line(node: ast.stmt) -> int:
    """The statement's first line, its decorators included."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def render_import(module: str | None, names: list[str], *, indent: str = "") -> list[str]:
    """`from module import a, b` (or `import a`), wrapped in parentheses when too long."""
    if module is None:
        return [f"{indent}import {name}" for name in names]
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [
        f"{indent}from {module} import (",
        *(f"{indent}    {name}," for name in names),
        f"{indent})",
    ]


def _alias_text(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


class Renamer:
    """Renames the context's imports into the service's package; drops other contexts'."""

    def __init__(self, config: AppConfig, plan: Plan, others: Mapping[str, str]) -> None:
        self.own = config.name
        self.root = config.name.rsplit(".", 1)[0]
        self.plan = plan
        self.others = others

    def module(self, module: str) -> str | None:
        """The module's name inside the service; None when it cannot travel."""
        if module == self.own or module.startswith(self.own + "."):
            return self.plan.app_package + module[len(self.own) :]
        if any(module == o or module.startswith(o + ".") for o in self.others):
            return None
        allowed = (*ALLOWED_IMPORTS, *contract_roots(), self.root.split(".")[0])
        top = module.split(".")[0]
        if top not in allowed and top not in sys.stdlib_module_names:
            return None
        if module.startswith(self.root + "."):
            self.plan.vendored.add(module)
            return self.plan.package + module[len(self.root) :]
        return module

    def statement(self, node: ast.Import | ast.ImportFrom) -> list[str] | None:
        """The import statement's lines in the service; None when it is dropped."""
        indent = " " * node.col_offset
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise ScaffoldError(f"relative imports are not supported: {ast.unparse(node)}")
            renamed = self.module(node.module or "")
            if renamed is None:
                return None
            return render_import(renamed, [_alias_text(a) for a in node.names], indent=indent)
        lines = []
        for alias in node.names:
            renamed = self.module(alias.name)
            if renamed is None:
                return None
            lines += render_import(
                None, [f"{renamed} as {alias.asname}" if alias.asname else renamed], indent=indent
            )
        return lines


def import_edits(
    tree: ast.Module, renamer: Renamer, dropped: list[str]
) -> tuple[list[Edit], set[str]]:
    """Edits that rename or drop the module's top-level imports; and the names dropped."""
    edits, dropped_names = [], set()
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        lines = renamer.statement(node)
        if lines is None:
            dropped.append(ast.unparse(node))
            dropped_names.update((a.asname or a.name).split(".")[0] for a in node.names)
            lines = []
        edits.append(Edit(node.lineno, node.end_lineno or node.lineno, tuple(lines)))
    return edits, dropped_names


def drop_unused_imports(text: str) -> str:
    """Remove imported names the module no longer uses (after write code was cut)."""
    tree = ast.parse(text)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    edits = []
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ):
            continue
        kept = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
        if len(kept) == len(node.names):
            continue
        if isinstance(node, ast.ImportFrom):
            lines = render_import(node.module, [_alias_text(a) for a in kept]) if kept else []
        else:
            lines = [line for a in kept for line in render_import(None, [_alias_text(a)])]
        edits.append(Edit(node.lineno, node.end_lineno or node.lineno, tuple(lines)))
    return apply_edits(text, edits) if edits else text


def transplant_module(
    source_text: str, config: AppConfig, plan: Plan, others: Mapping[str, str]
) -> tuple[str, list[str]]:
    """A module of the context (selectors, filters, urls, events) with its imports renamed."""
    tree = ast.parse(source_text)
    dropped: list[str] = []
    edits, _ = import_edits(tree, Renamer(config, plan, others), dropped)
    return apply_edits(source_text, edits), dropped


def transplant_apis(
    source_text: str, config: AppConfig, plan: Plan, others: Mapping[str, str]
) -> tuple[str, list[str]]:
    """apis.py: the monolith's serializers (fields only) and views (reads kept, writes refused)."""
    tree = ast.parse(source_text)
    notes: list[str] = []
    dropped: list[str] = []
    edits, foreign_names = import_edits(tree, Renamer(config, plan, others), dropped)
    notes.extend(f"apis.py: dropped `{line}` (another context)" for line in dropped)
    docstring = (
        '"""HTTP API of the service: the monolith\'s contract for the context.',
        "",
        "Generated by `manage.py extract_context` from the monolith's apis.py: the same",
        "serializers and read views; every write is refused while the monolith is the writer",
        "(see services.py).",
        '"""',
    )
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        edits.append(Edit(body[0].lineno, body[0].end_lineno or body[0].lineno, docstring))
    else:
        edits.append(Edit(1, 0, (*docstring, "")))
    last_import = max(
        (n.end_lineno or n.lineno for n in body if isinstance(n, ast.Import | ast.ImportFrom)),
        default=0,
    )
    refusal = render_import(f"{plan.app_package}.services", ["write_refused"])
    edits.append(Edit(last_import + 1, last_import, tuple(refusal)))
    for node in body:
        if not isinstance(node, ast.ClassDef):
            continue
        if any(ast.unparse(base).endswith("Serializer") for base in node.bases):
            edits += _serializer_fields_only(node, foreign_names, notes)
        elif _reads_use(node, foreign_names):
            # A helper class (a related field, a permission) built on another context.
            notes.append(f"apis.py: {node.name} left in the monolith (uses another context)")
            edits.append(Edit(first_line(node), node.end_lineno or 0, ()))
        else:
            edits += _view_reads_only(node, notes)
    text = apply_edits(source_text, edits)
    return drop_unused_imports(text), notes


def _serializer_fields_only(
    node: ast.ClassDef, foreign_names: set[str], notes: list[str]
) -> list[Edit]:
    edits = []
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            # Validation and conversion of writes: they travel with the write services.
            notes.append(f"apis.py: {node.name}.{statement.name}() left in the monolith (writes)")
            edits.append(Edit(first_line(statement), statement.end_lineno or 0, ()))
        elif isinstance(statement, ast.Assign) and _uses(statement.value, foreign_names):
            target = ast.unparse(statement.targets[0])
            notes.append(
                f"apis.py: {node.name}.{target} refers to another context's model; it is a "
                "plain IntegerField here"
            )
            keywords = []
            if isinstance(statement.value, ast.Call):
                keywords = [
                    ast.unparse(k)
                    for k in statement.value.keywords
                    if k.arg in {"allow_null", "default", "required"}
                ]
            indent = " " * statement.col_offset
            line = f"{indent}{target} = serializers.IntegerField({', '.join(keywords)})"
            edits.append(Edit(statement.lineno, statement.end_lineno or 0, (line,)))
    if len([e for e in edits if not e.lines]) == len(node.body):
        edits.append(
            Edit(node.body[-1].end_lineno or 0, node.body[-1].end_lineno or 0, ("    pass",))
        )
    return edits


def _reads_use(node: ast.ClassDef, names: set[str]) -> bool:
    """Whether the class uses `names` outside its write methods (which are cut anyway)."""
    kept = [
        s for s in node.body if not (isinstance(s, ast.FunctionDef) and s.name in WRITE_METHODS)
    ]
    return any(_uses(part, names) for part in [*node.bases, *kept])


def _uses(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _view_reads_only(node: ast.ClassDef, notes: list[str]) -> list[Edit]:
    edits = []
    kept: list[ast.stmt] = []
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef) and statement.name in WRITE_METHODS:
            edits.append(_refusal(node.name, statement))
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
    for statement in kept:
        private = isinstance(statement, ast.FunctionDef) and statement.name.startswith("_")
        if private and statement.name not in used and not statement.name.startswith("__"):
            notes.append(f"apis.py: {node.name}.{statement.name}() left in the monolith (writes)")
            edits.append(Edit(first_line(statement), statement.end_lineno or 0, ()))
    return edits


def _refusal(view: str, method: ast.FunctionDef) -> Edit:
    """The write method's body replaced by the refusal (its signature and docstring kept)."""
    body = method.body
    keep = body[1:] if _is_docstring(body[0]) else body
    if not keep or keep[0].lineno == method.lineno:
        raise ScaffoldError(f"{view}.{method.name}: put the method's body on its own lines.")
    indent = " " * keep[0].col_offset
    line = f"{indent}raise write_refused({f'{view}.{method.name}'!r})".replace("'", '"')
    return Edit(keep[0].lineno, method.end_lineno or 0, (line,))


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def vendored_files(config: AppConfig, plan: Plan, others: Mapping[str, str]) -> list[GeneratedFile]:
    """Copies of the shared monolith modules the context's modules import (and theirs)."""
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
        text, dropped = transplant_module(
            Path(module.__file__ or "").read_text(encoding="utf-8"), config, plan, others
        )
        plan.notes.extend(f"{module_name}: dropped `{line}` (another context)" for line in dropped)
        files.append(GeneratedFile(target, text))
        for depth in range(1, len(relative)):
            package_init = plan.out.joinpath(*relative[:depth], "__init__.py")
            if all(f.path != package_init for f in files):
                files.append(
                    GeneratedFile(package_init, f'"""Copied from {root}.{relative[0]}."""\n')
                )
    return files
