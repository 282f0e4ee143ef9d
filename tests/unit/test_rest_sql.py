"""PostgREST requests as SQL: the statement each feature produces, and client values that only
ever travel as parameters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata.server.postgres import rest_sql
from rtdata.server.postgres.rest_pg import status_of
from rtdata.server.postgrest import parse_query
from rtdata.server.store import StoreError

NOTES = rest_sql.Target("notes", primary_key=("id",))
ALL = rest_sql.Output(count=True)


def _read(*params: tuple[str, str], first: int = 0, last: int | None = None) -> rest_sql.Statement:
    return rest_sql.select(NOTES, parse_query(params), first, last, rest_sql.Output())


@pytest.mark.parametrize(
    ("expression", "sql", "value"),
    [
        ("eq.1", '"notes"."x" = $1', "1"),
        ("neq.1", '"notes"."x" <> $1', "1"),
        ("lt.1", '"notes"."x" < $1', "1"),
        ("lte.1", '"notes"."x" <= $1', "1"),
        ("gt.1", '"notes"."x" > $1', "1"),
        ("gte.1", '"notes"."x" >= $1', "1"),
        ("like.*a_b*", '"notes"."x" LIKE $1', "%a_b%"),
        ("ilike.A*", '"notes"."x" ILIKE $1', "A%"),
        ("match.^a", '"notes"."x" ~ $1', "^a"),
        ("imatch.^a", '"notes"."x" ~* $1', "^a"),
        ("isdistinct.1", '"notes"."x" IS DISTINCT FROM $1', "1"),
        ('in.(1,"a,b",c)', '"notes"."x" = ANY($1)', '{"1","a,b","c"}'),
        ("not.eq.1", 'NOT ("notes"."x" = $1)', "1"),
        ("not.in.()", 'NOT ("notes"."x" = ANY($1))', "{}"),
    ],
)
def test_every_operator_compares_the_column_with_a_parameter(
    expression: str, sql: str, value: str
) -> None:
    statement = _read(("x", expression))
    assert f"WHERE {sql}" in statement.sql
    assert statement.params == (value,)


@pytest.mark.parametrize(
    ("value", "sql"),
    [("null", "IS NULL"), ("true", "IS TRUE"), ("false", "IS FALSE"), ("NULL", "IS NULL")],
)
def test_is_takes_no_parameter(value: str, sql: str) -> None:
    statement = _read(("x", f"is.{value}"))
    assert f'"notes"."x" {sql}' in statement.sql
    assert statement.params == ()


def test_select_aliases_order_and_range() -> None:
    statement = _read(
        ("select", 'id,n:body,"odd \\"name\\",x",*'),
        ("order", "body.desc.nullslast,id.nullsfirst"),
        first=5,
        last=9,
    )
    assert (
        'SELECT "notes"."id" AS "id", "notes"."body" AS "n", "notes"."odd ""name"",x" AS'
        ' "odd ""name"",x", "notes".* FROM "public"."notes"'
    ) in statement.sql
    assert 'ORDER BY "notes"."body" DESC NULLS LAST, "notes"."id" ASC NULLS FIRST' in statement.sql
    assert statement.sql.endswith('LIMIT 5 OFFSET 5) AS "pgrst_page"')


def test_the_body_is_json_from_postgres_and_count_repeats_the_filters() -> None:
    query = parse_query([("id", "gt.1")])
    plain = rest_sql.select(NOTES, query, 0, None, rest_sql.Output())
    assert "CAST(COALESCE(JSON_AGG(\"pgrst_page\"), '[]') AS TEXT) AS body" in plain.sql
    assert plain.sql.startswith("SELECT NULL AS total, COUNT(*) AS page_rows")
    counted = rest_sql.select(NOTES, query, 0, None, rest_sql.Output(count=True, stripped=True))
    assert (
        'SELECT (SELECT COUNT(*) FROM "public"."notes" WHERE "notes"."id" > $1) AS total'
        in counted.sql
    )
    assert counted.params == ("1",)  # one parameter, used twice
    assert "JSON_STRIP_NULLS(JSON_AGG(" in counted.sql


def test_insert_expands_one_json_parameter_and_returns_1_without_a_body() -> None:
    rows = [{"id": 1, "body": "a"}, {"id": 2, "body": "b"}]
    statement = rest_sql.insert(NOTES, parse_query([]), rows, rest_sql.Output(body=False))
    assert (
        'INSERT INTO "public"."notes" ("id", "body") SELECT "pgrst_body"."id",'
        ' "pgrst_body"."body" FROM JSON_POPULATE_RECORDSET(CAST(NULL AS "public"."notes"), $1)'
        ' AS "pgrst_body" RETURNING 1'
    ) in statement.sql
    assert statement.params == ('[{"id":1,"body":"a"},{"id":2,"body":"b"}]',)
    assert "CAST(NULL AS TEXT) AS body" in statement.sql


def test_rows_with_different_keys_are_one_insert_each_under_missing_default() -> None:
    rows = [{"body": "a"}, {"id": 7, "body": "b"}, {"body": "c"}]
    statement = rest_sql.insert(NOTES, parse_query([]), rows, ALL)
    assert statement.params == ('[{"body":"a"},{"body":"c"}]', '[{"id":7,"body":"b"}]')
    assert 'INSERT INTO "public"."notes" ("body") SELECT' in statement.sql
    assert 'INSERT INTO "public"."notes" ("id", "body") SELECT' in statement.sql
    assert '"pgrst_source_0" UNION ALL SELECT * FROM "pgrst_source_1"' in statement.sql
    assert 'RETURNING "notes".*' in statement.sql


def test_upserts() -> None:
    rows = [{"id": 1, "body": "a"}]
    merge = rest_sql.insert(NOTES, parse_query([]), rows, ALL, rest_sql.Resolution.MERGE)
    assert (
        'ON CONFLICT("id") DO UPDATE SET "id" = "excluded"."id", "body" = "excluded"."body"'
        in merge.sql
    )
    ignore = rest_sql.insert(
        NOTES, parse_query([("on_conflict", "body")]), rows, ALL, rest_sql.Resolution.IGNORE
    )
    assert 'ON CONFLICT("body") DO NOTHING' in ignore.sql


def test_update_and_delete() -> None:
    query = parse_query([("id", "eq.3")])
    update = rest_sql.update(NOTES, query, {"body": "z"}, rest_sql.Output())
    assert (
        'UPDATE "public"."notes" SET "body" = "pgrst_body"."body" FROM'
        ' JSON_POPULATE_RECORDSET(CAST(NULL AS "public"."notes"), $1) AS "pgrst_body"'
        ' WHERE "notes"."id" = $2 RETURNING "notes".*'
    ) in update.sql
    assert update.params == ('[{"body":"z"}]', "3")
    delete = rest_sql.delete(NOTES, query, rest_sql.Output(body=False))
    assert 'DELETE FROM "public"."notes" WHERE "notes"."id" = $1 RETURNING 1' in delete.sql


def test_identifiers_are_quoted_whatever_they_hold() -> None:
    target = rest_sql.Target('we"ird; drop table x', schema="My Schema")
    statement = rest_sql.select(target, parse_query([]), 0, None, rest_sql.Output())
    assert 'FROM "My Schema"."we""ird; drop table x"' in statement.sql


def test_array_literals_escape_quotes_and_backslashes() -> None:
    assert rest_sql.array_literal(['a"b', "c\\d", None, ""]) == '{"a\\"b","c\\\\d",NULL,""}'


_VALUE = st.text(st.characters(codec="utf-8"), max_size=30)
_OPS = st.sampled_from(["eq", "neq", "lt", "gte", "like", "ilike", "match", "isdistinct"])


@given(op=_OPS, negate=st.booleans(), first=_VALUE, second=_VALUE)
def test_filter_values_never_change_the_sql_text(
    op: str, negate: bool, first: str, second: str
) -> None:
    prefix = "not." if negate else ""
    try:
        one = _read(("x", f"{prefix}{op}.{first}"))
        two = _read(("x", f"{prefix}{op}.{second}"))
    except StoreError:  # an invalid regex or LIKE pattern: refused before any SQL
        return
    assert one.sql == two.sql
    assert one.params[0] in {first, first.replace("*", "%")}


# A NUL byte never reaches SQL: parse_query refuses it (22021).
@given(
    values=st.lists(
        _VALUE.filter(lambda v: "," not in v and '"' not in v and "\x00" not in v), max_size=5
    )
)
def test_in_lists_of_any_length_are_one_parameter(values: list[str]) -> None:
    statement = _read(("x", "in.(" + ",".join(values) + ")"))
    assert statement.sql == _read(("x", "in.(a)")).sql
    assert len(statement.params) == 1


@given(rows=st.lists(st.fixed_dictionaries({"body": _VALUE}), min_size=1, max_size=4))
def test_inserted_values_never_change_the_sql_text(rows: list[dict[str, str]]) -> None:
    statement = rest_sql.insert(NOTES, parse_query([]), rows, ALL)
    assert statement.sql == rest_sql.insert(NOTES, parse_query([]), [{"body": "x"}], ALL).sql
    assert re.findall(r"\$\d+", statement.sql) == ["$1"]


@pytest.mark.parametrize(
    ("sqlstate", "anonymous", "status"),
    [
        ("23505", False, 409),
        ("23503", False, 409),
        ("42501", True, 401),
        ("42501", False, 403),
        ("22P02", False, 400),
        ("22003", False, 400),
        ("23502", False, 400),
        ("23514", False, 400),
        ("42P01", False, 404),
        ("42703", False, 400),
        ("57014", False, 500),
        ("57P01", False, 503),
        ("08006", False, 503),
        ("P0001", False, 400),
        ("P0002", False, 500),
    ],
)
def test_sqlstates_map_to_postgrests_statuses(sqlstate: str, anonymous: bool, status: int) -> None:
    assert status_of(sqlstate, anonymous=anonymous) == status
