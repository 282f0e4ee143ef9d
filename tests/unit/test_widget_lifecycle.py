"""Lifecycle board: counts, open items with ages and SLAs, span times, toasts and validation."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.views.widgets._common import status_entries
from rtdata.views.widgets.lifecycle import (
    COUNT_COLUMNS,
    OPEN_EXTRA_COLUMNS,
    SPAN_COLUMNS,
    LifecycleSpec,
    compute,
)
from tests.unit.frames import NOW, ago, bulk_events, change, iso, ns, snapshot, table

STATUSES = ("requested", "confirmed", "checked_in", "done", "cancelled")
SPEC = LifecycleSpec(
    "bookings",
    "status",
    STATUSES,
    terminal=("done", "cancelled"),
    priority_column="priority",
    created_column="created_at",
    sla_s={"requested": 250, "confirmed": 500},
    spans=(("requested", "confirmed"), ("confirmed", "done")),
    toast_filter="priority=eq.1",
)


def booking(key: int, status: str, priority: int | None, desk: str, age_s: float | None) -> dict:
    created = None if age_s is None else iso(ago(age_s))
    return {"id": key, "status": status, "priority": priority, "desk": desk, "created_at": created}


ROWS = table(
    [
        booking(1, "confirmed", 2, "north", 600),
        booking(2, "requested", 1, "south", 300),
        booking(3, "done", 1, "north", 900),
        booking(4, "requested", 1, "north", None),
        booking(5, "lost", None, "north", 100),
        booking(6, "cancelled", 3, "south", 50),
    ]
)


def moved(key: int, status: str, at_s: float, op: str = "UPDATE", desk: str = "north") -> object:
    record = {"id": key, "status": status, "priority": 1 if key == 2 else 3, "desk": desk}
    return change("bookings", op, key, record, ago(at_s - 0.5), commit=ago(at_s))


EVENTS = snapshot(
    [
        moved(7, "requested", 1000, "INSERT", desk="south"),
        moved(3, "requested", 900, "INSERT"),
        moved(3, "confirmed", 780),
        moved(7, "confirmed", 700, desk="south"),
        moved(3, "checked_in", 700),
        moved(3, "done", 650),
        moved(1, "requested", 600, "INSERT"),
        moved(1, "confirmed", 540),
        moved(1, "confirmed", 530),  # another column changed: still confirmed since 540 s ago
        change("bookings", "DELETE", 7, None, ago(500), old={"id": 7}),
        moved(2, "requested", 300, "INSERT", desk="south"),
        change("bookings", "SNAPSHOT", 4, {"id": 4, "status": "requested"}, ago(200)),
        moved(8, "requested", 10, "INSERT"),
        change("rooms", "INSERT", 2, {"id": 2, "status": "confirmed", "priority": 1}, ago(5)),
    ]
)


def test_counts_in_order_with_zeros_and_other() -> None:
    view = compute(SPEC, ROWS, EVENTS, NOW)
    assert list(view.counts.columns) == list(COUNT_COLUMNS)
    assert list(view.counts["status"]) == list(STATUSES)
    assert list(view.counts["count"]) == [2, 1, 0, 1, 1]
    assert list(view.counts["terminal"]) == [False, False, False, True, True]
    assert view.other == 1


def test_open_items_sorted_with_ages_and_breaches() -> None:
    view = compute(SPEC, ROWS, EVENTS, NOW)
    items = view.open
    assert list(items.columns) == [*ROWS.columns, *OPEN_EXTRA_COLUMNS]
    assert list(items["id"]) == [2, 4, 1, 5]  # priority 1 oldest first, 2, then no priority
    assert list(items["age_s"]) == pytest.approx([300, 200, 600, 100])  # 4: its first event
    # 1 entered confirmed 540 s ago; 4 was first seen requested 200 s ago; 5 has no events.
    assert list(items["in_status_s"]) == pytest.approx([300, 200, 540, 100])
    assert list(items["breached"]) == [True, False, True, False]
    assert math.isnan(items["sla_s"].iloc[3])
    assert view.breaches == 2


def test_priority_descending() -> None:
    spec = LifecycleSpec(
        "bookings",
        "status",
        STATUSES,
        ("done",),
        priority_column="priority",
        priority_ascending=False,
        created_column="created_at",
    )
    assert list(compute(spec, ROWS, EVENTS, NOW).open["id"]) == [6, 1, 2, 4, 5]


def test_time_in_status_after_moving_back() -> None:
    events = snapshot(
        [
            moved(1, "requested", 900, "INSERT"),
            moved(1, "confirmed", 800),
            moved(1, "requested", 700),
            moved(1, "confirmed", 400),
        ]
    )
    view = compute(SPEC, ROWS, events, NOW)
    assert view.open.set_index("id").loc[1, "in_status_s"] == pytest.approx(400)
    spans = view.spans.set_index(["start", "end"])
    assert spans.loc[("requested", "confirmed"), "median_s"] == pytest.approx(100)  # first entries


def test_span_times_overall_and_per_group() -> None:
    spans = compute(SPEC, ROWS, EVENTS, NOW).spans
    assert list(spans.columns) == list(SPAN_COLUMNS)
    assert spans.to_dict("records") == [
        {"start": "requested", "end": "confirmed", "n": 3, "median_s": 120.0, "p90_s": 264.0},
        {"start": "confirmed", "end": "done", "n": 1, "median_s": 130.0, "p90_s": 130.0},
    ]
    grouped = LifecycleSpec(
        "bookings", "status", STATUSES, spans=(("requested", "confirmed"),), group_column="desk"
    )
    spans = compute(grouped, ROWS, EVENTS, NOW).spans
    assert list(spans.columns) == ["desk", *SPAN_COLUMNS]
    measured = spans.set_index("desk")
    assert measured.loc["north", ["n", "median_s", "p90_s"]].tolist() == [2, 90.0, 114.0]
    assert measured.loc["south", ["n", "median_s", "p90_s"]].tolist() == [1, 300.0, 300.0]


def test_toasts_are_matching_inserts_since() -> None:
    toasts = compute(SPEC, ROWS, EVENTS, NOW, since=ago(400)).toasts
    assert list(toasts["key"]) == ["2"]  # 8 is priority 3; the rooms insert is another table
    assert toasts["received_at"].iloc[0] == pd.Timestamp(ago(299.5))
    assert toasts["desk"].iloc[0] == "south"
    assert compute(SPEC, ROWS, EVENTS, NOW, since=ago(299.5)).toasts.empty
    assert compute(SPEC, ROWS, EVENTS, NOW).toasts.empty


@pytest.mark.parametrize("rows", [pd.DataFrame(), pd.DataFrame(columns=["id", "status"])])
@pytest.mark.parametrize("events", [snapshot([]), EVENTS])
def test_empty_tables(rows: pd.DataFrame, events: pd.DataFrame) -> None:
    view = compute(SPEC, rows, events, NOW, since=ago(3600))
    assert list(view.counts["count"]) == [0] * 5
    assert (view.other, view.breaches, len(view.open)) == (0, 0, 0)
    assert list(view.open.columns)[-4:] == list(OPEN_EXTRA_COLUMNS)
    assert len(view.spans) == (0 if events.empty else 2)
    assert len(view.toasts) == (0 if events.empty else 1)


@pytest.mark.parametrize("created", [True, False])
def test_rows_whose_events_left_the_buffer(created: bool) -> None:
    rows = ROWS if created else ROWS.drop(columns=["created_at"])
    view = compute(SPEC, rows, snapshot([]), NOW)  # a quiet table: its events expired
    assert sum(view.counts["count"]) == len(rows) - view.other
    assert len(view.open) > 0
    if created:  # the creation time gives the age, and the time in status when none shows
        assert view.open["age_s"].notna().sum() == view.open["created_at"].notna().sum() > 0
    else:  # nothing tells the age or the time in status
        assert view.open["age_s"].isna().all()
        assert view.open["in_status_s"].isna().all()


def test_large_table_and_buffer() -> None:
    n_keys, n_rows = 250_000, 200_000
    keys = np.arange(n_keys)
    span_s = keys % 100 + 1
    start_ns = np.int64(ns(ago(7200))) + keys * 10_000_000
    steps = [("INSERT", "requested", 0), ("UPDATE", "confirmed", 1), ("UPDATE", "checked_in", 2)]
    steps.append(("UPDATE", "done", 3))
    ops, statuses, times, ids = [], [], [], []
    for op, status, k in steps:
        ops.append(np.full(n_keys, op))
        statuses.append(np.full(n_keys, status))
        times.append(start_ns + k * span_s * 1_000_000_000)
        ids.append(keys)
    all_ids = np.concatenate(ids)
    all_status = np.concatenate(statuses)
    records = (
        '{"id":' + pd.Series(all_ids.astype(str)) + ',"status":"' + pd.Series(all_status) + '"}'
    )
    events = bulk_events("bookings", all_ids, np.concatenate(ops), np.concatenate(times), records)
    assert len(events) == 1_000_000
    rows = pd.DataFrame(
        {"id": keys[:n_rows], "status": np.where(keys[:n_rows] % 2, "done", "confirmed")}
    )
    spec = LifecycleSpec(
        "bookings",
        "status",
        STATUSES,
        ("done",),
        sla_s={"confirmed": 3600},
        spans=(("requested", "confirmed"), ("requested", "done")),
    )
    view = compute(spec, rows, events, NOW)
    assert list(view.counts["count"]) == [0, n_rows // 2, 0, n_rows // 2, 0]
    assert len(view.open) == n_rows // 2
    spans = view.spans.set_index("end")
    assert spans.loc["confirmed", "n"] == n_keys
    assert spans.loc["confirmed", "median_s"] == np.median(span_s)
    assert spans.loc["done", "p90_s"] == pytest.approx(np.quantile(3 * span_s, 0.9))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"table": ""}, "table=''"),
        ({"status_column": None}, "status_column=None"),
        ({"statuses": ()}, "statuses=()"),
        ({"statuses": ("a", "a")}, "statuses=('a', 'a')"),
        ({"terminal": ("closed",)}, "terminal=['closed']"),
        ({"sla_s": {"b": 5, "x": 1}}, "sla_s=['x']"),
        ({"sla_s": {"a": 0}}, "sla_s['a']=0"),
        ({"spans": (("a", "a"),)}, "spans=('a', 'a')"),
        ({"spans": (("a", "z"),)}, "spans=('a', 'z')"),
        ({"spans": (("a",),)}, "spans=('a',)"),
        ({"priority_column": ""}, "priority_column=''"),
        ({"group_column": 3}, "group_column=3"),
        ({"toast_filter": "priority=lte"}, "toast_filter='priority=lte'"),
    ],
)
def test_spec_validation(kwargs: dict, field: str) -> None:
    arguments = {"table": "t", "status_column": "s", "statuses": ("a", "b"), **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        LifecycleSpec(**arguments)


def reference_spans(entries: pd.DataFrame, spans: tuple[tuple[str, str], ...]) -> list[tuple]:
    """Span times as the view documents them, key by key: from first entering ``start`` to
    first entering ``end``, when that is not negative, per the key's group."""
    first: dict[tuple[str, str], pd.Timestamp] = {}
    group: dict[str, object] = {}
    for row in entries.itertuples(index=False):
        first.setdefault((row.key, row.status), row.entered_at)
        group[row.key] = row.group
    out = []
    for start, end in spans:
        by_group: dict[object, list[float]] = {}
        for key in dict.fromkeys(entries["key"]):
            if (key, start) in first and (key, end) in first:
                seconds = (first[key, end] - first[key, start]).total_seconds()
                if seconds >= 0:
                    label = "∅" if group[key] is None else group[key]
                    by_group.setdefault(label, []).append(seconds)
        for label in sorted(by_group, key=str):
            values = by_group[label]
            out.append(
                (label, start, end, len(values), np.median(values), np.quantile(values, 0.9))
            )
    return out


