"""Settings of strangler.autopilot (STRANGLER_AUTOPILOT), with their defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The plans, {context: plan}, or the path of a YAML file holding that mapping
    # (docs/howto/migrate-by-plan.md describes a plan's phases and gates).
    "PLANS": {},
    # Seconds between two evaluations of `autopilot run`.
    "INTERVAL": 5.0,
    # Seconds a controller holds a run without renewing its lease; another controller takes the
    # run over only after that (a crashed controller is replaced within this bound).
    "LEASE_SECONDS": 30.0,
    # Base URL of the gateway: its /metrics feed the canary gates, and with the gateway's token
    # (STRANGLER_GATEWAY['REGISTRATION_TOKEN']) a route change is applied at once by
    # POST /_gateway/reload instead of at its next RELOAD_INTERVAL.
    "GATEWAY_URL": "",
    # Seconds the rollback of writes may take to drain before it is tried again (the drain
    # timeout of the cutover back to the monolith).
    "ROLLBACK_TIMEOUT": 120.0,
    # Seconds a probe (a read sent to both sides during canary) may take.
    "PROBE_TIMEOUT": 5.0,
}


class AutopilotConfigurationError(RuntimeError):
    """STRANGLER_AUTOPILOT cannot be used as configured; the message says what to change."""


@dataclass(frozen=True)
class AutopilotSettings:
    plans: dict[str, Any] | str
    interval: float
    lease_seconds: float
    gateway_url: str
    rollback_timeout: float
    probe_timeout: float

    def raw_plans(self) -> dict[str, Any]:
        """The plans mapping, read from its YAML file when PLANS names one."""
        if isinstance(self.plans, dict):
            return self.plans
        import yaml

        path = Path(self.plans)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise AutopilotConfigurationError(
                f"STRANGLER_AUTOPILOT['PLANS'] names {path}, which cannot be read: {exc.strerror}"
            ) from exc
        except yaml.YAMLError as exc:
            raise AutopilotConfigurationError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise AutopilotConfigurationError(f"{path} must hold a mapping {{context: plan}}.")
        return data


def configured() -> dict[str, Any]:
    return dict(getattr(settings, "STRANGLER_AUTOPILOT", {}) or {})


def autopilot_settings() -> AutopilotSettings:
    """STRANGLER_AUTOPILOT merged over DEFAULTS."""
    values = {**DEFAULTS, **configured()}
    plans = values["PLANS"]
    return AutopilotSettings(
        plans=dict(plans) if isinstance(plans, dict) else str(plans),
        interval=float(values["INTERVAL"]),
        lease_seconds=float(values["LEASE_SECONDS"]),
        gateway_url=str(values["GATEWAY_URL"]).rstrip("/"),
        rollback_timeout=float(values["ROLLBACK_TIMEOUT"]),
        probe_timeout=float(values["PROBE_TIMEOUT"]),
    )
