"""Tile widget: aggregates over filtered rows, time windows, levels, history and validation."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rtdata.views.widgets.tiles import TileHistory, TileSpec, compute, figure
from tests.unit.frames import NOW, ago, iso, table

ORDERS = table(
    [
        {"id": 1, "status": "open", "amount": 10.0, "created_at": iso(ago(30))},
        {"id": 2, "status": "open", "amount": None, "created_at": iso(ago(7200))},
        {"id": 3, "status": "shipped", "amount": 5.5, "created_at": iso(ago(86400 * 2))},
        {"id": 4, "status": "open", "amount": 2.0, "created_at": None},
    ]
)


@pytest.mark.parametrize(
    ("aggregate", "column", "expected"),
    [
        ("count", None, 4),
        ("count", "amount", 3),
        ("sum", "amount", 17.5),
        ("avg", "amount", 17.5 / 3),
        ("min", "amount", 2.0),
        ("max", "amount", 10.0),
    ],
)
def test_aggregates_skip_nulls(aggregate: str, column: str | None, expected: float) -> None:
    spec = TileSpec("Orders", "orders", aggregate, column)  # type: ignore[arg-type]
    assert compute(spec, ORDERS, NOW).value == pytest.approx(expected)


def test_filter_today_and_window() -> None:
    open_ = TileSpec("Open", "orders", filter="status=eq.open")
    assert compute(open_, ORDERS, NOW).value == 3
    today = TileSpec("Today", "orders", time_column="created_at", today=True)
    assert compute(today, ORDERS, NOW).value == 2  # 30 s and 2 h ago; NOW is noon UTC
    hour = TileSpec("Last hour", "orders", time_column="created_at", window_s=3600)
    assert compute(hour, ORDERS, NOW).value == 1
    urgent = TileSpec("Big", "orders", "sum", "amount", filter="amount=gte.5,status=eq.open")
    assert compute(urgent, ORDERS, NOW).value == 10.0
    assert compute(TileSpec("x", "orders", filter="nope=eq.1"), ORDERS, NOW).value == 0


def test_filter_on_integer_column_holding_nulls() -> None:
    # pandas stores integers with nulls as floats; the filter must still see 2 as 2.
    rows = table([{"id": 1, "priority": 2}, {"id": 2, "priority": None}, {"id": 3, "priority": 1}])
    spec = TileSpec("Urgent", "tickets", filter="priority=lte.2")
    assert compute(spec, rows, NOW).value == 2
    spec = TileSpec("Null", "tickets", filter="priority=is.null")
    assert compute(spec, rows, NOW).value == 1


@pytest.mark.parametrize("rows", [pd.DataFrame(), pd.DataFrame(columns=["status", "amount"])])
def test_empty_tables(rows: pd.DataFrame) -> None:
    assert compute(TileSpec("n", "t", filter="status=eq.open"), rows, NOW).value == 0
    assert compute(TileSpec("s", "t", "sum", "amount"), rows, NOW).value == 0
    avg = compute(TileSpec("a", "t", "avg", "amount", warn=1), rows, NOW)
    assert (avg.value, avg.delta, avg.level, avg.sparkline) == (None, None, "ok", ())
    today = TileSpec("d", "t", time_column="created_at", today=True)
    assert compute(today, rows, NOW).value == 0


@pytest.mark.parametrize(
    ("worse", "warn", "critical", "levels"),
    [
        ("higher", 2, 3, {1: "ok", 2: "warn", 3: "critical", 4: "critical"}),
        ("lower", 3, 2, {1: "critical", 2: "critical", 3: "warn", 4: "ok"}),
        ("higher", None, 3, {2: "ok", 3: "critical"}),
        ("lower", 2, None, {2: "warn", 3: "ok"}),
    ],
)
def test_levels(worse: str, warn: float | None, critical: float | None, levels: dict) -> None:
    spec = TileSpec("n", "t", warn=warn, critical=critical, worse=worse)  # type: ignore[arg-type]
    for count, level in levels.items():
        assert compute(spec, table([{"id": i} for i in range(count)]), NOW).level == level


def test_history_gives_delta_and_sparkline() -> None:
    spec = TileSpec("Open", "orders", filter="status=eq.open")
    history = TileHistory(window_s=60, max_points=6)
    first = compute(spec, ORDERS, ago(30), history.points(spec, ago(30)))
    assert (first.delta, first.sparkline) == (None, ((ago(30), 3.0),))
    history.record(spec, ago(30), first.value)
    history.record(spec, ago(25), 9)  # within 10 s of the last point: replaces its value
    history.record(spec, ago(15), 2)
    points = history.points(spec, NOW)
    assert points == ((ago(30), 9.0), (ago(15), 2.0))
    view = compute(spec, ORDERS, NOW, points)
    assert view.delta == 3 - 9
    assert [v for _, v in view.sparkline] == [9.0, 2.0, 3.0]
    assert history.points(spec, NOW + timedelta(seconds=40)) == ((ago(15), 2.0),)
    history.record(spec, NOW, None)
    assert history.points(spec, NOW) == points
    assert isinstance(figure(view), go.Figure)
    assert list(figure(view).data[0].y) == [9.0, 2.0, 3.0]


def test_history_keeps_at_most_max_points() -> None:
    history = TileHistory(window_s=100, max_points=4)
    for i in range(10):
        history.record("k", ago(100 - 25 * i), i)
    assert [v for _, v in history.points("k", ago(100 - 25 * 9))] == [6.0, 7.0, 8.0, 9.0]


def test_large_table() -> None:
    n = 200_000
    rng = np.random.default_rng(7)
    status = rng.choice(["open", "closed", "held"], n)
    amount = rng.integers(0, 100, n).astype(float)
    rows = pd.DataFrame({"id": np.arange(n), "status": status, "amount": amount})
    spec = TileSpec("Open value", "orders", "sum", "amount", filter="status=in.(open,held)")
    expected = amount[np.isin(status, ["open", "held"])].sum()
    assert compute(spec, rows, NOW).value == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"label": ""}, "label="),
        ({"table": " "}, "table="),
        ({"aggregate": "median"}, "aggregate='median'"),
        ({"aggregate": "sum"}, "column=None"),
        ({"filter": "status=op.open"}, "filter='status=op.open'"),
        ({"today": True}, "time_column=None"),
        ({"time_column": "t", "today": True, "window_s": 5}, "today=True"),
        ({"time_column": "t", "window_s": 0}, "window_s=0"),
        ({"worse": "up"}, "worse='up'"),
        ({"warn": 5, "critical": 3}, "critical=3"),
        ({"warn": 3, "critical": 5, "worse": "lower"}, "critical=5"),
    ],
)
def test_spec_validation(kwargs: dict, field: str) -> None:
    arguments = {"label": "n", "table": "t", **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        TileSpec(**arguments)


def test_history_validation() -> None:
    with pytest.raises(ValueError, match="window_s=0"):
        TileHistory(window_s=0)
    with pytest.raises(ValueError, match="max_points=0"):
        TileHistory(max_points=0)
