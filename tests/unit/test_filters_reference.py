"""``rtdata.filters`` against a SQL engine: every filter must select the rows DuckDB selects.

Each generated filter is written as realtime filter text, parsed by :func:`parse_filter` and
evaluated by :func:`matches`; the same conditions become a SQL ``WHERE`` clause (``eq`` -> ``=``,
``like`` -> ``LIKE ... ESCAPE '\\'``, ``match`` -> ``regexp_matches``, ``isdistinct`` ->
``IS DISTINCT FROM``, ``not.`` -> ``NOT (...)``, ...) run by DuckDB over the same rows. DuckDB
agrees with Postgres on three-valued logic, NaN ordering and byte-order text comparison; its
regexes are RE2, so generated regexes stay in the syntax Postgres, RE2 and Python share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtdata.filters import matches, parse_filter
from rtdata.server.schema import Column
from rtdata.server.values import coerce, comparable

duckdb = pytest.importorskip("duckdb")

COLUMNS = {
    "i": Column("i", "int8"),
    "f": Column("f", "float8"),
    "t": Column("t", "text"),
    "b": Column("b", "bool"),
}
SQL_TYPES = {"i": "BIGINT", "f": "DOUBLE", "t": "VARCHAR", "b": "BOOLEAN"}
INTS = [None, 0, 1, -1, 2, 5, 100, -(2**63), 2**63 - 1]
FLOATS = [None, 0.0, -0.0, 1.5, -2.25, math.nan, math.inf, -math.inf, 1e300, 2.0]
TEXTS = [None, "", "a", "A", "ab", "aB", "b_a", "a%b", "abc", "xyz", "a b", "é", "É", "a\\b", "Ab"]
BOOLS = [None, True, False]


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": k,
            "i": INTS[k % len(INTS)],
            "f": FLOATS[(3 * k) % len(FLOATS)],
            "t": TEXTS[(5 * k) % len(TEXTS)],
            "b": BOOLS[(7 * k) % len(BOOLS)],
        }
        for k in range(count)
    ]


ROWS = _rows(60)


def _cast(column: str, text: str) -> Any:
    return coerce(COLUMNS[column], text)


def _comparable(column: str, value: Any) -> Any:
    return comparable(COLUMNS[column], value)


# ---------------------------------------------------------------- conditions and their SQL


@dataclass(frozen=True)
class Spec:
    """One condition: its realtime filter text and its SQL with parameters."""

    text: str
    sql: str
    params: tuple[Any, ...]


_SYMBOLS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _quoted(text: str, specials: str) -> str:
    # The realtime grammar unquotes "..." with backslash escapes; quote what would split.
    if text and not any(c in specials for c in text) and text == text.strip():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_SPLITTERS = ',()"'


def _element(value: Any) -> str:
    # An in-list is a Postgres array literal: unquoted elements are trimmed, NULL is NULL.
    if value is None:
        return "null"
    text = _text_value(value)
    return f'"{text}"' if text.lower() == "null" else _quoted(text, ',(){}"\\')


def _spec(column: str, op: str, value: Any, negate: bool) -> Spec:
    if op == "in":
        elements = [_element(v) for v in value]
        text = f"in.({','.join(elements)})"
        if value:
            sql = f"{column} IN ({', '.join('NULL' if v is None else '?' for v in value)})"
        else:
            sql = "FALSE"
        params = tuple(v for v in value if v is not None)
    elif op == "is":
        text = f"is.{value}"
        sql = f"{column} IS {'NULL' if value == 'unknown' else value.upper()}"
        params = ()
    else:
        raw = _text_value(value)
        text = f"{op}.{_quoted(raw, _SPLITTERS) if column == 't' else raw}"
        params = (value,)
        if op in _SYMBOLS:
            sql = f"{column} {_SYMBOLS[op]} ?"
        elif op in {"like", "ilike"}:
            sql = f"{column} {op.upper()} ? ESCAPE '\\'"
        elif op == "match":
            sql = f"regexp_matches({column}, ?)"
        elif op == "imatch":
            sql = f"regexp_matches({column}, ?, 'i')"
        else:
            sql = f"{column} IS DISTINCT FROM ?"
    if negate:
        text, sql = f"not.{text}", f"NOT ({sql})"
    return Spec(f"{column}={text}", sql, params)


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "i": st.sampled_from([v for v in INTS if v is not None]) | st.integers(-3, 6),
    "f": st.sampled_from([v for v in FLOATS if v is not None]) | st.floats(-3, 3),
    "t": st.sampled_from([v for v in TEXTS if v is not None])
    | st.text(alphabet='aAbB_% éx.,()"\\', max_size=4),
    "b": st.booleans(),
}
_LIKE = st.lists(
    st.sampled_from(["a", "A", "b", "B", "%", "_", "\\%", "\\_", "\\\\", " ", "é", "x", "*"]),
    max_size=4,
).map("".join)
_REGEX = st.lists(
    st.sampled_from(["a", "b", "A", "B", ".", "^", "$", "a*", "b+", "[ab]", "(a|b)", "x?", "é"]),
    max_size=4,
).map("".join)


@st.composite
def conditions(draw: st.DrawFn) -> Spec:
    column = draw(st.sampled_from(sorted(COLUMNS)))
    ops = ["eq", "neq", "lt", "lte", "gt", "gte", "in", "is", "isdistinct"]
    if column == "t":
        ops += ["like", "ilike", "match", "imatch"]
    op = draw(st.sampled_from(ops))
    value: Any
    if op == "in":
        value = tuple(draw(st.lists(_VALUES[column] | st.none(), max_size=4)))
    elif op == "is":
        value = draw(
            st.sampled_from(["null", "true", "false", "unknown"] if column == "b" else ["null"])
        )
    elif op in {"like", "ilike"}:
        value = draw(_LIKE)
    elif op in {"match", "imatch"}:
        value = draw(_REGEX)
    else:
        value = draw(_VALUES[column])
    return _spec(column, op, value, draw(st.booleans()))


# ---------------------------------------------------------------- the comparison


@pytest.fixture(scope="module")
def db() -> Iterator[Any]:
    """A DuckDB connection whose table ``fixed`` holds :data:`ROWS`."""
    con = duckdb.connect()
    _load(con, "fixed", ROWS)
    yield con
    con.close()


def _load(db: Any, table: str, rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(f"{name} {typ}" for name, typ in SQL_TYPES.items())
    db.execute(f"CREATE OR REPLACE TABLE {table} (id INTEGER, {columns})")
    if rows:
        db.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)",
            [[row["id"], row["i"], row["f"], row["t"], row["b"]] for row in rows],
        )


def _assert_same(
    db: Any, rows: list[dict[str, Any]], specs: list[Spec], table: str = "fixed"
) -> None:
    text = ",".join(spec.text for spec in specs)
    conds = parse_filter(text)
    assert len(conds) == len(specs), text
    ours = {row["id"] for row in rows if matches(conds, row, _cast, _comparable)}
    where = " AND ".join(f"({spec.sql})" for spec in specs)
    params = [p for spec in specs for p in spec.params]
    theirs = {r[0] for r in db.execute(f"SELECT id FROM {table} WHERE {where}", params).fetchall()}
    assert ours == theirs, f"filter {text!r} vs SQL {where} {params}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(conditions(), min_size=1, max_size=3))
def test_filters_select_what_sql_selects(db: Any, specs: list[Spec]) -> None:
    _assert_same(db, ROWS, specs)


_ROW = st.fixed_dictionaries(
    {
        "i": st.sampled_from(INTS),
        "f": st.sampled_from(FLOATS),
        "t": st.sampled_from(TEXTS) | st.text(alphabet="aAbé_% x", max_size=3),
        "b": st.sampled_from(BOOLS),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_ROW, max_size=12), specs=st.lists(conditions(), min_size=1, max_size=2))
def test_filters_agree_on_generated_rows(
    db: Any, rows: list[dict[str, Any]], specs: list[Spec]
) -> None:
    numbered = [{"id": k, **row} for k, row in enumerate(rows)]
    _load(db, "generated", numbered)
    _assert_same(db, numbered, specs, "generated")


@pytest.mark.parametrize(
    ("column", "op", "value", "negate"),
    [
        ("i", "eq", 1, False),
        ("i", "eq", 1, True),  # NOT of NULL = 1 stays unknown: NULL rows never match
        ("i", "in", (1, None), False),
        ("i", "in", (1, None), True),  # NOT IN with a NULL element matches nothing
        ("i", "in", (), True),  # = ANY('{}') is false even for NULL, so NOT matches all
        ("i", "is", "null", True),
        ("b", "is", "unknown", False),
        ("b", "is", "false", True),
        ("i", "isdistinct", 1, False),
        ("i", "isdistinct", 1, True),
        ("f", "gt", 1e300, False),  # NaN sorts above everything, inf included
        ("f", "eq", math.nan, False),  # and NaN equals NaN
        ("f", "eq", 0.0, False),  # -0.0 = 0.0
        ("t", "like", "a\\%b", False),  # an escaped % is literal
        ("t", "like", "a_", False),
        ("t", "like", "a*", False),  # realtime: * is not a wildcard
        ("t", "ilike", "é%", False),
        ("t", "lt", "a", False),  # byte order: "A" < "a"
        ("t", "match", "^a.$", True),
        ("t", "imatch", "B$", False),
        ("t", "eq", "a,b", True),
    ],
)
def test_documented_cases(db: Any, column: str, op: str, value: Any, negate: bool) -> None:
    _assert_same(db, ROWS, [_spec(column, op, value, negate)])
