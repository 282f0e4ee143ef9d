"""``ingest`` and ``latency``: the collector beside the bare official client on one stream."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rtdata.bench.common import (
    Figure,
    bulk_inserter,
    official_client,
    official_client_rate,
    server_process,
    start_collector,
    writer_process,
)
from rtdata.buffer import EventBuffer
from rtdata.events import EventKind, EventSource
from rtdata.server.auth import Keys

__all__ = ["bench_ingest", "bench_latency", "percentile", "realtime_latencies_ms"]


def realtime_latencies_ms(buffer: EventBuffer, since: datetime) -> list[float]:
    """Return the commit → buffer latency (ms) of every table change ``buffer`` received over
    the Realtime socket at or after ``since`` (not the rows read over REST)."""
    events = buffer.snapshot(since=since, kinds=[EventKind.POSTGRES_CHANGES])
    realtime = events[events["source"] == EventSource.REALTIME]
    return [float(v) for v in realtime["latency_ms"].dropna()]


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-th percentile of ``values``, NaN when there are none."""
    return float(np.percentile(values, q)) if values else float("nan")


def _collector_rate(
    url: str, keys: Keys, rows: int, *, fast_decode: bool = False, history: bool = False
) -> float:
    with (
        bulk_inserter(url, keys, rows) as go,
        tempfile.TemporaryDirectory(prefix="rtdata-bench-history-") as folder,
    ):
        collector = start_collector(
            url, keys, fast_decode=fast_decode, history=Path(folder) if history else None
        )
        try:
            before = collector.status.events_total
            start_ns = go()
            # Timed by the receive time of the last event, so the waiting below (coarse, to
            # keep this thread off the GIL) does not count.
            deadline = time.perf_counter() + 300
            pause = threading.Event()
            while collector.status.events_total - before < rows and time.perf_counter() < deadline:
                pause.wait(0.1)
            last = collector.status.last_event_at
            assert last is not None
            elapsed_s: float = last.timestamp() - start_ns / 1e9
            return rows / elapsed_s
        finally:
            collector.stop()  # closes the history writer: every event it took is in Parquet


def bench_ingest(rows: int = 20_000, rounds: int = 5) -> list[Figure]:
    """Collector throughput on one stream beside the bare official client's, alternating runs
    on one server and keeping each side's best round; also the collector with the optional
    fast decode path (:mod:`rtdata.fastpath`), and both again with history on disk."""
    keys = Keys.for_secret()
    bare, ours, fast, ours_history, fast_history = [], [], [], [], []
    with server_process() as url:
        for _ in range(rounds):
            bare.append(asyncio.run(official_client_rate(url, keys, rows)))
            ours.append(_collector_rate(url, keys, rows))
            ours_history.append(_collector_rate(url, keys, rows, history=True))
            fast.append(_collector_rate(url, keys, rows, fast_decode=True))
            fast_history.append(_collector_rate(url, keys, rows, fast_decode=True, history=True))
    best_bare, best_ours, best_fast = max(bare), max(ours), max(fast)
    best_ours_history, best_fast_history = max(ours_history), max(fast_history)
    return [
        Figure("ingest.bare_client_eps", best_bare, "events/s", f"official realtime-py client, no-op callback, {rows:,} inserts from another process, best of {rounds}"),
        Figure("ingest.collector_eps", best_ours, "events/s", f"Collector on the same stream (buffer, tables, metrics), best of {rounds}", "ingest.bare_client_eps"),
        Figure("ingest.ratio", best_ours / best_bare, "×", "collector ÷ bare client (target ≥ 0.9)"),
        Figure("ingest.fast_collector_eps", best_fast, "events/s", f"Collector with fast_decode = true, same stream, best of {rounds}", "ingest.bare_client_eps"),
        Figure("ingest.fast_ratio", best_fast / best_bare, "×", "fast-decode collector ÷ bare client (stretch target ≥ 3)"),
        Figure("ingest.history_collector_eps", best_ours_history, "events/s", f"Collector with history on disk (HistoryWriter defaults), same stream, best of {rounds}", "ingest.collector_eps"),
        Figure("ingest.history_slowdown", best_ours / best_ours_history, "×", "collector throughput without history ÷ with it (target ≤ 1.10)"),
        Figure("ingest.fast_history_collector_eps", best_fast_history, "events/s", f"fast-decode Collector with history on disk, same stream, best of {rounds}", "ingest.fast_collector_eps"),
        Figure("ingest.fast_history_slowdown", best_fast / best_fast_history, "×", "fast-decode collector throughput without history ÷ with it (target ≤ 1.10)"),
    ]  # fmt: skip


async def _bare_latencies(
    url: str, keys: Keys, rate_per_s: float, duration_s: float
) -> list[float]:
    from rtdata.events import parse_commit_timestamp_ns

    latencies: list[float] = []
    expected = int(rate_per_s * duration_s * 0.95)
    enough = asyncio.Event()

    def record(payload: Any) -> None:
        received = time.time_ns()
        latencies.append(
            (received - parse_commit_timestamp_ns(payload["data"]["commit_timestamp"])) / 1e6
        )
        if len(latencies) >= expected:
            enough.set()

    async with official_client(url, keys, "bench-latency", "INSERT", record):
        writer = writer_process(url, keys, rate_per_s, duration_s)
        await asyncio.to_thread(writer.join)
        await asyncio.wait_for(enough.wait(), 60)
        return latencies


def _collector_latencies(url: str, keys: Keys, rate_per_s: float, duration_s: float) -> list[float]:
    collector = start_collector(url, keys)
    try:
        since = datetime.now(UTC)
        writer = writer_process(url, keys, rate_per_s, duration_s)
        writer.join()
        expected = int(rate_per_s * duration_s * 0.95)
        done = threading.Event()
        deadline = time.perf_counter() + 60
        while collector.status.events_total < expected and time.perf_counter() < deadline:
            done.wait(0.05)
        return realtime_latencies_ms(collector.buffer, since)
    finally:
        collector.stop()


def bench_latency(rate_per_s: float = 2000.0, duration_s: float = 8.0) -> list[Figure]:
    """Commit → buffer latency of the collector at a steady write rate, beside commit →
    callback latency of the bare official client at the same rate."""
    keys = Keys.for_secret()
    with server_process() as url:
        bare = asyncio.run(_bare_latencies(url, keys, rate_per_s, duration_s))
    with server_process() as url:
        ours = _collector_latencies(url, keys, rate_per_s, duration_s)

    p = percentile
    return [
        Figure("latency.rate_eps", rate_per_s, "changes/s", f"steady inserts for {duration_s:g} s from another process"),
        Figure("latency.bare_p50_ms", p(bare, 50), "ms", "commit → official client callback, p50"),
        Figure("latency.bare_p99_ms", p(bare, 99), "ms", "commit → official client callback, p99"),
        Figure("latency.p50_ms", p(ours, 50), "ms", "commit → collector buffer, p50", "latency.bare_p50_ms"),
        Figure("latency.p99_ms", p(ours, 99), "ms", "commit → collector buffer, p99 (target ≤ 50 ms)", "latency.bare_p99_ms"),
        Figure("latency.samples", float(len(ours)), "events", "realtime events in the collector's sample"),
    ]  # fmt: skip