@settings(max_examples=100, deadline=None)
@given(
    moves=st.lists(
        st.tuples(
            st.integers(1, 6),
            st.sampled_from(STATUSES),
            st.integers(0, 30),
            st.sampled_from(["north", "south", None]),
        ),
        max_size=40,
    )
)
def test_span_times_match_a_key_by_key_reference(moves: list[tuple]) -> None:
    spec = LifecycleSpec(
        "bookings",
        "status",
        STATUSES,
        spans=(("requested", "confirmed"), ("confirmed", "requested"), ("requested", "done")),
        group_column="desk",
    )
    events = snapshot([moved(key, status, at_s, desk=desk) for key, status, at_s, desk in moves])
    view = compute(spec, pd.DataFrame(), events, NOW)
    entries = status_entries(events, "bookings", "status", "desk")
    got = [
        ("∅" if pd.isna(r.desk) else r.desk, r.start, r.end, r.n, r.median_s, r.p90_s)
        for r in view.spans.itertuples(index=False)
    ]
    expected = reference_spans(entries, spec.spans)

    def order(rows: list[tuple]) -> list[tuple]:
        rounded = [(*r[:4], round(float(r[4]), 6), round(float(r[5]), 6)) for r in rows]
        return sorted(rounded, key=lambda r: (r[1], r[2], str(r[0])))

    assert order(got) == order(expected)
