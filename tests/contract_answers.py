"""Answers both sides of a context give to the same request, status and body: the monolith's
tests and each extracted service's tests assert against these same values (issue 15: equal
contracts, not equal code)."""

from __future__ import annotations

from typing import Any


def product_in_use(product_id: int) -> tuple[int, dict[str, Any]]:
    """DELETE /api/catalog/products/<id>/ of a product that orders or stock reference."""
    message = (
        f"Product {product_id} is referenced by orders or stock; deactivate it (active=false) "
        "instead."
    )
    return 409, {"error": {"code": "product_in_use", "message": message, "fields": {}}}


def not_found() -> tuple[int, dict[str, Any]]:
    """Any detail path of a row that does not exist."""
    return 404, {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
