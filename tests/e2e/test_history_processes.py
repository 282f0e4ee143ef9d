"""History in real processes: a writer killed mid-write, and `rtdata record` end to end."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rtdata.history import HistoryWriter, aggregate_by_table_hour, load, query
from tests.support import timeout_s, wait_until
from tests.unit.test_history import assert_same_events, event, snapshot, visible
from tests.unit.test_history_journal import journals

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_crash_leaves_only_complete_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = textwrap.dedent(
        """
        import sys
        from rtdata.events import Event
        from rtdata.history import HistoryWriter

        writer = HistoryWriter(
            sys.argv[1], rotate_bytes=2000, flush_rows=200, flush_s=0.01, max_pending_rows=2000
        )
        writer.start()
        i = 0
        while True:
            writer.append(Event(1714557600000000000 + i, None, "postgres_changes", "c",
                                "t" + str(i % 2), "INSERT", str(i), '{"n": 1}', None))
            i += 1
        """
    )
    with subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) as child:
        try:
            wait_until(lambda: len(visible(tmp_path)) >= 6, timeout=60, what="six files")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout_s(10))
    assert child.returncode == -signal.SIGKILL
    for path in visible(tmp_path):
        assert pq.read_metadata(path).num_rows > 0
    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        loaded = load(tmp_path)
    # Only a journal cut in the middle of a write may be reported; its complete batches load.
    assert all(".journal-" in r.getMessage() for r in caplog.records), caplog.text
    assert len(loaded) >= 6 * 200
    HistoryWriter(tmp_path).start().close()  # folds the crashed run's journals, deletes .tmp
    assert not list(tmp_path.rglob(".*.tmp"))
    assert not list(tmp_path.glob(".journal-*.arrows"))
    recovered = load(tmp_path)
    assert sorted(recovered["key"].astype(int)) == sorted(loaded["key"].astype(int))


@pytest.mark.slow
def test_record_runs_headless_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "history"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "RTDATA_"))}
    command = [sys.executable, "-m", "rtdata.cli", "record", "--out", str(out), "--rotate-s", "1"]
    with (tmp_path / "record.log").open("w") as log_file:
        child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log_file, stderr=log_file)
        try:
            wait_until(lambda: len(visible(out)) >= 2, timeout=60, what="history files")
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout_s(30)) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    output = (tmp_path / "record.log").read_text()
    assert "record: stopped," in output, output
    assert not list(out.rglob(".*.tmp"))
    loaded = load(out)
    assert (loaded["kind"] == "postgres_changes").sum() > 0
    assert loaded.loc[loaded["kind"] == "status", "op"].iloc[-1] == "stopped"


CHILD = textwrap.dedent(
    """
    import sys, threading
    from rtdata.history import HistoryWriter
    from tests.unit.test_history import event

    writer = HistoryWriter(sys.argv[1], flush_s=0.05, rotate_s=3600).start()
    for i in range(int(sys.argv[2])):
        writer.append(event(i, table=("a", "b", None)[i % 3], day=i % 2))
    threading.Event().wait()  # appended: wait to be killed (the writer keeps running)
    """
)


@pytest.mark.slow
def test_after_a_crash_every_journaled_event_loads_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    count = 5000
    expected = [event(i, table=("a", "b", None)[i % 3], day=i % 2) for i in range(count)]
    command = [sys.executable, "-c", CHILD, str(tmp_path), str(count)]
    with subprocess.Popen(command, cwd=REPO) as child:
        try:
            # load() reads the running writer's journal: all events are there after one flush.
            wait_until(lambda: len(load(tmp_path)) == count, timeout=60, what="journaled events")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout_s(10))
    assert child.returncode == -signal.SIGKILL
    assert visible(tmp_path) == []  # nothing was folded: every row below comes from the journal
    with caplog.at_level(logging.WARNING, logger="rtdata.history"):
        loaded = load(tmp_path)
    assert not caplog.records
    assert_same_events(loaded, snapshot(expected))
    assert int(aggregate_by_table_hour(tmp_path)["events"].sum()) == count
    assert query(tmp_path, "SELECT count(*) AS n FROM events")["n"].iloc[0] == count

    writer = HistoryWriter(tmp_path)
    writer.start().close()  # the next writer folds the crashed run's journal
    assert writer.stats().rows_written == count
    assert journals(tmp_path) == []
    assert len(visible(tmp_path)) == 6  # two days × three tables
    assert_same_events(load(tmp_path), snapshot(expected))


PACED_CHILD = textwrap.dedent(
    """
    import sys, time
    from rtdata.events import Event
    from rtdata.history import HistoryWriter

    writer = HistoryWriter(sys.argv[1], flush_s=float(sys.argv[2]), rotate_s=3600).start()
    i = 0
    while True:
        now_ns = time.time_ns()
        writer.append(Event(now_ns, now_ns, "postgres_changes", "c", "t", "INSERT", str(i),
                            '{"n": 1}', None))
        i += 1
        if i % 20 == 0:
            time.sleep(0.001)  # pacing a load generator (about 15,000 events/s), not sync
    """
)


@pytest.mark.slow
def test_a_crash_loses_at_most_about_flush_s_of_events(tmp_path: Path) -> None:
    flush_s = 0.2
    command = [sys.executable, "-c", PACED_CHILD, str(tmp_path), str(flush_s)]
    with subprocess.Popen(command, cwd=REPO) as child:
        try:
            wait_until(lambda: len(load(tmp_path)) >= 3000, timeout=60, what="journaled events")
            killed_ns = time.time_ns()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout_s(10))
    loaded = load(tmp_path)
    keys = sorted(loaded["key"].astype(int))
    assert keys == list(range(len(keys)))  # a prefix of what was appended, nothing missing
    assert len(keys) >= 3000
    # With rotate_s = 3600 the old design lost everything; now only the last flush is lost.
    lost_s = (killed_ns - loaded["received_at"].max().value) / 1e9
    assert lost_s < flush_s + timeout_s(2.0), lost_s
