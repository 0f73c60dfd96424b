"""Generate a standalone DRF service for one context of the monolith (`manage.py extract_context`).

The service has the one shape the kit drives (extracted/catalog/ in the reference project):
settings built from strangler.settings_blocks, the kit's URLs, the context's models (relations
to other contexts become plain id columns), migrations, the monolith's serializers and read
views (writes refused until cutover), inbox handlers for the context's state-transfer events,
and tests of the API contract and the handlers.

One job per module: `source` reads the context, `plan` decides the paths, `model_code` and
`handler_code` render models and handlers, `transplant` carries the monolith's modules over,
`project_files` renders settings, URLs and tests from `templates`, `service` puts the files
together, and `writing` stages, checks and moves them into place atomically.
"""

from __future__ import annotations

from strangler.seams.scaffold.plan import GeneratedFile, Plan, ScaffoldError, plan_output
from strangler.seams.scaffold.service import generate
from strangler.seams.scaffold.source import ContextSource, read_context
from strangler.seams.scaffold.writing import existing_targets, write_service

__all__ = [
    "ContextSource",
    "GeneratedFile",
    "Plan",
    "ScaffoldError",
    "existing_targets",
    "generate",
    "plan_output",
    "read_context",
    "write_service",
]
