"""EventBuffer: bounds, snapshots the reader owns, filters, and concurrent use."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from rtdata import EventBuffer
from rtdata.events import COLUMNS, Event

BASE_NS = 1_714_557_600_000_000_000


def make(i: int, table: str = "t", kind: str = "postgres_changes") -> Event:
    return Event(
        received_at_ns=BASE_NS + i * 1_000_000,
        commit_ns=BASE_NS + i * 1_000_000 - 2_000_000,
        kind=kind,
        channel="c",
        table=table,
        op="INSERT",
        key=str(i),
        record=f'{{"id":{i}}}',
        old_record=None,
    )


def test_snapshot_columns_types_and_values() -> None:
    buffer = EventBuffer(chunk_rows=4)
    buffer.extend(make(i) for i in range(10))
    frame = buffer.snapshot()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 10
    assert frame["key"].tolist() == [str(i) for i in range(10)]
    assert str(frame["received_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["received_at"].iloc[0] == pd.Timestamp(BASE_NS, unit="ns", tz="UTC")
    assert np.allclose(frame["latency_ms"], 2.0)
    assert isinstance(frame["table"].dtype, pd.CategoricalDtype)


def test_empty_snapshot_has_the_columns() -> None:
    frame = EventBuffer().snapshot()
    assert list(frame.columns) == list(COLUMNS)
    assert frame.empty


def test_missing_commit_time_gives_nat_and_nan_latency() -> None:
    buffer = EventBuffer()
    buffer.append(Event(BASE_NS, None, "status", "", None, "subscribed", None, None, None))
    frame = buffer.snapshot()
    assert pd.isna(frame["commit_ts"].iloc[0])
    assert np.isnan(frame["latency_ms"].iloc[0])
    assert frame["table"].iloc[0] is np.nan or pd.isna(frame["table"].iloc[0])


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 100])
def test_bound_is_exact_and_oldest_go_first(chunk_rows: int) -> None:
    buffer = EventBuffer(max_rows=25, chunk_rows=chunk_rows)
    buffer.extend(make(i) for i in range(103))
    frame = buffer.snapshot()
    assert len(buffer) == 25
    assert frame["key"].tolist() == [str(i) for i in range(78, 103)]


def test_snapshot_is_owned_by_the_reader() -> None:
    buffer = EventBuffer(chunk_rows=2)
    buffer.extend(make(i) for i in range(5))
    frame = buffer.snapshot()
    frame.loc[0, "key"] = "changed"
    frame["latency_ms"] = -1.0
    again = buffer.snapshot()
    assert again["key"].iloc[0] == "0"
    assert (again["latency_ms"] == 2.0).all()


def test_filters_since_tables_kinds() -> None:
    buffer = EventBuffer(chunk_rows=3)
    buffer.extend(make(i, table="a" if i % 2 else "b") for i in range(10))
    buffer.append(make(10, kind="status"))
    since = datetime.fromtimestamp((BASE_NS + 5_000_000) / 1e9, UTC)
    assert buffer.snapshot(since=since)["key"].tolist() == ["5", "6", "7", "8", "9", "10"]
    assert buffer.snapshot(tables=["a"])["key"].tolist() == ["1", "3", "5", "7", "9"]
    assert buffer.snapshot(kinds=["status"])["key"].tolist() == ["10"]
    assert buffer.snapshot(tables=["zzz"]).empty


def test_version_and_last_received_advance() -> None:
    buffer = EventBuffer()
    assert buffer.last_received_at is None
    v0 = buffer.version
    buffer.append(make(3))
    assert buffer.version > v0
    assert buffer.last_received_at == pd.Timestamp(BASE_NS + 3_000_000, unit="ns", tz="UTC")


def test_concurrent_writer_and_readers_see_consistent_prefixes() -> None:
    buffer = EventBuffer(max_rows=50_000, chunk_rows=256)
    total = 20_000
    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            keys = buffer.snapshot()["key"].astype(int).to_numpy()
            if len(keys) and not (np.diff(keys) == 1).all():
                problems.append("gap or reorder in a snapshot")
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for i in range(total):
        buffer.append(make(i))
    done.set()
    for reader in readers:
        reader.join()
    assert problems == []
    assert len(buffer.snapshot()) == total


def test_invalid_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        EventBuffer(max_rows=0)
