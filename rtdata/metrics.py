"""Collector health: sliding-window latency, event rates, a per-second time series and alerts.

The building blocks (:class:`SlidingWindow`, :class:`RateCounter`, :class:`TimeSeries`,
:class:`AlertRules`) hold no locks and take the clock as a parameter (``now_ns``, nanoseconds
since the epoch, UTC), so they are tested with synthetic clocks. :class:`Metrics` is the thread
boundary: the collector thread records into it and any thread reads a :class:`MetricsSnapshot`
or a frame that it then owns.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.events import Event

__all__ = [
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

K = TypeVar("K", bound=Hashable)

_NS_PER_S: Final = 1_000_000_000
_NO_TABLE: Final = "-"  # stands for ``Event.table is None`` in "table/kind" rate keys
_BUSY_SPAN_S: Final = 600.0  # "normally busy" is judged over 10 minutes
_PRESENCE_RECENT_S: Final = 60.0  # a presence spike compares the last minute...
_PRESENCE_BASE_S: Final = 600.0  # ...with the 10 minutes before it
FOLD_EVENTS: Final = 256
"""Events :class:`Metrics` queues before folding them into its windows and counters."""
_MAX_GAPS: Final = 1000  # gaps listed in a snapshot; the total covers every gap

RECONNECT_HISTORY_S: Final = 3600.0
"""How far back a snapshot lists reconnect times, in seconds (bounds the storm window)."""

TABLE_COLUMN_PREFIX: Final = "events:"
"""Prefix of the per-table event-count columns of :meth:`TimeSeries.frame`."""


def _span_ns(span_s: float) -> int:
    return round(span_s * _NS_PER_S)


def _percentiles(values: npt.NDArray[np.float64], qs: Sequence[float]) -> dict[str, float]:
    keys = [f"p{q:g}" for q in qs]
    if values.size == 0:
        return dict.fromkeys(keys, math.nan)
    # Callers pass arrays they own, so the partition may reorder them in place.
    found = np.percentile(values, qs, overwrite_input=True)
    return dict(zip(keys, (float(v) for v in found), strict=True))


# ---------------------------------------------------------------- sliding window


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Immutable samples, with the range of their times for cheap window tests."""

    t_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    t_min: int
    t_max: int

    @classmethod
    def of(cls, t_ns: Sequence[int], values: Sequence[float]) -> _Chunk:
        t = np.array(t_ns, dtype=np.int64)
        return cls(t, np.array(values, dtype=np.float64), int(t.min()), int(t.max()))


