"""A command prints its own lines: library INFO and health probes stay out unless -v 2."""

from __future__ import annotations

import logging

import pytest

from strangler.observability.logging import (
    QUIET_LIBRARIES,
    ProbeRequestFilter,
    command_verbosity,
    logging_config,
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["manage.py", "reconcile", "catalog"], 1),
        (["manage.py", "reconcile", "-v", "2"], 2),
        (["manage.py", "reconcile", "-v2"], 2),
        (["manage.py", "reconcile", "--verbosity=3"], 3),
        (["manage.py", "reconcile", "--verbosity", "0"], 0),
        (["manage.py", "reconcile", "-v"], 1),
    ],
)
def test_the_verbosity_is_read_from_the_command_line(argv: list[str], expected: int) -> None:
    assert command_verbosity(argv) == expected


def test_by_default_libraries_log_warnings_only_and_probes_are_filtered() -> None:
    config = logging_config(json_lines=False, verbosity=1)
    for name in ("httpx", "httpcore", "kombu"):
        assert config["loggers"][name] == {"level": "WARNING"}
    assert config["loggers"]["django.server"]["filters"] == ["no_probes"]
    assert config["loggers"]["django.server"]["handlers"] == ["console"]


def test_verbosity_two_shows_everything() -> None:
    config = logging_config(json_lines=True, verbosity=2)
    assert not set(QUIET_LIBRARIES) & set(config["loggers"])
    assert "django.server" not in config["loggers"]


def access_line(request_line: str) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "django.server", "msg": '"%s" %s %s', "args": (request_line, "200", "15")}
    )


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /readyz HTTP/1.1",
        "GET /healthz HTTP/1.1",
        "GET /metrics HTTP/1.1",
        "HEAD /readyz/ HTTP/1.1",
    ],
)
def test_health_probes_are_not_logged(request_line: str) -> None:
    assert not ProbeRequestFilter().filter(access_line(request_line))


@pytest.mark.parametrize(
    "request_line",
    ["GET /api/catalog/products/ HTTP/1.1", "POST /api/readyz-report HTTP/1.1", "garbage"],
)
def test_other_requests_are_logged(request_line: str) -> None:
    assert ProbeRequestFilter().filter(access_line(request_line))
