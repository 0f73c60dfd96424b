"""End to end: `cutover catalog` while clients write and read only through the gateway.

The gateway follows the writer and holds writes across the freeze (FREEZE_HOLD_SECONDS); the
write guard's `503 writes_frozen` answers are intended, so no instance is ejected and no breaker
opens, and every 503 a client still sees is a hold that ran out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cutover_stack import CutoverStack, cutover_stack
from tests.e2e.gateway_front import GatewayFront, GatewayReader, GatewayWriter
from tests.processes import ProcessGroup

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

SERVICE = "catalog-service"
HOLD_SECONDS = 10.0


@pytest.fixture
def stack(
    processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path
) -> Iterator[CutoverStack]:
    with cutover_stack(
        processes, postgres_url=postgres_url, rabbitmq_url=rabbitmq_url, tmp_path=tmp_path
    ) as stack:
        yield stack


def total(samples: dict[tuple[tuple[str, str], ...], float], **wanted: str) -> float:
    """The sum of a metric's samples whose labels include `wanted`."""
    return sum(
        value
        for labels, value in samples.items()
        if all((name, wanted[name]) in labels for name in wanted)
    )


def test_a_cutover_under_client_traffic_through_the_gateway_ejects_no_instance(
    stack: CutoverStack,
    processes: ProcessGroup,
    tmp_path: Path,
) -> None:
    gateway = GatewayFront(stack, processes, tmp_path / "gateway", hold_seconds=HOLD_SECONDS)
    writer = GatewayWriter(stack, gateway, prefix="THRU", pause=0.01)
    reader = GatewayReader(gateway, "/api/catalog/products/", stack.staff_headers())
    writer.start()
    reader.start()
    try:
        writer.wait_for_writes(30)
        for to, run_on in (("service", "monolith"), ("monolith", SERVICE)):
            result = stack.cutover(to, run_on=run_on)
            assert result.returncode == 0, f"cutover to {to}:\n{result.stdout}\n{result.stderr}"
            writer.wait_for_writes(writer.writes + 30)
    finally:
        writer.stop()
        reader.stop()
    assert not writer.errors, writer.errors
    assert reader.reads > 0 and not reader.failures, reader.failures[:5]
    assert stack.writer() == "monolith"
    assert writer.redirects == 0  # never a 409: the gateway sent each write to the writer

    metrics = gateway.metrics()
    instances = gateway.instances()
    assert {i["backend"] for i in instances} == {"monolith", "catalog"}
    for instance in instances:
        assert instance["healthy"] and instance["circuit"] == "closed", instance
        assert instance["failures"] == instance["ejections"] == instance["circuit_opens"] == 0
    assert len(metrics["gateway_instance_ejections_total"]) == 2
    assert total(metrics["gateway_instance_ejections_total"]) == 0
    assert total(metrics["gateway_circuit_opened_total"]) == 0
    held = metrics.get("gateway_held_writes_total", {})
    sent, expired = total(held, outcome="sent"), total(held, outcome="expired")
    # With the hold on, a client sees a 503 only when a hold ran out (no other 503 here).
    assert writer.frozen_answers == expired
    assert sent >= 1, "no write met either freeze"
    print(f"held writes sent {sent:g}, client-visible 503s {writer.frozen_answers}")

    products, _ = stack.wait_stores_equal()
    by_id = {row[0]: row for row in products}
    for key, acked in writer.acked.items():
        assert key in by_id and (by_id[key][1], by_id[key][4]) == (acked["sku"], acked["price"])
