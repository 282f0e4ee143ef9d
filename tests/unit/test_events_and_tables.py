"""Event rows from client payloads, and live table state built from them."""

from __future__ import annotations

import orjson
import pytest
from realtime.types import RealtimePostgresChangesListenEvent

from rtdata.events import (
    Event,
    EventError,
    RecordMismatch,
    check_record,
    event_from_change,
    event_from_row,
)
from rtdata.tables import MAX_TOMBSTONES, LiveTables

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


# ------------------------------------------------------------ records against their columns

COLUMNS = [
    {"name": "id", "type": "int8"},
    {"name": "done", "type": "bool"},
    {"name": "score", "type": "numeric"},
    {"name": "at", "type": "timestamptz"},
    {"name": "tags", "type": "_text"},
    {"name": "meta", "type": "jsonb"},
    {"name": "mood", "type": "mood_enum"},
]


def test_records_of_every_type_family_fit_their_columns() -> None:
    check_record(
        "t",
        {
            "id": 1,
            "done": False,
            "score": "NaN",
            "at": "2024-05-01T10:00:00+00:00",
            "tags": ["a"],
            "meta": {"any": [1, "thing"]},
            "mood": "happy",
        },
        COLUMNS,
    )
    check_record("t", {"id": None, "score": 1.5}, COLUMNS)  # nulls, and columns left out
    check_record("t", {}, COLUMNS)


@pytest.mark.parametrize(
    ("record", "columns", "problem"),
    [
        ({"id": 1, "ghost": 1}, COLUMNS, "t has no column 'ghost'"),
        ({"id": "1"}, COLUMNS, r"t.id is int8 but the change gives a str"),
        ({"id": True}, COLUMNS, r"t.id is int8 but the change gives a bool"),
        ({"done": 1}, COLUMNS, r"t.done is bool but the change gives a int"),
        ({"score": True}, COLUMNS, r"t.score is numeric but the change gives a bool"),
        ({"at": 17}, COLUMNS, r"t.at is timestamptz but the change gives a int"),
        ({"tags": "a"}, COLUMNS, r"t.tags is _text but the change gives a str"),
        ({"id": 1}, None, "lists no columns with a name and type"),
        ({"id": 1}, [{"name": "id"}], "lists no columns with a name and type"),
    ],
)
def test_a_record_that_does_not_fit_names_the_column_not_the_value(
    record: dict[str, object], columns: object, problem: str
) -> None:
    with pytest.raises(RecordMismatch, match=problem) as caught:
        check_record("t", record, columns)
    assert isinstance(caught.value, EventError)  # still an invalid change, by its type
    assert "'1'" not in str(caught.value)


def test_a_change_whose_record_does_not_fit_is_a_record_mismatch() -> None:
    payload = change("INSERT", {"id": 1, "task": ["not", "text"]})
    with pytest.raises(RecordMismatch, match=r"todos\.task is text"):
        event_from_change(payload, "room", RECEIVED_NS, ("id",))
    with pytest.raises(RecordMismatch, match=r"todos\.id is int8"):
        event_from_change(change("DELETE", None, {"id": "9"}), "room", RECEIVED_NS, ("id",))


# ------------------------------------------------------------ out-of-order changes


def test_a_change_older_than_its_rows_last_one_is_stale() -> None:
    tables = LiveTables({"todos": ("id",)})
    assert not tables.stale("todos", "1", 10)
    tables.apply_change("todos", "INSERT", "1", {"id": 1, "v": "a"}, None, 10)
    assert tables.stale("todos", "1", 9)
    assert not tables.stale("todos", "1", 10)  # one transaction: same commit time
    assert not tables.stale("todos", "1", None)
    assert not tables.stale("todos", "2", 1)
    tables.apply_change("todos", "DELETE", "1", None, {"id": 1}, 20)
    assert tables.stale("todos", "1", 19)  # a late write of a deleted row
    assert not tables.stale("todos", "1", 21)
    # A key change: the old key is gone as of its commit time.
    tables.apply_change("todos", "INSERT", "3", {"id": 3}, None, 30)
    tables.apply_change("todos", "UPDATE", "4", {"id": 4}, {"id": 3}, 31)
    assert tables.stale("todos", "3", 30)
    assert tables.stale("todos", "5", 30, old_key="4")
    # A row read over REST forgets what was known of its key.
    tables.apply_change("todos", "SNAPSHOT", "4", {"id": 4}, None, None)
    assert not tables.stale("todos", "4", 1)
    tables.load("todos", [{"id": 3}])
    assert not tables.stale("todos", "3", 1)


def test_deletions_remembered_are_bounded() -> None:
    tables = LiveTables({"todos": ("id",)})
    for i in range(MAX_TOMBSTONES + 1):
        tables.apply_change("todos", "DELETE", str(i), None, {"id": i}, 100)
    assert not tables.stale("todos", "0", 1)  # the oldest deletion was forgotten
    assert tables.stale("todos", "1", 1)
    assert tables.stale("todos", str(MAX_TOMBSTONES), 1)
