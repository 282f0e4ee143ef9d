"""The collector: one background thread with its own asyncio loop, fed by the official clients.

:class:`Collector` is the thread boundary. Its loop thread (run by
:class:`rtdata.supervisor.Supervisor`) is the only writer of the event buffer, the live tables
and the metrics; any thread may read them. Status, transitions and gaps are guarded by one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from rtdata.events import Event
from rtdata.lifecycle import ConnectionState, Transition, check
from rtdata.metrics import AlertRules, Metrics, MetricsSnapshot
from rtdata.resync import Gap
from rtdata.settings import Settings
from rtdata.tables import LiveTables
from rtdata.trace import FrameTrace, TracedFrame

if TYPE_CHECKING:  # imported when used: pyarrow and duckdb are slow to import
    from rtdata.history import HistoryWriter

__all__ = ["ALERT_CHECK_INTERVAL_S", "Collector", "CollectorStatus", "ConnectionState"]

log = logging.getLogger(__name__)

ALERT_CHECK_INTERVAL_S: Final = 5.0
"""How often alert rules are evaluated."""

_MAX_TRANSITIONS: Final = 1000
_instances = itertools.count(1)
_MAX_GAPS: Final = 1000


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    """A consistent view of a collector's health at one moment.

    Attributes:
        state: Current connection state.
        since: When the collector entered ``state`` (UTC).
        reason: Why it entered ``state``.
        last_event_at: Receive time of the newest realtime change, or ``None``.
        events_total: Realtime changes received since start.
        errors_total: Payloads that could not be recorded plus callback errors.
    """

    state: ConnectionState
    since: datetime
    reason: str
    last_event_at: datetime | None
    events_total: int
    errors_total: int


class Collector:
    """Subscribes to a project's channels and keeps a live buffer, table state and metrics.

    ``start()`` returns immediately (or, with ``wait=True``, once SUBSCRIBED); ``stop()`` is
    idempotent and joins the thread. Every public method is safe to call from any thread.

    Args:
        settings: Where to connect and what to follow. Must name a project (``settings.url``);
            the embedded default is resolved by :mod:`rtdata.embedded`.
        buffer: The event buffer to fill; a new one bounded by the config's ``[buffer]``
            section when omitted.
        history: Also write every event to disk with this writer, which ``start()`` starts
            and ``stop()`` closes; when omitted, one per the config's ``[history]`` section
            if it is enabled.
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
        bounds = settings.config.buffer
        self.buffer = (
            buffer
            if buffer is not None
            else EventBuffer(bounds.max_rows, max_age_s=bounds.max_age_s or None)
        )
        self.tables = LiveTables(settings.table_keys)
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
        self.trace = FrameTrace(settings.config.connection.trace_frames, self._on_traffic)
        """The last raw frames of this collector's socket (see :meth:`frames`)."""
        self._lock = threading.Lock()  # guards the status fields, transitions and gaps below
        self._changed = threading.Condition(self._lock)
        self._state = ConnectionState.IDLE
        self._since_ns = time.time_ns()
        self._reason = "created"
        self._transitions: deque[Transition] = deque(maxlen=_MAX_TRANSITIONS)
        self._gaps: deque[Gap] = deque(maxlen=_MAX_GAPS)
        self._events_total = 0
        self._errors_total = 0
        self._last_event_ns: int | None = None
        self._errors_logged: set[str] = set()
        self._next_alert_check_ns = 0  # loop thread only
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()  # a stop() that may beat the supervisor
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: Any = None  # rtdata.supervisor.Supervisor, owned by the loop thread

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
        """Return the last raw frames of this collector's socket, secrets redacted."""
        return self.trace.frames()

    # ------------------------------------------------------------ lifecycle (any thread)

    def start(self, *, wait: bool = False) -> Collector:
        """Start the collector thread; with ``wait=True`` return once SUBSCRIBED.

        Raises:
            ValueError: The settings name no project URL.
            TimeoutError: ``wait=True`` and not subscribed within ``settings.connect_timeout_s``.
        """
        if self.settings.url is None or self.settings.key is None:
            raise ValueError("Collector needs settings with a project url and key")
        if self._thread is None:
            if self.history is not None:
                self.history.start()
            self.trace.install()
            self._thread = threading.Thread(target=self._run, name="rtdata-collector", daemon=True)
            self._thread.start()
        if wait and not self.wait_for(ConnectionState.SUBSCRIBED, self.settings.connect_timeout_s):
            status = self.status
            raise TimeoutError(
                f"collector not subscribed after {self.settings.connect_timeout_s} s "
                f"(state {status.state}: {status.reason})"
            )
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Unsubscribe, close the connection and join the thread; safe to call repeatedly."""
        thread = self._thread
        if thread is None:
            return
        self._stop_requested.set()  # seen by _main if the supervisor does not exist yet
        self._call_soon(lambda s: (s.stop.set(), s.wake.set()))
        thread.join(timeout_s)
        if self.history is not None:
            self.history.close()  # after the join: the loop thread appends until it ends
        if thread.is_alive():
            log.error("collector thread did not stop within %.1f s", timeout_s)
            return
        self._thread = None
        self.trace.uninstall()

    def reconnect(self) -> None:
        """Replace the connection now (the dashboard's Reconnect button); also leaves FAILED."""

        def request(supervisor: Any) -> None:
            supervisor.reconnect_requested = True
            supervisor.wake.set()

        self._call_soon(request)

    def wait_for(self, state: ConnectionState, timeout_s: float) -> bool:
        """Block until the collector is in ``state`` or ``timeout_s`` passes; return success."""
        with self._changed:
            return self._changed.wait_for(lambda: self._state == state, timeout_s)

    def _call_soon(self, action: Any) -> None:
        loop, supervisor = self._loop, self._supervisor
        if loop is None or supervisor is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            loop.call_soon_threadsafe(action, supervisor)

    # ------------------------------------------------------------ writing (loop thread)

    def ingest(
        self,
        event: Event,
        record: Mapping[str, Any] | None = None,
        old_record: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one event: buffer, history, live tables and metrics.

        The single path every event takes (client callbacks, resync, tests and replays).
        ``record``/``old_record`` may pass the already-decoded rows of a change to skip
        re-parsing its JSON.

        """
        self.buffer.append(event)
        if self.history is not None:
            self.history.append(event)
        if event.kind == "postgres_changes" and event.table is not None and event.key is not None:
            if record is None and old_record is None:
                self.tables.apply(event)
            else:
                self.tables.apply_change(event.table, event.op, event.key, record, old_record)
            if event.source == "realtime":
                with self._lock:
                    self._events_total += 1
                    self._last_event_ns = event.received_at_ns
        self.metrics.record_event(event)

    def transition(self, target: ConnectionState, reason: str) -> None:
        """Move to ``target``, recording the transition as an event and in :attr:`transitions`.

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
        self.metrics.record_state(target.value, now)
        body = orjson.dumps({"from": source.value, "reason": reason}).decode()
        event = Event(now, None, "status", "", None, target.value, None, body, None)
        self.buffer.append(event)
        if self.history is not None:
            self.history.append(event)

    def record_gap(self, gap: Gap) -> None:
        """Record a repaired gap."""
        with self._lock:
            self._gaps.append(gap)
        self.metrics.record_gap(gap.start_ns, gap.end_ns, gap.rows_resynced)

    def count_error(self, kind: str, detail: str) -> None:
        """Count a rejected input or failed callback; log it the first time its kind occurs."""
        with self._lock:
            self._errors_total += 1
            first = kind not in self._errors_logged
            self._errors_logged.add(kind)
        if kind == "callback error":
            self.metrics.record_callback_error()
        else:
            self.metrics.record_invalid(kind)
        if first:
            log.warning("collector: %s: %s (further ones are counted, not logged)", kind, detail)

    def housekeeping(self) -> None:
        """Refresh buffer metrics (each call, every second) and record new alerts as ``alert``
        events (every :data:`ALERT_CHECK_INTERVAL_S`: their percentiles cost milliseconds)."""
        self.metrics.set_buffer(len(self.buffer), self.buffer.nbytes)
        now = time.time_ns()
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
            self.buffer.append(Event(now, None, "alert", "", None, alert.name, None, body, None))
            log.warning("alert %s: %s", alert.name, alert.message)

    def _on_traffic(self, kind: str, size: int) -> None:
        if kind == "in":
            self.metrics.record_bytes(size)
        elif kind != "out":
            self.count_error(kind, "dropped by the realtime client")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the thread must never die silently
            log.exception("collector thread failed")
            with contextlib.suppress(Exception):
                self.transition(ConnectionState.FAILED, f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            self.transition(ConnectionState.STOPPED, "stopped")

    async def _main(self) -> None:
        from rtdata.supervisor import Supervisor  # the supervisor imports this module

        self._loop = asyncio.get_running_loop()
        self._supervisor = Supervisor(self)
        if self._stop_requested.is_set():  # stop() ran before the supervisor existed
            self._supervisor.stop.set()
        self.transition(ConnectionState.CONNECTING, "connecting")
        await self._supervisor.run()
