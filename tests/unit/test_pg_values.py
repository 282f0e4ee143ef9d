"""Text-format values to the JSON ``to_jsonb`` gives (the database itself checks the same in
tests/integration/test_postgres_wal.py); array literals parsed exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata.server.postgres.values import ArrayError, JsonKind, TypeInfo, parse_array, to_json

TEXT = TypeInfo("text", JsonKind.STRING)
INT = TypeInfo("int4", JsonKind.NUMBER)
NUMERIC = TypeInfo("numeric", JsonKind.NUMBER)
TSTZ = TypeInfo("timestamptz", JsonKind.TIMESTAMP)


def array_of(element: TypeInfo) -> TypeInfo:
    return TypeInfo("_" + element.name, JsonKind.ARRAY, element)


@pytest.mark.parametrize(
    ("text", "info", "expected"),
    [
        ("42", INT, 42),
        ("-7", INT, -7),
        ("1.50", NUMERIC, 1.5),
        ("NaN", NUMERIC, "NaN"),
        ("-Infinity", TypeInfo("float8", JsonKind.NUMBER), "-Infinity"),
        ("1e+300", TypeInfo("float8", JsonKind.NUMBER), 1e300),
        ("8.234797329514738e+16", TypeInfo("float8", JsonKind.NUMBER), 82347973295147380),
        ("1.5e-05", TypeInfo("float8", JsonKind.NUMBER), 1.5e-05),
        ("123456789012345678901234567890", NUMERIC, 1.2345678901234568e29),
        ("t", TypeInfo("bool", JsonKind.BOOL), True),
        ("f", TypeInfo("bool", JsonKind.BOOL), False),
        ('{"a": [1, 2.5, null]}', TypeInfo("jsonb", JsonKind.JSON), {"a": [1, 2.5, None]}),
        (
            "[123456789012345678901234567890]",
            TypeInfo("json", JsonKind.JSON),
            [1.2345678901234568e29],
        ),
        ("2024-05-01 10:00:00.123+00", TSTZ, "2024-05-01T10:00:00.123+00:00"),
        ("2024-05-01 10:00:00+05:30", TSTZ, "2024-05-01T10:00:00+05:30"),
        ("0044-03-15 00:00:00+00 BC", TSTZ, "0044-03-15T00:00:00+00:00 BC"),
        ("2024-05-01 10:00:00", TypeInfo("timestamp", JsonKind.TIMESTAMP), "2024-05-01T10:00:00"),
        ("infinity", TSTZ, "infinity"),
        ("2024-05-01", TypeInfo("date", JsonKind.DATE), "2024-05-01"),
        (
            "b8f3c2a0-0000-4000-8000-000000000001",
            TypeInfo("uuid", JsonKind.STRING),
            ("b8f3c2a0-0000-4000-8000-000000000001"),
        ),
        ("{1,2,NULL}", array_of(INT), [1, 2, None]),
        ("{{1,2},{3,4}}", array_of(INT), [[1, 2], [3, 4]]),
        ('{"a b","c\\"d",NULL,"NULL"}', array_of(TEXT), ["a b", 'c"d', None, "NULL"]),
        ("[0:1]={x,y}", array_of(TEXT), ["x", "y"]),
        ("{\x1f, a }", array_of(TEXT), ["\x1f", "a"]),  # not a space to Postgres
        ("{}", array_of(TEXT), []),
        ('{"2024-05-01 10:00:00+00"}', array_of(TSTZ), ["2024-05-01T10:00:00+00:00"]),
        (
            "{(0,0),(1,1);(2,2),(3,3)}",
            TypeInfo("_box", JsonKind.ARRAY, TEXT, ";"),
            [
                "(0,0),(1,1)",
                "(2,2),(3,3)",
            ],
        ),
    ],
)
def test_values_render_as_to_jsonb_does(text: str, info: TypeInfo, expected: Any) -> None:
    assert to_json(text, info) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1,2", "does not start"),
        ("{1,2", "closing"),
        ('{"abc}', "unterminated"),
        ("{1,,2}", "empty unquoted"),
        ("{1,2}x", "after the array"),
        ("{1 2 {3}}", "expected"),
    ],
)
def test_malformed_arrays_are_named(text: str, problem: str) -> None:
    with pytest.raises(ArrayError, match=problem):
        parse_array(text)


@pytest.mark.parametrize(("text", "info"), [("yes", TypeInfo("bool", JsonKind.BOOL)), ("1x", INT)])
def test_impossible_scalars_raise_value_error(text: str, info: TypeInfo) -> None:
    with pytest.raises(ValueError, match="text format"):
        to_json(text, info)


def _quote(element: str | None) -> str:
    if element is None:
        return "NULL"
    return '"' + element.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(items: list[Any]) -> str:
    return "{" + ",".join(_literal(i) if isinstance(i, list) else _quote(i) for i in items) + "}"


elements = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)), max_size=8))


@given(
    st.lists(elements, max_size=6)
    | st.lists(st.lists(elements, min_size=2, max_size=2), max_size=3)
)
def test_array_literals_round_trip(items: list[Any]) -> None:
    assert parse_array(_literal(items)) == items
