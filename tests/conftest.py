"""Fixtures shared by every area: the real servers, and markers that demand them."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.servers import POSTGRES_URL, RABBITMQ_URL, port_answers, server_missing


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """URL of a real RabbitMQ; skips (laptop) or fails (CI) when it does not answer."""
    if not port_answers(RABBITMQ_URL, 5672):
        server_missing("RabbitMQ", f"nothing answers at {RABBITMQ_URL}")
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real PostgreSQL server (maintenance database), for tests that create databases."""
    if not port_answers(POSTGRES_URL, 5432):
        server_missing("PostgreSQL", f"nothing answers at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture
def django_postgres() -> None:
    """The test needs Django's default database to be PostgreSQL (SKIP LOCKED, sequences...)."""
    if connection.vendor != "postgresql":
        server_missing("PostgreSQL", f"Django's database is {connection.vendor}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.insert(0, "django_postgres")
        if item.get_closest_marker("rabbitmq"):
            item.fixturenames.insert(0, "rabbitmq_url")


@pytest.fixture
def processes(tmp_path):  # type: ignore[no-untyped-def]
    """Real processes for end-to-end tests, stopped by pid when the test ends."""
    from tests.processes import process_group

    with process_group(tmp_path) as group:
        yield group
