"""A per-bucket time series of events, latency, probe RTT, state and reconnects."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from rtdata.metrics._common import (
    TABLE_COLUMN_PREFIX,
    percentiles,
    to_ns,
)

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
            percentiles(values, (50, 95, 99)),
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
        self._bucket_ns = to_ns(bucket_s)
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
        return series_frame(rows, open_bucket, self._bucket_ns, self.max_buckets)

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


def series_frame(
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
