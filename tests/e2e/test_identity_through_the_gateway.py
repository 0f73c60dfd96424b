"""Identity across the split, through the front door: one token from the monolith, every route mode.

The monolith and the catalog service run as real processes (cutover_stack), behind a real
gateway whose routing table the test rewrites. Anonymous writes are refused whichever way the
gateway routes; a token the monolith issued is accepted by the service in shadow, canary and
service modes and across a cutover and a rollback; the service is never given the monolith's
address and keeps accepting tokens while the monolith is down; the shadow copy of a request
carries the original's credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.cutover_stack import MONOLITH_MANAGE, CutoverStack, cutover_stack
from tests.identity import bearer, make_identity_keys
from tests.processes import PYTHON, ProcessGroup, free_port, process_group, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

SERVICE = "catalog-service"
PRODUCTS = "/api/catalog/products/"
NEW_PRODUCT = {"sku": "ID-0", "name": "Identity", "price": "1.00", "currency": "EUR"}
OPTIONS = {"RELOAD_INTERVAL": 0.3, "HEALTH_INTERVAL": 0.3, "CONNECT_TIMEOUT": 1.0}


class Front:
    """The gateway in front of the stack, and the routing table it reloads."""

    def __init__(self, stack: CutoverStack, tmp: Path) -> None:
        self.stack = stack
        self.routes = tmp / "routes.yaml"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.route("monolith", name="start")
        self.env = {**stack.env, "STRANGLER_GATEWAY_OPTIONS": json.dumps(OPTIONS)}
        argv = [PYTHON, MONOLITH_MANAGE, "rungateway", "--port", str(port)]
        argv += ["--routes", str(self.routes)]
        stack.processes.start_http("gateway", argv, self.env, f"{self.url}/healthz")

    def route(self, mode: str, *, name: str, percent: float = 100) -> str:
        """Route /api/catalog/ in `mode` under a route name of its own; returns the name."""
        entry: dict[str, Any] = {
            "name": name,
            "prefix": "/api/catalog/",
            "mode": mode,
            "service": "catalog",
            "context": "catalog",
        }
        if mode == "canary":
            entry["percent"] = percent
        table = {
            "backends": {
                "monolith": [self.stack.urls["monolith"]],
                "catalog": [self.stack.urls[SERVICE]],
            },
            "routes": [entry],
        }
        self.routes.write_text(yaml.safe_dump(table))
        return name

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def count(self, metric: str, **labels: str) -> float:
        """The sum of a counter's samples whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            found = re.match(rf"^{metric}\{{(.*)\}} (\S+)$", line)
            if found and all(f'{k}="{v}"' in found.group(1) for k, v in labels.items()):
                total += float(found.group(2))
        return total

    def use(self, mode: str, *, name: str, percent: float = 100) -> None:
        """Switch modes and wait until the gateway serves a read under the new route."""
        self.route(mode, name=name, percent=percent)
        try:
            wait_until(
                lambda: (
                    self.get(PRODUCTS).status_code == 200
                    and self.count("gateway_requests_total", route=name) > 0
                ),
                timeout=20,
                interval=0.2,
                what=f"the gateway on route {name} ({mode})",
            )
        except AssertionError as exc:
            gateway = next(p for p in self.stack.processes.processes if p.name == "gateway")
            raise AssertionError(f"{exc}\n{gateway.log()[-3000:]}") from exc

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=headers or {}, timeout=30)

    def write(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}{path}", json=body, headers=headers or {}, timeout=30
        )


@pytest.fixture(scope="module")
def front(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, rabbitmq_url: str
) -> Iterator[Front]:
    tmp = tmp_path_factory.mktemp("identity-gateway")
    with (
        process_group(tmp) as group,
        cutover_stack(
            group, postgres_url=postgres_url, rabbitmq_url=rabbitmq_url, tmp_path=tmp
        ) as stack,
    ):
        without_monolith_url(stack, group)
        yield Front(stack, tmp)


def without_monolith_url(stack: CutoverStack, group: ProcessGroup) -> None:
    """Restart the service's web server with no address of the monolith at all: nothing it
    does to verify a token can reach the monolith."""
    web = next(p for p in group.processes if p.name == "service-web")
    web.stop()
    env = {k: v for k, v in stack.env_of(SERVICE).items() if k != "MONOLITH_URL"}
    url = stack.urls[SERVICE]
    argv = [PYTHON, stack.context.manage, "runserver", "--noreload", url.removeprefix("http://")]
    process = group.start_http("service-web-alone", argv, env, f"{url}/readyz")
    environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    assert not [v for v in environ if v.startswith(b"MONOLITH_URL=")]


def staff(front: Front) -> dict[str, str]:
    return front.stack.staff_headers()


def assert_anonymous_writes_refused(front: Front, product_id: int) -> None:
    for method, path in (
        ("POST", PRODUCTS),
        ("PATCH", f"{PRODUCTS}{product_id}/"),
        ("PUT", f"{PRODUCTS}{product_id}/"),
        ("DELETE", f"{PRODUCTS}{product_id}/"),
    ):
        answer = front.write(method, path, {"name": "anonymous"})
        assert answer.status_code in (401, 403), (method, path, answer.status_code, answer.text)
    assert front.get(f"{PRODUCTS}{product_id}/").json()["name"] != "anonymous"


