"""EventBuffer: bounds, snapshots the reader owns, filters, and concurrent use."""

from __future__ import annotations

import sys
import threading
import tracemalloc
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata import EventBuffer
from rtdata.events import COLUMNS, KINDS, SOURCES, Event, EventKind, EventSource

BASE_NS = 1_714_557_600_000_000_000


def make(
    i: int,
    table: str = "t",
    kind: str = "postgres_changes",
    *,
    received_ms: int | None = None,
    channel: str = "c",
) -> Event:
    received_ns = BASE_NS + (i if received_ms is None else received_ms) * 1_000_000
    return Event(
        received_at_ns=received_ns,
        commit_ns=received_ns - 2_000_000,
        kind=kind,
        channel=channel,
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
    for age in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="max_age_s"):
            EventBuffer(max_age_s=age)


# ------------------------------------------------------------------ age bound


def keys(buffer: EventBuffer, **filters: object) -> list[str]:
    return buffer.snapshot(**filters)["key"].tolist()  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 100])
def test_age_bound_keeps_the_window_before_the_newest_event(chunk_rows: int) -> None:
    buffer = EventBuffer(max_age_s=1.0, chunk_rows=chunk_rows)
    for i in range(50):  # one event every 100 ms
        buffer.append(make(i, received_ms=100 * i))
        expected = [str(j) for j in range(max(0, i - 10), i + 1)]
        assert len(buffer) == len(expected)
        assert keys(buffer) == expected


def test_age_bound_is_inclusive_to_the_nanosecond() -> None:
    buffer = EventBuffer(max_age_s=1.0)
    buffer.append(Event(BASE_NS - 1, None, "status", "", None, "a", "too old", None, None))
    buffer.append(Event(BASE_NS, None, "status", "", None, "b", "exactly 1 s", None, None))
    buffer.append(Event(BASE_NS + 10**9, None, "status", "", None, "c", "newest", None, None))
    assert keys(buffer) == ["exactly 1 s", "newest"]
    assert len(buffer) == 2


def test_age_bound_follows_the_newest_event_not_the_clock() -> None:
    buffer = EventBuffer(max_age_s=60.0, chunk_rows=4)
    buffer.extend(make(i, received_ms=i) for i in range(10))
    assert len(buffer) == 10  # no appends, so nothing ages, however long the stream is quiet
    buffer.append(make(10, received_ms=60_005))
    assert keys(buffer) == ["5", "6", "7", "8", "9", "10"]


def test_age_bound_combines_with_since_and_tables() -> None:
    buffer = EventBuffer(max_age_s=0.5, chunk_rows=3)
    buffer.extend(make(i, table="a" if i % 2 else "b", received_ms=100 * i) for i in range(12))
    assert keys(buffer) == ["6", "7", "8", "9", "10", "11"]
    since = datetime.fromtimestamp((BASE_NS + 850_000_000) / 1e9, UTC)
    assert keys(buffer, since=since, tables=["a"]) == ["9", "11"]
    early = datetime.fromtimestamp(BASE_NS / 1e9, UTC)
    assert keys(buffer, since=early, tables=["b"]) == ["6", "8", "10"]


def test_expired_chunks_are_released() -> None:
    buffer = EventBuffer(max_age_s=1.0, chunk_rows=10)
    buffer.extend(make(i, received_ms=100 * i) for i in range(100))
    held = buffer.nbytes
    buffer.extend(make(i, received_ms=100 * i) for i in range(100, 10_000))
    assert len(buffer) == 11
    assert 0 < buffer.nbytes < 2 * held  # a few chunks, however many events went through