class SlidingWindow:
    """Numeric samples in a trailing time window, with percentiles computed on demand.

    Samples go to an open list that is sealed into immutable NumPy chunks of ``chunk_size``,
    so :meth:`add` is amortised O(1). Chunks whose samples are all older than the window
    (measured from the newest sealed sample) are dropped when a chunk is sealed. A query costs
    one concatenation and :func:`numpy.percentile`: O(samples in the window). Queries are meant
    for ``now_ns`` at or after the newest sample; one earlier than that may miss samples at the
    window's old edge that were already pruned.

    Args:
        window_s: Window length in seconds: a sample at ``t_ns`` counts while
            ``now_ns - window_s < t_ns <= now_ns``.
        chunk_size: Samples per sealed chunk.
        max_samples: Bound on stored samples: beyond it the oldest chunks are dropped even when
            still inside the window, so a storm shows its newest samples.
    """

    def __init__(
        self, window_s: float, *, chunk_size: int = 1024, max_samples: int = 2_000_000
    ) -> None:
        if window_s <= 0 or chunk_size < 1 or max_samples < chunk_size:
            raise ValueError("need window_s > 0, chunk_size >= 1 and max_samples >= chunk_size")
        self.window_s = window_s
        self._window_ns = _span_ns(window_s)
        self._chunk_size = chunk_size
        self._max_samples = max_samples
        self._chunks: deque[_Chunk] = deque()
        self._sealed = 0  # samples in _chunks
        self._open_t: list[int] = []
        self._open_values: list[float] = []

    def __len__(self) -> int:
        """Return the samples held, including expired ones not yet pruned."""
        return self._sealed + len(self._open_t)

    def add(self, t_ns: int, value: float) -> None:
        """Record ``value`` observed at ``t_ns``."""
        self._open_t.append(t_ns)
        self._open_values.append(value)
        if len(self._open_t) >= self._chunk_size:
            self._seal()

    def extend(self, t_ns: Sequence[int], values: Sequence[float]) -> None:
        """Record ``values[i]`` observed at ``t_ns[i]`` for every ``i``."""
        open_t, open_values, size = self._open_t, self._open_values, self._chunk_size
        start = 0
        while start < len(t_ns):
            take = min(len(t_ns) - start, size - len(open_t))
            open_t.extend(t_ns[start : start + take])
            open_values.extend(values[start : start + take])
            start += take
            if len(open_t) >= size:
                self._seal()
                open_t, open_values = self._open_t, self._open_values

    def values(self, now_ns: int, span_s: float | None = None) -> npt.NDArray[np.float64]:
        """Return a new array of the samples in the window ending at ``now_ns``.

        Args:
            now_ns: End of the window (inclusive).
            span_s: Look back only this many seconds (at most ``window_s``).
        """
        span_ns = self._window_ns if span_s is None else min(_span_ns(span_s), self._window_ns)
        low = now_ns - span_ns  # exclusive
        chunks = list(self._chunks)
        if self._open_t:
            chunks.append(_Chunk.of(self._open_t, self._open_values))
        parts = []
        for chunk in chunks:
            if chunk.t_max <= low or chunk.t_min > now_ns:
                continue
            if chunk.t_min > low and chunk.t_max <= now_ns:
                parts.append(chunk.values)
            else:
                parts.append(chunk.values[(chunk.t_ns > low) & (chunk.t_ns <= now_ns)])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)

    def percentiles(
        self, now_ns: int, qs: Sequence[float] = (50, 95, 99), span_s: float | None = None
    ) -> dict[str, float]:
        """Return percentiles of the window as ``{"p50": ..., ...}``; NaN when it is empty.

        Args:
            now_ns: End of the window (inclusive).
            qs: Percentiles in [0, 100]; the key of ``q`` is ``f"p{q:g}"``.
            span_s: Look back only this many seconds (at most ``window_s``).
        """
        return _percentiles(self.values(now_ns, span_s), qs)

    def _seal(self) -> None:
        chunk = _Chunk.of(self._open_t, self._open_values)
        self._open_t, self._open_values = [], []
        self._chunks.append(chunk)
        self._sealed += len(chunk.t_ns)
        expired = chunk.t_max - self._window_ns
        chunks = self._chunks
        while chunks[0].t_max <= expired or self._sealed > self._max_samples:
            self._sealed -= len(chunks.popleft().t_ns)


# ---------------------------------------------------------------- rates


