"""The local server's in-memory tables: defaults, constraints and emitted changes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from rtdata.filters import parse_filter
from rtdata.server.schema import load_schema
from rtdata.server.store import Change, StoreError, TableStore
from rtdata.simulate import MIGRATIONS_DIR
from tests.support import EMERGENCY_ROW

ROW = EMERGENCY_ROW


@pytest.fixture
def store() -> TableStore:
    clock = itertools.count(1_714_557_600_000_000_000, 1_000_000)
    return TableStore(load_schema(MIGRATIONS_DIR), clock_ns=lambda: next(clock))


def test_insert_applies_identity_and_defaults(store: TableStore) -> None:
    (first,) = store.insert("emergency_requests", [ROW])
    (second,) = store.insert("emergency_requests", [ROW])
    assert (first["id"], second["id"]) == (1, 2)
    assert first["status"] == "pending"
    assert first["priority"] == 3
    assert first["created_at"] == first["updated_at"]  # one now() per statement
    assert first["created_at"].endswith("+00:00")


def test_changes_are_emitted_in_commit_order_with_increasing_times(store: TableStore) -> None:
    seen: list[Change] = []
    store.subscribe(seen.extend)
    (row,) = store.insert("emergency_requests", [ROW])
    store.update("emergency_requests", parse_filter(f"id=eq.{row['id']}"), {"status": "accepted"})
    store.delete("emergency_requests", parse_filter(f"id=eq.{row['id']}"))
    assert [c.type for c in seen] == ["INSERT", "UPDATE", "DELETE"]
    assert seen[0].commit_ns < seen[1].commit_ns < seen[2].commit_ns
    assert seen[1].old_record is not None
    assert seen[1].old_record["status"] == "pending"
    assert seen[1].record is not None
    assert seen[1].record["status"] == "accepted"
    assert seen[2].record is None
    assert store.rows("emergency_requests") == []


@pytest.mark.parametrize(
    ("rows", "status", "code"),
    [
        ([{**ROW, "nope": 1}], 400, "PGRST204"),
        ([{**ROW, "priority": "high"}], 400, "22P02"),
        ([{k: v for k, v in ROW.items() if k != "patient_name"}], 400, "23502"),
        ([{**ROW, "id": 5}, {**ROW, "id": 5}], 409, "23505"),
    ],
)
def test_bad_writes_raise_postgrest_errors_and_change_nothing(
    store: TableStore, rows: list[dict[str, object]], status: int, code: str
) -> None:
    seen: list[Change] = []
    store.subscribe(seen.extend)
    with pytest.raises(StoreError) as info:
        store.insert("emergency_requests", rows)
    assert (info.value.status, info.value.code) == (status, code)
    assert store.rows("emergency_requests") == []
    assert seen == []


def test_unknown_table_is_404(store: TableStore) -> None:
    with pytest.raises(StoreError) as info:
        store.select("nope")
    assert info.value.status == 404


def test_select_filters_with_typed_comparison(store: TableStore) -> None:
    store.insert("emergency_requests", [{**ROW, "priority": p} for p in (1, 2, 10)])
    rows = store.select("emergency_requests", parse_filter("priority=lt.3"))
    assert sorted(r["priority"] for r in rows) == [1, 2]
    with pytest.raises(StoreError, match="does not exist"):
        store.select("emergency_requests", parse_filter("nope=eq.1"))


def test_upsert_merges_existing_rows_and_emits_update_with_the_old_row(store: TableStore) -> None:
    (first,) = store.insert("emergency_requests", [ROW])
    seen: list[Change] = []
    store.subscribe(seen.extend)
    rows = store.upsert(
        "emergency_requests",
        [{**ROW, "id": first["id"], "status": "accepted"}, {**ROW, "id": 7}],
    )
    assert [(r["id"], r["status"]) for r in rows] == [(first["id"], "accepted"), (7, "pending")]
    assert [c.type for c in seen] == ["UPDATE", "INSERT"]
    assert seen[0].old_record is not None
    assert seen[0].old_record["status"] == "pending"
    assert seen[0].commit_ns == seen[1].commit_ns  # one statement, one commit
    # Columns not in the payload keep their values; the identity counter moved past 7.
    assert store.rows("emergency_requests")[0]["created_at"] == first["created_at"]
    (after,) = store.insert("emergency_requests", [ROW])
    assert after["id"] == 8


def test_upsert_ignore_skips_conflicts_and_returns_only_inserted_rows(store: TableStore) -> None:
    store.insert("emergency_requests", [{**ROW, "id": 1}])
    rows = store.upsert(
        "emergency_requests",
        [{**ROW, "id": 1, "status": "x"}, {**ROW, "id": 2}, {**ROW, "id": 2, "status": "y"}],
        resolution="ignore",
    )
    assert [r["id"] for r in rows] == [2]
    assert [r["status"] for r in store.rows("emergency_requests")] == ["pending", "pending"]


@pytest.mark.parametrize(
    ("rows", "kwargs", "status", "code"),
    [
        ([{**ROW, "id": 1}, {**ROW, "id": 1}], {}, 500, "21000"),  # same row twice
        ([{**ROW, "id": 1}], {"on_conflict": ["patient_name"]}, 400, "42P10"),
        ([{**ROW, "id": 1}], {"on_conflict": ["nope"]}, 400, "42703"),
        ([{"id": 1, "status": "x"}], {}, 400, "23502"),  # NOT NULL holds before the conflict
    ],
)
def test_upsert_errors_change_nothing(
    store: TableStore, rows: list[dict[str, object]], kwargs: dict[str, Any], status: int, code: str
) -> None:
    store.insert("emergency_requests", [{**ROW, "id": 1}])
    before = store.rows("emergency_requests")
    with pytest.raises(StoreError) as info:
        store.upsert("emergency_requests", rows, **kwargs)
    assert (info.value.status, info.value.code) == (status, code)
    assert store.rows("emergency_requests") == before


def test_update_is_all_or_nothing(store: TableStore) -> None:
    store.insert("emergency_requests", [{**ROW, "id": 1}, {**ROW, "id": 2}])
    with pytest.raises(StoreError) as info:
        store.update("emergency_requests", parse_filter("id=in.(1,2)"), {"id": 3})
    assert info.value.code == "23505"  # the second row would collide with the first
    assert [r["id"] for r in store.rows("emergency_requests")] == [1, 2]
    store.update("emergency_requests", parse_filter("id=eq.1"), {"status": "accepted"})
    assert [r["id"] for r in store.rows("emergency_requests")] == [1, 2]  # order kept


def test_before_commit_can_refuse_a_write(store: TableStore) -> None:
    seen: list[Change] = []
    store.subscribe(seen.extend)

    def refuse(rows: list[dict[str, Any]]) -> None:
        raise StoreError(406, "PGRST116", f"{len(rows)} rows")

    for write in (
        lambda: store.insert("emergency_requests", [ROW, ROW], before_commit=refuse),
        lambda: store.delete("emergency_requests", parse_filter("id=gt.0"), before_commit=refuse),
    ):
        with pytest.raises(StoreError, match="rows"):
            write()
    assert seen == []
    assert store.insert("emergency_requests", [ROW])[0]["id"] == 1  # numbers were not used


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("priority=eq.high", 400, "22P02"),
        ("priority=eq.null", 400, "22P02"),  # "null" is text, as in PostgREST
        ("status=is.true", 400, "42804"),
        ("priority=like.1%", 404, "42883"),
    ],
)
def test_filters_are_checked_even_on_an_empty_table(
    store: TableStore, text: str, status: int, code: str
) -> None:
    with pytest.raises(StoreError) as info:
        store.select("emergency_requests", parse_filter(text))
    assert (info.value.status, info.value.code) == (status, code)


def test_enum_columns_take_their_default_and_refuse_other_labels(tmp_path: Path) -> None:
    sql = tmp_path / "0001.sql"
    sql.write_text(
        "create type status as enum ('open', 'closed');\n"
        "create table tickets (id int8 primary key, status status not null default 'open');\n"
    )
    enum_store = TableStore(load_schema(sql))
    (row,) = enum_store.insert("tickets", [{"id": 1}])
    assert row["status"] == "open"
    with pytest.raises(StoreError) as refused:
        enum_store.insert("tickets", [{"id": 2, "status": "lost"}])
    assert (refused.value.status, refused.value.code) == (400, "22P02")
    assert 'invalid input value for enum status: "lost"' in refused.value.message
    assert enum_store.rows("tickets") == [row]