@settings(max_examples=200, deadline=None)
@given(
    steps_ms=st.lists(st.integers(-300, 400), min_size=1, max_size=60),
    max_rows=st.integers(1, 40),
    max_age_ms=st.integers(1, 2_000),
    chunk_rows=st.integers(1, 9),
)
def test_bounds_match_a_reference_even_when_the_clock_steps_back(
    steps_ms: list[int], max_rows: int, max_age_ms: int, chunk_rows: int
) -> None:
    buffer = EventBuffer(max_rows=max_rows, max_age_s=max_age_ms / 1e3, chunk_rows=chunk_rows)
    appended: list[Event] = []
    now_ms = 0
    for i, step_ms in enumerate(steps_ms):
        now_ms += step_ms
        event = make(i, received_ms=now_ms)
        buffer.append(event)
        appended.append(event)
        newest_ns = max(e.received_at_ns for e in appended)
        cutoff_ns = newest_ns - max_age_ms * 1_000_000
        kept = [e.key for e in appended[-max_rows:] if e.received_at_ns >= cutoff_ns]
        assert len(buffer) == len(kept)
        assert keys(buffer) == kept
        since_ns = BASE_NS + (now_ms - 250) * 1_000_000
        since = pd.Timestamp(since_ns, unit="ns", tz="UTC").to_pydatetime()
        recent = [
            e.key for e in appended[-max_rows:] if e.received_at_ns >= max(cutoff_ns, since_ns)
        ]
        assert keys(buffer, since=since) == recent


# ------------------------------------------------------------------ memory


def chunk_bytes(events: list[Event]) -> int:
    arrays = len(events) * (8 + 8 + 5 * 1 + 3 * 8)  # times, int8 codes, object pointers
    texts = [t for e in events for t in (e.key, e.record, e.old_record) if t]
    return arrays + sum(map(sys.getsizeof, texts))


def tail_bytes(events: list[Event]) -> int:
    texts = [t for e in events for t in (e.key, e.record, e.old_record) if t]
    return sum(map(sys.getsizeof, events)) + sum(map(sys.getsizeof, texts))


def test_nbytes_counts_sealed_chunks_and_the_open_tail_as_documented() -> None:
    buffer = EventBuffer(max_rows=10, chunk_rows=4)
    assert buffer.nbytes == 0
    events = [make(i) for i in range(14)]
    buffer.extend(events[:3])
    assert buffer.nbytes == tail_bytes(events[:3]) > 3 * sys.getsizeof(events[0])
    buffer.append(events[3])
    assert buffer.nbytes == chunk_bytes(events[:4])
    buffer.extend(events[4:12])
    assert buffer.nbytes == chunk_bytes(events[:12])
    buffer.append(events[12])  # 13 rows: the bound evicts rows 0-2, but chunk 0 still holds row 3
    assert buffer.nbytes == chunk_bytes(events[:12]) + tail_bytes(events[12:13])
    buffer.append(events[13])  # row 3 goes too, and with it the whole first chunk
    assert len(buffer) == 10
    assert buffer.nbytes == chunk_bytes(events[4:12]) + tail_bytes(events[12:14])
    buffer.clear()
    assert buffer.nbytes == 0


