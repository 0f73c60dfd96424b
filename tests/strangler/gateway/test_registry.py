"""Registry: balancing, passive health, the circuit breaker and registrations (no network)."""

from __future__ import annotations

import pytest

from strangler.gateway.conf import GatewaySettings
from strangler.gateway.registry import BreakerState, CircuitBreaker, Registry, UnknownBackendError
from strangler.gateway.routing import RoutingConfigError, parse_routing_table


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_registry(balance: str = "round_robin", **settings: object) -> tuple[Registry, Clock]:
    clock = Clock()
    registry = Registry(GatewaySettings(balance=balance, **settings), clock=clock)  # type: ignore[arg-type]
    registry.apply_table(
        parse_routing_table(
            {
                "backends": {
                    "monolith": ["http://127.0.0.1:1"],
                    "svc": ["http://127.0.0.1:2", "http://127.0.0.1:3"],
                }
            }
        )
    )
    return registry, clock


def test_round_robin_alternates_between_healthy_instances() -> None:
    registry, clock = make_registry()
    backend = registry.backends["svc"]
    picked = [backend.pick(clock()).url for _ in range(4)]
    assert picked == ["http://127.0.0.1:2", "http://127.0.0.1:3"] * 2


def test_least_outstanding_prefers_the_idle_instance() -> None:
    registry, clock = make_registry("least_outstanding")
    backend = registry.backends["svc"]
    backend.instances[0].outstanding = 3
    assert {backend.pick(clock()).url for _ in range(5)} == {"http://127.0.0.1:3"}


def test_consecutive_failures_take_an_instance_out_until_it_is_readmitted() -> None:
    registry, clock = make_registry(passive_failures=3, eject_seconds=10.0, circuit_failures=100)
    backend = registry.backends["svc"]
    bad = backend.instances[0]
    for _ in range(3):
        registry.record(bad, failed=True)
    assert not bad.healthy
    assert {backend.pick(clock()).url for _ in range(4)} == {"http://127.0.0.1:3"}
    clock.now += 11
    registry.readmit_expired_ejections()
    assert bad.healthy


def test_a_success_resets_the_failure_count() -> None:
    registry, _ = make_registry(passive_failures=3, circuit_failures=100)
    instance = registry.backends["svc"].instances[0]
    for _ in range(2):
        registry.record(instance, failed=True)
    registry.record(instance, failed=False)
    registry.record(instance, failed=True)
    assert instance.healthy


def test_circuit_opens_then_lets_one_trial_through_and_closes_on_success() -> None:
    breaker = CircuitBreaker(threshold=2, open_seconds=5)
    breaker.record_failure(0)
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(0)
    assert breaker.state is BreakerState.OPEN and not breaker.can_pass(4)
    assert breaker.can_pass(5)
    breaker.on_send(5)
    assert breaker.state is BreakerState.HALF_OPEN and not breaker.can_pass(5)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.can_pass(5)


def test_a_failed_trial_reopens_the_circuit() -> None:
    breaker = CircuitBreaker(threshold=1, open_seconds=5)
    breaker.record_failure(0)
    breaker.on_send(6)
    breaker.record_failure(6)
    assert breaker.state is BreakerState.OPEN and not breaker.can_pass(10)


def test_registered_instances_expire_without_heartbeats() -> None:
    registry, clock = make_registry()
    registry.register("svc", "http://127.0.0.1:4", ttl=5)
    assert len(registry.backends["svc"].instances) == 3
    clock.now += 4
    registry.register("svc", "http://127.0.0.1:4/", ttl=5)  # heartbeat, same instance
    clock.now += 4
    registry.expire()
    assert len(registry.backends["svc"].instances) == 3
    clock.now += 2
    registry.expire()
    assert [i.url for i in registry.backends["svc"].instances] == [
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    ]


def test_only_backends_of_the_table_and_plain_urls_can_be_registered() -> None:
    registry, _ = make_registry()
    with pytest.raises(UnknownBackendError):
        registry.register("evil", "http://127.0.0.1:9")
    with pytest.raises(RoutingConfigError):
        registry.register("svc", "http://127.0.0.1:9/admin")


def test_reloading_the_table_keeps_state_of_unchanged_instances() -> None:
    registry, _ = make_registry()
    kept = registry.backends["svc"].instances[0]
    kept.healthy = False
    registry.apply_table(
        parse_routing_table(
            {"backends": {"monolith": ["http://127.0.0.1:1"], "svc": ["http://127.0.0.1:2"]}}
        )
    )
    assert registry.backends["svc"].instances == [kept] and not kept.healthy


def test_when_every_instance_is_marked_unhealthy_they_are_tried_anyway() -> None:
    registry, clock = make_registry(circuit_failures=100)
    backend = registry.backends["svc"]
    for instance in backend.instances:
        instance.healthy = False
    assert backend.pick(clock()) is not None
    backend.instances[0].breaker.record_failure(clock())
    backend.instances[0].breaker.state = backend.instances[0].breaker.state.OPEN
    backend.instances[0].breaker.opened_at = clock()
    assert {backend.pick(clock()).url for _ in range(3)} == {"http://127.0.0.1:3"}


def test_an_intended_unavailable_answer_is_no_failure() -> None:
    from strangler.gateway.registry import counts_as_failure

    assert counts_as_failure(503, [(b"retry-after", b"1")])
    assert not counts_as_failure(503, [(b"x-strangler-intended", b"1")])
    assert not counts_as_failure(409, [])
    assert counts_as_failure(502, [])


def test_a_lease_counts_a_request_in_flight_once_however_often_it_is_released() -> None:
    from strangler.gateway.conf import GatewaySettings
    from strangler.gateway.registry import Instance

    instance = Instance("catalog", "http://127.0.0.1:9", GatewaySettings(), dynamic=False)
    first, second = instance.lease(), instance.lease()
    assert instance.in_flight() == 2 and instance.requests == 2
    first.release()
    first.release()  # a second release (an error path after the answer) changes nothing
    assert instance.in_flight() == 1
    second.release()
    assert instance.in_flight() == 0
    instance.pool.close()