def create(front: Front, sku: str) -> dict[str, Any]:
    created = front.write("POST", PRODUCTS, {**NEW_PRODUCT, "sku": sku}, staff(front))
    assert created.status_code == 201, created.text
    return created.json()


def in_service(front: Front, product_id: int) -> bool:
    url = f"{front.stack.urls[SERVICE]}{PRODUCTS}{product_id}/"
    return httpx.get(url, timeout=10).status_code == 200


def test_anonymous_writes_are_refused_in_every_route_mode(front: Front) -> None:
    product = create(front, "ID-ANON")
    wait_until(lambda: in_service(front, product["id"]), timeout=60, what="the product synced")
    for mode in ("monolith", "shadow", "canary", "service"):
        front.use(mode, name=f"anon-{mode}")
        assert_anonymous_writes_refused(front, product["id"])
        # The staff token passes the same door.
        renamed = front.write(
            "PATCH", f"{PRODUCTS}{product['id']}/", {"name": f"by staff in {mode}"}, staff(front)
        )
        assert renamed.status_code == 200, (mode, renamed.text)


def test_shadow_compares_answers_given_to_the_same_credentials(front: Front) -> None:
    product = create(front, "ID-SHADOW")
    wait_until(lambda: in_service(front, product["id"]), timeout=60, what="the product synced")
    name = "shadow-identity"
    front.use("shadow", name=name)
    # A token of a key the sides do not know: refused by the monolith, and by the service only
    # if the shadow copy carries the same Authorization header (else it would answer 200).
    foreign = bearer(forged_token(front))
    path = f"{PRODUCTS}{product['id']}/"
    for _ in range(3):
        assert front.get(path, staff(front)).status_code == 200
        assert front.get(path, foreign).status_code == 401
    wait_until(
        lambda: front.count("gateway_shadow_comparisons_total", route=name) >= 6 + 1,
        timeout=30,
        interval=0.2,
        what="7 shadow comparisons",
    )
    assert front.count("gateway_shadow_comparisons_total", route=name, result="match") >= 7
    assert front.count("gateway_shadow_comparisons_total", route=name, result="mismatch") == 0


def forged_token(front: Front) -> str:
    """A token signed like the monolith's, with a key pair neither side lists."""
    tmp = front.routes.parent / "foreign-key"
    env = make_identity_keys(tmp)
    code = (
        "from strangler.identity.tokens import issue_token;"
        "print(issue_token(user_id=1, username='staff', is_staff=True, is_superuser=True,"
        " permissions=[]))"
    )
    done = front.stack.manage(
        "monolith",
        "shell",
        "-c",
        code,
        timeout=120,
        STRANGLER_IDENTITY_SIGNING_KEY=env["STRANGLER_IDENTITY_SIGNING_KEY"],
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_one_token_works_across_a_cutover_and_a_rollback(front: Front) -> None:
    front.use("canary", name="cut-canary", percent=100)
    before = create(front, "ID-BEFORE")
    done = front.stack.cutover("service")
    assert done.returncode == 0, done.stdout + done.stderr
    front.use("service", name="cut-service")

    # The service writes now: the monolith's token is verified there, with the monolith down.
    monolith = next(p for p in front.stack.processes.processes if p.name == "monolith-web")
    monolith.stop()
    written = wait_until(
        lambda: (
            (
                r := front.write("POST", PRODUCTS, {**NEW_PRODUCT, "sku": "ID-AFTER"}, staff(front))
            ).status_code
            == 201
            and r
        ),
        timeout=20,
        interval=0.2,
        what="a write through the gateway to the service",
    )
    assert front.count("gateway_requests_total", route="cut-service", target="catalog") > 0
    assert front.write("POST", PRODUCTS, {**NEW_PRODUCT, "sku": "ID-ANON-2"}).status_code == 401
    front.stack.processes.start_http(
        "monolith-web-again",
        [
            PYTHON,
            MONOLITH_MANAGE,
            "runserver",
            "--noreload",
            front.stack.urls["monolith"].removeprefix("http://"),
        ],
        front.stack.env_of("monolith"),
        f"{front.stack.urls['monolith']}/readyz",
    )

    back = front.stack.cutover("monolith")
    assert back.returncode == 0, back.stdout + back.stderr
    front.use("canary", name="back-canary", percent=100)
    again = wait_until(
        lambda: (
            (
                r := front.write(
                    "PATCH", f"{PRODUCTS}{before['id']}/", {"name": "back"}, staff(front)
                )
            ).status_code
            == 200
            and r
        ),
        timeout=20,
        interval=0.2,
        what="a write through the gateway to the monolith again",
    )
    assert again.json()["name"] == "back"  # type: ignore[union-attr]
    assert written.json()["sku"] == "ID-AFTER"  # type: ignore[union-attr]
    assert front.write("PATCH", f"{PRODUCTS}{before['id']}/", {"name": "x"}).status_code == 401