def test_nbytes_is_close_to_what_tracemalloc_sees() -> None:
    record = '{"id":%d,"hospital_id":3,"patient_name":"Patient %05d","status":"pending",' + (
        '"pickup_address":"12 Oak Ave","lat":51.5012,"lon":-0.1234,"priority":2,'
        '"created_at":"2024-05-01T10:00:00+00:00","updated_at":"2024-05-01T10:00:00+00:00"}'
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        buffer = EventBuffer(chunk_rows=1_000)
        for i in range(20_000):
            old = None if i % 10 else record % (i, i)
            buffer.append(
                Event(
                    BASE_NS + i,
                    None,
                    "postgres_changes",
                    "c",
                    "t",
                    "UPDATE",
                    str(i),
                    record % (i, i),
                    old,
                )
            )
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.5 * traced <= buffer.nbytes <= 2 * traced


# ------------------------------------------------------------------ snapshots


@pytest.mark.parametrize("chunk_rows", [2, 5, 100])
def test_mutating_a_snapshot_leaves_the_buffer_unchanged(chunk_rows: int) -> None:
    buffer = EventBuffer(chunk_rows=chunk_rows)
    buffer.extend(make(i) for i in range(5))
    expected = buffer.snapshot().copy(deep=True)  # not sharing anything with the buffer
    frame = buffer.snapshot()
    frame.iloc[0, :] = frame.iloc[4, :]
    frame.loc[1, "record"] = "{}"
    frame.loc[2, "received_at"] = pd.Timestamp(0, tz="UTC")
    frame["table"] = frame["table"].cat.rename_categories({"t": "renamed"})
    frame["op"] = frame["op"].cat.add_categories(["X"])
    frame.loc[3, "op"] = "X"
    frame.loc[4, "latency_ms"] = -1.0
    pd.testing.assert_frame_equal(buffer.snapshot(), expected)


def test_categories_past_the_int8_range_keep_their_values() -> None:
    buffer = EventBuffer(chunk_rows=50)
    buffer.extend(make(i, channel=f"ch{i}") for i in range(300))
    frame = buffer.snapshot()
    assert frame["channel"].tolist() == [f"ch{i}" for i in range(300)]
    assert keys(buffer, tables=["t"], kinds=["postgres_changes"]) == [str(i) for i in range(300)]


def test_enum_kinds_are_plain_text_categories_and_filters() -> None:
    buffer = EventBuffer()
    buffer.append(Event(1, None, EventKind.ALERT, "", None, "p99_latency", None, "{}", None))
    buffer.append(Event(2, None, "alert", "", None, "reconnect_storm", None, "{}", None))
    buffer.append(Event(3, None, EventKind.STATUS, "", None, "subscribed", None, "{}", None))
    frame = buffer.snapshot(kinds=[EventKind.ALERT])
    assert frame["op"].tolist() == ["p99_latency", "reconnect_storm"]
    categories = buffer.snapshot()["kind"].cat.categories
    assert [(type(c), c) for c in categories] == [(str, "alert"), (str, "status")]
    assert (frame["kind"] == EventKind.ALERT).all()


def test_kinds_and_sources_are_the_enums() -> None:
    assert tuple(EventKind) == KINDS
    assert "alert" in KINDS
    assert "system" not in KINDS  # never recorded: Realtime's system replies are not events
    assert tuple(EventSource) == SOURCES == ("realtime", "snapshot", "resync", "poll")


def test_last_received_at_keeps_microseconds_without_a_warning() -> None:
    import warnings

    buffer = EventBuffer(max_rows=10)
    assert buffer.last_received_at is None
    ns = 1_765_000_000_123_456_789  # nanoseconds that a datetime cannot hold
    buffer.append(Event(ns, None, "broadcast", "c", None, "e", None, "{}", None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        at = buffer.last_received_at
    assert at is not None
    assert int(at.timestamp()) == ns // 1_000_000_000
    assert at.microsecond == 123_456


# ------------------------------------------------------------ newest, channels and fields

_TABLES = ("a", "b", None)
_CHANNELS = ("x", "y")
_KINDS = ("postgres_changes", "broadcast", "presence")


def _mixed(seed: int, n: int) -> list[Event]:
    """Events of several tables, kinds and channels, with records of every shape a field
    lookup meets: objects with and without the field, lists, nested values, no record, and
    text that is not JSON."""
    rng = np.random.default_rng(seed)
    shapes = (
        lambda i: f'{{"id":{i},"status":"s{i % 3}","tags":[1,{i}]}}',
        lambda i: f'{{"id":{i},"nested":{{"n":{i}}}}}',
        lambda i: f'[{{"id":{i}}}]',
        lambda i: None,
        lambda i: "not json",
    )
    events = []
    for i in range(n):
        received_ns = BASE_NS + i * 1_000_000
        events.append(
            Event(
                received_ns,
                received_ns,
                str(rng.choice(_KINDS)),
                str(rng.choice(_CHANNELS)),
                _TABLES[int(rng.integers(len(_TABLES)))],
                "INSERT",
                str(i),
                shapes[int(rng.integers(len(shapes)))](i),
                None,
            )
        )
    return events


def _field(text: object, name: str) -> object:
    import json

    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value.get(name) if isinstance(value, dict) else None


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 60),
    chunk_rows=st.integers(1, 9),
    newest=st.integers(0, 70),
    since_ms=st.none() | st.integers(0, 60),
    tables=st.none() | st.sets(st.sampled_from(["a", "b", "c"])).map(sorted),
    channels=st.none() | st.sets(st.sampled_from(["x", "y", "z"])).map(sorted),
)
def test_newest_and_channels_match_filtering_the_whole_snapshot(
    seed: int,
    n: int,
    chunk_rows: int,
    newest: int,
    since_ms: int | None,
    tables: list[str] | None,
    channels: list[str] | None,
) -> None:
    buffer = EventBuffer(chunk_rows=chunk_rows)
    buffer.extend(_mixed(seed, n))
    since = None if since_ms is None else pd.Timestamp(BASE_NS + since_ms * 1_000_000, tz="UTC")
    whole = buffer.snapshot(since, tables=tables)
    if channels is not None:
        whole = whole[whole["channel"].isin(channels).to_numpy()]
    expected = whole.tail(newest).reset_index(drop=True)
    got = buffer.snapshot(since, tables=tables, channels=channels, newest=newest)
    pd.testing.assert_frame_equal(got, expected)


def test_newest_alone_is_the_tail_and_rejects_a_negative_count() -> None:
    buffer = EventBuffer(chunk_rows=4)
    buffer.extend(make(i) for i in range(10))
    assert buffer.snapshot(newest=3)["key"].tolist() == ["7", "8", "9"]
    assert buffer.snapshot(newest=50)["key"].tolist() == [str(i) for i in range(10)]
    assert buffer.snapshot(newest=0).empty
    with pytest.raises(ValueError, match="newest=-1"):
        buffer.snapshot(newest=-1)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 40), chunk_rows=st.integers(1, 9))
