"""Settings of strangler.sagas (STRANGLER_SAGAS): the saga types an orchestrator runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # {saga type: {...}}: the sagas this side orchestrates. Each: "context" (the context whose
    # answer the saga waits for, e.g. "inventory": migration_status shows the saga under it),
    # "timeout" (seconds the answer may take before `expire_sagas` gives up) and "on_timeout"
    # (dotted path of a function called with the saga, in the transaction that ends it: the
    # compensation, e.g. reject the order and ask the participant to undo what it did late).
    "TYPES": {},
    # Waiting sagas `expire_sagas` ends per transaction batch.
    "EXPIRE_BATCH_SIZE": 100,
}


class SagaConfigurationError(RuntimeError):
    """STRANGLER_SAGAS cannot be used as configured; the message says what to change."""


@dataclass(frozen=True)
class SagaType:
    """One kind of saga: whose answer it waits for, how long, and what ends it on timeout."""

    name: str
    context: str
    timeout: float
    on_timeout_path: str

    def on_timeout(self) -> Callable[[Any], None]:
        try:
            return import_string(self.on_timeout_path)
        except ImportError as exc:
            raise SagaConfigurationError(
                f"STRANGLER_SAGAS['TYPES'][{self.name!r}]['on_timeout'] "
                f"{self.on_timeout_path!r} cannot be imported: {exc}"
            ) from exc


@dataclass(frozen=True)
class SagaSettings:
    types: Mapping[str, SagaType]
    expire_batch_size: int

    def type(self, name: str) -> SagaType:
        try:
            return self.types[name]
        except KeyError:
            raise SagaConfigurationError(
                f"unknown saga type {name!r}; STRANGLER_SAGAS['TYPES'] lists: "
                f"{', '.join(sorted(self.types)) or 'nothing'}."
            ) from None


def parse_type(name: str, raw: Any) -> SagaType:
    """One STRANGLER_SAGAS['TYPES'] entry; SagaConfigurationError names what is wrong."""
    where = f"STRANGLER_SAGAS['TYPES'][{name!r}]"
    if not isinstance(raw, Mapping):
        raise SagaConfigurationError(f"{where} must be a dict.")
    unknown = set(raw) - {"context", "timeout", "on_timeout"}
    if unknown:
        raise SagaConfigurationError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
            "known: context, timeout, on_timeout."
        )
    for key in ("context", "timeout", "on_timeout"):
        if raw.get(key) in (None, ""):
            raise SagaConfigurationError(f"{where} needs {key!r}.")
    timeout = raw["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise SagaConfigurationError(f"{where}['timeout'] must be a positive number of seconds.")
    return SagaType(
        name=name,
        context=str(raw["context"]),
        timeout=float(timeout),
        on_timeout_path=str(raw["on_timeout"]),
    )


def saga_settings() -> SagaSettings:
    """STRANGLER_SAGAS merged over DEFAULTS; raises SagaConfigurationError when unusable."""
    configured = getattr(settings, "STRANGLER_SAGAS", {}) or {}
    if not isinstance(configured, Mapping):
        raise SagaConfigurationError("STRANGLER_SAGAS must be a dict.")
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        raise SagaConfigurationError(
            f"unknown STRANGLER_SAGAS setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(DEFAULTS))}."
        )
    values = {**DEFAULTS, **configured}
    types = values["TYPES"]
    if not isinstance(types, Mapping):
        raise SagaConfigurationError("STRANGLER_SAGAS['TYPES'] must be a dict of dicts.")
    batch = values["EXPIRE_BATCH_SIZE"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise SagaConfigurationError("STRANGLER_SAGAS['EXPIRE_BATCH_SIZE'] must be positive.")
    return SagaSettings(
        types={str(name): parse_type(str(name), raw) for name, raw in types.items()},
        expire_batch_size=batch,
    )
