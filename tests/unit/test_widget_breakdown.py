"""Breakdown widget: grouped counts, sums and oldest ages, foreign-key labels, figures."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rtdata.views.widgets.breakdown import (
    LONG_LABEL_CHARS,
    NONE_LABEL,
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
@pytest.mark.parametrize("measure", ["count", "sum", "oldest_age"])
def test_empty_tables(rows: pd.DataFrame, measure: str) -> None:
    column = None if measure == "count" else "total"
    spec = BreakdownSpec(
        "orders",
        ("state", "store_id"),
        measure,
        column,  # type: ignore[arg-type]
        filter="state=eq.open",
        labels=LABELS,
    )
    view = compute(spec, rows, NOW, {"stores": pd.DataFrame()})
    assert list(view.table.columns) == ["state", "store_id", view.value_column]
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
    for (s, st), value in sums.items():
        assert got[(f"store {s:02d}", st)] == value
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
        ({"filter": "a=zz.1"}, "filter='a=zz.1'"),
        ({"labels": {"b": ("t", "id", "name")}}, "labels['b']"),
        ({"labels": {"a": ("t", "id")}}, "labels['a']=('t', 'id')"),
    ],
)
def test_spec_validation(kwargs: dict, field: str) -> None:
    arguments = {"table": "orders", "by": ("a",), **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        BreakdownSpec(**arguments)