def test_fields_are_each_records_values(seed: int, n: int, chunk_rows: int) -> None:
    buffer = EventBuffer(chunk_rows=chunk_rows)
    buffer.extend(_mixed(seed, n))
    names = ["status", "tags", "nested", "id", "absent"]
    for tables in (None, ["a"]):
        frame = buffer.snapshot(tables=tables, fields=names)
        assert list(frame.columns) == [*COLUMNS, *(f"record.{name}" for name in names)]
        for name in names:
            column = f"record.{name}"
            assert frame[column].dtype == object
            assert frame[column].tolist() == [_field(t, name) for t in frame["record"]]


def test_fields_keep_lists_and_objects_as_one_cell() -> None:
    buffer = EventBuffer(chunk_rows=2)
    buffer.extend(
        Event(BASE_NS + i, None, "broadcast", "c", None, "e", None, body, None)
        for i, body in enumerate(['{"v":[1,2]}', '{"v":{"k":1}}', '{"v":[3]}'])
    )
    assert buffer.snapshot(fields=["v"])["record.v"].tolist() == [[1, 2], {"k": 1}, [3]]


def test_sealed_chunks_decode_each_record_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import rtdata.buffer as module

    decoded: list[object] = []
    record = module._record

    def counting(text: object) -> dict[str, object]:
        decoded.append(text)
        return record(text)

    monkeypatch.setattr(module, "_record", counting)
    buffer = EventBuffer(chunk_rows=4)
    buffer.extend(make(i) for i in range(10))  # two sealed chunks and a tail of two
    first = buffer.snapshot(fields=["id"])
    assert first["record.id"].tolist() == list(range(10))
    assert len(decoded) == 10
    decoded.clear()
    again = buffer.snapshot(fields=["id"])
    assert again["record.id"].tolist() == list(range(10))
    assert len(decoded) == 2  # only the open tail, rebuilt for every snapshot
    decoded.clear()
    assert buffer.snapshot(newest=3, fields=["id"])["record.id"].tolist() == [7, 8, 9]
    assert len(decoded) == 2
    decoded.clear()
    buffer.snapshot(fields=["other"])  # a new field decodes the rows again, once
    buffer.snapshot(fields=["other"])
    assert len(decoded) == 10 + 2