class RateCounter(Generic[K]):
    """Counts per key in fixed time buckets, read back as counts or rates over a window.

    Buckets are ``bucket_s`` long and aligned to the epoch; a bucket counts toward a window
    ending at ``now_ns`` when its start is in ``(now_ns - span, now_ns]``, so results are exact
    to one bucket. Buckets older than the window (from the newest bucket) are dropped as new
    ones open; a sample older than that is ignored.

    Args:
        window_s: Longest span that can be queried, in seconds.
        bucket_s: Bucket length in seconds.
    """

    def __init__(self, window_s: float, *, bucket_s: float = 1.0) -> None:
        if window_s <= 0 or bucket_s <= 0:
            raise ValueError("window_s and bucket_s must be positive")
        self.window_s = window_s
        self._window_ns = _span_ns(window_s)
        self._bucket_ns = _span_ns(bucket_s)
        self._keep = math.ceil(window_s / bucket_s) + 1  # buckets a full window can touch
        self._buckets: deque[tuple[int, dict[K, int]]] = deque()  # ascending bucket index

    def add(self, t_ns: int, key: K, n: int = 1) -> None:
        """Count ``n`` occurrences of ``key`` at ``t_ns``."""
        index = t_ns // self._bucket_ns
        buckets = self._buckets
        if buckets and buckets[-1][0] == index:
            counts = buckets[-1][1]
        elif not buckets or buckets[-1][0] < index:
            counts = {}
            buckets.append((index, counts))
            while buckets[0][0] <= index - self._keep:
                buckets.popleft()
        else:
            found = self._older(index)
            if found is None:
                return
            counts = found
        counts[key] = counts.get(key, 0) + n

    def counts(self, now_ns: int, span_s: float | None = None) -> dict[K, int]:
        """Return totals per key over ``span_s`` (default: the window) ending at ``now_ns``."""
        span_ns = self._window_ns if span_s is None else min(_span_ns(span_s), self._window_ns)
        low = now_ns - span_ns
        totals: dict[K, int] = {}
        for index, counts in self._buckets:
            if low < index * self._bucket_ns <= now_ns:
                for key, n in counts.items():
                    totals[key] = totals.get(key, 0) + n
        return totals

    def rates(self, now_ns: int) -> dict[K, float]:
        """Return events per second per key over the window ending at ``now_ns``."""
        return {key: n / self.window_s for key, n in self.counts(now_ns).items()}

    def _older(self, index: int) -> dict[K, int] | None:
        # Rare path: a sample older than the newest bucket (clocks of two threads interleaving).
        buckets = self._buckets
        if index <= buckets[-1][0] - self._keep:
            return None
        for pos in range(len(buckets) - 1, -1, -1):
            if buckets[pos][0] == index:
                return buckets[pos][1]
            if buckets[pos][0] < index:
                counts: dict[K, int] = {}
                buckets.insert(pos + 1, (index, counts))
                return counts
        counts = {}
        buckets.appendleft((index, counts))
        return counts


# ---------------------------------------------------------------- time series


@dataclass(frozen=True, slots=True)
class _Row:
    """One finished bucket of :class:`TimeSeries`."""

    index: int
    events_total: int
    events_by_table: dict[str, int]
    latency_ms: dict[str, float]
    latency_samples: int
    probe_rtt_ms: float
    state: str | None
    reconnects: int


@dataclass(slots=True)
class _OpenBucket:
    index: int
    state: str | None  # carried forward from the previous bucket
    events_total: int = 0
    events_by_table: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    probe_rtt_ms: float = math.nan
    reconnects: int = 0

    def finish(self) -> _Row:
        values = np.array(self.latencies_ms, dtype=np.float64)
        return _Row(
            self.index,
            self.events_total,
            dict(self.events_by_table),
            _percentiles(values, (50, 95, 99)),
            len(values),
            self.probe_rtt_ms,
            self.state,
            self.reconnects,
        )


