"""Comparing monolith and service answers: what counts as a difference and how it reads."""

from __future__ import annotations

import json

from strangler.gateway.compare import CapturedResponse, compare_responses
from strangler.gateway.jsonpath import parse_path

JSON = {"content-type": "application/json"}


def answer(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> CapturedResponse:
    return CapturedResponse(status, headers or JSON, json.dumps(data).encode())


def test_a_changed_value_is_reported_as_path_monolith_value_service_value() -> None:
    result = compare_responses(
        answer({"results": [{"id": 1, "price": "10.00"}]}),
        answer({"results": [{"id": 1, "price": "12.00"}]}),
        ignore=[],
        headers=(),
    )
    assert not result.matched
    assert result.readable() == '$.results[0].price: "10.00" -> "12.00"'
    assert result.differences[0].pattern == "$.results[*].price"


def test_ignored_fields_do_not_count() -> None:
    result = compare_responses(
        answer({"results": [{"id": 1, "updated_at": "2024-01-01"}]}),
        answer({"results": [{"id": 1, "updated_at": "2025-05-05"}]}),
        ignore=[parse_path("$.results[*].updated_at")],
        headers=(),
    )
    assert result.matched


def test_key_order_and_whitespace_do_not_matter_but_missing_keys_do() -> None:
    left = CapturedResponse(200, JSON, b'{"a": 1, "b": 2}')
    right = CapturedResponse(200, JSON, b'{"b":2,"a":1}')
    assert compare_responses(left, right, ignore=[], headers=()).matched
    result = compare_responses(answer({"a": 1, "b": 2}), answer({"a": 1}), ignore=[], headers=())
    assert result.readable() == "$.b: 2 -> <missing>"


def test_json_numbers_compare_by_value_but_true_is_not_one() -> None:
    assert compare_responses(answer({"n": 1}), answer({"n": 1.0}), ignore=[], headers=()).matched
    result = compare_responses(answer({"n": 1}), answer({"n": True}), ignore=[], headers=())
    assert result.readable() == "$.n: 1 -> true"


def test_status_and_selected_headers_are_compared() -> None:
    result = compare_responses(
        answer({}, 200, {"content-type": "application/json", "x-other": "1"}),
        answer({}, 404, {"content-type": "text/html", "x-other": "2"}),
        ignore=[],
        headers=("content-type",),
    )
    assert [str(d) for d in result.differences] == [
        "status: 200 -> 404",
        'header content-type: "application/json" -> "text/html"',
    ]


def test_list_length_differences_show_the_extra_items() -> None:
    result = compare_responses(answer([1, 2]), answer([1, 2, 3]), ignore=[], headers=())
    assert result.readable() == "$[2]: <missing> -> 3"


def test_non_json_bodies_are_compared_byte_for_byte() -> None:
    same = compare_responses(
        CapturedResponse(200, {}, b"<p>hi</p>"),
        CapturedResponse(200, {}, b"<p>hi</p>"),
        ignore=[],
        headers=(),
    )
    assert same.matched
    different = compare_responses(
        CapturedResponse(200, {}, b"<p>hi</p>"),
        CapturedResponse(200, {}, b"<p>ho</p>"),
        ignore=[],
        headers=(),
    )
    assert different.differences[0].path == "body"