def test_fields_under_a_concurrent_writer_stay_each_rows_own() -> None:
    buffer = EventBuffer(max_rows=5_000, chunk_rows=64)
    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            frame = buffer.snapshot(newest=500, fields=["id"])
            if frame["record.id"].tolist() != [int(k) for k in frame["key"]]:
                problems.append("a field value belongs to another row")
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for i in range(20_000):
        buffer.append(make(i))
    done.set()
    for reader in readers:
        reader.join()
    assert problems == []
    assert buffer.snapshot(fields=["id"])["record.id"].tolist() == list(range(15_000, 20_000))


def orjson_id(text: object) -> int:
    assert isinstance(text, str)
    return int(text.split(":")[1].rstrip("}"))


def test_full_chunks_merge_and_keep_what_readers_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    import rtdata.buffer as module

    decoded: list[object] = []
    record = module._record

    def counting(text: object) -> dict[str, object]:
        decoded.append(text)
        return record(text)

    monkeypatch.setattr(module, "_record", counting)
    buffer = EventBuffer(chunk_rows=4)
    buffer.extend(make(i) for i in range(28))  # seven sealed chunks: not merged yet
    assert buffer.snapshot(fields=["id"])["record.id"].tolist() == list(range(28))
    assert len(decoded) == 28
    buffer.extend(make(i) for i in range(28, 38))  # the eighth seal merges; two in the tail
    assert len(buffer._chunks) == 2  # the merged 32 rows and the ninth chunk
    decoded.clear()
    frame = buffer.snapshot(fields=["id"])
    assert frame["record.id"].tolist() == list(range(38))
    assert frame["key"].tolist() == [str(i) for i in range(38)]
    # Only rows 28 to 37 decode (never asked for before): the merge kept rows 0 to 27's.
    assert sorted(orjson_id(t) for t in decoded) == list(range(28, 38))
    assert buffer.snapshot(newest=5)["key"].tolist() == [str(i) for i in range(33, 38)]
    assert buffer.snapshot(since=datetime.fromtimestamp((BASE_NS + 30_000_000) / 1e9, UTC))[
        "key"
    ].tolist() == [str(i) for i in range(30, 38)]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 40),
    columns=st.lists(st.sampled_from(COLUMNS), unique=True),
)
def test_a_subset_of_columns_is_those_of_the_whole_snapshot(
    seed: int, n: int, columns: list[str]
) -> None:
    buffer = EventBuffer(chunk_rows=3)
    buffer.extend(_mixed(seed, n))
    whole = buffer.snapshot(tables=["a"], fields=["status"])
    got = buffer.snapshot(tables=["a"], fields=["status"], columns=columns)
    ordered = [c for c in COLUMNS if c in columns]
    pd.testing.assert_frame_equal(got, whole[[*ordered, "record.status"]])


def test_an_unknown_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"columns=\['payload'\]: not event columns"):
        EventBuffer().snapshot(columns=["key", "payload"])


def test_ops_keep_the_events_with_those_ops() -> None:
    buffer = EventBuffer(chunk_rows=2)
    buffer.extend(make(i)._replace(op=("INSERT", "UPDATE", "DELETE")[i % 3]) for i in range(9))
    got = buffer.snapshot(ops=["UPDATE", "DELETE"], newest=4)
    assert got["key"].tolist() == ["4", "5", "7", "8"]
    assert buffer.snapshot(ops=["TRUNCATE"]).empty
