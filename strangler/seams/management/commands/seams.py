"""`manage.py seams`: report what couples the project's bounded contexts (apps), or with
`--bypass`, every write that changes a context's tables without recording an event."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.apps import apps as registry
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.inbox.conf import inbox_settings
from strangler.seams import rendering
from strangler.seams.analysis import SeamsError, analyse, model_graph_from_registry
from strangler.seams.bypass import bypass_report, holding_package, project_modules
from strangler.seams.conf import seams_settings
from strangler.seams.discovery import (
    included_app_labels,
    is_installed_code,
    own_app_labels,
    unknown_names,
)
from strangler.sync.conf import SyncConfigurationError, sync_settings

FORMATS = ("table", "json", "mermaid", "dot", "png", "svg")
BYPASS_FORMATS = ("table", "json")


class Command(BaseCommand):
    help = (
        "Analyse the project's apps (bounded contexts) and report what couples them: relations "
        "between models of different apps (FK, one-to-one, many-to-many), imports across app "
        "packages, ORM lookups that traverse a relation into another app, and signal receivers "
        "connected to another app's models. Prints a coupling score per context and a suggested "
        "extraction order (least coupled first), with every edge's file and line. Output as a "
        "table (default), JSON, a Mermaid or Graphviz diagram, or PNG/SVG when Graphviz is "
        "installed. With --bypass, lists instead every write in the project's code that changes "
        "a tracked model's table without recording an event in the outbox (queryset update and "
        "delete, bulk_create/bulk_update, raw SQL, admin actions, save/delete/create outside the "
        "context's services)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apps",
            nargs="+",
            metavar="LABEL",
            help="App labels to analyse (default: STRANGLER_SEAMS['APPS'], else the project's "
            "own apps: installed apps whose code lies under BASE_DIR outside site-packages, not "
            "Django's or the kit's). --include adds to either.",
        )
        parser.add_argument(
            "--include",
            nargs="+",
            default=[],
            metavar="NAME",
            help="Installed third-party apps to analyse too, by label or package ('oscar' "
            "brings every app nested in the oscar package); added to STRANGLER_SEAMS['INCLUDE'].",
        )
        parser.add_argument(
            "--ignore",
            nargs="+",
            default=[],
            metavar="LABEL",
            help="App labels to leave out (added to STRANGLER_SEAMS['IGNORE']).",
        )
        parser.add_argument(
            "--bypass",
            action="store_true",
            help="Report the writes that bypass the outbox instead of the couplings: tracked "
            "models are those of the analysed apps and of STRANGLER_SYNC['CONTEXTS']; the inbox "
            "handlers (STRANGLER_INBOX['HANDLERS']), migrations and tests are not read.",
        )
        parser.add_argument(
            "--fail-on-bypass",
            action="store_true",
            help="With --bypass (implied): exit with status 1 when any write bypasses the "
            "outbox, for CI.",
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default="table",
            help="Output format (default: table; --bypass: table or json).",
        )
        parser.add_argument("--json", action="store_true", help="Same as --format json.")
        parser.add_argument(
            "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        conf = seams_settings()
        output_format = "json" if options["json"] else options["format"]
        bypass = options["bypass"] or options["fail_on_bypass"]
        configs = list(registry.get_app_configs())
        labels = {config.label for config in configs}
        unknown = sorted((set(options["apps"] or []) | set(options["ignore"])) - labels)
        unknown += unknown_names(configs, options["include"])
        if unknown:
            raise CommandError(
                f"Unknown app label(s): {', '.join(unknown)}. "
                f"Installed: {', '.join(sorted(labels))}."
            )
        root = Path(getattr(settings, "BASE_DIR", Path.cwd()))
        apps = list(options["apps"] or conf.apps or own_app_labels(configs, root, _settings()))
        for label in included_app_labels(configs, [*conf.include, *options["include"]]):
            if label not in apps:
                apps.append(label)
        ignored = set(conf.ignore) | set(options["ignore"])
        apps = [app for app in apps if app not in ignored]
        graph = model_graph_from_registry(configs)
        if bypass:
            text = self._bypass(graph, apps, root, conf.skip_dirs, output_format, options)
        else:
            text = self._seams(graph, apps, root, conf, output_format, options)
        if text is None:
            return
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")

    def _seams(
        self, graph: Any, apps: list[str], root: Path, conf: Any, fmt: str, options: Any
    ) -> str | None:
        if len(apps) < 2:
            raise CommandError(
                f"Need at least two apps to find seams between, got {apps or 'none'}; "
                "name them with --apps, or add installed ones with --include."
            )
        try:
            report = analyse(graph, apps, root, conf.weights, conf.skip_dirs)
        except SeamsError as exc:
            raise CommandError(str(exc)) from exc
        if fmt in {"png", "svg"}:
            if not options["output"]:
                raise CommandError(f"--format {fmt} writes a file: add --output FILE.")
            try:
                image = rendering.render_image(rendering.render_dot(report), fmt)
            except rendering.RenderError as exc:
                raise CommandError(str(exc)) from exc
            Path(options["output"]).write_bytes(image)
            self.stderr.write(f"wrote {options['output']} ({len(image)} bytes)")
            return None
        renderers = {
            "table": rendering.render_table,
            "json": rendering.render_json,
            "mermaid": rendering.render_mermaid,
            "dot": rendering.render_dot,
        }
        return renderers[fmt](report)

    def _bypass(
        self,
        graph: Any,
        apps: list[str],
        root: Path,
        skip_dirs: tuple[str, ...],
        fmt: str,
        options: Any,
    ) -> str | None:
        if fmt not in BYPASS_FORMATS:
            raise CommandError(f"--bypass prints a table or JSON, not {fmt}.")
        if not apps:
            raise CommandError("No app to read; name them with --apps or --include.")
        try:
            synced = [spec.model_label for spec in sync_settings().aggregates]
        except SyncConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        tracked = {label for label, model in graph.models.items() if model.app in apps}
        for label in synced:
            model = graph.model_by_label(label)
            if model is None:
                raise CommandError(f"STRANGLER_SYNC names model {label!r}, which is not installed.")
            tracked.add(model.label)
        packages = [holding_package(graph, apps), _settings_package(root)]
        modules = project_modules(graph, apps, [p for p in packages if p], skip_dirs)
        handlers_path = inbox_settings().handlers_path
        handlers = [handlers_path] if handlers_path else []
        try:
            report = bypass_report(graph, modules, tracked, root, handlers)
        except SeamsError as exc:
            raise CommandError(str(exc)) from exc
        text = (
            rendering.render_bypass_json(report)
            if fmt == "json"
            else rendering.render_bypass_table(report)
        )
        if options["fail_on_bypass"] and report.bypasses:
            if options["output"]:
                Path(options["output"]).write_text(text, encoding="utf-8")
            else:
                self.stdout.write(text, ending="")
            raise CommandError(f"{len(report.bypasses)} write(s) bypass the outbox.")
        return text


def _settings() -> str:
    return str(settings.SETTINGS_MODULE or "")


def _settings_package(root: Path) -> tuple[str, Path] | None:
    """The package holding the settings module (`mysite` of a startproject project), when it is
    the project's own code."""
    package = _settings().rpartition(".")[0]
    module = sys.modules.get(package)
    file = getattr(module, "__file__", None)
    if not package or file is None:
        return None
    folder = Path(file).parent
    if is_installed_code(folder) or not folder.resolve().is_relative_to(root.resolve()):
        return None
    return package, folder
