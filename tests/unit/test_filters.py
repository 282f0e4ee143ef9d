"""The filter grammar shared by realtime bindings and REST queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.filters import (
    Condition,
    FilterError,
    check_conditions,
    matches,
    parse_condition,
    parse_filter,
    predicate,
)
from rtdata.protocol import Message
from rtdata.server.auth import DEFAULT_JWT_SECRET, make_key
from rtdata.server.realtime import RealtimeHub
from rtdata.server.schema import load_schema
from rtdata.server.store import TableStore
from tests.support import KeptPushes, timeout_s


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


# ---------------------------------------------------------------- the full grammar


def test_quoted_values_and_in_lists_follow_the_realtime_server() -> None:
    assert parse_filter('name=eq."a,b",id=in.( 1 , "x,y", null, "null")') == (
        Condition("name", "eq", "a,b"),
        Condition("id", "in", ("1", "x,y", None, "null")),
    )
    # A backslash escapes inside quotes; a value not wrapped in quotes is verbatim.
    assert parse_filter(r'a=eq."say \"hi\"",b=eq.x"y') == (
        Condition("a", "eq", 'say "hi"'),
        Condition("b", "eq", 'x"y'),
    )
    assert parse_filter("id=in.()") == (Condition("id", "in", ()),)


def test_postgrest_dialect_differs_where_postgrest_does() -> None:
    assert parse_condition("t", "like.*ab*", dialect="postgrest").value == "%ab%"
    assert parse_condition("t", "like.*ab*").value == "*ab*"  # realtime: a literal star
    assert parse_condition("t", 'eq."x"', dialect="postgrest").value == '"x"'
    assert parse_condition("t", "in.(a, null)", dialect="postgrest").value == ("a", " null")
    assert parse_condition("t", "is.NULL", dialect="postgrest").value == "null"
    with pytest.raises(FilterError, match="'is' takes"):
        parse_condition("t", "is.NULL")
    many = "in.(" + ",".join(map(str, range(101))) + ")"
    assert len(parse_condition("t", many, dialect="postgrest").value) == 101
    with pytest.raises(FilterError, match="at most 100"):
        parse_condition("t", many)


@pytest.mark.parametrize(
    ("text", "problem", "sqlstate"),
    [
        ("a=eq.1,,b=eq.2", "empty segments", None),
        ("a=is.maybe", "'is' takes null, true, false or unknown", None),
        ("a=in.(1,,2)", "empty element", None),
        ("a=like.ab\\", "must not end with escape character", "22025"),
        ("a=match.(ab", "invalid regular expression", "2201B"),
        ("a=imatch.[[:nope:]]", "invalid character class", "2201B"),
    ],
)
def test_errors_name_the_segment_and_carry_the_sqlstate(
    text: str, problem: str, sqlstate: str | None
) -> None:
    with pytest.raises(FilterError, match=problem) as info:
        parse_filter(text)
    assert info.value.sqlstate == sqlstate
    if sqlstate is not None:
        assert info.value.segment == text


def _text(_column: str, text: str) -> Any:
    return text


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("t=like.a%", "abc", True),
        ("t=like.a_c", "abc", True),
        ("t=like.a_", "abc", False),
        ("t=like.a\\%", "a%", True),
        ("t=like.a\\%", "ab", False),
        ("t=ilike.A%", "abc", True),
        ("t=like.A%", "abc", False),
        ("t=like.%", "line\nbreak", True),  # % crosses newlines
        ("t=match.b", "abc", True),  # a search, not a full match
        ("t=match.^b", "abc", False),
        ("t=match.c$", "abc\n", False),  # $ is the end of the text only
        ("t=imatch.B", "abc", True),
        ("t=match.[[:digit:]]+", "a12", True),
        ("t=match.\\mcat\\M", "the cat sat", True),
        ("t=match.\\ycat\\y", "concatenate", False),
        ("t=not.like.a%", "abc", False),
        ("t=not.like.a%", None, False),  # NOT of unknown is unknown
    ],
)
def test_patterns_follow_postgres(text: str, value: str | None, expected: bool) -> None:
    assert matches(parse_filter(text), {"t": value}, _text) is expected


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("a=is.null", {"a": None}, True),
        ("a=not.is.null", {"a": None}, False),
        ("a=is.true", {"a": True}, True),
        ("a=is.false", {"a": None}, False),
        ("a=not.is.false", {"a": None}, True),  # IS NOT FALSE holds for NULL
        ("a=is.unknown", {"a": None}, True),
        ("a=isdistinct.1", {"a": None}, True),
        ("a=isdistinct.1", {"a": 1}, False),
        ("a=not.isdistinct.1", {"a": None}, False),
        ("a=in.(1,null)", {"a": 1}, True),
        ("a=not.in.(1,null)", {"a": 2}, False),  # 2 NOT IN (1, NULL) is unknown
        ("a=not.in.()", {"a": None}, True),  # NULL = ANY('{}') is false, not unknown
        ("a=like.1%", {"a": 15}, False),  # cannot be evaluated on a number: fails closed
        ("a=not.like.1%", {"a": 15}, False),
    ],
)
def test_three_valued_logic(text: str, row: dict[str, Any], expected: bool) -> None:
    assert _ok(text, row) is expected


def test_predicate_casts_once_and_rejects_bad_values_before_any_row() -> None:
    calls: list[str] = []

    def cast(_column: str, text: str) -> int:
        calls.append(text)
        return int(text)

    test = predicate(parse_filter("a=gt.1,a=in.(2,3)"), cast)
    assert [test({"a": v}) for v in (1, 2, 4)] == [False, True, False]
    assert calls == ["1", "2", "3"]
    with pytest.raises(ValueError, match="invalid literal"):
        predicate(parse_filter("a=eq.x"), cast)


@pytest.mark.parametrize(
    ("text", "sqlstate"),
    [
        ("nope=eq.1", "42703"),
        ("n=is.true", "42804"),
        ("n=like.1%", "42883"),
        ("n=eq.x", "22P02"),
        ("n=in.(1,x)", "22P02"),
        ("j=eq.1", "42883"),
    ],
)
def test_check_conditions_rejects_what_postgres_rejects(text: str, sqlstate: str) -> None:
    types = {"n": "int8", "t": "text", "b": "bool", "j": "json"}
    with pytest.raises(FilterError) as info:
        check_conditions(parse_filter(text), types, lambda _c, v: int(v))
    assert info.value.sqlstate == sqlstate


def test_check_conditions_accepts_what_fits() -> None:
    types = {"n": "int8", "t": "varchar", "b": "bool"}
    text = "n=is.null,n=in.(1,null),t=ilike.a%,t=match.^x,b=is.unknown,n=isdistinct.3"
    check_conditions(parse_filter(text), types, lambda _c, v: v if v.isalpha() else int(v))


# ---------------------------------------------------------------- the realtime server


@pytest.mark.parametrize(
    ("filter_text", "refusal"),
    [
        ("closed_at=lt.now()", 'invalid input syntax for type timestamp with time zone: "now()"'),
        ("closed_at=gte.now()-15m", '"now()-15m"'),
        ("closed_at=gt.col(expires_at)", '"col(expires_at)"'),
        ("kind=eq.now()", None),  # a text column: the text now(), as Supabase compares it
    ],
)
def test_the_realtime_server_reads_now_and_col_as_constants(
    tmp_path: Path, filter_text: str, refusal: str | None
) -> None:
    # Widget filters compare with the render time and other columns; a subscription filter
    # compares with a constant, cast to the column's type, as Supabase Realtime does.
    sql = tmp_path / "0001.sql"
    sql.write_text(
        "create table items (id int8 primary key, kind text, expires_at timestamptz,"
        " closed_at timestamptz);\n"
        "alter publication supabase_realtime add table items;\n"
    )
    hub = RealtimeHub(TableStore(load_schema(sql)), DEFAULT_JWT_SECRET)
    transport = KeptPushes()
    session = hub.connect(transport, make_key("service_role"))
    binding = {"event": "*", "schema": "public", "table": "items", "filter": filter_text}
    config = {"postgres_changes": [binding]}
    session.handle(Message("realtime:items", "phx_join", {"config": config}, "1", "1"))
    reply, system = transport.sent
    assert reply.payload["status"] == "ok"  # the join itself; the binding is answered next
    if refusal is None:
        assert (system.payload["status"], system.payload["message"]) == (
            "ok",
            "Subscribed to PostgreSQL",
        )
        return
    assert system.payload["status"] == "error"
    assert system.payload["message"].startswith(
        "Unable to subscribe to changes with given parameters."
    )
    assert refusal in system.payload["message"]


# ---------------------------------------------------------------- hostile patterns


@pytest.mark.timeout(timeout_s(60))
@pytest.mark.parametrize(
    "text",
    [
        "t=match.^(a+)+$",  # exponential on a backtracking engine: 2**n paths, then no match
        "t=imatch.^(a|aa)+$",
        "t=match.^(\\w+\\s?)*$",
        "t=like.%a%a%a%a%a%a%a%a%a%a%a%a%b",  # polynomial on a backtracking engine
    ],
)
def test_a_pathological_pattern_is_evaluated_in_linear_time(text: str) -> None:
    # A backtracking engine would not finish these within the test's timeout (each extra "a"
    # doubles the work of the first); RE2 reads the text once.
    value = "a" * 50_000 + "!"
    assert not matches(parse_filter(text), {"t": value}, _cast)
    assert matches(parse_filter(text), {"t": "a" * 50_000 + ("b" if "like" in text else "")}, _cast)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(a)\\1", "back-references are not supported by the local server"),
        ("(?=a)a", "lookahead and lookbehind are not supported"),
        ("(?<!a)b", "lookahead and lookbehind are not supported"),
        ("\\m(ab)", "\\\\m and \\\\M other than next to a letter"),
        ("a*\\M", "\\\\m and \\\\M other than next to a letter"),
        ("a{256}", "invalid repetition count"),
        ("a{1,300}", "invalid repetition count"),
        ("\\pL{255}", "pattern too large"),  # past MAX_PATTERN_MEMORY_BYTES
    ],
)
def test_patterns_that_need_backtracking_or_too_much_memory_are_2201B(
    pattern: str, problem: str
) -> None:
    with pytest.raises(FilterError, match=problem) as info:
        parse_condition("t", f"imatch.{pattern}")
    assert info.value.sqlstate == "2201B"
    assert info.value.reason.startswith("invalid regular expression: ")


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("\\mcat\\M", "the cat sat", True),
        ("\\mcat\\M", "concatenate", False),
        ("\\m\\w+\\M", "  word ", True),
        ("\\m\\d+\\M", "a1", False),  # 1 does not start a word: a precedes it
        ("x\\M", "xy", False),
        ("a{2,255}", "aa", True),
        ("c\\Z", "abc", True),
        ("c\\Z", "abc\n", False),
    ],
)
def test_word_edges_and_end_of_text_translate_exactly(
    pattern: str, value: str, expected: bool
) -> None:
    assert matches([parse_condition("t", f"match.{pattern}")], {"t": value}, _cast) is expected


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(["like", "ilike", "match", "imatch"]),
    pattern=st.text(max_size=40),
    value=st.text(max_size=40),
)
def test_any_pattern_parses_or_is_a_filter_error_and_never_raises_when_evaluated(
    op: str, pattern: str, value: str
) -> None:
    try:
        conditions = parse_filter(f"t={op}.{pattern}")
    except FilterError as exc:
        error = exc
    else:
        assert matches(conditions, {"t": value}, _cast) in {True, False}
        return
    assert error.sqlstate in {None, "2201B", "22025"}


def test_a_rest_pattern_is_left_to_postgres_but_checked_before_python_evaluates_it() -> None:
    # PostgREST's dialect: Postgres evaluates the filter on that backend and runs
    # back-references itself, so parsing accepts it; where Python evaluates (the in-memory
    # store, realtime), check_conditions refuses it as PostgREST would answer Postgres.
    cond = parse_condition("t", "match.(a)\\1", dialect="postgrest")
    with pytest.raises(FilterError, match="back-references") as info:
        check_conditions([cond], {"t": "text"})
    assert (info.value.sqlstate, info.value.segment) == ("2201B", "t=match.(a)\\1")
    with pytest.raises(FilterError, match="back-references"):
        parse_condition("t", "match.(a)\\1")  # realtime: refused at join


def test_an_uncompiled_rest_pattern_matches_no_row_when_evaluated_directly() -> None:
    cond = parse_condition("t", "match.(a)\\1", dialect="postgrest")
    assert not matches([cond], {"t": "aa"}, _cast)
    assert not matches([Condition("t", "match", "(a)\\1", negate=True)], {"t": "b"}, _cast)
