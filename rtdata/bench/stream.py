"""A realistic stream of a scenario pack's events, recorded into a recorder for the ``pages``
and ``packs`` sections: what a collector following the recorder's config (the pack's
``rtdata.toml``, :func:`pack_config`) would have buffered.

* Table changes come from the pack's own simulator (``get_scenario(pack).scenario``): each of
  its writes is applied to an in-memory copy of the tables as PostgREST would
  (:class:`rtdata.simulate.dry.DryRun`: ids for inserts, updates merged into the row, deletes by
  key), and each row it touches becomes the ``INSERT``, ``UPDATE`` (full new record, old record
  with the key only, as Realtime sends it without ``REPLICA IDENTITY FULL``) or ``DELETE`` a
  Realtime subscriber receives. Row timestamps are the events' simulated times.
* Broadcasts the simulator sends (:class:`rtdata.simulate.Broadcast`) arrive on their topic.
* Presence comes from the pack's roster, if it has one: a ``sync`` on each presence channel
  first, then joins, leaves and updates (a leave of the old meta and a join of the new one, as
  the server reports a re-track), every :data:`PRESENCE_EVERY`-th step, on the channel the
  change names or else the config's first presence channel.
* For the hospital pack (:data:`PACK`) only, whose simulator sends no broadcast: the alerts its
  app would send, on :data:`ALERT_CHANNEL` (which :data:`BENCH_CHANNELS` declares): one
  ``vitals`` alert per abnormal vital-signs reading and one ``dispatch`` per new emergency.

Only what the config follows is recorded, as a collector would: changes of its tables,
broadcasts of its broadcast channels' events, presence on its presence channels. Every event
enters through :meth:`rtdata.recorder.Recorder.record`, so the live tables, the metrics and the
buffer hold the same history. Times run evenly over the :data:`SPAN_S` (or the span asked for)
before ``now``, inside the buffer's age bound.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Iterator, Mapping
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
"""The scenario pack the ``pages`` section measures, and the default of :func:`fill`."""

PRESENCE_CHANNEL: Final = "online"
"""The hospital pack's presence channel (``[[channels]]`` of its ``rtdata.toml``)."""

ALERT_CHANNEL: Final = "alerts"
"""The broadcast channel the stream sends the hospital's alerts on."""

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
_IDLE_STEPS: Final = 100_000  # simulator writes without a followed event before fill gives up
_IDLE_FRACTION: Final = 100  # a step that records nothing moves the clock 1/100 of a tick on


def pack_config(extra: str = "", pack: str = PACK) -> Config:
    """Return the ``rtdata.toml`` of ``pack`` with ``extra`` TOML text appended (more channels,
    more ``[[pages]]``), read as if it were the pack's file (its ``assets/`` resolve).

    Raises:
        rtdata.config.ConfigError: ``extra`` makes the config invalid.
        rtdata.scenarios.UnknownScenarioError: ``pack`` names no pack.
    """
    path = get_scenario(pack).config_path
    return parse_config(path.read_text() + "\n" + extra, str(path))


def recorder(config: Config) -> Recorder:
    """Return an unconnected recorder following ``config``, without its history on disk."""
    history = dataclasses.replace(config.history, enabled=False)
    return Recorder(Settings(config=dataclasses.replace(config, history=history)))


def fill(
    target: Recorder,
    events: int,
    *,
    pack: str = PACK,
    seed: int = 1,
    now: datetime | None = None,
    span_s: float = SPAN_S,
) -> Counter[str]:
    """Record ``events`` events of ``pack``'s stream that ``target``'s config follows, received
    evenly over the ``span_s`` seconds before ``now``; return them counted by kind
    (``postgres_changes``, ``presence``, ``broadcast``).

    A pack's roster may play its own copy of the simulator up to each change's time, at a cost
    that grows with ``span_s`` however few the events: a shorter span keeps a small fill quick
    and the events as dense as 1M over :data:`SPAN_S`.

    Raises:
        rtdata.scenarios.UnknownScenarioError: ``pack`` names no pack.
        ValueError: ``target`` follows no table, broadcast or presence channel.
        RuntimeError: The pack's simulator made nothing ``target`` follows in 100,000 writes.
    """
    follows = _Follows.of(target)
    end_ns = time.time_ns() if now is None else int(now.timestamp() * 1e9)
    step_ns = int(span_s * 1e9) // max(events, 1)
    clock = _Clock(end_ns - events * step_ns, step_ns)
    counts: Counter[str] = Counter()
    for event, record in itertools.islice(_stream(pack, seed, clock, follows), events):
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


