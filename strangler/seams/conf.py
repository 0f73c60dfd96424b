"""Settings of strangler.seams (STRANGLER_SEAMS), with their defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

# Weight of one edge of each kind in a context's coupling score. A relation in the schema is the
# hardest seam to cut (data has to move and ids become plain columns); an ORM traversal or a
# signal receiver is behaviour that must be rewritten against events or an API; an import is the
# cheapest to replace.
DEFAULT_WEIGHTS = {
    "foreign_key": 5,
    "one_to_one": 5,
    "many_to_many": 5,
    "orm": 3,
    "signal": 3,
    "import": 1,
}

DEFAULTS = {
    # App labels to analyse; None means the project's own apps (read from the app registry: apps
    # whose code lies under BASE_DIR outside site-packages, or under the settings module's
    # top-level package; never Django's or the kit's). INCLUDE adds to either.
    "APPS": None,
    # Installed third-party apps analysed as well, by label or package ("oscar" brings every app
    # nested in the oscar package).
    "INCLUDE": [],
    # App labels never analysed (shared kernels, admin helpers...).
    "IGNORE": [],
    # Per-kind edge weights, merged over DEFAULT_WEIGHTS.
    "WEIGHTS": {},
    # Directory names skipped when reading an app's source.
    "SKIP_DIRS": ["migrations", "__pycache__", "tests"],
}


@dataclass(frozen=True)
class SeamsSettings:
    apps: tuple[str, ...] | None
    include: tuple[str, ...]
    ignore: tuple[str, ...]
    weights: dict[str, int]
    skip_dirs: tuple[str, ...]


def seams_settings() -> SeamsSettings:
    """STRANGLER_SEAMS merged over DEFAULTS."""
    values = {**DEFAULTS, **dict(getattr(settings, "STRANGLER_SEAMS", {}))}
    apps = values["APPS"]
    return SeamsSettings(
        apps=None if apps is None else tuple(apps),
        include=tuple(values["INCLUDE"]),
        ignore=tuple(values["IGNORE"]),
        weights={**DEFAULT_WEIGHTS, **dict(values["WEIGHTS"])},
        skip_dirs=tuple(values["SKIP_DIRS"]),
    )