class TimeSeries:
    """Per-bucket aggregates for charts, bounded to the newest ``max_buckets`` buckets.

    A bucket's latency percentiles are computed once, when a later bucket opens, and its raw
    samples are then dropped. A sample older than the open bucket is counted in the open bucket.

    Args:
        bucket_s: Bucket length in seconds; buckets are aligned to the epoch.
        max_buckets: Most buckets (and frame rows) kept.
    """

    def __init__(self, bucket_s: float = 1.0, max_buckets: int = 3600) -> None:
        if bucket_s <= 0 or max_buckets < 1:
            raise ValueError("bucket_s must be positive and max_buckets at least 1")
        self.bucket_s = bucket_s
        self.max_buckets = max_buckets
        self._bucket_ns = _span_ns(bucket_s)
        self._rows: deque[_Row] = deque()
        self._open: _OpenBucket | None = None
        self._state: str | None = None

    def add_event(self, t_ns: int, table: str | None, latency_ms: float | None) -> None:
        """Count one event of ``table`` (``None``: not a table change) with its latency."""
        bucket = self._bucket(t_ns)
        bucket.events_total += 1
        if table is not None:
            bucket.events_by_table[table] = bucket.events_by_table.get(table, 0) + 1
        if latency_ms is not None:
            bucket.latencies_ms.append(latency_ms)

    def add_events(
        self, t_ns: int, table: str | None, n: int, latencies_ms: Sequence[float]
    ) -> None:
        """Count ``n`` events of ``table`` received in the bucket of ``t_ns``, with the
        latencies of those that have one."""
        bucket = self._bucket(t_ns)
        bucket.events_total += n
        if table is not None:
            bucket.events_by_table[table] = bucket.events_by_table.get(table, 0) + n
        bucket.latencies_ms.extend(latencies_ms)

    def add_probe_rtt(self, t_ns: int, rtt_ms: float) -> None:
        """Record a probe round trip; a bucket keeps its last one."""
        self._bucket(t_ns).probe_rtt_ms = rtt_ms

    def add_state(self, t_ns: int, state: str) -> None:
        """Record a connection-state change; it holds for later buckets until the next one."""
        self._state = state
        self._bucket(t_ns).state = state

    def add_reconnect(self, t_ns: int) -> None:
        """Count one reconnect."""
        self._bucket(t_ns).reconnects += 1

    def frame(self) -> pd.DataFrame:
        """Return one row per bucket, oldest first, as a new DataFrame the caller owns.

        Buckets with nothing recorded between the first and the last are included (zero
        counts). Columns:

        * ``time``: bucket start, tz-aware UTC.
        * ``events_total``: events in the bucket.
        * ``latency_p50_ms``, ``latency_p95_ms``, ``latency_p99_ms``: percentiles of the
          commit → receive latency of the bucket's events; NaN without samples.
        * ``latency_samples``: events with a latency.
        * ``probe_rtt_ms``: last probe round trip in the bucket; NaN without a probe.
        * ``state``: connection state at the end of the bucket; missing before the first.
        * ``reconnects``: reconnects in the bucket.
        * ``events:<table>`` (:data:`TABLE_COLUMN_PREFIX`): events of each table, one column
          per table seen, in name order.
        """
        rows, open_bucket = self._parts()
        return _series_frame(rows, open_bucket, self._bucket_ns, self.max_buckets)

    def _parts(self) -> tuple[list[_Row], _OpenBucket | None]:
        # Finished rows are immutable; the open bucket is copied so it can be finished later.
        current = self._open
        if current is None:
            return list(self._rows), None
        copy = replace(
            current,
            events_by_table=dict(current.events_by_table),
            latencies_ms=list(current.latencies_ms),
        )
        return list(self._rows), copy

    def _bucket(self, t_ns: int) -> _OpenBucket:
        index = t_ns // self._bucket_ns
        current = self._open
        if current is not None and index <= current.index:
            return current
        if current is not None:
            self._rows.append(current.finish())
        while self._rows and self._rows[0].index <= index - self.max_buckets:
            self._rows.popleft()
        self._open = _OpenBucket(index, self._state)
        return self._open


def _series_frame(
    rows: list[_Row], open_bucket: _OpenBucket | None, bucket_ns: int, max_buckets: int
) -> pd.DataFrame:
    if open_bucket is not None:
        rows = [*rows, open_bucket.finish()]
    tables = sorted({table for row in rows for table in row.events_by_table})
    by_index = {row.index: row for row in rows}
    indexes = range(0)
    if rows:
        indexes = range(max(rows[0].index, rows[-1].index - max_buckets + 1), rows[-1].index + 1)
    quiet = _Row(0, 0, {}, {}, 0, math.nan, None, 0)
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "events_total",
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "latency_samples",
            "probe_rtt_ms",
            "state",
            "reconnects",
            *(TABLE_COLUMN_PREFIX + table for table in tables),
        )
    }
    state: str | None = None  # the first row is a recorded bucket, which carries its state
    for index in indexes:
        row = by_index.get(index, quiet)
        state = row.state if index in by_index else state
        columns["events_total"].append(row.events_total)
        for q in ("p50", "p95", "p99"):
            columns[f"latency_{q}_ms"].append(row.latency_ms.get(q, math.nan))
        columns["latency_samples"].append(row.latency_samples)
        columns["probe_rtt_ms"].append(row.probe_rtt_ms)
        columns["state"].append(state)
        columns["reconnects"].append(row.reconnects)
        for table in tables:
            columns[TABLE_COLUMN_PREFIX + table].append(row.events_by_table.get(table, 0))
    times = pd.to_datetime(np.array(indexes, dtype=np.int64) * bucket_ns, unit="ns", utc=True)
    data: dict[str, Any] = {"time": times}
    for name, values in columns.items():
        if name == "state":
            data[name] = pd.Series(values, dtype="str")
        elif name.startswith("latency_p") or name == "probe_rtt_ms":
            data[name] = np.array(values, dtype=np.float64)
        else:
            data[name] = np.array(values, dtype=np.int64)
    return pd.DataFrame(data)  # built at once: one column per table could be many


