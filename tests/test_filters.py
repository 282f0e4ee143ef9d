"""The filter grammar shared by realtime bindings and REST queries."""

from __future__ import annotations

from typing import Any

import pytest

from rtdata.filters import Condition, FilterError, matches, parse_filter


def _cast(_column: str, text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _ok(text: str, row: dict[str, Any]) -> bool:
    return matches(parse_filter(text), row, _cast)


def test_parse_segments_and_not_prefix() -> None:
    assert parse_filter("status=eq.pending,priority=not.gt.2") == (
        Condition("status", "eq", "pending"),
        Condition("priority", "gt", "2", negate=True),
    )


def test_commas_inside_parentheses_do_not_split() -> None:
    (cond,) = parse_filter("id=in.(1,2,3)")
    assert cond == Condition("id", "in", ("1", "2", "3"))


def test_empty_filter_matches_everything() -> None:
    assert parse_filter("") == ()
    assert parse_filter(None) == ()
    assert _ok("", {"a": 1})


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("a=eq.1", {"a": 1}, True),
        ("a=eq.1", {"a": 2}, False),
        ("a=neq.1", {"a": 2}, True),
        ("a=lt.5", {"a": 4}, True),
        ("a=lte.5", {"a": 5}, True),
        ("a=gt.5", {"a": 5}, False),
        ("a=gte.5", {"a": 5}, True),
        ("a=in.(1,2)", {"a": 2}, True),
        ("a=in.(1,2)", {"a": 3}, False),
        ("a=not.in.(1,2)", {"a": 3}, True),
        ("a=not.eq.1", {"a": 1}, False),
        ("a=eq.1,b=eq.x", {"a": 1, "b": "x"}, True),
        ("a=eq.1,b=eq.x", {"a": 1, "b": "y"}, False),
        ("a=eq.1", {"b": 1}, False),  # missing column fails closed
        ("a=eq.1", {"a": None}, False),  # NULL never compares
        ("a=not.eq.1", {"a": None}, False),
    ],
)
def test_matches(text: str, row: dict[str, Any], expected: bool) -> None:
    assert _ok(text, row) is expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("status", "must look like column=op.value"),
        ("status=pending", "must look like column=op.value"),
        ("status=zz.1", "unsupported operator 'zz'"),
        ("id=in.1,2", "'in' needs a list"),
        ("=eq.1", "no column"),
    ],
)
def test_bad_filters_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(FilterError, match=problem):
        parse_filter(text)
