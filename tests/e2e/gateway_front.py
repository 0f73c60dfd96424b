"""The gateway in front of a cutover stack, and clients that write and read only through it.

Used by tests/e2e/test_cutover_through_the_gateway.py and bench/cutover.py: the context's route
sends reads to the monolith and writes to the context's writer (the control database says
which), so a cutover changes no route; FREEZE_HOLD_SECONDS decides whether the gateway holds
writes across the freeze.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.cutover_stack import CutoverStack, SteadyWriter
from tests.processes import PYTHON, ROOT, ProcessGroup, free_port

SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})? (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')


class GatewayFront:
    """`manage.py rungateway` in front of both sides of a stack's context."""

    def __init__(
        self,
        stack: CutoverStack,
        processes: ProcessGroup,
        folder: Path,
        *,
        name: str = "gateway",
        hold_seconds: float,
    ) -> None:
        self.stack = stack
        self.hold_seconds = hold_seconds
        folder.mkdir(parents=True, exist_ok=True)
        context = stack.context.name
        routes = folder / f"{name}-routes.yaml"
        table = {
            "backends": {
                "monolith": [stack.urls["monolith"]],
                context: [stack.urls[stack.context.service]],
            },
            "routes": [
                {
                    "name": context,
                    "prefix": f"/api/{context}/",
                    "mode": "monolith",
                    "service": context,
                    "context": context,
                }
            ],
        }
        routes.write_text(yaml.safe_dump(table, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        options = {
            "HEALTH_INTERVAL": 0.3,
            "RELOAD_INTERVAL": 0.3,
            "CONNECT_TIMEOUT": 1.0,
            "FREEZE_HOLD_SECONDS": hold_seconds,
        }
        env = {
            **stack.env,
            "STRANGLER_GATEWAY_TOKEN": self.token,
            "STRANGLER_GATEWAY_OPTIONS": json.dumps(options),
        }
        argv = [PYTHON, str(ROOT / "manage.py"), "rungateway", "--port", str(self.port)]
        processes.start_http(
            name,
            [*argv, "--routes", str(routes), "--no-shadow-store"],
            env,
            f"{self.url}/healthz",
        )

    def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """Every sample of the gateway's /metrics: {name: {sorted labels: value}}."""
        response = httpx.get(f"{self.url}/metrics", headers=self._admin(), timeout=10)
        response.raise_for_status()
        samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for name, labels, value in SAMPLE.findall(response.text):
            key = tuple(sorted(LABEL.findall(labels or "")))
            samples.setdefault(name, {})[key] = float(value)
        return samples

    def status(self) -> dict[str, Any]:
        """The admin API's /_gateway/status (routes, instances, contexts)."""
        response = httpx.get(f"{self.url}/_gateway/status", headers=self._admin(), timeout=10)
        response.raise_for_status()
        return response.json()

    def instances(self) -> list[dict[str, Any]]:
        backends = self.status()["backends"]
        return [
            {**instance, "backend": name}
            for name, backend in backends.items()
            for instance in backend["instances"]
        ]

    def _admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class GatewayWriter(SteadyWriter):
    """A SteadyWriter whose every write goes through the gateway, which follows the writer.

    It retries a 503 shortly as SteadyWriter does; `refused_writes` counts the writes that met at
    least one 503 (`frozen_answers` counts every 503 answer).
    """

    def __init__(self, stack: CutoverStack, gateway: GatewayFront, **options: Any) -> None:
        super().__init__(stack, **options)
        for client in self._clients.values():
            client.close()
        client = httpx.Client(base_url=gateway.url, timeout=60, headers=stack.staff_headers())
        self._clients = {side: client for side in stack.urls}
        self.refused_writes = 0

    def _send(self, method: str, path: str, body: dict[str, Any]) -> None:
        before = self.frozen_answers
        super()._send(method, path, body)
        if self.frozen_answers > before:
            self.refused_writes += 1


class GatewayReader(threading.Thread):
    """Reads `path` through the gateway until stopped; remembers every answer that is not 200."""

    def __init__(self, gateway: GatewayFront, path: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=gateway.url, timeout=30, headers=headers)
        self.path = path
        self.reads = 0
        self.failures: list[str] = []
        self._stop_requested = threading.Event()

    def run(self) -> None:
        while not self._stop_requested.is_set() and self.reads < 100_000:
            try:
                response = self.client.get(self.path)
            except httpx.HTTPError as exc:  # reported to the test, which fails on any
                self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
            self.reads += 1
            self._stop_requested.wait(0.02)

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(30)
        self.client.close()
