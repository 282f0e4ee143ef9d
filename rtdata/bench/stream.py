"""A realistic stream of the hospital pack's events, recorded into a recorder for the ``pages``
section: what a collector following the pack's ``rtdata.toml`` would have buffered.

* Table changes come from the pack's own simulator (``get_scenario("hospital").scenario``):
  each of its writes is applied to an in-memory copy of the tables as PostgREST would (ids for
  inserts, updates merged into the row, deletes by id), and each row it touches becomes the
  ``INSERT``, ``UPDATE`` (full new record, old record with the key only, as Realtime sends it
  without ``REPLICA IDENTITY FULL``) or ``DELETE`` a Realtime subscriber receives. Row
  timestamps are the events' simulated times.
* Presence comes from the pack's staff roster on the ``online`` channel: a ``sync`` first, then
  joins, leaves and status changes (a leave of the old meta and a join of the new one, as the
  server reports a re-track), every :data:`PRESENCE_EVERY`-th step.
* Broadcasts go to the :data:`ALERT_CHANNEL` channel :data:`BENCH_CHANNELS` declares: one
  ``vitals`` alert per abnormal vital-signs reading and one ``dispatch`` per new emergency.

Every event enters through :meth:`rtdata.recorder.Recorder.record`, so the live tables, the
metrics and the buffer hold the same history. Times run evenly over the :data:`SPAN_S` before
``now``, inside the buffer's age bound.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from rtdata.config import Config, parse_config
from rtdata.events import Event, EventKind, EventSource, event_from_row
from rtdata.recorder import Recorder
from rtdata.scenarios import get_scenario
from rtdata.scenarios.hospital.network import is_abnormal_vitals
from rtdata.settings import Settings
from rtdata.simulate import Broadcast
from rtdata.simulate.dry import Change, DryRun

__all__ = [
    "ALERT_CHANNEL",
    "BENCH_CHANNELS",
    "PACK",
    "PRESENCE_CHANNEL",
    "PRESENCE_EVERY",
    "SPAN_S",
    "fill",
    "pack_config",
    "recorder",
    "snapshot_of",
]

PACK: Final = "hospital"
"""The scenario pack whose tables, simulator, roster and pages the section measures."""

PRESENCE_CHANNEL: Final = "online"
"""The pack's presence channel (``[[channels]]`` of its ``rtdata.toml``)."""

ALERT_CHANNEL: Final = "alerts"
"""The broadcast channel the stream sends alerts on."""

BENCH_CHANNELS: Final = f"""
[[channels]]
name = "{ALERT_CHANNEL}"
broadcast = ["vitals", "dispatch"]
"""
"""``rtdata.toml`` text adding the broadcast channel to the pack's config."""

PRESENCE_EVERY: Final = 30
"""One roster change per this many simulator writes: as in ``rtdata demo``, whose roster changes
every 3 s while the simulator writes 10 rows a second."""

SPAN_S: Final = 12 * 3600.0
"""Seconds the stream's receive times span, ending at ``now``."""

_TABLES_CHANNEL: Final = "rtdata-tables"
_LATENCY_NS: Final = 3_000_000  # commit → receive, as a local Realtime delivers it


def pack_config(extra: str = "") -> Config:
    """Return the pack's ``rtdata.toml`` with ``extra`` TOML text appended (more channels,
    more ``[[pages]]``), read as if it were the pack's file (its ``assets/`` resolve).

    Raises:
        rtdata.config.ConfigError: ``extra`` makes the config invalid.
    """
    path = get_scenario(PACK).config_path
    return parse_config(path.read_text() + "\n" + extra, str(path))


def recorder(config: Config) -> Recorder:
    """Return an unconnected recorder following ``config``, without its history on disk."""
    history = dataclasses.replace(config.history, enabled=False)
    return Recorder(Settings(config=dataclasses.replace(config, history=history)))


