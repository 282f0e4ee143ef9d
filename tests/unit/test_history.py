"""Event history on disk: round trip, layout, rotation, retention, schema evolution, bad
files and the collector hook (crashes and ``rtdata record``: e2e/test_history_processes.py)."""

from __future__ import annotations

import dataclasses
import logging
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rtdata.config
from rtdata import Settings
from rtdata.buffer import EventBuffer
from rtdata.config import DEFAULT_CONFIG, ConfigError, HistoryConfig, parse_config
from rtdata.events import COLUMNS, Event, EventKind, EventSource
from rtdata.history import HistoryWriter, aggregate_by_table_hour, load, query
from rtdata.recorder import Recorder
from tests.support import wait_until

BASE_NS = 1_714_557_600_000_000_000  # 2024-05-01T10:00:00Z
DAY_NS = 86_400 * 10**9
VITALS = {
    "patient_id": "P-0001",
    "hospital_id": 1,
    "heart_rate": 72,
    "systolic": 120,
    "diastolic": 80,
    "spo2": 98,
    "temperature": 36.7,
}
LAYOUT = re.compile(r"date=\d{4}-\d{2}-\d{2}/table=[^/]+/part-\d{8}T\d{12}Z-\d{6}\.parquet")


def event(
    i: int, *, table: str | None = "emergency_requests", day: int = 0, status: bool = False
) -> Event:
    """A change event (every third without a commit time), or a status event."""
    return Event(
        received_at_ns=BASE_NS + day * DAY_NS + i * 1_000_000_007,
        commit_ns=None if i % 3 == 0 else BASE_NS + day * DAY_NS + i * 1_000_000_007 - 2_345_678,
        kind="status" if status else "postgres_changes",
        channel="" if status else "rtdata-tables",
        table=None if status else table,
        op="subscribed" if status else ("UPDATE" if i % 2 else "INSERT"),
        key=None if status else str(i),
        record=f'{{"id":{i},"name":"Zoë {i}"}}',
        old_record='{"id":0}' if i % 2 and not status else None,
        source="realtime",
    )


def snapshot(events: list[Event]) -> pd.DataFrame:
    buffer = EventBuffer()
    buffer.extend(events)
    return buffer.snapshot()


def visible(root: Path) -> list[Path]:
    return sorted(root.glob("date=*/table=*/part-*.parquet"))


