"""A small HTTP backend for gateway tests: plays the monolith or a service, controllable answers.

Run: python -m tests.e2e.gateway_backend --port 8002 --name catalog-1 [--variant different]
[--delay 2]. It records every request it sees (GET /_log) so tests can tell what reached it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
from typing import Any

import uvicorn


class Backend:
    """ASGI app; `variant` changes the catalog answer, `delay` slows every /api/ answer."""

    def __init__(self, name: str, variant: str, delay: float) -> None:
        self.name = name
        self.variant = variant
        self.delay = delay
        self.log: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
        if path not in ("/readyz", "/_log"):
            self.log.append({"method": method, "path": path, "headers": headers})
        if path == "/readyz":
            await self._json(send, 200, {"status": "ok"})
        elif path == "/_log":
            await self._json(send, 200, self.log)
        elif path.startswith("/api/catalog/products"):
            if self.delay:
                await asyncio.sleep(self.delay)
            await self._json(send, 200, self.products())
        elif path.startswith("/api/echo"):
            await self._json(
                send,
                200,
                {
                    "method": method,
                    "path": path,
                    "query": scope["query_string"].decode(),
                    "headers": headers,
                    "body_length": len(body),
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                },
                extra=[
                    (b"connection", b"x-secret-hop"),
                    (b"x-secret-hop", b"1"),
                    (b"keep-alive", b"timeout=5"),
                ],
            )
        elif path.startswith("/api/frozen"):
            # the kit's write guard during a cutover: an intended 503, not a failing instance
            await self._json(
                send,
                503,
                {"error": {"code": "writes_frozen", "message": self.name}},
                extra=[(b"retry-after", b"1"), (b"x-strangler-intended", b"1")],
            )
        elif path.startswith("/api/fail"):
            await self._json(send, 503, {"error": {"code": "unavailable", "message": self.name}})
        elif path.startswith("/api/redirect"):
            await self._json(send, 302, {}, extra=[(b"location", b"http://203.0.113.9/elsewhere")])
        elif path.startswith("/api/stream"):
            size = int(scope["query_string"].decode().partition("=")[2] or 1_000_000)
            await send({"type": "http.response.start", "status": 200, "headers": self._headers()})
            piece = b"x" * 65536
            while size > 0:
                await send({"type": "http.response.body", "body": piece[:size], "more_body": True})
                size -= len(piece)
            await send({"type": "http.response.body", "body": b""})
        else:
            await self._json(send, 200, {"served_by": self.name, "path": path, "method": method})

    def products(self) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        price = "12.00" if self.variant == "different" else "10.00"
        return {
            "count": 2,
            "results": [
                {"id": 1, "name": "Chair", "price": price, "updated_at": now},
                {"id": 2, "name": "Table", "price": "99.00", "updated_at": now},
            ],
        }

    def _headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"x-served-by", self.name.encode()), (b"content-type", b"application/json")]

    async def _json(
        self, send: Any, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": self._headers() + (extra or []),
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(data).encode()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="backend")
    parser.add_argument("--variant", default="same", choices=["same", "different"])
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    app = Backend(args.name, args.variant, args.delay)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
