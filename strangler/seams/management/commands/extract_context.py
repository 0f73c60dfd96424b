"""`manage.py extract_context <app>`: scaffold a standalone DRF service for one context."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from django.apps import apps as registry
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.seams import scaffold


class Command(BaseCommand):
    help = (
        "Generate a standalone DRF service for one context (app) of this project, in the shape of "
        "extracted/catalog/: settings from the environment (<NAME>_DATABASE_URL), manage.py, the "
        "context's models (relations to other contexts become plain id columns), migrations, the "
        "monolith's serializers and read views at the same paths (writes answer 409 while the "
        "monolith is the writer), inbox handlers for the context's state-transfer events, and "
        "tests of the API contract and the handlers. Refuses to overwrite files without --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app", help="Label of the context's app, e.g. customers.")
        parser.add_argument(
            "--to",
            metavar="DIR",
            help="Folder of the new service (default: BASE_DIR/extracted/<app>). Its last part "
            "names the service; inside BASE_DIR/extracted/ the tests go to "
            "BASE_DIR/tests/extracted/<name>/, elsewhere to DIR/tests/ with a pytest.ini.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Overwrite files that already exist."
        )
        parser.add_argument(
            "--no-migrations",
            action="store_true",
            help="Do not run makemigrations for the new service.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        label = options["app"]
        try:
            config = registry.get_app_config(label)
        except LookupError as exc:
            known = ", ".join(sorted(c.label for c in registry.get_app_configs()))
            raise CommandError(f"No installed app {label!r}. Installed: {known}.") from exc
        project_root = Path(settings.BASE_DIR).resolve()
        out = Path(options["to"] or project_root / "extracted" / label)
        try:
            plan = scaffold.plan_output(out.name, label, out, project_root)
            self.stderr.write(f"reading {config.name} (models, routes, OpenAPI, event schemas)")
            source = scaffold.read_context(config, registry.get_app_configs())
            files = scaffold.generate(source, plan)
            samples = _samples(files)
            scaffold.check_samples(samples, source.events)
        except scaffold.ScaffoldError as exc:
            raise CommandError(str(exc)) from exc
        existing = scaffold.existing_files(files)
        if existing and not options["force"]:
            listed = "\n  ".join(str(p) for p in existing[:20])
            raise CommandError(
                f"{len(existing)} file(s) already exist; nothing was written. Use --force to "
                f"overwrite them:\n  {listed}"
            )
        scaffold.write_files(files)
        python_files = [f.path for f in files if f.path.suffix == ".py"]
        lint_config = _ruff_config(project_root)
        try:
            if lint_config is not None:
                self.stderr.write(f"formatting with ruff ({_shown(lint_config)})")
                scaffold.ruff_files(python_files, project_root, lint_config)
            if not options["no_migrations"]:
                self.stderr.write("making the service's migrations")
                migration = self._make_migrations(plan)
                if migration and lint_config is not None:
                    # Migrations are generated code too: the same style as the rest.
                    scaffold.ruff_files([migration], project_root, lint_config)
        except scaffold.ScaffoldError as exc:
            raise CommandError(str(exc)) from exc
        self._report(plan, files)

    def _make_migrations(self, plan: scaffold.Plan) -> Path | None:
        migrations = plan.out / plan.app / "migrations"
        before = set(migrations.glob("0*.py"))
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"{plan.package}.config.settings"}
        env.pop("DATABASE_URL", None)
        env[f"{plan.name.upper()}_DATABASE_URL"] = "sqlite://:memory:"
        scaffold.run_tool(
            [sys.executable, str(plan.out / "manage.py"), "makemigrations", plan.app],
            plan.out,
            env,
        )
        created = sorted(set(migrations.glob("0*.py")) - before)
        return created[0] if created else None

    def _report(self, plan: scaffold.Plan, files: list[scaffold.GeneratedFile]) -> None:
        migrations = sorted((plan.out / plan.app / "migrations").glob("0*.py"))
        written = [f.path for f in files] + migrations
        self.stdout.write(f"Wrote the {plan.name} service ({len(written)} files):")
        for path in written:
            self.stdout.write(f"  {_shown(path)}")
        if plan.notes:
            self.stdout.write("\nLeft for you (the generator could not carry these over):")
            for note in plan.notes:
                self.stdout.write(f"  - {note}")
        name = plan.name.upper()
        manage = _shown(plan.out / "manage.py")
        tests = _shown(plan.tests_dir)
        self.stdout.write(
            "\nNext steps:\n"
            f"  1. {name}_DATABASE_URL=postgres://... python {manage} migrate\n"
            f"  2. python {manage} setup_broker   (declares the service's queue)\n"
            f"  3. python {manage} consume_events (applies the monolith's events)\n"
            f"  4. backfill existing rows, then reconcile until drift is zero\n"
            f"  5. python -m pytest {tests}"
            + (
                " (from the service folder: pytest.ini is there)"
                if plan.out in plan.tests_dir.parents
                else ""
            )
            + "\n"
            "  6. shadow reads through the gateway; port the write services before cutover\n"
        )


def _ruff_config(project_root: Path) -> Path | None:
    """The project's own ruff configuration, when it has one and ruff is installed."""
    if importlib.util.find_spec("ruff") is None:
        return None
    for name in ("ruff.toml", ".ruff.toml", "pyproject.toml"):
        candidate = project_root / name
        if candidate.is_file() and (name != "pyproject.toml" or "[tool.ruff" in _text(candidate)):
            return candidate
    return None


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _samples(files: list[scaffold.GeneratedFile]) -> dict[str, Any]:
    import json

    for generated in files:
        if generated.path.name == "event_samples.json":
            return json.loads(generated.content)
    return {}


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
