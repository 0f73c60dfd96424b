"""A context's migration plan: its phases in order, each with the gates that let it advance.

Pure: a plan is parsed from plain data (STRANGLER_AUTOPILOT['PLANS'] or its YAML file) and
validated here; nothing is read from a database or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Every kind of phase, the parameters it takes and their defaults (seconds, shares as 0-1).
PHASE_KINDS: dict[str, dict[str, Any]] = {
    # The copy phase: snapshot every row the service lacks, wait until it applied them all.
    "fill": {"batch_size": 1000},
    # Reconcile both stores: the drift must be at most max_drift.
    "verify": {"max_drift": 0},
    # Reads mirrored to the service: at least min_requests compared, matching at min_match_rate.
    "shadow": {"min_requests": 100, "min_match_rate": 0.99, "hold": 0.0},
    # A share of reads answered by the service for `hold` seconds; its error rate and p99 no
    # worse than the monolith's by more than the margins, and no probe answering differently.
    "canary": {
        "percent": None,
        "hold": 60.0,
        "min_requests": 20,
        "error_rate_margin": 0.01,
        "p99_margin": 0.1,
        "max_mismatches": 0,
    },
    # Reads to the service, then its writes, through the cutover command's steps.
    "cutover": {},
    # Hold with the service writing: the monolith's consumer keeps up, nothing dead-letters,
    # the stores do not drift.
    "observe": {"hold": 300.0, "max_consumer_lag": 30.0, "max_dead_letters": 0, "max_drift": 0},
}
# Phases after which a breach returns the writes too (the service writes from the cutover on).
WRITES_MOVED = frozenset({"observe"})
PLAN_KEYS = frozenset({"route", "probes", "phases", *PHASE_KINDS})


class PlanError(ValueError):
    """A plan that cannot run; the message names the context, the phase and what is wrong."""


@dataclass(frozen=True)
class Phase:
    """One phase of a plan: its kind, a unique name, and its parameters (defaults filled in)."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "phase": self.kind, **self.params}


@dataclass(frozen=True)
class Plan:
    """The plan of one context; `route` is the gateway route its shadow and canary phases move."""

    context: str
    phases: tuple[Phase, ...]
    route: str = ""
    probes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "route": self.route,
            "probes": list(self.probes),
            "phases": [phase.to_dict() for phase in self.phases],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """A plan as `to_dict` stored it with its run (already validated)."""
        return cls(
            context=data["context"],
            route=data.get("route", ""),
            probes=tuple(data.get("probes", ())),
            phases=tuple(
                Phase(
                    name=entry["name"],
                    kind=entry["phase"],
                    params={k: v for k, v in entry.items() if k not in ("name", "phase")},
                )
                for entry in data["phases"]
            ),
        )

    def index(self, name: str) -> int:
        for number, phase in enumerate(self.phases):
            if phase.name == name:
                return number
        raise PlanError(f"plan of {self.context} has no phase {name!r}")


def parse_plan(context: str, raw: Any) -> Plan:
    """Validate one context's plan: known phases and parameters, numbers in range, a route for
    the phases that move one. Plan-level `<kind>: {...}` entries give that kind's defaults."""
    where = f"plan of {context}"
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where} must be a mapping with 'phases'.")
    unknown = sorted(set(raw) - PLAN_KEYS)
    if unknown:
        raise PlanError(f"{where}: unknown keys {unknown}; known: {sorted(PLAN_KEYS)}.")
    entries = raw.get("phases")
    if not isinstance(entries, list) or not entries:
        raise PlanError(f"{where}: 'phases' must be a non-empty list.")
    phases: list[Phase] = []
    for number, entry in enumerate(entries):
        phases.append(_parse_phase(where, number, entry, raw))
    names = [phase.name for phase in phases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PlanError(f"{where}: phase names must be unique; repeated: {duplicates}.")
    kinds = [phase.kind for phase in phases]
    route = str(raw.get("route") or "")
    if not route and {"shadow", "canary", "cutover"} & set(kinds):
        raise PlanError(f"{where}: shadow, canary and cutover phases need 'route' (a route name).")
    if "observe" in kinds and (
        "cutover" not in kinds or kinds.index("observe") < kinds.index("cutover")
    ):
        raise PlanError(f"{where}: 'observe' comes after a 'cutover' phase.")
    if kinds.count("cutover") > 1:
        raise PlanError(f"{where}: one 'cutover' phase at most.")
    if "cutover" in kinds and any(
        kind in ("shadow", "canary", "fill", "verify") for kind in kinds[kinds.index("cutover") :]
    ):
        raise PlanError(f"{where}: only 'observe' phases may follow the 'cutover'.")
    probes = raw.get("probes") or []
    if not isinstance(probes, list) or not all(
        isinstance(p, str) and p.startswith("/") for p in probes
    ):
        raise PlanError(f"{where}: 'probes' must be a list of paths starting with '/'.")
    return Plan(context=context, phases=tuple(phases), route=route, probes=tuple(probes))


def _parse_phase(where: str, number: int, entry: Any, raw: Mapping[str, Any]) -> Phase:
    if not isinstance(entry, Mapping) or "phase" not in entry:
        raise PlanError(f"{where}: phases[{number}] must be a mapping with 'phase: <kind>'.")
    kind = entry["phase"]
    if kind not in PHASE_KINDS:
        raise PlanError(
            f"{where}: phases[{number}] has unknown phase {kind!r}; known: {sorted(PHASE_KINDS)}."
        )
    defaults = PHASE_KINDS[kind]
    overrides = raw.get(kind) or {}
    if not isinstance(overrides, Mapping):
        raise PlanError(f"{where}: '{kind}' (defaults of its phases) must be a mapping.")
    given = {k: v for k, v in entry.items() if k not in ("phase", "name")}
    for source, values in (("defaults", overrides), (f"phases[{number}]", given)):
        unknown = sorted(set(values) - set(defaults))
        if unknown:
            raise PlanError(
                f"{where}: {source} of {kind} has unknown parameters {unknown}; "
                f"known: {sorted(defaults) or 'none'}."
            )
    params = {**defaults, **overrides, **given}
    for key, value in params.items():
        if value is None:
            raise PlanError(f"{where}: phases[{number}] ({kind}) needs '{key}'.")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PlanError(f"{where}: phases[{number}] {key} must be a number >= 0.")
    for key in ("min_match_rate",):
        if key in params and params[key] > 1:
            raise PlanError(f"{where}: phases[{number}] {key} is a share between 0 and 1.")
    if kind == "canary" and not 0 < params["percent"] <= 100:
        raise PlanError(f"{where}: phases[{number}] canary percent must be in (0, 100].")
    name = entry.get("name") or (f"canary-{params['percent']:g}" if kind == "canary" else kind)
    return Phase(name=str(name), kind=kind, params=params)


def parse_plans(raw: Any) -> dict[str, Plan]:
    """{context: Plan} from the configured mapping."""
    if not isinstance(raw, Mapping):
        raise PlanError("STRANGLER_AUTOPILOT['PLANS'] must map each context to its plan.")
    return {str(context): parse_plan(str(context), plan) for context, plan in raw.items()}
