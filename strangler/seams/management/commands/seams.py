"""`manage.py seams`: report what couples the project's bounded contexts (apps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.apps import apps as registry
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.seams import rendering
from strangler.seams.analysis import SeamsError, analyse, model_graph_from_registry
from strangler.seams.conf import seams_settings

FORMATS = ("table", "json", "mermaid", "dot", "png", "svg")


def project_apps() -> list[str]:
    """Labels of installed apps under the settings module's top-level package."""
    top = settings.SETTINGS_MODULE.split(".")[0]
    return [
        config.label
        for config in registry.get_app_configs()
        if config.name == top or config.name.startswith(top + ".")
    ]


class Command(BaseCommand):
    help = (
        "Analyse the project's apps (bounded contexts) and report what couples them: relations "
        "between models of different apps (FK, one-to-one, many-to-many), imports across app "
        "packages, ORM lookups that traverse a relation into another app, and signal receivers "
        "connected to another app's models. Prints a coupling score per context and a suggested "
        "extraction order (least coupled first), with every edge's file and line. Output as a "
        "table (default), JSON, a Mermaid or Graphviz diagram, or PNG/SVG when Graphviz is "
        "installed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apps",
            nargs="+",
            metavar="LABEL",
            help="App labels to analyse (default: STRANGLER_SEAMS['APPS'], else the project's "
            "own apps, those under the settings module's top-level package).",
        )
        parser.add_argument(
            "--ignore",
            nargs="+",
            default=[],
            metavar="LABEL",
            help="App labels to leave out (added to STRANGLER_SEAMS['IGNORE']).",
        )
        parser.add_argument(
            "--format", choices=FORMATS, default="table", help="Output format (default: table)."
        )
        parser.add_argument("--json", action="store_true", help="Same as --format json.")
        parser.add_argument(
            "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        conf = seams_settings()
        output_format = "json" if options["json"] else options["format"]
        labels = {config.label for config in registry.get_app_configs()}
        apps = list(options["apps"] or conf.apps or project_apps())
        ignored = set(conf.ignore) | set(options["ignore"])
        unknown = sorted((set(apps) | set(options["ignore"])) - labels)
        if unknown:
            raise CommandError(
                f"Unknown app label(s): {', '.join(unknown)}. "
                f"Installed: {', '.join(sorted(labels))}."
            )
        apps = [app for app in apps if app not in ignored]
        if len(apps) < 2:
            raise CommandError(
                f"Need at least two apps to find seams between, got {apps or 'none'}; "
                "name them with --apps."
            )
        root = Path(getattr(settings, "BASE_DIR", Path.cwd()))
        graph = model_graph_from_registry(registry.get_app_configs())
        try:
            report = analyse(graph, apps, root, conf.weights, conf.skip_dirs)
        except SeamsError as exc:
            raise CommandError(str(exc)) from exc

        if output_format in {"png", "svg"}:
            if not options["output"]:
                raise CommandError(f"--format {output_format} writes a file: add --output FILE.")
            try:
                image = rendering.render_image(rendering.render_dot(report), output_format)
            except rendering.RenderError as exc:
                raise CommandError(str(exc)) from exc
            Path(options["output"]).write_bytes(image)
            self.stderr.write(f"wrote {options['output']} ({len(image)} bytes)")
            return
        renderers = {
            "table": rendering.render_table,
            "json": rendering.render_json,
            "mermaid": rendering.render_mermaid,
            "dot": rendering.render_dot,
        }
        text = renderers[output_format](report)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {options['output']} ({len(report.edges)} edges)")
        else:
            self.stdout.write(text, ending="")
