"""Breakdown widget: grouped counts, sums, oldest ages and shares, foreign-key labels, figures."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.views.widgets.breakdown import (
    LONG_LABEL_CHARS,
    NONE_LABEL,
    SHARE_COLUMNS,
    BreakdownSpec,
    compute,
    figure,
)
from tests.unit.frames import NOW, ago, iso, table

ORDERS = table(
    [
        {"id": 1, "store_id": 10, "state": "open", "total": 5.0, "placed_at": iso(ago(60))},
        {"id": 2, "store_id": 10, "state": "open", "total": 7.5, "placed_at": iso(ago(600))},
        {"id": 3, "store_id": 20, "state": "paid", "total": 1.0, "placed_at": iso(ago(30))},
        {"id": 4, "store_id": 30, "state": "open", "total": None, "placed_at": None},
        {"id": 5, "store_id": None, "state": "paid", "total": 2.0, "placed_at": iso(ago(10))},
        {"id": 6, "store_id": 20, "state": "open", "total": 3.0, "placed_at": iso(ago(90))},
    ]
)
STORES = table(
    [
        {"id": 10, "name": "Riverside warehouse"},
        {"id": 20, "name": "Old town"},
    ]
)
LABELS = {"store_id": ("stores", "id", "name")}


def test_counts_by_one_column_with_labels() -> None:
    spec = BreakdownSpec("orders", ("store_id",), labels=LABELS)
    view = compute(spec, ORDERS, NOW, {"stores": STORES})
    assert view.value_column == "count"
    assert view.table.to_dict("records") == [
        {"store_id": "Old town", "count": 2},  # ties by label
        {"store_id": "Riverside warehouse", "count": 2},
        {"store_id": "(none)", "count": 1},
        {"store_id": "30", "count": 1},  # no such store: the raw id
    ]
    assert view.horizontal  # "Riverside warehouse" is longer than LONG_LABEL_CHARS
    assert len("Riverside warehouse") > LONG_LABEL_CHARS >= len("Old town")
    raw = compute(spec, ORDERS, NOW)  # no lookups: raw ids, short labels
    assert set(raw.table["store_id"]) == {"10", "20", "30", NONE_LABEL}
    assert not raw.horizontal


def test_sums_by_two_columns_with_filter() -> None:
    spec = BreakdownSpec("orders", ("store_id", "state"), "sum", "total", filter="id=lte.5")
    view = compute(spec, ORDERS, NOW)
    assert view.table.to_dict("records") == [
        {"store_id": "10", "state": "open", "sum": 12.5},
        {"store_id": NONE_LABEL, "state": "paid", "sum": 2.0},
        {"store_id": "20", "state": "paid", "sum": 1.0},
        {"store_id": "30", "state": "open", "sum": 0.0},
    ]
    fig = figure(view)
    assert fig.layout.barmode == "stack"
    assert [trace.name for trace in fig.data] == ["open", "paid"]
    assert list(fig.layout.xaxis.categoryarray) == ["10", NONE_LABEL, "20", "30"]


def test_oldest_age() -> None:
    spec = BreakdownSpec("orders", ("state",), "oldest_age", "placed_at")
    view = compute(spec, ORDERS, NOW)
    assert view.value_column == "oldest_age_s"
    assert view.table.to_dict("records") == [
        {"state": "open", "oldest_age_s": 600.0},
        {"state": "paid", "oldest_age_s": 30.0},
    ]
    two = compute(
        BreakdownSpec("orders", ("state", "store_id"), "oldest_age", "placed_at"), ORDERS, NOW
    )
    assert figure(two).layout.barmode == "group"


def test_horizontal_figure() -> None:
    view = compute(
        BreakdownSpec("orders", ("store_id",), labels=LABELS), ORDERS, NOW, {"stores": STORES}
    )
    fig = figure(view)
    assert isinstance(fig, go.Figure)
    assert fig.data[0].orientation == "h"
    assert list(fig.data[0].y) == list(view.table["store_id"])
    assert fig.layout.yaxis.autorange == "reversed"


@pytest.mark.parametrize("rows", [pd.DataFrame(), pd.DataFrame(columns=["state", "total"])])
@pytest.mark.parametrize("measure", ["count", "sum", "oldest_age", "share"])
def test_empty_tables(rows: pd.DataFrame, measure: str) -> None:
    column = None if measure in ("count", "share") else "total"
    spec = BreakdownSpec(
        "orders",
        ("state", "store_id"),
        measure,  # type: ignore[arg-type]
        column,
        filter="state=eq.open",
        labels=LABELS,
        share_filter="total=gt.1" if measure == "share" else None,
    )
    view = compute(spec, rows, NOW, {"stores": pd.DataFrame()})
    values = list(SHARE_COLUMNS) if measure == "share" else [view.value_column]
    assert list(view.table.columns) == ["state", "store_id", *values]
    assert view.table.empty
    assert not view.horizontal
    assert isinstance(figure(view), go.Figure)


def test_large_table() -> None:
    n = 200_000
    rng = np.random.default_rng(11)
    store = rng.integers(0, 50, n)
    state = rng.choice(["open", "paid", "void"], n)
    total = rng.integers(1, 10, n).astype(float)
    rows = pd.DataFrame({"id": np.arange(n), "store_id": store, "state": state, "total": total})
    stores = pd.DataFrame({"id": np.arange(50), "name": [f"store {i:02d}" for i in range(50)]})
    spec = BreakdownSpec(
        "orders", ("store_id", "state"), "sum", "total", filter="state=neq.void", labels=LABELS
    )
    view = compute(spec, rows, NOW, {"stores": stores})
    kept = state != "void"
    expected = pd.DataFrame({"store": store[kept], "state": state[kept], "total": total[kept]})
    sums = expected.groupby(["store", "state"])["total"].sum()
    got = view.table.set_index(["store_id", "state"])["sum"]
    assert len(got) == len(sums) == 100
    for (s, state), value in sums.items():
        assert got[(f"store {s:02d}", state)] == value
    totals = view.table.groupby("store_id", sort=False)["sum"].sum()
    assert list(totals) == sorted(totals, reverse=True)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"table": ""}, "table=''"),
        ({"by": ()}, "by=()"),
        ({"by": ("a", "b", "c")}, "by=('a', 'b', 'c')"),
        ({"by": ("a", "a")}, "by=('a', 'a')"),
        ({"by": ("",)}, "by=''"),
        ({"measure": "mean"}, "measure='mean'"),
        ({"measure": "sum"}, "column=None"),
        ({"measure": "share"}, "measure='share' needs share_filter"),
        ({"measure": "share", "share_filter": " "}, "share_filter=' '"),
        ({"measure": "share", "share_filter": "a=eq.1", "column": "b"}, "column='b'"),
        ({"share_filter": "a=eq.1"}, "share_filter='a=eq.1' needs measure='share'"),
        ({"measure": "share", "share_filter": "a=zz.1"}, "share_filter='a=zz.1'"),
        ({"filter": "a=zz.1"}, "filter='a=zz.1'"),
        ({"labels": {"b": ("t", "id", "name")}}, "labels['b']"),
        ({"labels": {"a": ("t", "id")}}, "labels['a']=('t', 'id')"),
    ],
)
def test_spec_validation(kwargs: dict, field: str) -> None:
    arguments = {"table": "orders", "by": ("a",), **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        BreakdownSpec(**arguments)


DECISIONS = table(
    [
        {"id": 1, "desk": "north", "outcome": "yes", "kind": "a"},
        {"id": 2, "desk": "north", "outcome": "no", "kind": "a"},
        {"id": 3, "desk": "north", "outcome": "no", "kind": "b"},
        {"id": 4, "desk": "north", "outcome": "no", "kind": "b"},
        {"id": 5, "desk": "south", "outcome": "yes", "kind": "a"},
        {"id": 6, "desk": "south", "outcome": "no", "kind": "b"},
        {"id": 7, "desk": "east", "outcome": "no", "kind": "a"},
        {"id": 8, "desk": None, "outcome": "yes", "kind": "a"},
        {"id": 9, "desk": "west", "outcome": "void", "kind": "a"},
    ]
)


def test_share_is_the_percentage_of_each_group_s_rows_that_match() -> None:
    spec = BreakdownSpec(
        "decisions",
        ("desk",),
        "share",
        filter="outcome=in.(yes,no)",
        share_filter="outcome=eq.yes",
    )
    view = compute(spec, DECISIONS, NOW)
    assert (view.value_column, view.share_filter) == ("share_pct", "outcome=eq.yes")
    assert view.table.to_dict("records") == [
        {"desk": NONE_LABEL, "share_pct": 100.0, "matching": 1, "count": 1},
        {"desk": "south", "share_pct": 50.0, "matching": 1, "count": 2},
        {"desk": "north", "share_pct": 25.0, "matching": 1, "count": 4},
        {"desk": "east", "share_pct": 0.0, "matching": 0, "count": 1},  # rows, none matching
    ]  # west has no row the filter keeps: no share at all, not 0 %
    nothing = compute(
        BreakdownSpec("decisions", ("desk",), "share", share_filter="missing=eq.1"),
        DECISIONS,
        NOW,
    )
    assert set(nothing.table["share_pct"]) == {0.0}  # no such column: no row matches


def test_two_column_shares_rank_first_groups_by_the_share_of_all_their_rows() -> None:
    rows = table(
        [{"desk": "north", "kind": "a", "outcome": "yes"}]
        + [{"desk": "north", "kind": "b", "outcome": "no"}] * 5
        + [{"desk": "south", "kind": "a", "outcome": o} for o in ("yes", "no")]
        + [{"desk": "south", "kind": "b", "outcome": "no"}]
    )
    spec = BreakdownSpec("decisions", ("desk", "kind"), "share", share_filter="outcome=eq.yes")
    view = compute(spec, rows, NOW)
    # North's parts: 100 % and 0 % (summed 100), but 1 of its 6 rows: 16.7 %. South's: 50 % and
    # 0 % (summed 50), 1 of 3 rows: 33.3 %. South comes first.
    assert view.table.to_dict("records") == [
        {"desk": "south", "kind": "a", "share_pct": 50.0, "matching": 1, "count": 2},
        {"desk": "south", "kind": "b", "share_pct": 0.0, "matching": 0, "count": 1},
        {"desk": "north", "kind": "a", "share_pct": 100.0, "matching": 1, "count": 1},
        {"desk": "north", "kind": "b", "share_pct": 0.0, "matching": 0, "count": 5},
    ]


def test_a_share_figure_is_in_percent_side_by_side_with_the_rows_it_is_out_of() -> None:
    spec = BreakdownSpec("decisions", ("desk", "kind"), "share", share_filter="outcome=eq.yes")
    fig = figure(compute(spec, DECISIONS, NOW))
    assert fig.layout.barmode == "group"  # shares of parts do not add up
    assert fig.layout.yaxis.title.text == "% of rows with outcome=eq.yes"
    assert tuple(fig.layout.yaxis.range) == (0, 100)
    assert fig.layout.yaxis.ticksuffix == "%"
    first = fig.data[0]
    assert first.name == "a"
    assert first.texttemplate == "%{y:.0f}%"
    assert "%{y:.1f}% of %{customdata[1]} rows" in first.hovertemplate
    by_desk = dict(zip(first.x, first.customdata.tolist(), strict=True))
    assert by_desk["north"] == [1, 2]  # 1 matching of 2 rows
    sideways = compute(
        BreakdownSpec("decisions", ("outcome",), "share", share_filter="desk=eq.north"),
        DECISIONS.assign(outcome="a rather long outcome"),
        NOW,
    )
    assert sideways.horizontal
    turned = figure(sideways)
    assert turned.layout.xaxis.ticksuffix == "%"
    assert turned.data[0].texttemplate == "%{x:.0f}%"


_GROUPS = st.sampled_from(["n", "s", "e", None])


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "g": _GROUPS,
                "h": st.sampled_from(["x", "y"]),
                "ok": st.one_of(st.booleans(), st.none()),
                "n": st.integers(0, 3),
            }
        ),
        max_size=30,
    ),
    two=st.booleans(),
)
def test_shares_match_a_count_by_hand(rows: list[dict[str, object]], two: bool) -> None:
    by = ("g", "h") if two else ("g",)
    spec = BreakdownSpec("t", by, "share", filter="n=gte.1", share_filter="ok=is.true")
    view = compute(spec, table(rows), NOW)
    counts: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row["n"] >= 1:  # type: ignore[operator]
            key = tuple(NONE_LABEL if row[c] is None else str(row[c]) for c in by)
            counts[key][0] += row["ok"] is True
            counts[key][1] += 1
    got = {
        tuple(r[c] for c in by): (r["share_pct"], r["matching"], r["count"])
        for r in view.table.to_dict("records")
    }
    assert got == {k: (100 * m / n, m, n) for k, (m, n) in counts.items()}
    assert not view.table["share_pct"].isna().any()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key, (m, n) in counts.items():
        totals[key[0]][0] += m
        totals[key[0]][1] += n
    firsts = list(dict.fromkeys(view.table["g"]))
    assert firsts == sorted(totals, key=lambda g: (-totals[g][0] / totals[g][1], g))
