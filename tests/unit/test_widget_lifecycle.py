"""Lifecycle board: counts, open items with ages and SLAs, span times, toasts and validation."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.views.widgets._common import status_entries
from rtdata.views.widgets._spec import SpecError
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


def test_columns_choose_the_shown_columns_and_the_order_stays() -> None:
    full = compute(SPEC, ROWS, EVENTS, NOW).open
    # Neither the key, the priority nor the creation time is shown: the order still uses them.
    spec = replace(SPEC, columns=("desk", "status"))
    view = compute(spec, ROWS, EVENTS, NOW)
    assert list(view.open.columns) == ["desk", "status", *OPEN_EXTRA_COLUMNS]
    pd.testing.assert_frame_equal(view.open, full[["desk", "status", *OPEN_EXTRA_COLUMNS]])
    assert view.breaches == 2


@pytest.mark.parametrize(
    ("rows", "shown"),
    [
        (ROWS.drop(columns=["desk"]), ["status", "id"]),  # a column not loaded yet: left out
        (pd.DataFrame(), []),
        (pd.DataFrame(columns=["id", "status", "desk"]), ["desk", "status", "id"]),
    ],
)
def test_columns_absent_from_the_rows_are_left_out(rows: pd.DataFrame, shown: list[str]) -> None:
    spec = replace(SPEC, columns=("desk", "status", "id"))
    view = compute(spec, rows, EVENTS, NOW)
    assert list(view.open.columns) == [*shown, *OPEN_EXTRA_COLUMNS]


def test_sla_per_value_of_a_column_falls_back_to_the_status_sla() -> None:
    spec = replace(
        SPEC,
        sla_column="desk",
        sla_s_by={"south": {"requested": 400}, "north": {"confirmed": 1000}},
    )
    items = compute(spec, ROWS, EVENTS, NOW).open.set_index("id")
    # 2: south and requested (400); 4: north, requested has no north limit (250);
    # 1: north and confirmed (1000); 5: a status without any SLA.
    assert items["sla_s"].to_dict() == pytest.approx(
        {2: 400.0, 4: 250.0, 1: 1000.0, 5: np.nan}, nan_ok=True
    )
    assert items["breached"].to_dict() == {2: False, 4: False, 1: False, 5: False}
    assert compute(spec, ROWS, EVENTS, NOW).breaches == 0
    without = compute(spec, ROWS.drop(columns=["desk"]), EVENTS, NOW)  # column still loading
    assert list(without.open["sla_s"].iloc[:3]) == [250.0, 250.0, 500.0]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ([1, 2, 1, None], "1"),  # int column with a null: floats 1.0 in the frame
        ([1, 2, 1, 3], 1),
        ([True, False, True, None], "true"),
        (["1", "2", "1", None], "1"),
    ],
)
def test_sla_values_are_compared_as_text(values: list[object], key: object) -> None:
    rows = table(
        {"id": i, "status": "a", "tier": v, "created_at": iso(ago(100))}
        for i, v in enumerate(values)
    )
    spec = LifecycleSpec(
        "t",
        "status",
        ("a", "z"),
        created_column="created_at",
        sla_s={"a": 500},
        sla_column="tier",
        sla_s_by={key: {"a": 50}},
    )
    view = compute(spec, rows, snapshot([]), NOW)
    assert view.open.sort_values("id")["sla_s"].tolist() == [50.0, 500.0, 50.0, 500.0]
    assert view.breaches == 2


def test_priority_order_lists_the_most_urgent_values_first() -> None:
    rows = table(
        {"id": i, "status": "a", "level": level, "created_at": iso(ago(age_s))}
        for i, (level, age_s) in enumerate(
            [("low", 900), ("top", 10), (None, 999), ("odd", 50), ("mid", 20), ("top", 30)]
        )
    )
    spec = LifecycleSpec(
        "t",
        "status",
        ("a", "z"),
        priority_column="level",
        priority_order=("top", "mid", "low"),
        created_column="created_at",
    )
    view = compute(spec, rows, snapshot([]), NOW)
    # Listed values in their order (oldest first within one), then unlisted, then missing.
    assert list(view.open["level"].fillna("-")) == ["top", "top", "mid", "low", "odd", "-"]
    assert list(view.open["id"]) == [5, 1, 4, 0, 3, 2]


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
        ({"sla_s": "fast"}, "sla_s='fast' must be a table"),
        ({"sla_s": {"a": {"token": "x"}}}, "sla_s['a']=a table must be positive"),
        ({"sla_s": {"a": "60"}}, "sla_s['a']='60' must be positive seconds"),
        ({"columns": ("id", "id")}, "columns must not repeat a name"),
        ({"columns": "id"}, "columns must be a list of names"),
        ({"columns": ("id", "")}, "columns must be a non-empty name"),
        ({"sla_column": "tier"}, "sla_column='tier' needs sla_s_by"),
        ({"sla_s_by": {"gold": {"a": 5}}}, "sla_s_by needs sla_column"),
        ({"sla_column": "tier", "sla_s_by": {"gold": {"x": 5}}}, "sla_s_by['gold']=['x']: not"),
        ({"sla_column": "tier", "sla_s_by": {"gold": {"a": -1}}}, "sla_s_by['gold']['a']=-1"),
        ({"sla_column": "tier", "sla_s_by": {"gold": 60}}, "sla_s_by['gold']=60 must be a t"),
        ({"sla_column": "tier", "sla_s_by": {1: {"a": 5}, "1": {"b": 5}}}, "sla_s_by names"),
        ({"sla_column": "tier", "sla_s_by": {2.5: {"a": 5}}}, "sla_s_by: 2.5 must be"),
        ({"sla_column": "tier", "sla_s_by": ({"a": 5},)}, "sla_s_by=an array must be"),
        ({"priority_order": ("hi", "lo")}, "priority_order needs priority_column"),
        ({"priority_ascending": "yes"}, "priority_ascending='yes' must be true or false"),
        ({"priority_column": "p", "priority_order": "hi"}, "priority_order='hi' must be a list"),
        ({"priority_column": "p", "priority_order": ("hi", "hi")}, "priority_order=('hi', 'hi')"),
        ({"priority_column": "p", "priority_order": ("hi", None)}, "priority_order: None must"),
        (
            {"priority_column": "p", "priority_order": ("hi",), "priority_ascending": True},
            "priority_ascending=True cannot be used with priority_order",
        ),
    ],
)
def test_spec_validation(kwargs: dict, field: str) -> None:
    arguments = {"table": "t", "status_column": "s", "statuses": ("a", "b"), **kwargs}
    with pytest.raises(SpecError, match="^" + re.escape(field)) as caught:
        LifecycleSpec(**arguments)
    assert caught.value.field in kwargs  # the key path names a field that was given


def test_values_a_config_names_are_kept_as_text() -> None:
    spec = LifecycleSpec(
        "t",
        "s",
        ("a", "b"),
        priority_column="p",
        priority_order=(1, "2"),
        sla_column="tier",
        sla_s_by={1: {"a": 5}, "gold": {"b": 7.5}},
        columns=["s", "tier"],
    )
    assert spec.priority_order == ("1", "2")
    assert {k: dict(v) for k, v in spec.sla_s_by.items()} == {"1": {"a": 5}, "gold": {"b": 7.5}}
    assert spec.columns == ("s", "tier")
    assert spec.priority_ascending is None


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


def reference_open(spec: LifecycleSpec, items: list[dict]) -> list[tuple[int, float, bool]]:
    """The open items as the view documents them, item by item: (id, SLA, breached), most
    urgent first (rank in ``priority_order``, then oldest, then key as text). Each item's time
    in status is its ``age_s`` (no events)."""

    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    listed = {v: i for i, v in enumerate(spec.priority_order)}

    def rank(value: object) -> int:
        shown = text(value)
        return len(listed) + 1 if shown is None else listed.get(shown, len(listed))

    ranked = []
    for item in items:
        if item["status"] in spec.terminal:
            continue
        by_value = spec.sla_s_by.get(text(item["tier"]) or "", {})
        sla = by_value.get(item["status"], spec.sla_s.get(item["status"], math.nan))
        order = (rank(item["level"]), -item["age_s"], str(item["id"]))
        ranked.append((order, item["id"], sla, item["age_s"] > sla))
    return [(i, sla, breached) for _, i, sla, breached in sorted(ranked)]


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "z", "other"]),
            st.sampled_from([1, 2, 1.0, "1", "2", "gold", True, None]),
            st.sampled_from(["top", "mid", "low", "odd", None]),
            st.integers(1, 40).map(lambda t: t * 10.0),
        ),
        min_size=1,
        max_size=25,
    ),
    sla_s=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from([15.0, 150.0])),
    sla_s_by=st.dictionaries(
        st.sampled_from(["1", "2", "gold", "true"]),
        st.dictionaries(st.sampled_from(["a", "b", "c", "z"]), st.sampled_from([25.0, 250.0])),
        min_size=1,
    ),
)
def test_sla_and_order_match_an_item_by_item_reference(
    items: list[tuple], sla_s: dict, sla_s_by: dict
) -> None:
    spec = LifecycleSpec(
        "t",
        "status",
        ("a", "b", "c", "z"),
        terminal=("z",),
        priority_column="level",
        priority_order=("top", "mid", "low"),
        created_column="created_at",
        sla_s=sla_s,
        sla_column="tier",
        sla_s_by=sla_s_by,
        columns=("id", "status"),
    )
    rows = [
        {"id": i, "status": status, "tier": tier, "level": level, "age_s": age_s}
        for i, (status, tier, level, age_s) in enumerate(items)
    ]
    frame = table(
        {"id": r["id"], "status": r["status"], "tier": r["tier"], "level": r["level"]}
        | {"created_at": iso(ago(r["age_s"]))}
        for r in rows
    )
    view = compute(spec, frame, snapshot([]), NOW)
    expected = reference_open(spec, rows)
    got = list(view.open[["id", "sla_s", "breached"]].itertuples(index=False, name=None))
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected], nan_ok=True)
    assert [g[2] for g in got] == [e[2] for e in expected]
    assert view.breaches == sum(e[2] for e in expected)
