"""Collector health: sliding-window latency, event rates, a per-second time series and alerts.

The building blocks (:class:`SlidingWindow`, :class:`RateCounter`, :class:`TimeSeries`,
:class:`AlertRules`) hold no locks and take the clock as a parameter (``now_ns``, nanoseconds
since the epoch, UTC), so they are tested with synthetic clocks. :class:`Metrics` is the thread
boundary: the collector thread records into it and any thread reads a :class:`MetricsSnapshot`
or a frame that it then owns.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import replace

import pandas as pd

from rtdata.events import Event, EventKind
from rtdata.metrics._common import (
    BUSY_SPAN_S,
    FOLD_EVENTS,
    MAX_GAPS,
    NO_TABLE,
    NS_PER_S,
    PRESENCE_BASE_S,
    PRESENCE_RECENT_S,
    RECONNECT_HISTORY_S,
    TABLE_COLUMN_PREFIX,
    percentiles,
    to_ns,
)
from rtdata.metrics.alerts import Alert, AlertRules, MetricsSnapshot
from rtdata.metrics.rates import RateCounter
from rtdata.metrics.series import TimeSeries, series_frame
from rtdata.metrics.window import SlidingWindow

__all__ = [
    "FOLD_EVENTS",
    "RECONNECT_HISTORY_S",
    "TABLE_COLUMN_PREFIX",
    "Alert",
    "AlertRules",
    "Metrics",
    "MetricsSnapshot",
    "RateCounter",
    "SlidingWindow",
    "TimeSeries",
]


# ---------------------------------------------------------------- the thread boundary


class Metrics:
    """Thread-safe health metrics of one collector: its thread records, any thread reads.

    Invariants:
        * ``_lock`` protects every underscored attribute below it (the building blocks, the
          counters and the alert rules' edge memory); nothing else is shared.
        * Recording does amortised O(1) work under the lock. Events are queued in
          ``_pending`` and folded in batches of :data:`FOLD_EVENTS` (and before any other
          record or read), so every reader sees every event recorded before its call.
        * Readers copy under the lock and compute percentiles and frames after releasing it,
          so what they return is theirs and a reader never holds the collector up for long.
        * Times are epoch nanoseconds; events are timed by ``received_at_ns``.
        * ``_since_ns`` is the earliest time seen: ``started_ns``, the first event of each
          folded batch, or the ``now_ns`` of any record or read. Alert baselines wait for it
          (see :class:`AlertRules`), so they never compare with a window nobody watched.

    Args:
        rules: Alert rules for :meth:`check_alerts` (default: :class:`AlertRules` defaults).
        rate_window_s: Window of ``events_per_s_by_table_kind``, in seconds.
        bucket_s: Bucket length of :meth:`series`, in seconds.
        max_buckets: Most rows of :meth:`series`.
        started_ns: When collecting began; by default the first time recorded or read.
    """

    def __init__(
        self,
        rules: AlertRules | None = None,
        *,
        rate_window_s: float = 60.0,
        bucket_s: float = 1.0,
        max_buckets: int = 3600,
        started_ns: int | None = None,
    ) -> None:
        self._lock = threading.Lock()  # guards every attribute below
        self._rules = rules if rules is not None else AlertRules()
        self._latency = SlidingWindow(60.0)
        self._rates: RateCounter[tuple[str | None, str]] = RateCounter(rate_window_s)
        # Per table, so one table's silence does not age out its own baseline.
        self._activity: dict[str, RateCounter[str]] = {}
        self._last_by_table: dict[str, int] = {}
        self._presence: RateCounter[str] = RateCounter(PRESENCE_RECENT_S + PRESENCE_BASE_S)
        self._series = TimeSeries(bucket_s, max_buckets)
        self._pending: list[Event] = []  # recorded, not yet folded (see record_event)
        self._since_ns = started_ns  # earliest time seen (see the invariants)
        self._events_total = 0
        self._last_event_ns: int | None = None
        self._probe_rtt_ms: float | None = None
        self._state: str | None = None
        self._reconnects_total = 0
        self._reconnects: deque[int] = deque()
        self._gaps: deque[tuple[int, int, int]] = deque(maxlen=MAX_GAPS)
        self._gap_time_total_ns = 0
        self._bytes_in_total = 0
        self._invalid: dict[str, int] = {}
        self._callback_errors = 0
        self._buffer_rows = 0
        self._buffer_bytes = 0

    # ------------------------------------------------------------ writer (collector thread)

    def record_event(self, event: Event) -> None:
        """Count one event by (table, kind) and feed its latency, when known, to the windows.

        Only events received over realtime count toward a table's activity (its busy rate
        and newest event, which the ``table_silent`` alert reads); rows read over REST do not.
        Events are queued and folded into the building blocks in batches (every
        :data:`FOLD_EVENTS` events, and before any other record or read), which costs a
        fraction of folding them one by one; readers never see a batch half folded.
        """
        with self._lock:
            pending = self._pending
            pending.append(event)
            if len(pending) >= FOLD_EVENTS:
                self._fold()

    def _fold(self) -> None:
        # Caller holds the lock. Runs of events in one 1-second bucket with the same table and
        # kind are counted once; latencies are copied in bulk.
        batch = self._pending
        if not batch:
            return
        self._pending = []
        self._observe(batch[0][0])
        bucket_ns = self._series._bucket_ns
        times: list[int] = []
        latencies: list[float] = []
        run_start = 0
        run_key: tuple[int, str | None, str, str] | None = None
        run_latencies: list[float] = []
        for i, event in enumerate(batch):
            t_ns, commit_ns = event[0], event[1]
            key = (t_ns // bucket_ns, event[4], event[2], event[9])
            if key != run_key:
                if run_key is not None:
                    self._fold_run(batch[run_start], batch[i - 1][0], i - run_start, run_latencies)
                run_key, run_start, run_latencies = key, i, []
            if commit_ns is not None:
                latency_ms = (t_ns - commit_ns) / 1e6
                run_latencies.append(latency_ms)
                times.append(t_ns)
                latencies.append(latency_ms)
        self._fold_run(batch[run_start], batch[-1][0], len(batch) - run_start, run_latencies)
        last = batch[-1]
        self._events_total += len(batch)
        self._last_event_ns = last.received_at_ns
        if times:
            self._latency.extend(times, latencies)

    def _observe(self, t_ns: int) -> None:
        # Caller holds the lock.
        if self._since_ns is None or t_ns < self._since_ns:
            self._since_ns = t_ns

    def _fold_run(self, first: Event, last_ns: int, n: int, latencies_ms: list[float]) -> None:
        t_ns, table, kind = first.received_at_ns, first.table, first.kind
        self._rates.add(t_ns, (table, kind), n)
        # Only live traffic tells whether a table is busy or has gone silent: rows read over
        # REST (a snapshot of thousands at start, a resync) would fake a busy table.
        if table is not None and first.source == "realtime":
            activity = self._activity.get(table)
            if activity is None:
                activity = self._activity[table] = RateCounter(BUSY_SPAN_S, bucket_s=10.0)
            activity.add(t_ns, kind, n)
            self._last_by_table[table] = max(self._last_by_table.get(table, 0), last_ns)
        self._series.add_events(t_ns, table, n, latencies_ms)

    def record_bytes(self, n: int) -> None:
        """Add ``n`` received bytes."""
        with self._lock:
            self._bytes_in_total += n

    def record_invalid(self, reason: str) -> None:
        """Count one payload that could not become an event."""
        with self._lock:
            self._invalid[reason] = self._invalid.get(reason, 0) + 1

    def record_callback_error(self) -> None:
        """Count one exception raised by a callback."""
        with self._lock:
            self._callback_errors += 1

    def record_probe_rtt(self, rtt_ms: float, now_ns: int) -> None:
        """Record a probe round trip measured at ``now_ns``."""
        with self._lock:
            self._fold()
            self._observe(now_ns)
            self._probe_rtt_ms = rtt_ms
            self._series.add_probe_rtt(now_ns, rtt_ms)

    def record_reconnect(self, now_ns: int) -> None:
        """Count one reconnect at ``now_ns``."""
        with self._lock:
            self._fold()
            self._observe(now_ns)
            self._reconnects_total += 1
            self._reconnects.append(now_ns)
            while self._reconnects[0] <= now_ns - to_ns(RECONNECT_HISTORY_S):
                self._reconnects.popleft()
            self._series.add_reconnect(now_ns)

    def record_gap(self, start_ns: int, end_ns: int, rows_resynced: int) -> None:
        """Record a time without a live subscription and the rows resynced to cover it."""
        with self._lock:
            self._fold()
            self._observe(start_ns)
            self._gaps.append((start_ns, end_ns, rows_resynced))
            self._gap_time_total_ns += max(0, end_ns - start_ns)

    def record_state(self, state: str, now_ns: int) -> None:
        """Record the connection state entered at ``now_ns``."""
        with self._lock:
            self._fold()
            self._observe(now_ns)
            self._state = state
            self._series.add_state(now_ns, state)

    def record_presence(self, n_events: int, now_ns: int) -> None:
        """Count ``n_events`` presence joins and leaves at ``now_ns``."""
        with self._lock:
            self._fold()
            self._observe(now_ns)
            self._presence.add(now_ns, EventKind.PRESENCE, n_events)

    def set_buffer(self, rows: int, bytes_: int) -> None:
        """Set the event buffer's current size."""
        with self._lock:
            self._buffer_rows = rows
            self._buffer_bytes = bytes_

    # ------------------------------------------------------------ readers (any thread)

    def snapshot(self, now_ns: int) -> MetricsSnapshot:
        """Return the metrics at ``now_ns`` as a snapshot the caller owns."""
        with self._lock:
            self._fold()
            self._observe(now_ns)
            since_ns = self._since_ns
            assert since_ns is not None  # just observed
            latency_60s = self._latency.values(now_ns)
            latency_10s = self._latency.values(now_ns, 10.0)
            rates = self._rates.rates(now_ns)
            busy = {
                table: sum(counter.counts(self._last_by_table[table]).values()) / (BUSY_SPAN_S / 60)
                for table, counter in self._activity.items()
            }
            presence_all = self._presence.counts(now_ns).get(EventKind.PRESENCE, 0)
            presence_recent = self._presence.counts(now_ns, PRESENCE_RECENT_S).get(
                EventKind.PRESENCE, 0
            )
            low = now_ns - to_ns(RECONNECT_HISTORY_S)
            partial = MetricsSnapshot(
                taken_at_ns=now_ns,
                observed_since_ns=since_ns,
                events_total=self._events_total,
                last_event_ns=self._last_event_ns,
                events_per_s_by_table_kind={
                    f"{table or NO_TABLE}/{kind}": rate for (table, kind), rate in rates.items()
                },
                probe_rtt_ms=self._probe_rtt_ms,
                connection_state=self._state,
                reconnects_total=self._reconnects_total,
                recent_reconnects_ns=tuple(t for t in self._reconnects if low < t <= now_ns),
                gaps=list(self._gaps),
                gap_time_total_s=self._gap_time_total_ns / NS_PER_S,
                bytes_in_total=self._bytes_in_total,
                invalid_by_reason=dict(self._invalid),
                callback_errors_total=self._callback_errors,
                buffer_rows=self._buffer_rows,
                buffer_bytes=self._buffer_bytes,
                last_event_ns_by_table=dict(self._last_by_table),
                busy_events_per_min_by_table=busy,
                presence_last_min=presence_recent,
                presence_prev_10min_per_min=(presence_all - presence_recent)
                / (PRESENCE_BASE_S / 60),
                latency_10s_ms={},  # filled in below, outside the lock
                latency_60s_ms={},
                latency_samples_10s=len(latency_10s),
                latency_samples_60s=len(latency_60s),
            )
        # Percentiles are the costly part, so they run after the lock is released.
        return replace(
            partial,
            latency_10s_ms=percentiles(latency_10s, (50, 95, 99)),
            latency_60s_ms=percentiles(latency_60s, (50, 95, 99)),
        )

    def series(self) -> pd.DataFrame:
        """Return the per-bucket time series (see :meth:`TimeSeries.frame`) as a new frame."""
        with self._lock:
            self._fold()
            rows, open_bucket = self._series._parts()
            bucket_ns, max_buckets = self._series._bucket_ns, self._series.max_buckets
        return series_frame(rows, open_bucket, bucket_ns, max_buckets)

    def check_alerts(self, now_ns: int) -> list[Alert]:
        """Run the alert rules on a snapshot at ``now_ns`` and return only the new alerts.

        Alerts are edge-triggered across all callers: call this from one place (such as the
        collector's periodic tick) and publish what it returns.
        """
        snapshot = self.snapshot(now_ns)
        with self._lock:
            return self._rules.evaluate(now_ns, snapshot)
