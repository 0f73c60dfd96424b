"""The migration dashboard and both API docs pages in headless Chromium, against the demo stack.

The stack is the one `make run` starts (embedded: SQLite and the filesystem transport). The
browser is Debian's chromium driven by playwright (its wheel brings the driver, not a browser).
Screenshots are kept under var/test-artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_demo_stack import (
    SERVER_VARIABLES,
    DemoStack,
    count,
    pid_alive,
    prepare,
)
from tests.processes import PYTHON, ROOT, base_env, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "var" / "test-artifacts"
# Every figure the issue lists, by the data-figure name the page gives it.
FIGURES = (
    "phase",
    "writer",
    "frozen",
    "route_mode",
    "canary_share",
    "outbox_pending",
    "consumer_lag",
    "dead_letters",
    "drift",
    "match_rate",
)

WRITE_A_PRODUCT = (
    "from decimal import Decimal; from django.db import transaction; "
    "from monolith.catalog.services import product_create; "
    "transaction.atomic(product_create)("
    "sku='DASH-1', name='Seen live', price=Decimal('3.50'), currency='EUR')"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """`make run` in a fresh var folder on free ports, shared by this module's tests."""
    tmp = tmp_path_factory.mktemp("demo")
    env = base_env(
        STRANGLER_VAR_DIR=str(tmp / "var"),
        DEMO_GATEWAY_PORT=str(free_port()),
        DEMO_MONOLITH_PORT=str(free_port()),
        DEMO_CATALOG_PORT=str(free_port()),
    )
    for name in SERVER_VARIABLES:
        env.pop(name, None)
    prepare(env, tmp, "prepare")
    log_path = tmp / "stack.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [PYTHON, "deploy/stack.py", "--announce", str(tmp / "var" / "demo-stack.json")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = DemoStack(
        env=env,
        var_dir=tmp / "var",
        log_path=log_path,
        popen=popen,
        gateway=f"http://127.0.0.1:{env['DEMO_GATEWAY_PORT']}",
        monolith=f"http://127.0.0.1:{env['DEMO_MONOLITH_PORT']}",
        catalog=f"http://127.0.0.1:{env['DEMO_CATALOG_PORT']}",
    )

    def ready() -> bool:
        if popen.poll() is not None:
            raise AssertionError(f"the stack exited:\n{stack.log()[-4000:]}")
        return "| ready in" in stack.log()

    try:
        wait_until(ready, timeout=180, interval=0.2, what="the demo stack")
        seeded = count(stack.monolith)
        wait_until(lambda: count(stack.catalog) == seeded, timeout=120, what="the backfill")
        yield stack
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(10)
        for pid in stack.child_pids().values():
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1280, "height": 1400},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield context
        finally:
            context.close()


def demo_command(stack: DemoStack, *argv: str) -> str:
    env = {**stack.env, "CATALOG_SERVICE_URL": stack.catalog}
    result = subprocess.run(
        [PYTHON, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def figure(page: Any, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def keep_screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_the_dashboard_shows_live_figures_that_change_when_the_shop_writes(
    demo: DemoStack, browser: Any
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{demo.monolith}/strangler/dashboard/")
    catalog = '[data-context="catalog"]'
    page.wait_for_selector(f'{catalog} [data-figure="writer"]', timeout=30_000)
    assert figure(page, f'{catalog} [data-figure="writer"]') == "monolith"
    monolith_rows = f'{catalog} [data-side="monolith"] [data-figure="rows"]'
    before = figure(page, monolith_rows)

    # The shop writes (its service layer, as its API would): the open page shows the new row
    # count on its next poll, without a reload.
    demo_command(demo, "manage.py", "shell", "-c", WRITE_A_PRODUCT)
    page.wait_for_function(
        "([selector, before]) => document.querySelector(selector).textContent !== before",
        arg=[monolith_rows, before],
        timeout=30_000,
    )
    assert figure(page, monolith_rows) != before

    # Shadow some reads, then move to a 25 % canary: route mode, share and match rate appear.
    demo_command(demo, "deploy/demo.py", "route", "catalog", "--mode", "shadow")

    def shadowed() -> bool:
        httpx.get(f"{demo.gateway}/api/catalog/products/?page_size=5", timeout=10)
        return page.locator('#shadow [data-figure="match_rate"]').count() > 0

    wait_until(shadowed, timeout=60, interval=0.5, what="shadow comparisons on the dashboard")
    demo_command(demo, "deploy/demo.py", "route", "catalog", "--mode", "canary", "--percent", "25")
    page.wait_for_selector(f'{catalog} [data-figure="canary_share"]', timeout=30_000)
    assert "25" in figure(page, f'{catalog} [data-figure="canary_share"]')

    # The last reconcile and its drift, stored by the command, shown on the next poll.
    output = demo_command(demo, "manage.py", "reconcile", "catalog")
    assert "equal" in output
    # Its own lines only: no httpx request log (about ten lines before) in stdout or stderr.
    assert "HTTP Request" not in output and "httpx" not in output, output
    page.wait_for_selector(f'{catalog} [data-figure="drift"]', timeout=30_000)
    assert {figure(page, f'{catalog} [data-figure="drift"]')} == {"0"}

    shot = keep_screenshot(page, "dashboard.png")
    for name in FIGURES:
        assert page.locator(f'[data-figure="{name}"]').count() > 0, f"no {name} on the page"
    assert "no cutover run yet" in page.locator("#cutovers").inner_text()
    assert shot.stat().st_size > 10_000
    assert not errors, errors

    data = httpx.get(f"{demo.monolith}/strangler/dashboard.json", timeout=10).json()
    context = next(c for c in data["contexts"] if c["context"] == "catalog")
    assert context["phase"] == "canary" and context["writer"] == "monolith"
    assert {route["mode"] for route in context["routes"]} == {"canary", "monolith"}
    assert [entry["drift"] for entry in context["reconcile"]] == [0, 0]
    page.close()


@pytest.mark.parametrize("side", ["monolith", "catalog"])
def test_the_api_docs_page_renders_swagger_ui(demo: DemoStack, browser: Any, side: str) -> None:
    page = browser.new_page()
    failed: list[str] = []
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    page.goto(f"{getattr(demo, side)}/api/docs/")
    with contextlib.suppress(Exception):
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    keep_screenshot(page, f"api-docs-{side}.png")
    assert not failed, f"assets that did not load: {failed}"
    title = page.locator(".swagger-ui .info .title")
    assert title.count() == 1, "swagger-ui did not render"
    assert page.locator(".opblock-tag").count() > 0, "no operations listed"
    page.close()
