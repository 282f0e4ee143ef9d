"""The history journal: what readers see before a fold, interrupted folds, damaged journals, and
the pure partition split (what a crash loses: e2e/test_history_processes.py)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtdata.events import Event
from rtdata.history import HistoryWriter, load
from rtdata.history.journal import Journal, fold
from rtdata.history.layout import SCHEMA, file_id, journal_batch, split, to_rows
from tests.support import wait_until
from tests.unit.test_history import BASE_NS, DAY_NS, assert_same_events, event, snapshot, visible

REPO = Path(__file__).resolve().parents[2]


def journals(root: Path) -> list[Path]:
    return sorted(root.glob(".journal-*.arrows"))


def closed_journal(root: Path, events: list[Event], batch_rows: int) -> Path:
    """Write ``events`` to a journal in batches of ``batch_rows`` and close it, as a writer
    that stopped before folding would leave it."""
    part = Journal(root, file_id(BASE_NS / 1e9, 1), BASE_NS / 1e9)
    for start in range(0, len(events), batch_rows):
        part.append([journal_batch(events[start : start + batch_rows])])
    part.close()
    return part.path


# ---------------------------------------------------------------- crashes (real processes)


# ---------------------------------------------------------------- journals in process


def test_load_sees_a_running_writers_events_before_any_file(tmp_path: Path) -> None:
    events = [event(i, table=("a", "b")[i % 2]) for i in range(50)]
    with HistoryWriter(tmp_path, flush_s=0.02) as writer:
        for e in events:
            writer.append(e)
        wait_until(lambda: len(load(tmp_path)) == 50, what="the journaled events")
        assert visible(tmp_path) == []
        assert_same_events(load(tmp_path, tables=["b"]), snapshot(events[1::2]))
        wait_until(lambda: writer.stats().rows_queued == 0, what="the stats published")
        stats = writer.stats()
        assert (stats.rows_written, stats.rows_pending) == (0, 50)  # all in the journal
    assert writer.stats().rows_written == 50
    assert journals(tmp_path) == []
    assert_same_events(load(tmp_path), snapshot(events))


def test_an_interrupted_fold_neither_loses_nor_repeats_events(tmp_path: Path) -> None:
    events = [event(i, table=("a", "b")[i % 2]) for i in range(40)]
    path = closed_journal(tmp_path, events, batch_rows=7)
    shutil.copy(path, tmp_path / "saved")
    assert fold(path, tmp_path, row_group_rows=100) is not None
    # A crash between the two renames: table a's file is in place, b's is not, journal kept.
    (file_a,) = tmp_path.glob("date=*/table=a/part-*.parquet")
    (file_b,) = tmp_path.glob("date=*/table=b/part-*.parquet")
    file_b.unlink()
    os.replace(tmp_path / "saved", path)
    assert_same_events(load(tmp_path), snapshot(events))
    inode_a = file_a.stat().st_ino

    writer = HistoryWriter(tmp_path)
    writer.flush()  # folds what is left
    assert journals(tmp_path) == []
    assert file_a.stat().st_ino == inode_a  # kept, not written again
    assert pq.read_metadata(file_b).num_rows == 20
    assert writer.stats().rows_written == 20
    assert_same_events(load(tmp_path), snapshot(events))


def test_damaged_journals_are_skipped_with_a_warning_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = [event(i, table="t") for i in range(30)]
    path = closed_journal(tmp_path, events, batch_rows=10)
    size = path.stat().st_size
    with path.open("r+b") as cut:
        cut.truncate(size - 100)  # the last batch loses its end, as when killed mid-write
    garbage = tmp_path / ".journal-20240101T000000000000Z-000002.arrows"
    garbage.write_bytes(b"not an arrow stream")
    foreign = tmp_path / ".journal-20240101T000000000000Z-000003.arrows"
    with pa.ipc.new_stream(foreign, pa.schema([("a", pa.int64())])) as stream:
        stream.write_table(pa.table({"a": [1, 2]}))

    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        loaded = load(tmp_path)
    assert_same_events(loaded, snapshot(events[:20]))  # the two complete batches
    for damaged in (path, garbage, foreign):
        assert damaged.name in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        assert len(load(tmp_path)) == 20
    assert not caplog.records  # once per file version

    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        writer = HistoryWriter(tmp_path)
        writer.flush()
    assert writer.stats().rows_written == 20
    assert writer.stats().errors == 0
    assert journals(tmp_path) == []
    kept = sorted(p.name for p in tmp_path.glob(".journal-*.damaged"))
    assert kept == sorted(p.name + ".damaged" for p in (path, garbage, foreign))
    assert path.name in caplog.text
    assert_same_events(load(tmp_path), snapshot(events[:20]))


def test_a_failed_fold_keeps_the_journal_and_is_retried(tmp_path: Path) -> None:
    events = [event(i, table="t") for i in range(10)]
    blocker = tmp_path / "date=2024-05-01"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the partition folder should go")
    writer = HistoryWriter(tmp_path)
    for e in events:
        writer.append(e)
    assert (writer.stats().rows_queued, writer.stats().rows_pending) == (10, 10)
    writer.flush()
    stats = writer.stats()
    assert (stats.errors, stats.rows_dropped, stats.rows_written, stats.rows_queued) == (1, 0, 0, 0)
    assert stats.rows_pending == 10  # still in the journal, on disk
    assert len(journals(tmp_path)) == 1
    assert_same_events(load(tmp_path), snapshot(events))
    blocker.unlink()
    writer.flush()
    assert writer.stats().rows_written == 10
    assert journals(tmp_path) == []
    assert_same_events(load(tmp_path), snapshot(events))


# ---------------------------------------------------------------- pure conversions


def test_split_groups_by_utc_day_and_table_keeping_arrival_order() -> None:
    tables = ("b", None, "a", "b")
    events = [event(i, table=tables[i % 4], day=(i // 3) % 2) for i in range(60)]
    rows = to_rows(pa.Table.from_batches([journal_batch(events)]))
    assert rows.schema == SCHEMA
    parts = split(rows)
    first_day = BASE_NS // DAY_NS
    expected = {(first_day + d, t) for d in (0, 1) for t in ("a", "b", None)}
    assert {key for key, _ in parts} == expected
    days = [day for (day, _), _ in parts]
    assert days == sorted(days)
    assert sum(part.num_rows for _, part in parts) == 60
    for (day, table), part in parts:
        received = part.column("received_at").cast(pa.int64()).to_pylist()
        assert received == sorted(received)  # arrival order kept
        assert {r // DAY_NS for r in received} == {day}
        assert set(part.column("table").to_pylist()) == {table}
        wanted = [e for e in events if e.table == table and e.received_at_ns // DAY_NS == day]
        assert part.column("key").to_pylist() == [e.key for e in wanted]


def test_journal_batches_hold_events_exactly() -> None:
    events = [event(i) for i in range(9)]
    rows = to_rows(pa.Table.from_batches([journal_batch(events)]))
    assert rows.column("key").to_pylist() == [e.key for e in events]
    latency = rows.column("latency_ms").to_pylist()
    assert latency == [e.latency_ms for e in events]
    with pytest.raises((TypeError, pa.ArrowException)):
        journal_batch([("not", "an", "event")])