# ---------------------------------------------------------------- snapshot and alerts


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The collector's health at one moment; every container in it is the reader's own copy.

    Attributes:
        taken_at_ns: The ``now_ns`` the snapshot was taken at.
        events_total: Events recorded since start.
        last_event_ns: Receive time of the newest event, or ``None``.
        events_per_s_by_table_kind: Events per second over the rate window, keyed
            ``"table/kind"`` (table ``"-"`` for events without one).
        latency_10s_ms: ``{"p50", "p95", "p99"}`` commit → receive latency over 10 s; NaN
            without samples.
        latency_60s_ms: The same over 60 s.
        latency_samples_10s: Latency samples in the 10 s window.
        latency_samples_60s: Latency samples in the 60 s window.
        probe_rtt_ms: Last probe round trip, or ``None``.
        connection_state: Last recorded connection state, or ``None``.
        reconnects_total: Reconnects since start.
        recent_reconnects_ns: Reconnect times within :data:`RECONNECT_HISTORY_S`, oldest first.
        gaps: ``(start_ns, end_ns, rows_resynced)`` of the newest 1000 gaps, oldest first.
        gap_time_total_s: Total length of every gap, in seconds.
        bytes_in_total: Bytes received since start.
        invalid_by_reason: Invalid payloads per reason.
        callback_errors_total: Exceptions raised by callbacks.
        buffer_rows: Rows in the event buffer, as last set.
        buffer_bytes: Bytes in the event buffer, as last set.
        last_event_ns_by_table: Receive time of the newest event of each table.
        busy_events_per_min_by_table: Each table's average events per minute over the 10
            minutes up to its newest event (so a silence does not dilute its baseline).
        presence_last_min: Presence joins + leaves in the last minute.
        presence_prev_10min_per_min: Average presence joins + leaves per minute over the 10
            minutes before that.
    """

    taken_at_ns: int
    events_total: int
    last_event_ns: int | None
    events_per_s_by_table_kind: dict[str, float]
    latency_10s_ms: dict[str, float]
    latency_60s_ms: dict[str, float]
    latency_samples_10s: int
    latency_samples_60s: int
    probe_rtt_ms: float | None
    connection_state: str | None
    reconnects_total: int
    recent_reconnects_ns: tuple[int, ...]
    gaps: list[tuple[int, int, int]]
    gap_time_total_s: float
    bytes_in_total: int
    invalid_by_reason: dict[str, int]
    callback_errors_total: int
    buffer_rows: int
    buffer_bytes: int
    last_event_ns_by_table: dict[str, int]
    busy_events_per_min_by_table: dict[str, float]
    presence_last_min: int
    presence_prev_10min_per_min: float

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-ready data: NaN becomes ``None``, tuples become lists."""
        result: dict[str, Any] = _jsonable(asdict(self))
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, raised when its condition became true.

    Attributes:
        name: ``p99_latency``, ``table_silent``, ``reconnect_storm`` or ``presence_spike``.
        severity: ``"warning"`` or ``"critical"``.
        message: One sentence for people.
        at_ns: When the condition was seen true.
        value: The measured value (ms, s or a count, as the message says).
        threshold: The limit it crossed, in the same unit.
        subject: What the alert is about (the table for ``table_silent``), else ``""``.
    """

    name: str
    severity: Literal["warning", "critical"]
    message: str
    at_ns: int
    value: float
    threshold: float
    subject: str = ""


class AlertRules:
    """Alert conditions on a :class:`MetricsSnapshot`, edge-triggered by :meth:`evaluate`.

    Rules (severity):

    * ``p99_latency`` (warning): the 60 s p99 latency exceeds ``p99_latency_ms`` with at
      least ``min_latency_samples`` samples.
    * ``table_silent`` (critical), per table: a table that averaged at least
      ``busy_table_events_per_min`` over the 10 minutes up to its newest event has had no
      event for ``silence_s``.
    * ``reconnect_storm`` (critical): at least ``reconnect_storm_count`` reconnects within
      ``reconnect_storm_window_s`` (at most :data:`RECONNECT_HISTORY_S`).
    * ``presence_spike`` (warning): presence joins + leaves in the last minute are at least
      ``presence_min_events`` and more than ``presence_spike_factor`` times the average per
      minute of the 10 minutes before.

    Holds no lock: :class:`Metrics` serialises calls to :meth:`evaluate`.
    """

    def __init__(
        self,
        *,
        p99_latency_ms: float = 1000.0,
        min_latency_samples: int = 20,
        silence_s: float = 60.0,
        busy_table_events_per_min: float = 6.0,
        reconnect_storm_count: int = 5,
        reconnect_storm_window_s: float = 300.0,
        presence_spike_factor: float = 3.0,
        presence_min_events: int = 10,
    ) -> None:
        if not 0 < reconnect_storm_window_s <= RECONNECT_HISTORY_S:
            raise ValueError(f"reconnect_storm_window_s must be in (0, {RECONNECT_HISTORY_S:g}]")
        if silence_s <= 0 or reconnect_storm_count < 1:
            raise ValueError("silence_s and reconnect_storm_count must be positive")
        self.p99_latency_ms = p99_latency_ms
        self.min_latency_samples = min_latency_samples
        self.silence_s = silence_s
        self.busy_table_events_per_min = busy_table_events_per_min
        self.reconnect_storm_count = reconnect_storm_count
        self.reconnect_storm_window_s = reconnect_storm_window_s
        self.presence_spike_factor = presence_spike_factor
        self.presence_min_events = presence_min_events
        self._firing: set[tuple[str, str]] = set()  # (name, subject) true at the last evaluate

    def active(self, now_ns: int, state: MetricsSnapshot) -> list[Alert]:
        """Return an alert for every condition true at ``now_ns`` (pure: no edge memory)."""
        alerts = []
        p99 = state.latency_60s_ms.get("p99", math.nan)
        if state.latency_samples_60s >= self.min_latency_samples and p99 > self.p99_latency_ms:
            alerts.append(
                Alert(
                    "p99_latency",
                    "warning",
                    f"p99 latency over 60 s is {p99:.0f} ms (limit {self.p99_latency_ms:g} ms)",
                    now_ns,
                    p99,
                    self.p99_latency_ms,
                )
            )
        for table, last_ns in sorted(state.last_event_ns_by_table.items()):
            silent_s = (now_ns - last_ns) / _NS_PER_S
            busy = state.busy_events_per_min_by_table.get(table, 0.0)
            if busy >= self.busy_table_events_per_min and silent_s >= self.silence_s:
                message = f"{table} (usually {busy:.1f}/min) has been silent for {silent_s:.0f} s"
                alerts.append(
                    Alert(
                        "table_silent", "critical", message, now_ns, silent_s, self.silence_s, table
                    )
                )
        low = now_ns - _span_ns(self.reconnect_storm_window_s)
        storm = sum(1 for t in state.recent_reconnects_ns if low < t <= now_ns)
        if storm >= self.reconnect_storm_count:
            message = f"{storm} reconnects in the last {self.reconnect_storm_window_s:g} s"
            alerts.append(
                Alert(
                    "reconnect_storm",
                    "critical",
                    message,
                    now_ns,
                    storm,
                    self.reconnect_storm_count,
                )
            )
        recent = state.presence_last_min
        limit = self.presence_spike_factor * state.presence_prev_10min_per_min
        if recent >= self.presence_min_events and recent > limit:
            message = f"{recent} presence joins/leaves in the last minute (limit {limit:.1f})"
            alerts.append(Alert("presence_spike", "warning", message, now_ns, recent, limit))
        return alerts

    def evaluate(self, now_ns: int, state: MetricsSnapshot) -> list[Alert]:
        """Return only the alerts whose condition became true since the previous call.

        An alert fires once when its condition turns true and again only after a call that saw
        it false.
        """
        current = self.active(now_ns, state)
        new = [a for a in current if (a.name, a.subject) not in self._firing]
        self._firing = {(a.name, a.subject) for a in current}
        return new


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

    Args:
        rules: Alert rules for :meth:`check_alerts` (default: :class:`AlertRules` defaults).
        rate_window_s: Window of ``events_per_s_by_table_kind``, in seconds.
        bucket_s: Bucket length of :meth:`series`, in seconds.
        max_buckets: Most rows of :meth:`series`.
    """

    def __init__(
        self,
        rules: AlertRules | None = None,
        *,
        rate_window_s: float = 60.0,
        bucket_s: float = 1.0,
        max_buckets: int = 3600,
    ) -> None:
        self._lock = threading.Lock()  # guards every attribute below
        self._rules = rules if rules is not None else AlertRules()
        self._latency = SlidingWindow(60.0)
        self._rates: RateCounter[tuple[str | None, str]] = RateCounter(rate_window_s)
        # Per table, so one table's silence does not age out its own baseline.
        self._activity: dict[str, RateCounter[str]] = {}
        self._last_by_table: dict[str, int] = {}
        self._presence: RateCounter[str] = RateCounter(_PRESENCE_RECENT_S + _PRESENCE_BASE_S)
        self._series = TimeSeries(bucket_s, max_buckets)
        self._pending: list[Event] = []  # recorded, not yet folded (see record_event)
        self._events_total = 0
        self._last_event_ns: int | None = None
        self._probe_rtt_ms: float | None = None
        self._state: str | None = None
        self._reconnects_total = 0
        self._reconnects: deque[int] = deque()
        self._gaps: deque[tuple[int, int, int]] = deque(maxlen=_MAX_GAPS)
        self._gap_time_total_ns = 0
        self._bytes_in_total = 0
        self._invalid: dict[str, int] = {}
        self._callback_errors = 0
        self._buffer_rows = 0
        self._buffer_bytes = 0

    # ------------------------------------------------------------ writer (collector thread)

    def record_event(self, event: Event) -> None:
        """Count one event by (table, kind) and feed its latency, when known, to the windows.

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
        bucket_ns = self._series._bucket_ns
        times: list[int] = []
        latencies: list[float] = []
        run_start = 0
        run_key: tuple[int, str | None, str] | None = None
        run_latencies: list[float] = []
        for i, event in enumerate(batch):
            t_ns, commit_ns = event[0], event[1]
            key = (t_ns // bucket_ns, event[4], event[2])
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

    def _fold_run(self, first: Event, last_ns: int, n: int, latencies_ms: list[float]) -> None:
        t_ns, table, kind = first.received_at_ns, first.table, first.kind
        self._rates.add(t_ns, (table, kind), n)
        if table is not None:
            activity = self._activity.get(table)
            if activity is None:
                activity = self._activity[table] = RateCounter(_BUSY_SPAN_S, bucket_s=10.0)
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
            self._probe_rtt_ms = rtt_ms
            self._series.add_probe_rtt(now_ns, rtt_ms)

    def record_reconnect(self, now_ns: int) -> None:
        """Count one reconnect at ``now_ns``."""
        with self._lock:
            self._fold()
            self._reconnects_total += 1
            self._reconnects.append(now_ns)
            while self._reconnects[0] <= now_ns - _span_ns(RECONNECT_HISTORY_S):
                self._reconnects.popleft()
            self._series.add_reconnect(now_ns)

    def record_gap(self, start_ns: int, end_ns: int, rows_resynced: int) -> None:
        """Record a time without a live subscription and the rows resynced to cover it."""
        with self._lock:
            self._fold()
            self._gaps.append((start_ns, end_ns, rows_resynced))
            self._gap_time_total_ns += max(0, end_ns - start_ns)

    def record_state(self, state: str, now_ns: int) -> None:
        """Record the connection state entered at ``now_ns``."""
        with self._lock:
            self._fold()
            self._state = state
            self._series.add_state(now_ns, state)

    def record_presence(self, n_events: int, now_ns: int) -> None:
        """Count ``n_events`` presence joins and leaves at ``now_ns``."""
        with self._lock:
            self._fold()
            self._presence.add(now_ns, "presence", n_events)

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
            latency_60s = self._latency.values(now_ns)
            latency_10s = self._latency.values(now_ns, 10.0)
            rates = self._rates.rates(now_ns)
            busy = {
                table: sum(counter.counts(self._last_by_table[table]).values())
                / (_BUSY_SPAN_S / 60)
                for table, counter in self._activity.items()
            }
            presence_all = self._presence.counts(now_ns).get("presence", 0)
            presence_recent = self._presence.counts(now_ns, _PRESENCE_RECENT_S).get("presence", 0)
            low = now_ns - _span_ns(RECONNECT_HISTORY_S)
            partial = MetricsSnapshot(
                taken_at_ns=now_ns,
                events_total=self._events_total,
                last_event_ns=self._last_event_ns,
                events_per_s_by_table_kind={
                    f"{table or _NO_TABLE}/{kind}": rate for (table, kind), rate in rates.items()
                },
                probe_rtt_ms=self._probe_rtt_ms,
                connection_state=self._state,
                reconnects_total=self._reconnects_total,
                recent_reconnects_ns=tuple(t for t in self._reconnects if low < t <= now_ns),
                gaps=list(self._gaps),
                gap_time_total_s=self._gap_time_total_ns / _NS_PER_S,
                bytes_in_total=self._bytes_in_total,
                invalid_by_reason=dict(self._invalid),
                callback_errors_total=self._callback_errors,
                buffer_rows=self._buffer_rows,
                buffer_bytes=self._buffer_bytes,
                last_event_ns_by_table=dict(self._last_by_table),
                busy_events_per_min_by_table=busy,
                presence_last_min=presence_recent,
                presence_prev_10min_per_min=(presence_all - presence_recent)
                / (_PRESENCE_BASE_S / 60),
                latency_10s_ms={},  # filled in below, outside the lock
                latency_60s_ms={},
                latency_samples_10s=len(latency_10s),
                latency_samples_60s=len(latency_60s),
            )
        # Percentiles are the costly part, so they run after the lock is released.
        return replace(
            partial,
            latency_10s_ms=_percentiles(latency_10s, (50, 95, 99)),
            latency_60s_ms=_percentiles(latency_60s, (50, 95, 99)),
        )

    def series(self) -> pd.DataFrame:
        """Return the per-bucket time series (see :meth:`TimeSeries.frame`) as a new frame."""
        with self._lock:
            self._fold()
            rows, open_bucket = self._series._parts()
            bucket_ns, max_buckets = self._series._bucket_ns, self._series.max_buckets
        return _series_frame(rows, open_bucket, bucket_ns, max_buckets)

    def check_alerts(self, now_ns: int) -> list[Alert]:
        """Run the alert rules on a snapshot at ``now_ns`` and return only the new alerts.

        Alerts are edge-triggered across all callers: call this from one place (such as the
        collector's periodic tick) and publish what it returns.
        """
        snapshot = self.snapshot(now_ns)
        with self._lock:
            return self._rules.evaluate(now_ns, snapshot)
