"""Plans: phases in order with their gates' parameters, validated before a run starts."""

from __future__ import annotations

import pytest

from strangler.autopilot.plans import Plan, PlanError, parse_plan, parse_plans

FULL = {
    "route": "catalog-reads",
    "canary": {"hold": 5},
    "phases": [
        {"phase": "fill"},
        {"phase": "verify"},
        {"phase": "shadow", "min_requests": 10},
        {"phase": "canary", "percent": 1},
        {"phase": "canary", "percent": 25, "hold": 2},
        {"phase": "cutover"},
        {"phase": "observe", "hold": 3},
    ],
}


def test_a_plan_names_its_phases_and_fills_in_defaults() -> None:
    plan = parse_plan("catalog", FULL)
    assert [p.name for p in plan.phases] == [
        "fill",
        "verify",
        "shadow",
        "canary-1",
        "canary-25",
        "cutover",
        "observe",
    ]
    assert plan.phases[3]["hold"] == 5  # the plan's canary defaults
    assert plan.phases[4]["hold"] == 2  # the phase's own value wins
    assert plan.phases[2]["min_match_rate"] == 0.99
    assert plan.phases[6]["max_dead_letters"] == 0


def test_a_plan_survives_its_round_trip_through_the_run_record() -> None:
    plan = parse_plan("catalog", FULL)
    assert Plan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phases": [{"phase": "teleport"}]}, "unknown phase 'teleport'"),
        ({"phases": [{"phase": "canary"}], "route": "r"}, "needs 'percent'"),
        ({"phases": [{"phase": "canary", "percent": 150}], "route": "r"}, "(0, 100]"),
        ({"phases": [{"phase": "shadow", "min_match_rate": 2}], "route": "r"}, "between 0 and 1"),
        ({"phases": [{"phase": "shadow", "speed": 2}], "route": "r"}, "unknown parameters"),
        ({"phases": [{"phase": "shadow"}]}, "need 'route'"),
        ({"phases": [{"phase": "observe"}]}, "after a 'cutover'"),
        (
            {"phases": [{"phase": "cutover"}, {"phase": "canary", "percent": 5}], "route": "r"},
            "only 'observe'",
        ),
        ({"phases": [{"phase": "verify"}, {"phase": "verify"}]}, "unique"),
        ({"phases": []}, "non-empty"),
        ({"phases": [{"phase": "verify"}], "colour": "red"}, "unknown keys"),
        ({"phases": [{"phase": "verify"}], "probes": ["no-slash"]}, "'probes'"),
    ],
)
def test_a_plan_that_cannot_run_is_refused_with_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(
        PlanError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        parse_plan("catalog", change)


def test_plans_map_contexts() -> None:
    assert set(parse_plans({"catalog": FULL})) == {"catalog"}
    with pytest.raises(PlanError):
        parse_plans(["catalog"])
