"""`manage.py extract_context <app>`: generate a standalone DRF service for one context."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from django.apps import apps as registry
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.seams import scaffold


class Command(BaseCommand):
    help = (
        "Generate a standalone DRF service for one context (app) of this project, in the one "
        "shape the kit drives: settings from the kit's blocks and the environment "
        "(<NAME>_DATABASE_URL, the shared control database), manage.py, the context's models "
        "(relations to other contexts become plain id columns), migrations, the monolith's "
        "serializers and read views at the same paths (writes refused until cutover), inbox "
        "handlers for the context's state-transfer events, STRANGLER_SYNC and "
        "STRANGLER_OWNERSHIP for reconcile and cutover, and tests. The service is written "
        "aside, checked (manage.py check, makemigrations, the project's ruff when it has one) "
        "and moved into place only then."
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
            "--force",
            action="store_true",
            help="Replace the service's folders (and its tests folder) if they exist; the old "
            "ones are swapped out only once the new service passed its checks.",
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
            existing = scaffold.existing_targets(plan)
            if existing and not options["force"]:
                listed = "\n  ".join(str(p) for p in existing[:20])
                raise CommandError(
                    f"{len(existing)} file(s) already exist; nothing was written. Use --force "
                    f"to replace the service's folders:\n  {listed}"
                )
            self.stderr.write(f"reading {config.name} (models, routes, OpenAPI, event schemas)")
            source = scaffold.read_context(config, registry.get_app_configs())
            files = scaffold.generate(source, plan)
            written = scaffold.write_service(
                files,
                plan,
                lint_config=_ruff_config(project_root),
                make_migrations=not options["no_migrations"],
                extra_path=[project_root],
                log=self.stderr.write,
            )
        except scaffold.ScaffoldError as exc:
            raise CommandError(f"{exc}\nNothing was written.") from exc
        self._report(plan, written)

    def _report(self, plan: scaffold.Plan, written: list[Path]) -> None:
        self.stdout.write(f"Wrote the {plan.name} service ({len(written)} files):")
        for path in written:
            self.stdout.write(f"  {_shown(path)}")
        if plan.notes:
            self.stdout.write("\nLeft for you (the generator could not carry these over):")
            for note in plan.notes:
                self.stdout.write(f"  - {note}")
        name = plan.env_prefix
        manage = _shown(plan.out / "manage.py")
        tests = _shown(plan.tests_dir)
        self.stdout.write(
            "\nNext steps:\n"
            f"  1. {name}_DATABASE_URL=postgres://... python {manage} migrate\n"
            f"  2. python {manage} setup_broker   (declares the service's queue)\n"
            f"  3. python {manage} consume_events (applies the monolith's events)\n"
            f"  4. backfill {plan.app}, then reconcile {plan.app} until drift is zero\n"
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


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
