"""The recorder: everything a collector knows, with no thread and no asyncio.

:class:`Recorder` holds a collector's state: its lifecycle status, transitions and repaired
gaps, the event buffer, the live tables, the live presence, the metrics, the frame trace and
the optional history writer. Every row enters it through one door, :meth:`Recorder.record`,
which feeds the buffer, the history, the live tables, the live presence and the metrics as
each needs. That is why the history on
disk can rebuild every table (:func:`rtdata.history.rebuild_tables`).

Threads: one writer (the collector's loop thread, or a test) calls the writing methods; any
thread may call the reading ones. ``_lock`` guards the status fields, transitions, gaps and
error counters; the buffer, live tables, live presence, metrics and trace guard themselves.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
import pandas as pd

from rtdata.buffer import EventBuffer
from rtdata.events import Event, EventKind, EventSource
from rtdata.lifecycle import ConnectionState, Transition, check
from rtdata.metrics import AlertRules, Metrics, MetricsSnapshot
from rtdata.presence import LivePresence
from rtdata.resync import Gap
from rtdata.settings import Settings
from rtdata.tables import LiveTables
from rtdata.trace import FrameTrace, TracedFrame

if TYPE_CHECKING:  # imported when used: pyarrow and duckdb are slow to import
    from rtdata.history import HistoryWriter
    from rtdata.introspect import ProjectSchema

__all__ = [
    "ALERT_CHECK_INTERVAL_S",
    "CollectorStatus",
    "ErrorKind",
    "Recorder",
]

log = logging.getLogger("rtdata.collector")

ALERT_CHECK_INTERVAL_S: Final = 5.0
"""How often :meth:`Recorder.housekeeping` evaluates the alert rules, in seconds."""

_MAX_TRANSITIONS: Final = 1000
_MAX_GAPS: Final = 1000
_instances = itertools.count(1)


class ErrorKind(enum.StrEnum):
    """Why an input was rejected or a piece of work failed (counted by :meth:`Recorder.count_error`).

    The values are the labels the metrics and the Realtime health page show.
    """

    CALLBACK = "callback error"
    """A client callback raised; the event it handled is lost, the link lives on."""
    INVALID_CHANGE = "invalid change"
    """A postgres_changes payload that cannot become an event."""
    RECORD_MISMATCH = "record mismatch"
    """A postgres_changes payload whose record does not fit the columns it lists (a column
    the table lacks, a value of the wrong type; see :class:`rtdata.events.RecordMismatch`);
    dropped whole, the row keeps what valid changes made it."""
    OUT_OF_ORDER = "out-of-order change"
    """A change older than the one that last wrote or deleted its row (see
    :meth:`rtdata.tables.LiveTables.stale`); dropped, applying it would undo the newer one."""
    UNKNOWN_TABLE = "unknown table"
    """A change of a table that is not followed."""
    INVALID_ROW = "invalid snapshot row"
    """A row read over REST without its primary key."""
    RESYNC_IMPOSSIBLE = "resync impossible"
    """A table too large to reconcile and without a resync column."""
    POLL_FAILED = "poll failed"
    """A REST poll while disconnected failed."""
    TASK_FAILED = "background task failed"
    """A background task (resync, anti-entropy, probe) raised."""
    MALFORMED_FRAME = "malformed frame"
    """realtime-py dropped a frame it could not decode."""
    OVERSIZED_FRAME = "oversized frame"
    """realtime-py closed the socket on a frame over its size limit."""
    UNEXPECTED_REPLY = "unexpected reply"
    """A ``phx_reply`` whose ref answers no request of its socket, or one already answered
    (see :class:`rtdata.trace.ReplyLedger`); realtime-py ignores it, and the link lives on."""
    INTROSPECTION_FAILED = "introspection failed"
    """The project's REST schema could not be read (see :mod:`rtdata.introspect`)."""


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    """A consistent view of a collector's health at one moment.

    Attributes:
        state: Current connection state.
        since: When the collector entered ``state`` (UTC).
        reason: Why it entered ``state``.
        last_event_at: Receive time of the newest realtime change, or ``None``.
        events_total: Realtime changes received since start.
        errors_total: Inputs that could not be recorded plus failed callbacks and tasks.
    """

    state: ConnectionState
    since: datetime
    reason: str
    last_event_at: datetime | None
    events_total: int
    errors_total: int


