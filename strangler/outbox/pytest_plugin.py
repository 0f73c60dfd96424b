"""pytest plugin: fail a test whose transactions change tracked tables without their events.

Registered by the `pytest11` entry point `strangler_outbox`, so installing strangler-kit makes it
available; it does nothing until a test asks for it:

- the `outbox_bypass_guard` fixture (it returns the BypassRecorder; `take()` claims bypasses a
  test expects),
- the `outbox_bypass_guard` marker,
- or every test: `--outbox-bypass-guard` on the command line, `outbox_bypass_guard = true` in
  the ini file; `@pytest.mark.outbox_bypass_allowed` then exempts a test.

The guard watches the test function's body only: rows fixtures write while setting up (factories)
are not checked. It reports, never refuses, so the test runs as production would and fails at
its end with every bypass listed (table, aggregate type, rows, file:line).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from strangler.outbox.bypass import BypassRecorder

FIXTURE = "outbox_bypass_guard"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("strangler")
    group.addoption(
        "--outbox-bypass-guard",
        action="store_true",
        default=False,
        help="fail every test that changes a tracked table without recording its outbox event",
    )
    parser.addini(
        "outbox_bypass_guard",
        type="bool",
        default=False,
        help="the outbox bypass guard watches every test (as --outbox-bypass-guard)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "outbox_bypass_guard: fail the test if it changes a tracked table without recording "
        "the aggregate's outbox event",
    )
    config.addinivalue_line(
        "markers", "outbox_bypass_allowed: the outbox bypass guard does not watch this test"
    )


@pytest.fixture
def outbox_bypass_guard() -> BypassRecorder:
    """The recorder the guard reports to while the test runs; `take()` claims expected bypasses."""
    from strangler.outbox.bypass import BypassRecorder

    return BypassRecorder()


def _recorder_for(item: pytest.Item) -> BypassRecorder | None:
    if item.get_closest_marker("outbox_bypass_allowed"):
        return None
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    if FIXTURE in funcargs:
        return funcargs[FIXTURE]
    config = item.config
    if (
        item.get_closest_marker("outbox_bypass_guard")
        or config.getoption("outbox_bypass_guard")
        or config.getini("outbox_bypass_guard")
    ):
        from strangler.outbox.bypass import BypassRecorder

        return BypassRecorder()
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    recorder = _recorder_for(item)
    if recorder is None:
        return (yield)
    from strangler.outbox.bypass import watching

    with watching(recorder):
        result = yield
    left = recorder.take()
    if left:
        listed = "\n".join(f"  - {bypass}" for bypass in left)
        pytest.fail(
            f"outbox bypass: the test changed tracked rows without recording their events:\n"
            f"{listed}\nWrite through the context's services (record_event in the same "
            "transaction), or wrap writes that must not publish in outbox_capture_suppressed().",
            pytrace=False,
        )
    return result
