"""Event rows from client payloads, and live table state built from them."""

from __future__ import annotations

import orjson
import pytest
from realtime.types import RealtimePostgresChangesListenEvent

from rtdata.events import Event, EventError, event_from_change, event_from_row
from rtdata.tables import LiveTables

RECEIVED_NS = 1_714_557_600_500_000_000  # 2024-05-01T10:00:00.5Z


def change(
    type_: object, record: dict[str, object] | None, old: dict[str, object] | None = None
) -> dict[str, object]:
    data: dict[str, object] = {
        "schema": "public",
        "table": "todos",
        "commit_timestamp": "2024-05-01T10:00:00.123Z",
        "type": type_,
        "columns": [{"name": "id", "type": "int8"}, {"name": "task", "type": "text"}],
        "errors": None,
    }
    if record is not None:
        data["record"] = record
    if old is not None:
        data["old_record"] = old
    return {"data": data, "ids": [1]}


def test_insert_payload_as_realtime_py_delivers_it() -> None:
    payload = change(RealtimePostgresChangesListenEvent.Insert, {"id": 1, "task": "x"})
    event = event_from_change(payload, "room", RECEIVED_NS, ("id",))
    assert event.op == "INSERT"
    assert event.key == "1"
    assert event.table == "todos"
    assert event.record is not None
    assert orjson.loads(event.record) == {"id": 1, "task": "x"}
    assert event.old_record is None
    assert event.latency_ms == pytest.approx(377.0)


def test_delete_takes_its_key_from_old_record() -> None:
    event = event_from_change(change("DELETE", None, {"id": 9}), "room", RECEIVED_NS, ("id",))
    assert (event.op, event.key, event.record) == ("DELETE", "9", None)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"ids": []}, "no 'data'"),
        (change("TRUNCATE", {"id": 1}), "not INSERT/UPDATE/DELETE"),
        (change("INSERT", {"task": "x"}), "primary key column 'id'"),
        (change("DELETE", None), "carries no record"),
    ],
)
def test_bad_payloads_raise_event_error(payload: dict[str, object], problem: str) -> None:
    with pytest.raises(EventError, match=problem):
        event_from_change(payload, "room", RECEIVED_NS, ("id",))


def test_composite_keys_join_with_bar() -> None:
    event = event_from_row({"a": 1, "b": "x"}, "t", RECEIVED_NS, ("a", "b"))
    assert event.key == "1|x"
    assert event.source == "snapshot"
    assert event.latency_ms is None


def _event(
    op: str, key: str, record: dict[str, object] | None, old: dict[str, object] | None = None
) -> Event:
    return Event(
        RECEIVED_NS,
        None,
        "postgres_changes",
        "c",
        "todos",
        op,
        key,
        None if record is None else orjson.dumps(record).decode(),
        None if old is None else orjson.dumps(old).decode(),
    )


def test_live_tables_apply_upserts_and_deletes() -> None:
    tables = LiveTables({"todos": ("id",)})
    tables.load("todos", [{"id": 1, "task": "a"}, {"id": 2, "task": "b"}])
    assert tables.apply(_event("INSERT", "3", {"id": 3, "task": "c"}))
    assert tables.apply(_event("UPDATE", "1", {"id": 1, "task": "A"}, {"id": 1}))
    assert tables.apply(_event("DELETE", "2", None, {"id": 2}))
    frame = tables.frame("todos").sort_values("id")
    assert frame.to_dict("records") == [{"id": 1, "task": "A"}, {"id": 3, "task": "c"}]
    assert tables.count("todos") == 2


def test_live_tables_follow_a_primary_key_change() -> None:
    tables = LiveTables({"todos": ("id",)})
    tables.load("todos", [{"id": 1, "task": "a"}])
    tables.apply(_event("UPDATE", "5", {"id": 5, "task": "a"}, {"id": 1}))
    assert tables.frame("todos").to_dict("records") == [{"id": 5, "task": "a"}]


def test_live_tables_keep_the_columns_an_update_leaves_out() -> None:
    # Postgres does not log an unchanged TOASTed value; the update's record lacks the column.
    tables = LiveTables({"todos": ("id",)})
    tables.load("todos", [{"id": 1, "body": "x" * 3000, "rev": 1}])
    tables.apply(_event("UPDATE", "1", {"id": 1, "rev": 2}, {"id": 1}))
    assert tables.rows("todos") == [{"id": 1, "body": "x" * 3000, "rev": 2}]
    tables.apply(_event("UPDATE", "7", {"id": 7, "rev": 3}, {"id": 1}))  # and a key change
    assert tables.rows("todos") == [{"id": 7, "body": "x" * 3000, "rev": 3}]
    tables.apply(_event("INSERT", "8", {"id": 8}))
    assert {"id": 8} in tables.rows("todos")  # an insert has every column it is given


def test_live_tables_ignore_other_tables_and_kinds() -> None:
    tables = LiveTables({"todos": ("id",)})
    other = Event(RECEIVED_NS, None, "postgres_changes", "c", "other", "INSERT", "1", "{}", None)
    status = Event(RECEIVED_NS, None, "status", "", None, "subscribed", None, None, None)
    assert not tables.apply(other)
    assert not tables.apply(status)
    assert tables.version("todos") == 0
