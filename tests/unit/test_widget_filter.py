"""Widget filters with ``now()`` and ``col(name)`` values: parsing, times, evaluation over rows
and records (which agree), and the realtime grammar that stays without them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from rtdata.filters import Condition, FilterError, parse_filter
from rtdata.views.widgets import breakdown, feed, lifecycle, queue, tiles
from rtdata.views.widgets import map as map_widget
from rtdata.views.widgets._common import filter_mask
from rtdata.views.widgets._filter import (
    MAX_OFFSET_S,
    ColumnRef,
    Comparison,
    RelativeTime,
    filter_columns,
    parse_widget_filter,
    time_us,
)
from rtdata.views.widgets._spec import compile_filter
from tests.unit.widget_data import at, change, iso, snapshot

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.isoformat()


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expires_at=lt.now()", Comparison("expires_at", "lt", RelativeTime(0.0))),
        ("created_at=gte.now()-15m", Comparison("created_at", "gte", RelativeTime(-900.0))),
        ("created_at=gte.now()-30s", Comparison("created_at", "gte", RelativeTime(-30.0))),
        ("starts_at=lte.now()+2h", Comparison("starts_at", "lte", RelativeTime(7200.0))),
        ("starts_at=lte.NOW() + 1.5d", Comparison("starts_at", "lte", RelativeTime(129600.0))),
        ("a=not.eq.now()", Comparison("a", "eq", RelativeTime(0.0), negate=True)),
        ("closed_at=gt.col(expires_at)", Comparison("closed_at", "gt", ColumnRef("expires_at"))),
        ("a=neq.Col( b )", Comparison("a", "neq", ColumnRef("b"))),
        ('a=eq."now()"', Condition("a", "eq", "now()")),  # quoted: the text
        ("a=in.(now(),x)", Condition("a", "in", ("now()", "x"))),
        ("a=lt.nowadays", Condition("a", "lt", "nowadays")),
        ("a=lt.now", Condition("a", "lt", "now")),
    ],
)
def test_now_and_col_values_parse_in_widget_filters(text: str, expected: object) -> None:
    assert parse_widget_filter(text) == (expected,)


def test_a_widget_filter_mixes_the_forms_and_names_every_column() -> None:
    parsed = parse_widget_filter("status=eq.open,closed_at=gt.col(expires_at),at=lt.now()-1h")
    assert parsed[0] == Condition("status", "eq", "open")
    assert [c.text() for c in parsed] == [
        "status=eq.open",
        "closed_at=gt.col(expires_at)",
        "at=lt.now()-1h",
    ]
    assert filter_columns(parsed) == ["status", "closed_at", "expires_at", "at"]
    assert parse_widget_filter("") == parse_widget_filter(None) == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("at=lt.now()-15x", "bad duration '-15x' in 'now()-15x'"),
        ("at=lt.now()-15", "bad duration '-15'"),
        ("at=lt.now()*2", "bad duration '*2'"),
        ("at=lt.now(1)", "now() takes no argument, not 'now(1)'"),
        ("at=like.now()", "'now()' compares with eq, neq, lt, lte, gt or gte only, not 'like'"),
        ("at=is.now()", "not 'is'"),
        ("at=gt.col()", "'col()' is not a column reference"),
        ("at=gt.col(a,b)", "'col(a,b)' is not a column reference"),
        ("at=gt.col(a b)", "'col(a b)' is not a column reference"),
        ("=gt.col(a)", "no column name"),
        ("at=lt.now()-10001d", "longer than 10000 days"),
        ("at=lt.now(),,b=eq.1", "empty segments"),
    ],
)
def test_malformed_now_and_col_values_name_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(FilterError) as err:
        parse_widget_filter(text)
    assert problem in err.value.reason
    if "empty" not in problem:  # the segment at fault
        assert err.value.segment is not None
        assert text.startswith(err.value.segment)


def test_the_longest_duration_is_ten_thousand_days() -> None:
    assert MAX_OFFSET_S == 10_000 * 86400
    assert parse_widget_filter("a=gt.now()-10000d") == (
        Comparison("a", "gt", RelativeTime(-MAX_OFFSET_S)),
    )


def test_the_realtime_grammar_reads_now_and_col_as_text() -> None:
    # What Supabase Realtime and PostgREST accept is unchanged: a constant, cast later.
    assert parse_filter("at=lt.now()-15m,b=gt.col(c)") == (
        Condition("at", "lt", "now()-15m"),
        Condition("b", "gt", "col(c)"),
    )


# ---------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00+00:00", NOW),
        ("2024-05-01T12:00:00Z", NOW),
        ("2024-05-01 14:00:00+02", NOW),
        ("2024-05-01T17:30:00+0530", NOW),
        ("2024-05-01T12:00:00", NOW),  # no offset: UTC
        ("2024-05-01T12:00", NOW),
        ("2024-05-01", NOW - timedelta(hours=12)),
        ("2024-05-01T12:00:00.5+00:00", NOW + timedelta(milliseconds=500)),
        (NOW, NOW),
        (pd.Timestamp(NOW), NOW),
        (datetime(2024, 5, 1, 12, 0), NOW),  # naive: UTC
        (NOW.astimezone(timezone(timedelta(hours=-3))), NOW),
    ],
)
def test_times_are_iso_texts_and_datetimes(value: object, expected: datetime) -> None:
    assert time_us(value) == pd.Timestamp(expected).value // 1000


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "2024-13-01", "2024-05-01T25:00", "20240501", "2024-W18", 1714564800,
     1714564800.0, True, pd.NaT, {"at": "2024-05-01"}],
)  # fmt: skip
def test_other_values_are_not_times(value: object) -> None:
    assert time_us(value) is None


# ---------------------------------------------------------------- evaluation


def _rows(**columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def test_now_compares_a_time_column_with_the_render_time() -> None:
    at = [
        _iso(NOW - timedelta(minutes=20)),
        _iso(NOW - timedelta(minutes=5)),
        _iso(NOW + timedelta(minutes=5)),
        None,
        "later",
        (NOW - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=2))).isoformat(),
    ]
    rows = _rows(at=at)
    assert filter_mask(rows, "at=lt.now()", NOW).tolist() == [1, 1, 0, 0, 0, 1]
    assert filter_mask(rows, "at=gte.now()-15m", NOW).tolist() == [0, 1, 1, 0, 0, 1]
    assert filter_mask(rows, "at=gte.now()-15m,at=lt.now()", NOW).tolist() == [0, 1, 0, 0, 0, 1]
    # Null and not-a-time are unknown: never matched, negated or not.
    assert filter_mask(rows, "at=not.lt.now()", NOW).tolist() == [0, 0, 1, 0, 0, 0]
    # Time passes, the rows stay: the same filter keeps more of them.
    later = NOW + timedelta(minutes=10)
    assert filter_mask(rows, "at=lt.now()", later).tolist() == [1, 1, 1, 0, 0, 1]


def test_now_reads_datetime_columns_too() -> None:
    rows = pd.DataFrame({"at": pd.to_datetime([NOW - timedelta(hours=1), None, NOW], utc=True)})
    assert filter_mask(rows, "at=lt.now()-30m", NOW).tolist() == [1, 0, 0]
    assert filter_mask(rows, "at=eq.now()", NOW).tolist() == [0, 0, 1]


def test_col_compares_two_columns_of_a_row() -> None:
    rows = _rows(
        closed_at=[
            "2024-05-01T12:10:00+00:00",
            "2024-05-01T12:10:00+02:00",  # 10:10 UTC: before
            None,
            "2024-05-01T12:10:00Z",
            "b",
            "b",
        ],
        expires_at=["2024-05-01T12:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z",
                    None, "a", "2024-05-01T12:00:00Z"],
    )  # fmt: skip
    assert filter_mask(rows, "closed_at=gt.col(expires_at)", NOW).tolist() == [1, 0, 0, 0, 1, 1]
    assert filter_mask(rows, "closed_at=lte.col(expires_at)", NOW).tolist() == [0, 1, 0, 0, 0, 0]
    assert filter_mask(rows, "closed_at=not.gt.col(expires_at)", NOW).tolist() == [
        0, 1, 0, 0, 0, 0
    ]  # fmt: skip


def test_col_compares_numbers_as_numbers_and_other_kinds_never() -> None:
    rows = _rows(used=[10, 9.5, 3, None, "10", True], limit=[9, 10, 3, 1, 9, 1])
    assert filter_mask(rows, "used=gt.col(limit)", NOW).tolist() == [1, 0, 0, 0, 0, 0]
    assert filter_mask(rows, "used=eq.col(limit)", NOW).tolist() == [0, 0, 1, 0, 0, 0]
    # Text against a number, or a boolean against a number: unknown, even for neq.
    assert filter_mask(rows, "used=neq.col(limit)", NOW).tolist() == [1, 1, 0, 0, 0, 0]
    texts = _rows(a=["10", "9", "b"], b=["9", "10", "a"])
    assert filter_mask(texts, "a=gt.col(b)", NOW).tolist() == [0, 1, 1]  # by code point


def test_a_missing_column_matches_no_row() -> None:
    rows = _rows(at=[_iso(NOW)])
    assert not filter_mask(rows, "at=lt.col(other)", NOW).any()
    assert not filter_mask(rows, "other=lt.now()", NOW).any()
    assert not compile_filter(parse_widget_filter("at=lt.col(other)"), [])({"at": _iso(NOW)})


def test_now_must_be_passed_in() -> None:
    rows = _rows(at=[_iso(NOW)])
    with pytest.raises(ValueError, match="now"):
        filter_mask(rows, "at=lt.now()")
    with pytest.raises(ValueError, match="now"):
        compile_filter(parse_widget_filter("at=lt.now()"), [])
    # col() does not read the clock.
    assert filter_mask(_rows(a=[1], b=[0]), "a=gt.col(b)").tolist() == [True]


def test_records_follow_the_same_rules() -> None:
    keep = compile_filter(
        parse_widget_filter("status=eq.open,at=lt.now()-1m,used=gt.col(limit)"),
        [{"status": "open", "at": None, "used": 1, "limit": 0}],
        NOW,
    )
    old = _iso(NOW - timedelta(minutes=2))
    assert keep({"status": "open", "at": old, "used": 2, "limit": 1})
    assert not keep({"status": "done", "at": old, "used": 2, "limit": 1})
    assert not keep({"status": "open", "at": _iso(NOW), "used": 2, "limit": 1})
    assert not keep({"status": "open", "at": old, "used": 1, "limit": 1})
    assert not keep({"status": "open", "at": old, "used": 2})


def test_a_value_that_is_no_number_matches_no_number_in_rows_and_records_alike() -> None:
    # The server would refuse to cast it; a widget keeps no row, even for neq.
    records = [{"n": 1}, {"n": 2.5}, {"n": None}]
    frame = pd.DataFrame.from_records(records)
    for text, expected in [("n=neq.a", [0, 0, 0]), ("n=lt.2.5", [1, 0, 0]), ("n=gte.1", [1, 1, 0])]:
        keep = compile_filter(parse_widget_filter(text), records)
        assert [keep(r) for r in records] == filter_mask(frame, text).tolist() == expected


# ---------------------------------------------------------------- rows and records agree

_BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_instants = st.integers(-7200, 7200).map(lambda s: _BASE + timedelta(seconds=s))
_offsets = st.sampled_from([0, 2, -3, 5.5]).map(lambda h: timezone(timedelta(hours=h)))
_iso_texts = st.builds(
    lambda at, zone, sep, naive: (
        at.replace(tzinfo=None) if naive else at.astimezone(zone)
    ).isoformat(sep),
    _instants,
    _offsets,
    st.sampled_from(["T", " "]),
    st.booleans(),
)
# Each column holds one kind of value, and nulls, as a table's column does.
_COLUMN_KINDS = {
    "iso": st.one_of(st.none(), _iso_texts, st.sampled_from(["", "soon", "2024-13-01"])),
    "datetime": st.one_of(st.none(), _instants),
    "number": st.one_of(st.none(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0])),
    "text": st.one_of(st.none(), st.sampled_from(["a", "b", "B", "10", "9", ""])),
    "bool": st.one_of(st.none(), st.booleans()),
}


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    kinds = draw(st.lists(st.sampled_from(sorted(_COLUMN_KINDS)), min_size=2, max_size=3))
    names = [f"c{i}" for i in range(len(kinds))]
    n = draw(st.integers(0, 12))
    rows = [
        {name: draw(_COLUMN_KINDS[kind]) for name, kind in zip(names, kinds, strict=True)}
        for _ in range(n)
    ]
    return rows, names


@st.composite
def _filters(draw: st.DrawFn, names: list[str]) -> str:
    segments = []
    for _ in range(draw(st.integers(1, 3))):
        column = draw(st.sampled_from([*names, "absent"]))
        negate = draw(st.sampled_from(["", "not."]))
        op = draw(st.sampled_from(["eq", "neq", "lt", "lte", "gt", "gte"]))
        value = draw(
            st.one_of(
                st.sampled_from(["now()", "now()-30m", "now()+1h", "now()-90s"]),
                st.sampled_from([*names, "absent"]).map(lambda c: f"col({c})"),
                st.sampled_from(["1", "1.5", "a", "true"]),  # cast by the column's type
            )
        )
        segments.append(f"{column}={negate}{op}.{value}")
    return ",".join(segments)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), now=_instants)
def test_rows_and_records_agree(data: st.DataObject, now: datetime) -> None:
    records, names = data.draw(_tables())
    text = data.draw(_filters(names))
    frame = pd.DataFrame.from_records(records, columns=names)
    mask = filter_mask(frame, text, now)
    keep = compile_filter(parse_widget_filter(text), records, now)
    assert mask.tolist() == [keep(record) for record in records]
    # Every row of a frame whose values pandas typed (datetimes, floats with NaN) too.
    typed = frame.infer_objects()
    assert np.array_equal(filter_mask(typed, text, now), mask)


# ---------------------------------------------------------------- every widget passes its now


_ROWS = [
    {"id": 1, "kind": "a", "lat": 1.0, "lon": 2.0, "expires_at": iso(10)},
    {"id": 2, "kind": "a", "lat": 1.0, "lon": 2.0, "expires_at": iso(30)},
]
_PAST = "expires_at=lt.now()"


def _matched(widget: str, now: datetime) -> int:
    """How many of ``_ROWS`` the widget keeps with the filter ``_PAST`` at ``now``."""
    rows = pd.DataFrame.from_records(_ROWS)
    inserts = snapshot(*(change(1, "items", "INSERT", row) for row in _ROWS))
    if widget == "tiles":
        return int(tiles.compute(tiles.TileSpec("n", "items", filter=_PAST), rows, now).value or 0)
    if widget == "queue":
        return queue.compute(queue.QueueSpec("items", filter=_PAST), rows, inserts, now).matched
    if widget == "breakdown":
        view = breakdown.compute(
            breakdown.BreakdownSpec("items", ("kind",), filter=_PAST), rows, now
        )
        return int(view.table["count"].sum())
    if widget == "lifecycle":
        spec = lifecycle.LifecycleSpec("items", "kind", ("a",), toast_filter=_PAST)
        return len(lifecycle.toasts(spec, inserts, at(0), now))
    if widget == "feed":
        return len(feed.compute(feed.FeedSpec("{id}", "items", filter=_PAST), inserts, now).items)
    assert widget == "map"
    return map_widget.compute(
        map_widget.MapSpec("items", "lat", "lon", filter=_PAST), rows, now
    ).rows


@pytest.mark.parametrize("widget", ["tiles", "queue", "breakdown", "lifecycle", "feed", "map"])
def test_every_widget_compares_its_filter_with_its_render_time(widget: str) -> None:
    assert [_matched(widget, at(s)) for s in (5, 20, 40)] == [0, 1, 2]
