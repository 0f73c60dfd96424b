"""Every file of a generated service, in memory: the composition of the other modules."""

from __future__ import annotations

from pathlib import Path

from strangler.seams.scaffold.handler_code import render_handlers
from strangler.seams.scaffold.model_code import render_models
from strangler.seams.scaffold.plan import GeneratedFile, Plan, ScaffoldError
from strangler.seams.scaffold.project_files import project_files, sync_aggregates, test_files
from strangler.seams.scaffold.samples import check_samples
from strangler.seams.scaffold.source import ContextSource
from strangler.seams.scaffold.transplant import transplant_apis, transplant_module, vendored_files

# Modules of the context carried over as written (imports renamed).
TRANSPLANTED = ("selectors", "filters", "events", "urls")


def generate(source: ContextSource, plan: Plan) -> list[GeneratedFile]:
    """Every file of the service (nothing is written here)."""
    config = source.app_config
    app_dir = plan.out / plan.app
    models_text, renamed = render_models(source, plan)
    handlers_text, samples, models_of = render_handlers(source, plan, renamed)
    check_samples(samples, source.events)
    if not source.events:
        plan.notes.append(
            f"no state-transfer events of {config.label} in the contract packages "
            "(STRANGLER_CONTRACTS)"
        )
    sync = sync_aggregates(source, plan, models_of, samples)
    files = project_files(source, plan, sorted(samples), sync)
    files += [
        GeneratedFile(app_dir / "models.py", models_text),
        GeneratedFile(app_dir / "handlers.py", handlers_text),
    ]
    app_path = Path(config.path)
    for module in TRANSPLANTED:
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
    files.extend(vendored_files(config, plan, source.other_packages))
    files.extend(test_files(source, plan, samples))
    return files