@dataclasses.dataclass(frozen=True, slots=True)
class _Follows:
    """What a recorder's config follows: the filter a collector's subscriptions apply."""

    tables: Mapping[str, tuple[str, ...]]  # table -> its primary-key columns
    broadcast: Mapping[str, frozenset[str]]  # channel -> event names ("*" = every one)
    presence: tuple[str, ...]  # presence channels, in the config's order

    @classmethod
    def of(cls, target: Recorder) -> _Follows:
        config = target.settings.config
        follows = cls(
            dict(target.settings.table_keys),
            {c.name: frozenset(c.broadcast) for c in config.channels if c.broadcast},
            config.presence_channels(),
        )
        if not (follows.tables or follows.broadcast or follows.presence):
            raise ValueError("the recorder follows no table, broadcast or presence channel")
        return follows

    def broadcasts(self, channel: str, event: str) -> bool:
        names = self.broadcast.get(channel, frozenset())
        return "*" in names or event in names


class _Clock:
    """Simulated receive times: each event is ``step_ns`` after the previous one."""

    def __init__(self, start_ns: int, step_ns: int) -> None:
        self.ns = start_ns
        self.step_ns = step_ns
        self.ticks = 0

    def tick(self) -> int:
        self.ns += self.step_ns
        self.ticks += 1
        return self.ns

    def idle(self) -> None:
        """Move on by a fraction of a tick, for a step that recorded nothing."""
        self.ns += self.step_ns // _IDLE_FRACTION

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ns / 1e9, UTC)


def _stream(
    pack: str, seed: int, clock: _Clock, follows: _Follows
) -> Iterator[tuple[Event, dict[str, Any] | None]]:
    """Yield ``(event, decoded record)`` forever: the simulator's changes and broadcasts,
    roster changes and (for :data:`PACK`) alerts that ``follows`` takes, each stamped with the
    next tick of ``clock``. What is not followed takes no tick; a step that yields nothing moves
    the clock on by :data:`_IDLE_FRACTION` of a tick, so a simulator waiting on the clock gets
    there. Presence without a channel goes to the first of ``follows.presence``."""
    scenario = get_scenario(pack)
    roster = scenario.roster(seed)
    run = DryRun(scenario.scenario(seed), follows.tables)
    alerts = pack == PACK
    home = follows.presence[0] if follows.presence else ""  # "": followed by no config
    metas: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, key) -> meta, with its ref
    refs = itertools.count(1)
    for channel in follows.presence:
        yield _presence(clock.tick(), channel, "sync", None, []), None
    ticks, ticked_at = clock.ticks, 0  # ticks when a step last yielded, and that step
    for step in itertools.count():
        write, changes = run.step(clock.now())
        if isinstance(write, Broadcast) and follows.broadcasts(write.topic, write.event):
            yield _broadcast(clock.tick(), write.event, write.payload, write.topic), None
        for row in changes:
            if row.table in follows.tables:
                yield _change(row, clock.tick()), row.record
            if alerts and row.op == "INSERT" and row.record is not None:
                yield from _alerts(clock, follows, row.table, row.record)
        if roster is not None and step % PRESENCE_EVERY == 0:
            change = roster.next_change(clock.now())
            channel = change.channel or home
            if channel in follows.presence:
                key, kind = change.key, change.kind
                if kind != "join" and (left := metas.pop((channel, key), None)):
                    yield _presence(clock.tick(), channel, "leave", key, [left]), None
                if kind != "leave":
                    meta = {**change.meta, "presence_ref": f"ref-{next(refs)}"}
                    metas[channel, key] = meta
                    yield _presence(clock.tick(), channel, "join", key, [meta]), None
        if clock.ticks != ticks:
            ticks, ticked_at = clock.ticks, step
        elif step - ticked_at < _IDLE_STEPS:
            clock.idle()
        else:
            raise RuntimeError(f"{pack}: {_IDLE_STEPS:,} writes and nothing the config follows")


def _alerts(
    clock: _Clock, follows: _Follows, table: str, row: dict[str, Any]
) -> Iterator[tuple[Event, None]]:
    """The hospital app's broadcasts for an inserted row, if followed: abnormal vitals, new
    emergencies."""
    if table == "vital_signs" and is_abnormal_vitals(row):
        name = "vitals"
    elif table == "emergency_requests":
        name = "dispatch"
    else:
        return
    if follows.broadcasts(ALERT_CHANNEL, name):
        yield _broadcast(clock.tick(), name, row), None


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


def _presence(
    ns: int, channel: str, op: str, key: str | None, metas: list[dict[str, Any]]
) -> Event:
    body = orjson.dumps(metas).decode()
    return Event(ns, None, EventKind.PRESENCE, channel, None, op, key, body, None)


def _broadcast(ns: int, name: str, payload: dict[str, Any], channel: str = ALERT_CHANNEL) -> Event:
    body = orjson.dumps(payload).decode()
    return Event(ns, None, EventKind.BROADCAST, channel, None, name, None, body, None)
