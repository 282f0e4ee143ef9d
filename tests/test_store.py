"""The local server's in-memory tables: defaults, constraints and emitted changes."""

from __future__ import annotations

import itertools

import pytest

from rtdata.filters import parse_filter
from rtdata.server.schema import load_schema
from rtdata.server.store import Change, StoreError, TableStore
from rtdata.simulate import MIGRATIONS_DIR

ROW = {
    "hospital_id": 1,
    "patient_name": "Ana",
    "emergency_type": "cardiac",
    "lat": 38.7,
    "lon": -9.1,
    "pickup_address": "Rua A 1",
}


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