def fill(
    target: Recorder, events: int, *, seed: int = 1, now: datetime | None = None
) -> Counter[str]:
    """Record ``events`` events of the pack's stream into ``target``, received evenly over the
    :data:`SPAN_S` before ``now``; return them counted by kind (``postgres_changes``,
    ``presence``, ``broadcast``)."""
    end_ns = time.time_ns() if now is None else int(now.timestamp() * 1e9)
    step_ns = int(SPAN_S * 1e9) // max(events, 1)
    clock = _Clock(end_ns - events * step_ns, step_ns)
    counts: Counter[str] = Counter()
    for event, record in itertools.islice(_stream(seed, clock), events):
        target.record(event, record)
        counts[event.kind] += 1
    return counts


def snapshot_of(source: Recorder, target: Recorder) -> int:
    """Record the current rows of ``source``'s tables into ``target`` as ``SNAPSHOT`` events,
    as a collector's first read of the same tables would; return how many."""
    now_ns = time.time_ns()
    rows = 0
    for table, primary_key in target.settings.table_keys.items():
        for row in source.tables.rows(table):
            target.record(event_from_row(row, table, now_ns, primary_key), row)
            rows += 1
    return rows


class _Clock:
    """Simulated receive times: each event is ``step_ns`` after the previous one."""

    def __init__(self, start_ns: int, step_ns: int) -> None:
        self.ns = start_ns
        self.step_ns = step_ns

    def tick(self) -> int:
        self.ns += self.step_ns
        return self.ns

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ns / 1e9, UTC)


def _stream(seed: int, clock: _Clock) -> Iterator[tuple[Event, dict[str, Any] | None]]:
    """Yield ``(event, decoded record)`` forever: the simulator's changes, roster changes and
    alerts, each stamped with the next tick of ``clock``."""
    pack = get_scenario(PACK)
    scenario = pack.scenario(seed)
    roster = pack.roster(seed)
    run = DryRun(scenario)
    metas: dict[str, dict[str, Any]] = {}  # presence key -> its tracked meta, with its ref
    refs = itertools.count(1)
    yield _presence(clock.tick(), "sync", None, []), None
    for step in itertools.count():
        write, changes = run.step(clock.now())
        if isinstance(write, Broadcast):
            yield _broadcast(clock.tick(), write.event, write.payload, write.topic), None
        for row in changes:
            yield _change(row, clock.tick()), row.record
            if row.op == "INSERT" and row.record is not None:
                yield from _alerts(clock, row.table, row.record)
        if roster is not None and step % PRESENCE_EVERY == 0:
            change = roster.next_change(clock.now())
            if change.kind != "join":
                left = metas.pop(change.key)
                yield _presence(clock.tick(), "leave", change.key, [left]), None
            if change.kind != "leave":
                metas[change.key] = {**change.meta, "presence_ref": f"ref-{next(refs)}"}
                yield _presence(clock.tick(), "join", change.key, [metas[change.key]]), None


def _alerts(clock: _Clock, table: str, row: dict[str, Any]) -> Iterator[tuple[Event, None]]:
    """Broadcasts the app would send for an inserted row: abnormal vitals, new emergencies."""
    if table == "vital_signs" and is_abnormal_vitals(row):
        yield _broadcast(clock.tick(), "vitals", row), None
    elif table == "emergency_requests":
        yield _broadcast(clock.tick(), "dispatch", row), None


def _change(change: Change, ns: int) -> Event:
    """The Realtime event of a changed row: the new record, and the key columns as the old one
    (as Realtime sends them without ``REPLICA IDENTITY FULL``)."""
    return Event(
        ns,
        ns - _LATENCY_NS,
        EventKind.POSTGRES_CHANGES,
        _TABLES_CHANNEL,
        change.table,
        change.op,
        change.key,
        None if change.record is None else orjson.dumps(change.record).decode(),
        orjson.dumps(change.old).decode() if change.old else None,
        EventSource.REALTIME,
    )


def _presence(ns: int, op: str, key: str | None, metas: list[dict[str, Any]]) -> Event:
    body = orjson.dumps(metas).decode()
    return Event(ns, None, EventKind.PRESENCE, PRESENCE_CHANNEL, None, op, key, body, None)


def _broadcast(ns: int, name: str, payload: dict[str, Any], channel: str = ALERT_CHANNEL) -> Event:
    body = orjson.dumps(payload).decode()
    return Event(ns, None, EventKind.BROADCAST, channel, None, name, None, body, None)
