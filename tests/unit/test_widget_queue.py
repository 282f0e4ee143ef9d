"""Queue widget: filter, order (nulls per term), columns and labels, limit, fresh-row flags."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from rtdata.views.widgets.queue import OrderTerm, QueueSpec, compute, parse_order
from tests.unit.frames import NOW, ago, bulk_events, change, iso, ns, snapshot, table

TICKETS = table(
    [
        {"id": 1, "status": "open", "priority": 2, "subject": "printer", "opened_at": iso(ago(50))},
        {"id": 2, "status": "open", "priority": None, "subject": "vpn", "opened_at": iso(ago(40))},
        {"id": 3, "status": "closed", "priority": 1, "subject": "mail", "opened_at": iso(ago(30))},
        {"id": 4, "status": "open", "priority": 1, "subject": "wifi", "opened_at": iso(ago(20))},
        {"id": 5, "status": "open", "priority": 2, "subject": "disk", "opened_at": iso(ago(10))},
    ]
)
EVENTS = snapshot(
    [
        change("tickets", "SNAPSHOT", 1, {"id": 1}, ago(3)),
        change("tickets", "UPDATE", 5, {"id": 5}, ago(4), commit=ago(4)),
        change("tickets", "INSERT", 4, {"id": 4}, ago(60), commit=ago(60)),
        change("tickets", "DELETE", 2, None, ago(1), old={"id": 2}),
        change("orders", "INSERT", 2, {"id": 2}, ago(1), commit=ago(1)),
    ]
)


def test_filter_order_columns_labels_and_flags() -> None:
    spec = QueueSpec(
        "tickets",
        columns=("id", "subject", "priority"),
        labels={"subject": "Subject", "priority": "P"},
        filter="status=eq.open",
        order="priority.asc,opened_at.desc",
        highlight_s=10,
    )
    view = compute(spec, TICKETS, EVENTS, NOW)
    assert list(view.rows.columns) == ["id", "Subject", "P"]
    assert view.columns == ("id", "subject", "priority")
    assert list(view.rows["id"]) == [4, 5, 1, 2]  # nulls last when ascending
    assert view.keys == ("4", "5", "1", "2")
    # An UPDATE 4 s ago flags 5; a snapshot row, a DELETE, an old INSERT and another table don't.
    assert view.changed == (False, True, False, False)
    assert view.matched == 4
    assert list(view.rows.index) == [0, 1, 2, 3]


def test_limit_nulls_first_and_missing_columns() -> None:
    spec = QueueSpec(
        "tickets", columns=("id", "owner"), order="priority.asc.nullsfirst,id.desc", limit=3
    )
    view = compute(spec, TICKETS, EVENTS, NOW)
    assert list(view.rows["id"]) == [2, 4, 3]
    assert list(view.rows["owner"]) == [None, None, None]
    assert view.matched == 5
    assert compute(QueueSpec("tickets", order="priority.desc"), TICKETS, EVENTS, NOW).keys[:1] == (
        "2",
    )  # nulls first when descending, as in Postgres


def test_no_order_keeps_table_order_and_all_columns() -> None:
    view = compute(QueueSpec("tickets", highlight_s=0), TICKETS, EVENTS, NOW)
    assert view.columns == tuple(TICKETS.columns)
    assert view.keys == ("1", "2", "3", "4", "5")
    assert not any(view.changed)


@pytest.mark.parametrize("rows", [pd.DataFrame(), pd.DataFrame(columns=["id", "status"])])
@pytest.mark.parametrize("events", [snapshot([]), EVENTS])
def test_empty_tables(rows: pd.DataFrame, events: pd.DataFrame) -> None:
    spec = QueueSpec("tickets", columns=("id", "status"), labels={"id": "#"}, filter="status=eq.x")
    view = compute(spec, rows, events, NOW)
    assert list(view.rows.columns) == ["#", "status"]
    assert (len(view.rows), view.keys, view.changed, view.matched) == (0, (), (), 0)
    assert compute(QueueSpec("tickets", order="id.desc"), rows, events, NOW).matched == 0


def test_parse_order() -> None:
    assert parse_order("a,b.desc,c.asc.nullsfirst,d.desc.nullslast") == (
        OrderTerm("a", True, False),
        OrderTerm("b", False, True),
        OrderTerm("c", True, True),
        OrderTerm("d", False, False),
    )
    assert parse_order(None) == parse_order(" ") == ()


def test_large_table_and_buffer() -> None:
    n_rows, n_events = 200_000, 1_000_000
    rng = np.random.default_rng(3)
    rows = pd.DataFrame(
        {
            "id": np.arange(n_rows),
            "status": rng.choice(["open", "closed"], n_rows),
            "priority": rng.integers(1, 6, n_rows),
        }
    )
    keys = rng.integers(0, n_rows, n_events)
    # Every event is older than 10 s but the last 1,000, spread over the last 5 s.
    received = np.linspace(ns(ago(3600)), ns(ago(20)), n_events).astype(np.int64)
    received[-1000:] = np.linspace(ns(ago(5)), ns(NOW), 1000).astype(np.int64)
    events = bulk_events(
        "tickets", keys, np.array(["UPDATE"] * n_events), received, pd.Series(["{}"] * n_events)
    )
    spec = QueueSpec("tickets", filter="status=eq.open,priority=eq.1", order="id.desc", limit=100)
    view = compute(spec, rows, events, NOW)
    chosen = rows[(rows["status"] == "open") & (rows["priority"] == 1)]
    assert view.matched == len(chosen)
    assert list(view.rows["id"]) == sorted(chosen["id"], reverse=True)[:100]
    fresh = {str(k) for k in keys[-1000:]}
    assert view.changed == tuple(k in fresh for k in view.keys)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"table": ""}, "table=''"),
        ({"columns": ("id", "id")}, "columns=('id', 'id')"),
        ({"columns": ("id", "")}, "columns=''"),
        ({"labels": {"id": ""}}, "labels['id']=''"),
        ({"filter": "id=eq"}, "filter='id=eq'"),
        ({"order": "id.up"}, "order='id.up'"),
        ({"order": "id,,x"}, "order='id,,x'"),
        ({"limit": 0}, "limit=0"),
        ({"limit": True}, "limit=True"),
        ({"key_column": None}, "key_column=None"),
        ({"highlight_s": -1}, "highlight_s=-1"),
    ],
)
def test_spec_validation(kwargs: dict, field: str) -> None:
    arguments = {"table": "tickets", **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        QueueSpec(**arguments)


def test_text_orders_as_text_and_mixed_columns_do_not_fail() -> None:
    rows = table([{"id": 1, "code": "9"}, {"id": 2, "code": "10"}, {"id": 3, "code": None}])
    assert compute(QueueSpec("t", order="code"), rows, snapshot([]), NOW).keys == ("2", "1", "3")
    mixed = table([{"id": 1, "code": 9}, {"id": 2, "code": "a"}, {"id": 3, "code": 10}])
    assert compute(QueueSpec("t", order="code"), mixed, snapshot([]), NOW).keys == ("3", "1", "2")