class Recorder:
    """A collector's state and its one record path; no thread, no event loop.

    Args:
        settings: What is followed (tables and their keys, alert rules, buffer bounds).
        buffer: The event buffer to fill; a new one bounded by the config's ``[buffer]``
            section when omitted.
        history: Also write every recorded event to disk with this writer; when omitted, one
            per the config's ``[history]`` section if it is enabled. Whoever runs the recorder
            starts and closes it (:class:`rtdata.Collector` does, in ``start()`` and ``stop()``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        buffer: EventBuffer | None = None,
        history: HistoryWriter | None = None,
    ) -> None:
        self.uid = next(_instances)
        """Unique per instance in this process (unlike ``id()``, never reused)."""
        self.settings = settings
        """The settings this recorder follows."""
        bounds = settings.config.buffer
        self.buffer = (
            buffer
            if buffer is not None
            else EventBuffer(bounds.max_rows, max_age_s=bounds.max_age_s or None)
        )
        """Every recorded event, bounded (see :class:`rtdata.EventBuffer`)."""
        self.tables = LiveTables(settings.table_keys)
        """The current rows of every followed table."""
        self.presence = LivePresence()
        """Who is online on every presence channel, kept from the presence events recorded
        (see :class:`rtdata.presence.LivePresence`): unlike a replay of the buffer, it keeps
        whoever is still online after the buffer evicted their join."""
        if history is None and settings.config.history.enabled:
            from rtdata.history import HistoryWriter

            on_disk = settings.config.history
            history = HistoryWriter(
                on_disk.path,
                rotate_bytes=int(on_disk.rotate_mb * 2**20),
                rotate_s=on_disk.rotate_s,
                max_total_bytes=int(on_disk.max_total_mb * 2**20),
                flush_s=on_disk.flush_s,
            )
        self.history = history
        """Writes every recorded event to disk, or ``None`` (see :mod:`rtdata.history`)."""
        alerts = settings.config.alerts
        self.metrics = Metrics(
            AlertRules(
                p99_latency_ms=alerts.p99_latency_ms,
                silence_s=alerts.silence_s,
                busy_table_events_per_min=alerts.busy_table_events_per_min,
                reconnect_storm_count=alerts.reconnect_storm_count,
                reconnect_storm_window_s=alerts.reconnect_storm_window_s,
                presence_spike_factor=alerts.presence_spike_factor,
            )
        )
        """Latency, rates, reconnects and alerts (see :mod:`rtdata.metrics`)."""
        self.trace = FrameTrace(settings.config.connection.trace_frames, self._on_traffic)
        """The last raw frames of the collector's socket (see :meth:`frames`)."""
        self.schema: ProjectSchema | None = None
        """The project's tables and columns as its REST schema describes them, or ``None``
        until the collector has read it (it reads it once per run; see
        :mod:`rtdata.introspect`). Replaced whole, never changed in place."""
        self._lock = threading.Lock()  # guards the status fields, transitions, gaps, errors
        self._changed = threading.Condition(self._lock)  # notified on every transition
        self._state = ConnectionState.IDLE
        self._since_ns = time.time_ns()
        self._reason = "created"
        self._transitions: deque[Transition] = deque(maxlen=_MAX_TRANSITIONS)
        self._gaps: deque[Gap] = deque(maxlen=_MAX_GAPS)
        self._events_total = 0
        self._errors_total = 0
        self._last_event_ns: int | None = None
        self._errors_logged: set[ErrorKind] = set()
        self._next_alert_check_ns = 0  # writer only

    # ------------------------------------------------------------ reading (any thread)

    @property
    def state(self) -> ConnectionState:
        """The current connection state."""
        with self._lock:
            return self._state

    @property
    def status(self) -> CollectorStatus:
        """The current :class:`CollectorStatus`."""
        with self._lock:
            last = self._last_event_ns
            return CollectorStatus(
                self._state,
                datetime.fromtimestamp(self._since_ns / 1e9, UTC),
                self._reason,
                None if last is None else datetime.fromtimestamp(last / 1e9, UTC),
                self._events_total,
                self._errors_total,
            )

    @property
    def transitions(self) -> list[Transition]:
        """Every state transition so far (the last 1,000), oldest first."""
        with self._lock:
            return list(self._transitions)

    @property
    def gaps(self) -> list[Gap]:
        """Every repaired gap (the last 1,000), oldest first."""
        with self._lock:
            return list(self._gaps)

    def table(self, name: str) -> pd.DataFrame:
        """Return the current rows of table ``name`` as a DataFrame the caller owns."""
        return self.tables.frame(name)

    def metrics_snapshot(self) -> MetricsSnapshot:
        """Return the current health metrics (rates, latency percentiles, probe RTT, ...)."""
        return self.metrics.snapshot(time.time_ns())

    def frames(self) -> list[TracedFrame]:
        """Return the last raw frames of the collector's socket, secrets redacted."""
        return self.trace.frames()

    def wait_for(self, state: ConnectionState, timeout_s: float) -> bool:
        """Block until the state is ``state`` or ``timeout_s`` passes; return success."""
        with self._changed:
            return self._changed.wait_for(lambda: self._state == state, timeout_s)

    # ------------------------------------------------------------ the record path (writer)

    def record(
        self,
        event: Event,
        record: Mapping[str, Any] | None = None,
        old_record: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one event: the one door every row takes into the buffer.

        Changes, snapshot, resync and poll rows, presence, broadcast, status transitions
        and alerts all come through here. The event goes to the buffer and the history; a
        table change (or a row read over REST) is applied to the live tables, a presence
        event to the live presence; the metrics count it as its kind needs (a transition as
        a state change, a presence join or leave per member).

        Args:
            event: The event.
            record: ``event.record`` already decoded, to skip parsing its JSON again.
            old_record: ``event.old_record`` already decoded.
        """
        self.buffer.append(event)
        if self.history is not None:
            self.history.append(event)
        kind = event.kind
        if kind == EventKind.POSTGRES_CHANGES:
            table, key = event.table, event.key
            if table is not None and key is not None:
                if record is None and old_record is None:
                    self.tables.apply(event)
                else:
                    self.tables.apply_change(
                        table, event.op, key, record, old_record, event.commit_ns
                    )
                if event.source == EventSource.REALTIME:
                    with self._lock:
                        self._events_total += 1
                        self._last_event_ns = event.received_at_ns
            self.metrics.record_event(event)
        elif kind == EventKind.STATUS:
            self.metrics.record_state(event.op, event.received_at_ns)
        elif kind == EventKind.PRESENCE:
            self.presence.apply(event)
            self.metrics.record_event(event)
            if event.op in ("join", "leave"):
                self.metrics.record_presence(_members(event.record), event.received_at_ns)
        elif kind != EventKind.ALERT:  # an alert is the metrics' own output
            self.metrics.record_event(event)

    def transition(self, target: ConnectionState, reason: str) -> None:
        """Move to ``target`` and record the transition as a ``status`` event.

        Raises:
            rtdata.lifecycle.InvalidTransition: The lifecycle does not allow it (a bug).
        """
        now = time.time_ns()
        with self._changed:
            source = self._state
            check(source, target)
            self._state, self._reason, self._since_ns = target, reason, now
            self._transitions.append(Transition(now, source, target, reason))
            self._changed.notify_all()
        log.info("collector: %s -> %s (%s)", source.value, target.value, reason)
        body = orjson.dumps({"from": source.value, "reason": reason}).decode()
        self.record(Event(now, None, EventKind.STATUS, "", None, target.value, None, body, None))

    def follow(self, settings: Settings) -> None:
        """Follow ``settings`` from now on, with empty live tables for its tables.

        The collector calls it when it has discovered a project's tables (``rtdata.toml``
        names no channel), before it subscribes, so nothing has been recorded for a table
        yet. :attr:`tables` and then :attr:`settings` are replaced whole: a reader on another
        thread may see the new tables next to the old settings for a moment. :attr:`presence`
        is kept as it is: it holds channels, not tables, and each presence channel restarts
        its own state with the ``sync`` recorded when it is joined.

        Raises:
            ValueError: ``settings`` name another project (URL or key).
        """
        if (settings.url, settings.key) != (self.settings.url, self.settings.key):
            raise ValueError("Recorder.follow keeps the project: the settings name another one")
        self.tables = LiveTables(settings.table_keys)
        self.settings = settings

    def record_gap(self, gap: Gap) -> None:
        """Record a repaired gap."""
        with self._lock:
            self._gaps.append(gap)
        self.metrics.record_gap(gap.start_ns, gap.end_ns, gap.rows_resynced)

    def record_reconnect(self, now_ns: int) -> None:
        """Count one reconnect attempt at ``now_ns``."""
        self.metrics.record_reconnect(now_ns)

    def count_error(self, kind: ErrorKind, detail: str) -> None:
        """Count a rejected input or a failed callback or task.

        The first error of each kind is logged at WARNING; later ones are counted only,
        except failed tasks, which are rare and always logged.
        """
        with self._lock:
            self._errors_total += 1
            first = kind not in self._errors_logged
            self._errors_logged.add(kind)
        if kind is ErrorKind.CALLBACK:
            self.metrics.record_callback_error()
        else:
            self.metrics.record_invalid(kind.value)
        if first:
            log.warning("collector: %s: %s (further ones are counted, not logged)", kind, detail)
        elif kind is ErrorKind.TASK_FAILED:
            log.warning("collector: %s: %s", kind, detail)

    def housekeeping(self, now_ns: int | None = None) -> None:
        """Refresh the buffer's size in the metrics, and every
        :data:`ALERT_CHECK_INTERVAL_S` record new alerts as ``alert`` events (their
        percentiles cost milliseconds). The supervisor calls it about once a second."""
        self.metrics.set_buffer(len(self.buffer), self.buffer.nbytes)
        now = time.time_ns() if now_ns is None else now_ns
        if now < self._next_alert_check_ns:
            return
        self._next_alert_check_ns = now + int(ALERT_CHECK_INTERVAL_S * 1e9)
        for alert in self.metrics.check_alerts(now):
            body = orjson.dumps(
                {
                    "severity": alert.severity,
                    "message": alert.message,
                    "value": alert.value,
                    "threshold": alert.threshold,
                }
            ).decode()
            self.record(Event(now, None, EventKind.ALERT, "", None, alert.name, None, body, None))
            log.warning("alert %s: %s", alert.name, alert.message)

    def _on_traffic(self, kind: str, size: int) -> None:
        if kind == "in":
            self.metrics.record_bytes(size)
        elif kind != "out":
            self.count_error(ErrorKind(kind), "dropped by the realtime client")


def _members(body: str | None) -> int:
    """Return how many presence entries a join or leave carried (at least one)."""
    if body is None:
        return 1
    try:
        changed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 1
    return max(1, len(changed)) if isinstance(changed, list | dict) else 1
