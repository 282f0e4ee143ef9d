"""Benchmarks behind ``rtdata bench``: every figure is measured beside its baseline, in one run.

Sections (``--only`` picks some):

* ``server``: postgres_changes frames the local server delivers per second to 1 and to 10 raw
  websocket readers, REST bulk-insert rows per second, and, as the baseline, how many frames per
  second one official realtime-py client consumes from the same server.
* ``ingest``: the collector's throughput on one stream beside the bare official client's.
* ``latency``: commit → buffer latency percentiles at a steady write rate.
* ``buffer``: EventBuffer append rate beside per-row ``pd.concat``, snapshot time and memory.
* ``history``: HistoryWriter throughput beside one ``DataFrame.to_parquet``, the collector's
  ingest slowdown with history on, and a DuckDB table × hour aggregate over 10M events beside
  pandas over 1M.

The server always runs in its own process (``rtdata serve``), so it never shares the GIL with
what is measured. Absolute numbers vary between machines and runs; compare ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import httpx
import numpy as np
import orjson

from rtdata.server.auth import Keys

__all__ = ["SECTIONS", "Figure", "render_markdown", "run"]

SECTIONS: Final = ("server", "ingest", "latency", "buffer", "history", "pages")
"""Benchmark sections, in the order they run."""

_VITALS: Final = {
    "patient_id": "P-0001",
    "hospital_id": 1,
    "heart_rate": 72,
    "systolic": 120,
    "diastolic": 80,
    "spo2": 98,
    "temperature": 36.7,
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure.

    Attributes:
        key: Dotted name, for example ``server.frames_1_client_fps``.
        value: The measurement.
        unit: Unit of ``value``.
        what: One line saying what was measured.
        baseline: Key of the figure it should be read against, if any.
    """

    key: str
    value: float
    unit: str
    what: str
    baseline: str | None = None


