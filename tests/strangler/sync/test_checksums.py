"""Range checksums and canonical rows as each side computes them in its own database."""

from __future__ import annotations

import pytest
from django.test import override_settings

from monolith.catalog.events import product_upserted_payload
from monolith.catalog.models import Product
from strangler.sync import checksums
from strangler.sync.canonical import render_value, row_checksum
from strangler.sync.checksums import Segment, canonical_rows, describe_aggregate, range_checksums
from strangler.sync.conf import sync_settings
from strangler.sync.internal_api import PROTOCOL_VERSION


def product_spec():  # type: ignore[no-untyped-def]
    return sync_settings().aggregate("catalog", "product")


def test_canonical_rows_render_the_fields_of_the_snapshot_payload(legacy_products):
    legacy_products(30)
    spec = product_spec()
    rows = canonical_rows(spec, [(1, 31)])
    assert sorted(rows) == list(range(1, 31))
    product = Product.objects.get(pk=7)
    payload = product_upserted_payload(product)
    kinds = dict(spec.fields)
    expected = {name: render_value(kinds[name], payload[name]) for name in kinds}
    assert rows[7] == expected


def test_bucket_checksums_are_sums_of_row_hashes(legacy_products):
    legacy_products(100)
    spec = product_spec()
    kinds = [kind for _, kind in spec.fields]
    columns = [column for _, column in spec.columns]
    rows = {key: values for key, *values in Product.objects.values_list("pk", *columns)}
    (sums,), hashed = range_checksums(spec, [Segment(1, 101, 4)])
    assert hashed == 100
    for (lo, hi), bucket in zip(Segment(1, 101, 4).buckets(), sums, strict=True):
        keys = [k for k in rows if lo <= k < hi]
        assert bucket.count == len(keys)
        assert bucket.checksum == sum(row_checksum(k, rows[k], kinds) for k in keys)


@pytest.mark.postgres
def test_postgres_computes_the_same_checksums_as_python(legacy_products):
    legacy_products(500)
    Product.objects.filter(pk=3).update(description="", category=None)
    spec = product_spec()
    segment = Segment(1, 520, 16)
    in_sql = checksums._postgres_bucket_sums(spec, segment, "default")
    in_python = checksums._python_bucket_sums(spec, segment, "default")
    assert in_sql == in_python
    assert sum(s.count for s in in_sql) == 500


def test_describe_reports_bounds_count_and_signature(legacy_products):
    legacy_products(12)
    bounds = describe_aggregate(product_spec())
    assert (bounds.min_key, bounds.max_key, bounds.count) == (1, 12, 12)
    assert "price:money" in bounds.signature


URL = "/internal/sync/catalog/product/"
SPEAKS = {"HTTP_X_STRANGLER_PROTOCOL": str(PROTOCOL_VERSION), "content_type": "application/json"}


def test_endpoints_refuse_a_wrong_or_missing_token(client, legacy_products, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    legacy_products(3)
    assert client.post(URL + "describe/", **SPEAKS).status_code == 403
    wrong = client.post(URL + "describe/", **SPEAKS, HTTP_X_STRANGLER_TOKEN="nope")
    assert wrong.status_code == 403
    right = client.post(URL + "describe/", **SPEAKS, HTTP_X_STRANGLER_TOKEN="s3cret")
    assert right.status_code == 200
    assert right.json()["count"] == 3


@override_settings(DEBUG=False)
def test_endpoints_refuse_everything_without_a_token_outside_debug(client, db, monkeypatch):
    monkeypatch.delenv("STRANGLER_INTERNAL_TOKEN", raising=False)
    response = client.post(URL + "describe/", **SPEAKS)
    assert response.status_code == 403
    assert "STRANGLER_INTERNAL_TOKEN" in response.json()["error"]


def test_endpoints_answer_checksums_and_rows(client, legacy_products, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    legacy_products(40)
    headers = {**SPEAKS, "HTTP_X_STRANGLER_TOKEN": "s3cret"}
    sums = client.post(URL + "checksums/", {"segments": [[1, 41, 4]]}, **headers).json()
    assert [count for count, _ in sums["segments"][0]] == [10, 10, 10, 10]
    assert sums["rows_hashed"] == 40
    rows = client.post(URL + "rows/", {"ranges": [[5, 7]]}, **headers).json()["rows"]
    assert sorted(rows) == ["5", "6"]


def test_endpoints_explain_bad_requests(client, db, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "s3cret")
    headers = {**SPEAKS, "HTTP_X_STRANGLER_TOKEN": "s3cret"}
    bad = client.post(URL + "checksums/", {"segments": [[9, 3, 4]]}, **headers)
    assert bad.status_code == 400 and "empty" in bad.json()["error"]
    unknown = client.post("/internal/sync/catalog/widget/describe/", {}, **headers)
    assert unknown.status_code == 404 and "catalog.product" in unknown.json()["error"]
