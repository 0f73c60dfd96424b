"""Fixtures shared by every area: the real servers, and markers that demand them."""

from __future__ import annotations

from collections.abc import Iterator

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


DB_FIXTURES = {"db", "transactional_db", "live_server"}


def _with_control_database(item: pytest.Item) -> None:
    """Let a database test reach the control database too (strangler.ownership's alias).

    Every write service asks the control database who writes its context; pytest-django allows
    only "default" unless a test names its databases, so tests that name none get both.
    """
    from django.conf import settings

    if "control" not in getattr(settings, "DATABASES", {}):
        return
    marker = item.get_closest_marker("django_db")
    if marker is None and not DB_FIXTURES & set(getattr(item, "fixturenames", ())):
        return
    kwargs = dict(marker.kwargs) if marker is not None else {}
    if kwargs.get("databases") is not None:
        return
    kwargs["databases"] = ["default", "control"]
    item.add_marker(pytest.mark.django_db(*(marker.args if marker else ()), **kwargs), False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        _with_control_database(item)
        if item.get_closest_marker("postgres"):
            item.fixturenames.insert(0, "django_postgres")
        if item.get_closest_marker("rabbitmq"):
            item.fixturenames.insert(0, "rabbitmq_url")


@pytest.fixture(scope="session", autouse=True)
def identity_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One token key pair for the session: this process signs and verifies with it, and every
    process a test starts inherits it (STRANGLER_IDENTITY_* variables)."""
    from django.conf import settings

    from tests.identity import make_identity_keys, use_identity_environment

    env = make_identity_keys(tmp_path_factory.mktemp("identity"))
    use_identity_environment(env)
    if settings.configured and hasattr(settings, "STRANGLER_IDENTITY"):
        settings.STRANGLER_IDENTITY = {
            **settings.STRANGLER_IDENTITY,
            "SIGNING_KEY": env["STRANGLER_IDENTITY_SIGNING_KEY"],
            "VERIFYING_KEYS": [env["STRANGLER_IDENTITY_VERIFYING_KEYS"]],
        }
    return env


@pytest.fixture(autouse=True)
def _forget_ownership_states() -> Iterator[None]:
    """A test's ownership changes roll back with its transaction; so must the process's cache."""
    yield
    from django.apps import apps

    if apps.is_installed("strangler.ownership"):
        from strangler.ownership.selectors import forget_cached_states

        forget_cached_states()


@pytest.fixture
def processes(tmp_path):  # type: ignore[no-untyped-def]
    """Real processes for end-to-end tests, stopped by pid when the test ends."""
    from tests.processes import process_group

    with process_group(tmp_path) as group:
        yield group