# ---------------------------------------------------------------- a server in its own process


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    """Run ``rtdata serve`` on a free port in a child process; yield its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "rtdata.cli", "serve", "--port", str(port)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            if "listening on" not in first:
                raise RuntimeError(f"rtdata serve did not start: {first!r}")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _rest(url: str, keys: Keys) -> httpx.Client:
    headers = {
        "apikey": keys.service,
        "Authorization": f"Bearer {keys.service}",
        "Prefer": "return=minimal",
    }
    return httpx.Client(base_url=f"{url}/rest/v1", headers=headers, timeout=60)


def insert_vitals(url: str, keys: Keys, total: int, batch: int = 1000) -> float:
    """Insert ``total`` vital-sign rows in batches; return the elapsed seconds."""
    rows = [_VITALS] * batch
    start = time.perf_counter()
    with _rest(url, keys) as http:
        for offset in range(0, total, batch):
            response = http.post("/vital_signs", json=rows[: min(batch, total - offset)])
            response.raise_for_status()
    return time.perf_counter() - start


async def _raw_reader(
    session: aiohttp.ClientSession, url: str, key: str, want: int, ready: asyncio.Event
) -> int:
    ws_url = f"{url}/realtime/v1/websocket?apikey={key}&vsn=1.0.0"
    async with session.ws_connect(ws_url, max_msg_size=0) as ws:
        binding = {"event": "*", "schema": "public", "table": "vital_signs"}
        join = {
            "topic": "realtime:bench",
            "event": "phx_join",
            "payload": {"config": {"postgres_changes": [binding]}},
            "ref": "1",
            "join_ref": "1",
        }
        await ws.send_str(orjson.dumps(join).decode())
        while '"system"' not in await ws.receive_str():
            pass
        ready.set()
        got = 0
        while got < want:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            if '"postgres_changes"' in message.data:
                got += 1
        return got


async def _delivery(url: str, keys: Keys, clients: int, rows: int) -> tuple[float, float]:
    """Return (delivered frames/s across ``clients`` raw readers, REST insert rows/s)."""
    async with aiohttp.ClientSession() as session:
        readies = [asyncio.Event() for _ in range(clients)]
        readers = [
            asyncio.create_task(_raw_reader(session, url, keys.anon, rows, ready))
            for ready in readies
        ]
        for ready in readies:
            await ready.wait()
        start = time.perf_counter()
        insert_s = await asyncio.to_thread(insert_vitals, url, keys, rows)
        delivered = sum(await asyncio.gather(*readers))
        elapsed_s = time.perf_counter() - start
    return delivered / elapsed_s, rows / insert_s


@contextlib.asynccontextmanager
async def _official_client(
    url: str, keys: Keys, channel_name: str, event: str, callback: Callable[[Any], None]
) -> AsyncIterator[None]:
    """Subscribe one official realtime-py client to vital_signs changes; close it on exit."""
    from realtime import AsyncRealtimeClient, RealtimePostgresChangesListenEvent

    client = AsyncRealtimeClient(f"{url}/realtime/v1", token=keys.anon)
    await client.connect()
    try:
        channel = client.channel(channel_name)
        channel.on_postgres_changes(
            RealtimePostgresChangesListenEvent(event),
            schema="public",
            table="vital_signs",
            callback=callback,
        )
        await channel.subscribe()
        yield
    finally:
        await client.close()


async def official_client_rate(url: str, keys: Keys, rows: int) -> float:
    """Frames/s one official realtime-py client consumes (no-op callback) from ``url``."""
    got, last_ns = 0, 0
    done = asyncio.Event()

    def count(_payload: Any) -> None:
        nonlocal got, last_ns
        got += 1
        if got >= rows:
            last_ns = time.time_ns()
            done.set()

    async with _official_client(url, keys, "bench-official", "*", count):
        start_ns = time.time_ns()
        await asyncio.to_thread(insert_vitals, url, keys, rows)
        await asyncio.wait_for(done.wait(), timeout=300)
        return rows / ((last_ns - start_ns) / 1e9)


def bench_server(rows: int = 20_000) -> list[Figure]:
    """Measure the local server's delivery and REST rates against one official client."""
    keys = Keys.for_secret()
    figures = []
    with server_process() as url:
        one_fps, insert_rps = asyncio.run(_delivery(url, keys, 1, rows))
        ten_fps, _ = asyncio.run(_delivery(url, keys, 10, rows // 2))
        official_fps = asyncio.run(official_client_rate(url, keys, rows // 2))
    figures += [
        Figure("server.official_client_fps", official_fps, "frames/s", "one realtime-py client, no-op callback"),
        Figure("server.frames_1_client_fps", one_fps, "frames/s", "delivered to 1 raw reader", "server.official_client_fps"),
        Figure("server.frames_10_clients_fps", ten_fps, "frames/s", "delivered to 10 raw readers in total", "server.official_client_fps"),
        Figure("server.rest_insert_rows_per_s", insert_rps, "rows/s", "REST bulk insert, 1,000 rows a request"),
        Figure("server.ratio_1_client", one_fps / official_fps, "×", "1-reader delivery ÷ official client"),
        Figure("server.ratio_10_clients", ten_fps / official_fps, "×", "10-reader delivery ÷ official client"),
    ]  # fmt: skip
    return figures


def bench_buffer(rows: int = 1_000_000, concat_rows: int = 2_000) -> list[Figure]:
    """Measure EventBuffer append, snapshot and memory against naive pandas growth.

    Events are typical change rows: an ``emergency_requests`` record as ~260 bytes of JSON
    text with 11 fields, a key, and an old record on one event in ten.
    """
    import gc
    import os
    import statistics
    from collections import deque

    import pandas as pd

    from rtdata.buffer import EventBuffer
    from rtdata.events import Event

    base_ns = 1_714_557_600_000_000_000
    streets = ("Oak Ave", "Main St", "Mill Lane", "Harbour Rd", "Elm Close")
    emergencies = ("cardiac", "trauma", "respiratory", "stroke", "burns")

    def typical(i: int) -> Event:
        record = (
            f'{{"id":{i},"hospital_id":{i % 40 + 1},"patient_name":"Patient {i % 99991:05d}",'
            f'"emergency_type":"{emergencies[i % 5]}","priority":{i % 5 + 1},"status":"pending",'
            f'"lat":{51.3 + i % 9973 / 1e4:.4f},"lon":{-0.4 + i % 7919 / 1e4:.4f},'
            f'"pickup_address":"{i % 400 + 1} {streets[i % 5]}",'
            f'"created_at":"2024-05-01T10:00:00+00:00","updated_at":"2024-05-01T10:00:00+00:00"}}'
        )
        update = i % 10 == 9
        return Event(
            received_at_ns=base_ns + i * 100_000,
            commit_ns=base_ns + i * 100_000 - 2_000_000,
            kind="postgres_changes",
            channel="hospital",
            table="emergency_requests",
            op="UPDATE" if update else "INSERT",
            key=str(i),
            record=record,
            old_record=record.replace('"pending"', '"accepted"') if update else None,
        )

    def resident_bytes() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    # Memory first, while the heap holds little else: events are made and appended 10,000 at
    # a time, so the growth is the buffer's (plus at most one batch of freed events).
    gc.collect()
    before = resident_bytes()
    buffer = EventBuffer(max_rows=rows)
    for start in range(0, rows, 10_000):
        buffer.extend([typical(i) for i in range(start, min(start + 10_000, rows))])
    gc.collect()
    bytes_per_event = (resident_bytes() - before) / len(buffer)
    nbytes_per_event = buffer.nbytes / len(buffer)

    snapshot_s = []
    for _ in range(5):
        start_s = time.perf_counter()
        frame = buffer.snapshot()
        snapshot_s.append(time.perf_counter() - start_s)
        del frame
    del buffer

    events = [typical(i) for i in range(rows)]
    buffer = EventBuffer(max_rows=rows)
    start_s = time.perf_counter()
    for event in events:
        buffer.append(event)
    append_eps = rows / (time.perf_counter() - start_s)
    del buffer

    # field-notes §4: a deque of dict rows, made into a DataFrame on every read.
    recent = deque(
        (
            {
                "received_at_ns": e.received_at_ns,
                "commit_ns": e.commit_ns,
                "kind": e.kind,
                "channel": e.channel,
                "table": e.table,
                "op": e.op,
                "key": e.key,
                "record": e.record,
                "old_record": e.old_record,
                "source": e.source,
            }
            for e in events
        ),
        maxlen=rows,
    )
    baseline_s = []
    for _ in range(3):
        start_s = time.perf_counter()
        frame = pd.DataFrame(list(recent))
        baseline_s.append(time.perf_counter() - start_s)
        del frame
    del recent

    grown = pd.DataFrame()
    start_s = time.perf_counter()
    for event in events[:concat_rows]:
        row = pd.DataFrame([event._asdict()])
        grown = pd.concat([grown, row], ignore_index=True)
    concat_eps = concat_rows / (time.perf_counter() - start_s)
    del events, grown

    snapshot_ms = statistics.median(snapshot_s) * 1e3
    baseline_ms = statistics.median(baseline_s) * 1e3
    return [
        Figure("buffer.naive_concat_eps", concat_eps, "events/s", f"per-row pd.concat growing a DataFrame to {concat_rows:,} rows (quadratic: slower as it grows)"),
        Figure("buffer.append_eps", append_eps, "events/s", f"EventBuffer.append of {rows:,} pre-built typical events", "buffer.naive_concat_eps"),
        Figure("buffer.append_vs_concat_ratio", append_eps / concat_eps, "×", "append rate ÷ per-row pd.concat rate"),
        Figure("buffer.snapshot_baseline_ms", baseline_ms, "ms", f"pd.DataFrame(list(deque)) of {rows:,} dict rows (field-notes §4), median of 3; raw int and str columns, no timestamps or categoricals"),
        Figure("buffer.snapshot_1m_ms", snapshot_ms, "ms", f"EventBuffer.snapshot() of {rows:,} events, typed columns, median of 5", "buffer.snapshot_baseline_ms"),
        Figure("buffer.bytes_per_event", bytes_per_event, "B", f"resident-set growth (/proc/self/statm) filling a {rows:,}-event buffer in 10,000-event batches, ÷ events"),
        Figure("buffer.nbytes_per_event", nbytes_per_event, "B", "the buffer's own estimate (EventBuffer.nbytes) ÷ events", "buffer.bytes_per_event"),
    ]  # fmt: skip


# ---------------------------------------------------------------- ingest and latency


def _write_at_rate(url: str, key: str, rate_per_s: float, duration_s: float) -> None:
    """Insert vital-sign rows at ``rate_per_s`` for ``duration_s`` (runs in a child process)."""
    batch = max(1, int(rate_per_s / 100))  # 100 requests a second
    interval_s = batch / rate_per_s
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Prefer": "return=minimal"}
    rows = [_VITALS] * batch
    with httpx.Client(base_url=f"{url}/rest/v1", headers=headers, timeout=30) as http:
        start = time.perf_counter()
        due = start
        while due - start < duration_s:
            http.post("/vital_signs", json=rows).raise_for_status()
            due += interval_s
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing a load generator, not synchronisation


def _writer(url: str, keys: Keys, rate_per_s: float, duration_s: float) -> Any:
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=_write_at_rate, args=(url, keys.service, rate_per_s, duration_s)
    )
    process.start()
    return process


def _collector(url: str, keys: Keys) -> Any:
    from rtdata.collector import Collector
    from rtdata.config import DEFAULT_CONFIG
    from rtdata.settings import Settings

    connection = dataclasses.replace(DEFAULT_CONFIG.connection, resync_interval_s=0.0)
    config = dataclasses.replace(DEFAULT_CONFIG, connection=connection)
    # The stream's table grows by every round; its first snapshot is not what is measured.
    settings = Settings(config=config, tables={"vital_signs": ("id",)}, connect_timeout_s=300)
    return Collector(settings.with_project(url, keys.service)).start(wait=True)


def _collector_rate(url: str, keys: Keys, rows: int) -> float:
    collector = _collector(url, keys)
    try:
        before = collector.status.events_total
        start_ns = time.time_ns()
        insert_vitals(url, keys, rows)
        # Timed by the receive time of the last event, so the waiting below (coarse, to keep
        # this thread off the GIL) does not count.
        deadline = time.perf_counter() + 300
        pause = threading.Event()
        while collector.status.events_total - before < rows and time.perf_counter() < deadline:
            pause.wait(0.1)
        last = collector.status.last_event_at
        assert last is not None
        elapsed_s: float = last.timestamp() - start_ns / 1e9
        return rows / elapsed_s
    finally:
        collector.stop()


def bench_ingest(rows: int = 20_000, rounds: int = 3) -> list[Figure]:
    """Collector throughput on one stream beside the bare official client's, alternating runs
    on one server and keeping each side's best round."""
    keys = Keys.for_secret()
    bare, ours = [], []
    with server_process() as url:
        for _ in range(rounds):
            bare.append(asyncio.run(official_client_rate(url, keys, rows)))
            ours.append(_collector_rate(url, keys, rows))
    best_bare, best_ours = max(bare), max(ours)
    return [
        Figure("ingest.bare_client_eps", best_bare, "events/s", f"official realtime-py client, no-op callback, {rows:,} inserts, best of {rounds}"),
        Figure("ingest.collector_eps", best_ours, "events/s", f"Collector on the same stream (buffer, tables, metrics), best of {rounds}", "ingest.bare_client_eps"),
        Figure("ingest.ratio", best_ours / best_bare, "×", "collector ÷ bare client (target ≥ 0.9)"),
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

    async with _official_client(url, keys, "bench-latency", "INSERT", record):
        writer = _writer(url, keys, rate_per_s, duration_s)
        await asyncio.to_thread(writer.join)
        await asyncio.wait_for(enough.wait(), 60)
        return latencies


def _collector_latencies(url: str, keys: Keys, rate_per_s: float, duration_s: float) -> list[float]:
    collector = _collector(url, keys)
    try:
        since = datetime.now(UTC)
        writer = _writer(url, keys, rate_per_s, duration_s)
        writer.join()
        expected = int(rate_per_s * duration_s * 0.95)
        done = threading.Event()
        deadline = time.perf_counter() + 60
        while collector.status.events_total < expected and time.perf_counter() < deadline:
            done.wait(0.05)
        events = collector.buffer.snapshot(since=since, kinds=["postgres_changes"])
        realtime = events[events["source"] == "realtime"]
        return [float(v) for v in realtime["latency_ms"].dropna()]
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

    def p(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    return [
        Figure("latency.rate_eps", rate_per_s, "changes/s", f"steady inserts for {duration_s:g} s from another process"),
        Figure("latency.bare_p50_ms", p(bare, 50), "ms", "commit → official client callback, p50"),
        Figure("latency.bare_p99_ms", p(bare, 99), "ms", "commit → official client callback, p99"),
        Figure("latency.p50_ms", p(ours, 50), "ms", "commit → collector buffer, p50", "latency.bare_p50_ms"),
        Figure("latency.p99_ms", p(ours, 99), "ms", "commit → collector buffer, p99 (target ≤ 50 ms)", "latency.bare_p99_ms"),
        Figure("latency.samples", float(len(ours)), "events", "realtime events in the collector's sample"),
    ]  # fmt: skip


# ---------------------------------------------------------------- history

_HOSPITAL_TABLES: Final = (
    "emergency_requests",
    "vital_signs",
    "profiles",
    "verification_requests",
    "hospitals",
)


def _history_events(rows: int) -> list[Any]:
    """Typical change events (~260-byte records, an UPDATE with old record in ten) spread over
    the five hospital tables, one every 100 µs."""
    from rtdata.events import Event

    base_ns = 1_714_557_600_000_000_000
    events = []
    for i in range(rows):
        record = (
            f'{{"id":{i},"hospital_id":{i % 40 + 1},"patient_name":"Patient {i % 99991:05d}",'
            f'"emergency_type":"cardiac","priority":{i % 5 + 1},"status":"pending",'
            f'"lat":{51.3 + i % 9973 / 1e4:.4f},"lon":{-0.4 + i % 7919 / 1e4:.4f},'
            f'"pickup_address":"{i % 400 + 1} Oak Ave","created_at":"2024-05-01T10:00:00+00:00",'
            f'"updated_at":"2024-05-01T10:00:00+00:00"}}'
        )
        update = i % 10 == 9
        received_ns = base_ns + i * 100_000
        events.append(
            Event(
                received_ns,
                received_ns - 2_000_000,
                "postgres_changes",
                "rtdata-tables",
                _HOSPITAL_TABLES[i % 5],
                "UPDATE" if update else "INSERT",
                str(i),
                record,
                record.replace('"pending"', '"accepted"') if update else None,
            )
        )
    return events


def _synthetic_history(root: Any, rows: int, files: int) -> list[Any]:
    """Write ``rows`` events as ``files`` files straight with pyarrow; return their paths.

    Two days, the five hospital tables, 1,000 distinct records, log-normal latencies."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from rtdata.history import SCHEMA

    rng = np.random.default_rng(0)
    records = pa.array(
        [f'{{"id":{i},"status":"pending","note":"{"x" * 200}"}}' for i in range(1000)]
    )
    per_file = rows // files
    paths = []
    for n in range(files):
        day, table = n % 2, _HOSPITAL_TABLES[n // 2 % 5]
        start_ns = 1_714_521_600_000_000_000 + day * 86_400_000_000_000
        received = np.sort(rng.integers(start_ns, start_ns + 86_400_000_000_000, per_file))
        latency_ms = rng.lognormal(1.0, 0.8, per_file)
        commit = received - (latency_ms * 1e6).astype(np.int64)
        constant = {"kind": "postgres_changes", "channel": "rtdata-tables", "table": table}
        columns = {
            "received_at": pa.array(received, pa.int64()).cast(SCHEMA.field("received_at").type),
            "commit_ts": pa.array(commit, pa.int64()).cast(SCHEMA.field("commit_ts").type),
            "latency_ms": pa.array(latency_ms),
            **{k: pa.array([v] * per_file, pa.string()) for k, v in constant.items()},
            "op": pa.array(rng.choice(["INSERT", "UPDATE"], per_file), pa.string()),
            "key": pa.array(np.arange(per_file).astype(str), pa.string()),
            "record": records.take(rng.integers(0, 1000, per_file)),
            "old_record": pa.nulls(per_file, pa.string()),
            "source": pa.array(["realtime"] * per_file, pa.string()),
        }
        folder = root / f"date=2024-05-0{day + 1}" / f"table={table}"
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"part-{n:06d}.parquet")
        pq.write_table(pa.table(columns, schema=SCHEMA), paths[-1], compression="zstd")
    return paths


def _p99(values: Any) -> float:
    return float(values.quantile(0.99))


def bench_history(
    rows: int = 1_000_000, ingest_rows: int = 200_000, big_rows: int = 10_000_000, rounds: int = 7
) -> list[Figure]:
    """Measure HistoryWriter throughput, the collector's ingest cost of history, and DuckDB
    aggregation over 10M events, each beside its baseline."""
    import gc
    import tempfile
    from pathlib import Path

    import pandas as pd

    from rtdata.collector import Collector
    from rtdata.events import Event
    from rtdata.history import HistoryWriter, aggregate_by_table_hour
    from rtdata.settings import Settings

    events = _history_events(rows)
    with tempfile.TemporaryDirectory(prefix="rtdata-bench-") as folder:
        root = Path(folder)
        start_s = time.perf_counter()
        with HistoryWriter(root / "writer") as writer:
            for event in events:
                writer.append(event)
        write_s = time.perf_counter() - start_s  # until every file is fsynced and visible
        if writer.stats().rows_written != rows or writer.stats().errors:
            raise RuntimeError(f"the history writer lost events: {writer.stats()}")

        start_s = time.perf_counter()
        frame = pd.DataFrame.from_records(events, columns=list(Event._fields))
        frame.to_parquet(root / "pandas.parquet", compression="zstd", index=False)
        pandas_write_s = time.perf_counter() - start_s
        del frame

        ingest = events[:ingest_rows]
        timings: dict[str, list[float]] = {"off": [], "queue": [], "on": []}
        for n in range(rounds):  # alternating, best of each: all see the same machine state
            for mode, times in timings.items():
                history = None if mode == "off" else HistoryWriter(root / f"{mode}-{n}")
                collector = Collector(Settings(), history=history)
                if history is not None and mode == "on":
                    history.start()  # its thread writes during the loop, as in production
                gc.collect()  # earlier rounds' collectors are garbage with reference cycles
                start_s = time.perf_counter()
                for event in ingest:
                    collector.ingest(event)
                times.append(time.perf_counter() - start_s)
                if history is not None:
                    history.close()
                del collector
        off_s, queue_s, on_s = (min(timings[mode]) for mode in ("off", "queue", "on"))
        del events, ingest

        files = _synthetic_history(root / "big", big_rows, 100)
        start_s = time.perf_counter()
        aggregate = aggregate_by_table_hour(root / "big")
        duckdb_s = time.perf_counter() - start_s
        if int(aggregate["events"].sum()) != big_rows:
            raise RuntimeError(f"the aggregate counts {aggregate['events'].sum()} events")

        start_s = time.perf_counter()
        columns = ["received_at", "table", "latency_ms"]
        small = pd.concat([pd.read_parquet(f, columns=columns) for f in files[:10]])
        small.groupby(["table", small["received_at"].dt.floor("h")])["latency_ms"].agg(
            ["count", "mean", _p99]
        )
        pandas_s = time.perf_counter() - start_s
        small_rows = len(small)

    return [
        Figure("history.baseline_write_eps", rows / pandas_write_s, "events/s", f"pd.DataFrame.from_records of the same {rows:,} events (raw int times) + one to_parquet (zstd)"),
        Figure("history.write_eps", rows / write_s, "events/s", f"HistoryWriter: append {rows:,} typical events over 5 tables, then close (all files fsynced, renamed, visible; target ≥ 100,000)", "history.baseline_write_eps"),
        Figure("history.ingest_off_s", off_s, "s", f"Collector.ingest of {ingest_rows:,} events, history off, best of {rounds}"),
        Figure("history.ingest_queue_only_s", queue_s, "s", "the same with a HistoryWriter not started: the hot path's own cost (one deque append)", "history.ingest_off_s"),
        Figure("history.ingest_on_s", on_s, "s", f"the same with a running HistoryWriter (its thread converts to Arrow and writes during the loop), best of {rounds}", "history.ingest_off_s"),
        Figure("history.ingest_slowdown", on_s / off_s, "×", "ingest time with history ÷ without (target ≤ 1.10)"),
        Figure("history.pandas_aggregate_1m_s", pandas_s, "s", f"pd.read_parquet (3 columns) of 10 files ({small_rows:,} rows) + groupby table × hour: count, mean, p99 latency"),
        Figure("history.load_aggregate_10m_s", duckdb_s, "s", f"aggregate_by_table_hour over {big_rows:,} events in 100 files (DuckDB; first call: footers validated; target ≤ 2 s)", "history.pandas_aggregate_1m_s"),
    ]  # fmt: skip


# ---------------------------------------------------------------- pages

PAGE_FILES: Final = (
    "overview.py",
    "emergencies.py",
    "health.py",
    "realtime_health.py",
    "events.py",
    "presence.py",
)


def _page_collector(events: int) -> Any:
    """A collector (not started) with hospital tables and ``events`` buffered changes."""
    from rtdata.collector import Collector
    from rtdata.events import Event, event_from_row
    from rtdata.settings import Settings
    from rtdata.simulate import HospitalScenario

    collector = Collector(Settings(url="http://127.0.0.1:9", key="unused"))
    scenario = HospitalScenario(seed=1)
    now = datetime.now(UTC)
    next_id: dict[str, int] = {}
    for _ in range(3000):  # realistic table state from the scenario's own writes
        write = scenario.next_write(now)
        if write.method != "POST":
            continue
        rows = []
        for row in write.rows():
            if "id" not in row:
                next_id[write.table] = next_id.get(write.table, 0) + 1
                row = {**row, "id": next_id[write.table]}
            rows.append(row)
            collector.ingest(event_from_row(row, write.table, time.time_ns(), ("id",)))
        scenario.apply_result(write, rows)
    base = time.time_ns() - events * 1000
    record = orjson.dumps({"id": 1, "status": "pending", "priority": 2, "hospital_id": 1}).decode()
    collector.buffer.extend(
        Event(base + i * 1000, base + i * 1000 - 3_000_000, "postgres_changes", "rtdata-tables",
              "emergency_requests", "UPDATE", str(i % 5000), record, None)
        for i in range(events)
    )  # fmt: skip
    return collector


def _render_ms(page: Path, runs: int = 3) -> float:
    # Streamlit's own test harness renders a page server-side exactly as a session would; it is
    # imported here only, so rtdata.ui stays the one module that uses Streamlit at run time.
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs):
        app = AppTest.from_file(str(page), default_timeout=120)
        start = time.perf_counter()
        app.run()
        times.append((time.perf_counter() - start) * 1000)
        if app.exception:
            raise RuntimeError(f"{page.name} raised: {app.exception[0].message}")
    return float(np.median(times))


def bench_pages(events: int = 1_000_000) -> list[Figure]:
    """Server-side render time of each page with ``events`` buffered, beside the same page on an
    empty buffer (median of 3 runs each, Streamlit's AppTest)."""
    from rtdata import ui

    root = Path(__file__).resolve().parent.parent / "pages"
    if not root.is_dir():
        raise RuntimeError("the pages/ folder is needed (run from an rtdata checkout)")
    figures = []
    empty, full = _page_collector(0), _page_collector(events)
    try:
        for name in PAGE_FILES:
            stem = name.removesuffix(".py")
            ui.use_collector(empty)
            base_ms = _render_ms(root / name)
            ui.use_collector(full)
            ms = _render_ms(root / name)
            figures.append(
                Figure(f"pages.{stem}_empty_ms", base_ms, "ms", f"{stem} page, empty buffer")
            )
            figures.append(
                Figure(f"pages.{stem}_1m_ms", ms, "ms", f"{stem} page, {events:,} events buffered (target ≤ 300 ms)", f"pages.{stem}_empty_ms")
            )  # fmt: skip
    finally:
        ui.use_collector(None)
    return figures


_RUNNERS: Final[dict[str, Callable[[], list[Figure]]]] = {
    "server": bench_server,
    "ingest": bench_ingest,
    "latency": bench_latency,
    "buffer": bench_buffer,
    "history": bench_history,
    "pages": bench_pages,
}
"""Sections implemented so far."""


def run(
    sections: Sequence[str] = SECTIONS, progress: Callable[[str], None] = lambda _: None
) -> list[Figure]:
    """Run the named sections in order and return their figures.

    Raises:
        ValueError: An unknown section name.
    """
    figures: list[Figure] = []
    for name in sections:
        runner = _RUNNERS.get(name)
        if runner is None:
            raise ValueError(
                f"unknown benchmark section {name!r}; choose from {', '.join(_RUNNERS)}"
            )
        progress(name)
        figures += runner()
    return figures


def render_markdown(figures: Sequence[Figure]) -> str:
    """Render figures as a markdown table with their baselines beside them."""
    by_key = {f.key: f for f in figures}
    lines = ["| figure | value | baseline (same run) | what |", "|---|---:|---:|---|"]
    for f in figures:
        base = by_key.get(f.baseline) if f.baseline else None
        base_text = f"{_number(base)} (`{base.key}`)" if base else ""
        lines.append(f"| `{f.key}` | {_number(f)} | {base_text} | {f.what} |")
    return "\n".join(lines)


def _number(figure: Figure) -> str:
    digits = 2 if figure.unit == "×" else 1
    return f"{figure.value:,.{digits}f} {figure.unit}"


def to_json(figures: Sequence[Figure]) -> dict[str, float]:
    """Return ``{key: value}`` for ``--json``."""
    return {f.key: round(f.value, 3) for f in figures}