def assert_same_events(loaded: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal rows and columns; categories may be listed in another order."""
    assert list(loaded.columns) == list(COLUMNS)
    left = loaded.sort_values("received_at", kind="stable").reset_index(drop=True)
    right = expected.sort_values("received_at", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_categorical=False)


@pytest.fixture
def events() -> list[Event]:
    tables = ("emergency_requests", "vital_signs", "odd/name=ü")
    return [event(i, table=tables[i % 3], day=i % 2, status=i % 5 == 4) for i in range(300)]


# ---------------------------------------------------------------- writing and reading


def test_round_trip_loads_back_equal_with_snapshot_dtypes(
    tmp_path: Path, events: list[Event]
) -> None:
    with HistoryWriter(tmp_path) as writer:
        for e in events:
            writer.append(e)
    stats = writer.stats()
    assert (stats.rows_written, stats.rows_pending, stats.rows_dropped, stats.errors) == (
        300,
        0,
        0,
        0,
    )
    loaded = load(tmp_path)
    expected = snapshot(events)
    assert loaded.dtypes.to_dict() == expected.dtypes.to_dict()
    assert loaded["received_at"].is_monotonic_increasing
    assert_same_events(loaded, expected)


def test_enum_kinds_and_sources_round_trip_as_their_text(tmp_path: Path) -> None:
    # What the collector appends carries EventKind/EventSource members; files and frames hold text.
    alert = Event(BASE_NS, None, EventKind.ALERT, "", None, "presence_spike", None, "{}", None)
    change = event(1)._replace(kind=EventKind.POSTGRES_CHANGES, source=EventSource.RESYNC)
    with HistoryWriter(tmp_path) as writer:
        writer.append(alert)
        writer.append(change)
    loaded = load(tmp_path, kinds=[EventKind.ALERT])
    assert loaded["op"].tolist() == ["presence_spike"]
    everything = load(tmp_path)
    assert_same_events(everything, snapshot([alert, change]))
    assert {type(k) for k in everything["kind"].cat.categories} == {str}
    assert set(everything["source"]) == {"realtime", "resync"}


def test_filters_match_pandas_and_aggregates_match_groupby(
    tmp_path: Path, events: list[Event]
) -> None:
    with HistoryWriter(tmp_path) as writer:
        for e in events:
            writer.append(e)
    expected = snapshot(events)
    since = datetime.fromtimestamp((BASE_NS + 50 * 10**9) / 1e9, UTC)
    until = since + timedelta(days=1, seconds=100)
    loaded = load(tmp_path, since, until, tables=["odd/name=ü"], kinds=["postgres_changes"])
    mask = (
        (expected["received_at"] >= since)
        & (expected["received_at"] < until)
        & (expected["table"] == "odd/name=ü")
        & (expected["kind"] == "postgres_changes")
    )
    assert 0 < len(loaded) < len(events)
    assert_same_events(loaded, expected[mask])
    # Naive times are UTC.
    naive = load(tmp_path, since.replace(tzinfo=None), until.replace(tzinfo=None))
    assert len(naive) == int(
        ((expected["received_at"] >= since) & (expected["received_at"] < until)).sum()
    )

    hourly = aggregate_by_table_hour(tmp_path)
    assert list(hourly.columns) == ["table", "hour", "events", "mean_latency_ms", "p99_latency_ms"]
    grouped = expected.groupby(
        [expected["table"].astype(object), expected["received_at"].dt.floor("h")],
        dropna=False,
        observed=True,
    ).size()
    assert sorted(hourly["events"].tolist()) == sorted(grouped.tolist())
    latency = hourly.loc[hourly["table"] == "vital_signs", "mean_latency_ms"].dropna()
    assert latency.round(6).eq(2.345678).all()
    counted = query(
        tmp_path, "SELECT count(*) AS n FROM events WHERE kind = $kind", {"kind": "status"}
    )
    assert counted["n"].iloc[0] == (expected["kind"] == "status").sum()


def test_partitions_are_hive_folders_by_utc_day_and_table(
    tmp_path: Path, events: list[Event]
) -> None:
    with HistoryWriter(tmp_path) as writer:
        for e in events:
            writer.append(e)
    relative = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert relative
    assert all(LAYOUT.fullmatch(p) for p in relative), relative  # no .tmp file left
    folders = {p.rsplit("/", 1)[0] for p in relative}
    assert folders == {
        f"date={day}/table={table}"
        for day in ("2024-05-01", "2024-05-02")
        for table in ("emergency_requests", "vital_signs", "odd%2Fname%3D%C3%BC", "_none")
    }
    for path in visible(tmp_path):
        day, table = path.parent.parent.name[5:], path.parent.name[6:]
        rows = pq.read_table(path)
        assert rows.schema.field("received_at").type == pa.timestamp("ns", tz="UTC")
        dates = {t.date().isoformat() for t in rows["received_at"].to_pylist()}
        assert dates == {day}
        names = {None if table == "_none" else unquote(table)}
        assert set(rows["table"].to_pylist()) == names


def test_files_rotate_by_size(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path, rotate_bytes=1, flush_rows=10, flush_s=3600) as writer:
        for n in range(1, 4):
            for i in range(10):
                writer.append(event(10 * n + i, table="t"))
            wait_until(lambda n=n: len(visible(tmp_path)) == n, what=f"file {n}")  # type: ignore[misc]
    assert [pq.read_metadata(p).num_rows for p in visible(tmp_path)] == [10, 10, 10]


def test_files_rotate_by_age_on_the_given_clock(tmp_path: Path) -> None:
    now_s = [1_714_557_600.0]
    writer = HistoryWriter(tmp_path, rotate_s=60, flush_s=0.01, clock_s=lambda: now_s[0])
    with writer:
        for i in range(5):
            writer.append(event(i, table="t"))
        wait_until(lambda: any(tmp_path.glob(".journal-*.arrows")), what="the journal opened")
        now_s[0] += 61
        wait_until(lambda: len(visible(tmp_path)) == 1, what="the file finished by age")
    (path,) = visible(tmp_path)
    assert path.name.startswith("part-20240501T100000000000Z-")  # opened at the fake time
    assert pq.read_metadata(path).num_rows == 5


def test_retention_deletes_the_oldest_files_first(tmp_path: Path) -> None:
    earlier = HistoryWriter(tmp_path)
    for i in range(100):
        earlier.append(event(i, table="t"))
    earlier.close()
    (first,) = visible(tmp_path)
    size = first.stat().st_size
    writer = HistoryWriter(tmp_path, max_total_bytes=int(size * 2.5))
    for batch in range(1, 5):
        for i in range(100):
            writer.append(event(batch * 100 + i, table="t"))
        writer.flush()
    files = visible(tmp_path)
    assert not first.exists()  # a file of an earlier writer counts too
    assert len(files) == 2
    assert sum(p.stat().st_size for p in files) <= writer.max_total_bytes
    assert writer.stats().files == 2
    keys = load(tmp_path)["key"].astype(int)
    assert keys.min() == 300
    assert keys.max() == 499


def test_write_errors_are_counted_and_logged_once_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "a-file"
    root.write_text("not a folder")
    writer = HistoryWriter(root)
    with caplog.at_level(logging.ERROR, logger="rtdata.history"):
        for attempt in range(2):
            writer.append(event(attempt, table="t"))
            writer.flush()
    stats = writer.stats()
    assert stats.errors == 2
    assert stats.rows_dropped == 2
    assert len(caplog.records) == 1
    assert "a-file" in caplog.text


def test_items_that_are_not_events_are_dropped_alone(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path)
    writer.append(event(1, table="t"))
    writer.append(("not", "an", "event"))  # type: ignore[arg-type]
    writer.append(event(2, table="t")._replace(received_at_ns="late"))  # type: ignore[arg-type]
    writer.append(event(3, table="t"))
    writer.flush()
    stats = writer.stats()
    assert (stats.rows_written, stats.rows_dropped, stats.errors) == (2, 2, 1)
    assert load(tmp_path)["key"].tolist() == ["1", "3"]


# ---------------------------------------------------------------- reading what is there


def test_files_with_more_or_fewer_columns_load_side_by_side(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path) as writer:
        writer.append(event(1, table="t"))
    folder = tmp_path / "date=2024-05-01" / "table=t"
    newer = pa.table(
        {
            "received_at": pa.array([BASE_NS + 5 * 10**9], pa.timestamp("ns", tz="UTC")),
            "kind": ["postgres_changes"],
            "table": ["t"],
            "op": ["INSERT"],
            "key": ["5"],
            "region": ["eu-west"],
        }
    )
    pq.write_table(newer, folder / "part-20990101T000000000000Z-000001.parquet")
    loaded = load(tmp_path)
    assert list(loaded.columns) == [*COLUMNS, "region"]
    assert pd.isna(loaded["region"].iloc[0])
    assert loaded["region"].iloc[1] == "eu-west"
    newer_row = loaded.iloc[1]
    assert newer_row["key"] == "5"
    assert pd.isna(newer_row["commit_ts"])
    assert pd.isna(newer_row["latency_ms"])
    assert newer_row["record"] is None
    assert pd.isna(newer_row["source"])
    assert isinstance(loaded["source"].dtype, pd.CategoricalDtype)


def test_corrupt_and_foreign_files_are_skipped_with_a_warning_naming_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with HistoryWriter(tmp_path) as writer:
        for i in range(3):
            writer.append(event(i, table="t"))
    folder = tmp_path / "date=2024-05-01" / "table=t"
    (folder / "part-corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), folder / "foreign.parquet")
    (folder / "notes.txt").write_text("hello")
    (tmp_path / "stray.parquet").write_bytes(b"")
    (tmp_path / "date=someday").mkdir()
    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        loaded = load(tmp_path)
    assert len(loaded) == 3
    for name in ("part-corrupt.parquet", "foreign.parquet", "notes.txt", "stray.parquet"):
        assert name in caplog.text
    assert "date=someday" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        assert len(load(tmp_path)) == 3
    assert not caplog.records  # once per file version, not on every load


def test_missing_folder_and_empty_range_give_empty_frames_with_the_right_columns(
    tmp_path: Path,
) -> None:
    empty = EventBuffer().snapshot()
    missing = load(tmp_path / "nope")
    assert list(missing.columns) == list(COLUMNS)
    assert missing.empty
    assert missing.dtypes.to_dict() == empty.dtypes.to_dict()
    with HistoryWriter(tmp_path) as writer:
        writer.append(event(1))
    later = datetime(2030, 1, 1, tzinfo=UTC)
    for frame in (
        load(tmp_path, since=later),
        load(tmp_path, kinds=[]),
        load(tmp_path, tables=["x"]),
    ):
        assert list(frame.columns) == list(COLUMNS)
        assert frame.empty
    assert aggregate_by_table_hour(tmp_path / "nope").empty
    assert query(tmp_path / "nope", "SELECT count(*) AS n FROM events")["n"].iloc[0] == 0


# ---------------------------------------------------------------- config, collector, CLI


def test_history_config_is_documented_and_checked() -> None:
    doc = rtdata.config.__doc__
    assert doc is not None
    example = textwrap.dedent(doc.split("Example ``rtdata.toml``::\n", 1)[1])
    assert parse_config(example).history == HistoryConfig()
    parsed = parse_config('[history]\nenabled = true\npath = "h d"\nrotate_s = 5\nflush_s = 2')
    assert parsed.history == HistoryConfig(enabled=True, path="h d", rotate_s=5.0, flush_s=2.0)
    with pytest.raises(ConfigError) as info:
        parse_config(
            '[history]\nenabled = "yes"\npath = ""\nrotate_mb = 0\nrotate = 1\nflush_s = -1'
        )
    assert [p.split(": ")[1] for p in info.value.problems] == [
        "history.rotate",
        "history.rotate_mb",
        "history.flush_s",
        "history.path",
        "history.enabled",
    ]
    for bad in ("0", '"1"', "nan", "true"):
        with pytest.raises(ConfigError, match=r"history\.flush_s"):
            parse_config(f"[history]\nflush_s = {bad}")


def test_recorder_builds_a_writer_from_the_config(tmp_path: Path) -> None:
    on = HistoryConfig(enabled=True, path=str(tmp_path), rotate_mb=1.5, max_total_mb=2, flush_s=0.5)
    collector = Recorder(Settings(config=dataclasses.replace(DEFAULT_CONFIG, history=on)))
    assert collector.history is not None
    assert collector.history.root == tmp_path
    assert collector.history.rotate_bytes == 3 * 2**19
    assert collector.history.max_total_bytes == 2 * 2**20
    assert collector.history.flush_s == 0.5
    assert Recorder(Settings()).history is None
