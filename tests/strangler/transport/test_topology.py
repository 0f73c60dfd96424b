"""Topic matching as a RabbitMQ topic exchange does it, and binding-key validation."""

from __future__ import annotations

import pytest

from strangler.transport.topology import TopologyError, topic_matches, validate_binding_key


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("catalog.product.upserted", "catalog.product.upserted", True),
        ("catalog.product.upserted", "catalog.product.deleted", False),
        ("catalog.*.upserted", "catalog.product.upserted", True),
        ("catalog.*", "catalog.product.upserted", False),
        ("catalog.#", "catalog.product.upserted", True),
        ("catalog.#", "catalog", True),  # '#' matches zero words
        ("#", "orders.order.placed", True),
        ("#.placed", "orders.order.placed", True),
        ("#.placed", "orders.order.cancelled", False),
        ("orders.#.placed", "orders.placed", True),
        ("*.*.placed", "orders.placed", False),
        ("catalog.#", "catalogue.product.upserted", False),
        ("*", "catalog", True),
        ("*", "catalog.product", False),
    ],
)
def test_topic_matching_follows_amqp_rules(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


@pytest.mark.parametrize("key", ["", "catalog..product", ".catalog", "catalog.prod*", "a.#b"])
def test_malformed_binding_keys_are_refused(key: str) -> None:
    with pytest.raises(TopologyError):
        validate_binding_key(key)


def test_wellformed_binding_keys_pass() -> None:
    for key in ("catalog.#", "*.product.*", "#", "orders.order.placed"):
        validate_binding_key(key)
