"""The recorder: one door for every row, feeding the buffer, the history, the live tables and
the metrics as each needs; and the supervisor's background tasks, whose failures are counted."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import logging
import pathlib
import time

import orjson
import pandas as pd
import pytest

import rtdata
from rtdata.buffer import EventBuffer
from rtdata.config import DEFAULT_CONFIG
from rtdata.events import Event, event_from_row
from rtdata.history import HistoryWriter
from rtdata.lifecycle import ConnectionState
from rtdata.recorder import ErrorKind, Recorder
from rtdata.settings import Settings
from rtdata.supervisor import Supervisor
from rtdata.views.widgets import roster
from tests.unit.widget_data import at, presence

TABLE = "emergency_requests"


def _recorder(tmp_path: pathlib.Path, **alerts: object) -> tuple[Recorder, HistoryWriter]:
    config = dataclasses.replace(
        DEFAULT_CONFIG, alerts=dataclasses.replace(DEFAULT_CONFIG.alerts, **alerts)
    )
    writer = HistoryWriter(tmp_path)  # not started: appended events stay queued, countable
    settings = Settings(config=config, tables={TABLE: ("id",)})
    return Recorder(settings, history=writer), writer


def _change(op: str, row: dict[str, object], source: str = "realtime") -> Event:
    now = time.time_ns()
    body = orjson.dumps(row).decode()
    return Event(
        now, now - 1_000_000, "postgres_changes", "c", TABLE, op, str(row["id"]), body, None, source
    )


def test_every_kind_of_row_enters_by_record(tmp_path: pathlib.Path) -> None:
    recorder, writer = _recorder(tmp_path)
    recorder.transition(ConnectionState.CONNECTING, "connecting")
    recorder.record(event_from_row({"id": 1, "status": "pending"}, TABLE, time.time_ns(), ("id",)))
    recorder.record(_change("INSERT", {"id": 2, "status": "pending"}))
    recorder.record(_change("UPDATE", {"id": 1, "status": "done"}, source="resync"))
    now = time.time_ns()
    recorder.record(Event(now, None, "broadcast", "ops", None, "shift", None, "{}", None))
    members = orjson.dumps([{"role": "nurse"}, {"role": "doctor"}]).decode()
    recorder.record(Event(now, None, "presence", "online", None, "join", "k", members, None))

    kinds = recorder.buffer.snapshot()["kind"].astype(str).tolist()
    assert kinds == [
        "status",
        "postgres_changes",
        "postgres_changes",
        "postgres_changes",
        "broadcast",
        "presence",
    ]
    assert writer.stats().rows_queued == len(kinds)  # the history got every one of them
    assert recorder.tables.rows(TABLE) == [
        {"id": 1, "status": "done"},
        {"id": 2, "status": "pending"},
    ]
    assert recorder.presence.members()["meta"].tolist() == [{"role": "nurse"}, {"role": "doctor"}]
    status = recorder.status
    assert status.state == ConnectionState.CONNECTING
    assert status.events_total == 1  # realtime changes only
    snapshot = recorder.metrics_snapshot()
    assert snapshot.connection_state == "connecting"
    assert snapshot.presence_last_min == 2  # one join of two members
    # Rows read over REST are counted, but never make a table look busy (or, later, silent).
    assert TABLE in snapshot.last_event_ns_by_table
    assert snapshot.events_total == 5


def test_a_snapshot_alone_does_not_make_a_table_busy(tmp_path: pathlib.Path) -> None:
    recorder, _ = _recorder(tmp_path)
    now = time.time_ns()
    for i in range(5000):
        recorder.record(event_from_row({"id": i}, TABLE, now, ("id",)))
    snapshot = recorder.metrics_snapshot()
    assert TABLE not in snapshot.busy_events_per_min_by_table
    assert recorder.tables.count(TABLE) == 5000


def test_alerts_are_recorded_like_every_other_row(tmp_path: pathlib.Path) -> None:
    recorder, writer = _recorder(tmp_path, reconnect_storm_count=1)
    now = time.time_ns()
    recorder.record_reconnect(now)
    recorder.housekeeping(now)
    alerts = recorder.buffer.snapshot(kinds=["alert"])
    assert alerts["op"].astype(str).tolist() == ["reconnect_storm"]
    assert writer.stats().rows_queued == 1
    assert orjson.loads(alerts["record"].iloc[0])["severity"] == "critical"


def test_errors_are_counted_by_kind_and_logged_once(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, _ = _recorder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="rtdata.collector"):
        for _ in range(3):
            recorder.count_error(ErrorKind.INVALID_CHANGE, "no table")
        recorder.count_error(ErrorKind.CALLBACK, "boom")
    assert recorder.status.errors_total == 4
    snapshot = recorder.metrics_snapshot()
    assert snapshot.invalid_by_reason == {"invalid change": 3}
    assert snapshot.callback_errors_total == 1
    assert len(caplog.records) == 2


def test_a_failed_background_task_is_counted_and_logged(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, _ = _recorder(tmp_path)

    async def scenario() -> None:
        supervisor = Supervisor(recorder)

        async def resync() -> int:
            raise ConnectionResetError("REST went away")

        async def fine() -> int:
            return 1

        tasks = [supervisor._spawn(resync(), "resync"), supervisor._spawn(fine(), "probe")]
        tasks.append(supervisor._spawn(resync(), "resync"))
        # Each task's done callbacks run in the order they were added: ours before gather's.
        await asyncio.gather(*tasks, return_exceptions=True)
        assert not supervisor._tasks

    with caplog.at_level(logging.WARNING, logger="rtdata.collector"):
        asyncio.run(scenario())
    assert recorder.status.errors_total == 2
    assert recorder.metrics_snapshot().invalid_by_reason == {"background task failed": 2}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2  # every failed task is logged, not only the first
    assert all("resync: ConnectionResetError: REST went away" in m for m in logged)


def test_only_the_recorder_appends_to_the_buffer_or_the_history() -> None:
    """One door: no module but the recorder appends events or applies them to the live
    presence (benchmarks fill buffers directly)."""
    root = pathlib.Path(rtdata.__file__).parent
    doors = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if relative.parts[0] == "bench" or relative.name in ("recorder.py", "buffer.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute)
                and (node.func.attr, node.func.value.attr)
                in {
                    ("append", "buffer"),
                    ("extend", "buffer"),
                    ("append", "history"),
                    ("extend", "history"),
                    ("apply", "presence"),
                }
            ):
                doors.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert not doors


def test_follow_starts_empty_tables_for_the_new_settings_and_keeps_the_presence() -> None:
    nothing = dataclasses.replace(DEFAULT_CONFIG, channels=())
    recorder = Recorder(Settings(config=nothing))
    recorder.record(presence(0, "floor", "join", "ana", [{"presence_ref": "a1"}]))
    assert recorder.tables.names == []
    assert recorder.schema is None
    recorder.follow(Settings(tables={"cases": ("id",), "notes": ("a", "b")}))
    assert recorder.tables.names == ["cases", "notes"]
    assert recorder.settings.table_keys == {"cases": ("id",), "notes": ("a", "b")}
    assert recorder.presence.members()["key"].tolist() == ["ana"]  # channels, not tables
    recorder.record(event_from_row({"a": 1, "b": 2}, "notes", time.time_ns(), ("a", "b")))
    assert recorder.tables.count("notes") == 1
    other = Settings(url="http://elsewhere:54321", key="k", config=nothing)
    with pytest.raises(ValueError, match="the settings name another one"):
        recorder.follow(other)


def test_a_member_whose_join_the_buffer_evicted_is_still_on_the_roster() -> None:
    nothing = dataclasses.replace(DEFAULT_CONFIG, channels=())
    recorder = Recorder(Settings(config=nothing), buffer=EventBuffer(max_rows=5))
    recorder.record(presence(0, "floor", "sync", None, []))
    recorder.record(presence(1, "floor", "join", "ana", [{"presence_ref": "a1", "role": "lead"}]))
    for second in range(2, 12):
        recorder.record(presence(second, "floor", "join", "rui", [{"presence_ref": f"r{second}"}]))
        recorder.record(presence(second, "floor", "leave", "rui", [{"presence_ref": f"r{second}"}]))
    buffered = recorder.buffer.snapshot()
    assert len(buffered) == 5
    assert "ana" not in set(buffered["key"])  # her join is gone from the buffer

    spec = roster.RosterSpec(channels=("floor",), group_by=("role",), window_s=60)
    now = at(12)
    events = recorder.buffer.snapshot(since=roster.window_start(spec, now), kinds=["presence"])
    view = roster.compute(spec, events, now, online=recorder.presence.members(spec.channels))
    assert view.online[["key", "role"]].to_dict("records") == [{"key": "ana", "role": "lead"}]
    assert view.online["joined_at"].tolist() == [pd.Timestamp(at(1))]
    assert roster.compute(spec, buffered, now).online.empty  # a replay of the buffer lost her
