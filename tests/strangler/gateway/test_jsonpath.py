"""The JSONPath subset used by shadow ignore rules."""

from __future__ import annotations

import pytest

from strangler.gateway.jsonpath import JSONPathError, parse_path, remove_paths


def test_wildcard_over_a_list_removes_the_field_from_every_item() -> None:
    doc = {"results": [{"id": 1, "updated_at": "a"}, {"id": 2, "updated_at": "b"}], "count": 2}
    assert remove_paths(doc, [parse_path("$.results[*].updated_at")]) == {
        "results": [{"id": 1}, {"id": 2}],
        "count": 2,
    }


def test_original_document_is_left_untouched() -> None:
    doc = {"a": {"b": 1}}
    remove_paths(doc, [parse_path("$.a.b")])
    assert doc == {"a": {"b": 1}}


def test_index_and_quoted_key_select_one_place() -> None:
    doc = {"items": [{"x": 1}, {"x": 2}], "odd key": 3, "*": 4}
    paths = [parse_path("$.items[1].x"), parse_path("$['odd key']"), parse_path("$['*']")]
    assert remove_paths(doc, paths) == {"items": [{"x": 1}, {}]}


def test_negative_index_counts_from_the_end() -> None:
    assert remove_paths([1, 2, 3], [parse_path("$[-1]")]) == [1, 2]


def test_wildcard_on_a_list_removes_all_items() -> None:
    assert remove_paths({"tags": ["a", "b"]}, [parse_path("$.tags[*]")]) == {"tags": []}


def test_missing_paths_are_ignored() -> None:
    doc = {"a": 1}
    assert remove_paths(doc, [parse_path("$.b.c[3]"), parse_path("$.a.b")]) == {"a": 1}


def test_dollar_alone_ignores_the_whole_document() -> None:
    assert remove_paths({"a": 1}, [parse_path("$")]) is None


@pytest.mark.parametrize("expression", ["results.id", "$..id", "$.a[?(@.x)]", "$.a[1:2]", "$."])
def test_unsupported_expressions_are_refused_with_the_supported_subset(expression: str) -> None:
    with pytest.raises(JSONPathError, match=r"'\$'|supported"):
        parse_path(expression)
