"""Query-string filter pieces shared by the contexts' list endpoints."""

from __future__ import annotations

import django_filters

_TRUE = ("true", "1")
_BOOLEAN_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """A true/false filter that rejects anything else with a 400 instead of ignoring it."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("choices", _BOOLEAN_CHOICES)
        kwargs.setdefault("coerce", lambda value: value.lower() in _TRUE)
        super().__init__(*args, **kwargs)
