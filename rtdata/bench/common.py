"""What every benchmark section shares: :class:`Figure`, a server in its own process, REST
writers and the official client as the baseline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from rtdata.server.auth import Keys

__all__ = [
    "VITALS",
    "Figure",
    "bulk_inserter",
    "insert_vitals",
    "official_client",
    "official_client_rate",
    "rest_client",
    "server_process",
    "start_collector",
    "write_at_rate",
    "writer_process",
]

VITALS: Final = {
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
def server_process(db: str = "memory", started: list[float] | None = None) -> Iterator[str]:
    """Run ``rtdata serve --db DB`` on a free port in a child process; yield its URL.

    Args:
        db: The server's database (``memory``, ``embedded`` or a URL).
        started: When given, the seconds from launch to the server's first line (listening,
            with the schema migrated) are appended to it, and the child's pid after them.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "rtdata.cli", "serve", "--port", str(port), "--db", db]
    launched = time.perf_counter()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            if "listening on" not in first:
                raise RuntimeError(f"rtdata serve did not start: {first!r}")
            if started is not None:
                started += [time.perf_counter() - launched, float(proc.pid)]
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def rest_client(url: str, keys: Keys) -> httpx.Client:
    headers = {
        "apikey": keys.service,
        "Authorization": f"Bearer {keys.service}",
        "Prefer": "return=minimal",
    }
    return httpx.Client(base_url=f"{url}/rest/v1", headers=headers, timeout=60)


def insert_vitals(url: str, keys: Keys, total: int, batch: int = 1000) -> float:
    """Insert ``total`` vital-sign rows in batches; return the elapsed seconds."""
    rows = [VITALS] * batch
    start = time.perf_counter()
    with rest_client(url, keys) as http:
        for offset in range(0, total, batch):
            response = http.post("/vital_signs", json=rows[: min(batch, total - offset)])
            response.raise_for_status()
    return time.perf_counter() - start


@contextlib.asynccontextmanager
async def official_client(
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
    """Events/s one official realtime-py client consumes (no-op callback) from ``url``, while
    ``rows`` vital-sign rows are inserted from another process."""
    got, last_ns = 0, 0
    done = asyncio.Event()

    def count(_payload: Any) -> None:
        nonlocal got, last_ns
        got += 1
        if got >= rows:
            last_ns = time.time_ns()
            done.set()

    with bulk_inserter(url, keys, rows) as go:
        async with official_client(url, keys, "bench-official", "*", count):
            start_ns = go()
            await asyncio.wait_for(done.wait(), timeout=300)
            return rows / ((last_ns - start_ns) / 1e9)


def _insert_on_signal(url: str, key: str, rows: int, ready: Any, go: Any) -> None:
    # Runs in a child process: imports and connections are done before the parent's clock starts.
    keys = Keys(anon=key, service=key)
    ready.set()
    go.wait()
    insert_vitals(url, keys, rows)


@contextlib.contextmanager
def bulk_inserter(url: str, keys: Keys, rows: int) -> Iterator[Callable[[], int]]:
    """Prepare a child process that inserts ``rows`` vital signs as fast as REST takes them.

    Yields ``go()``, which starts the inserts and returns the start time (epoch ns). The
    inserter never shares a GIL with what is measured. On exit the child is joined, and the
    table is emptied so every round sees the same table size.
    """
    context = multiprocessing.get_context("spawn")
    ready, start = context.Event(), context.Event()
    process = context.Process(
        target=_insert_on_signal, args=(url, keys.service, rows, ready, start)
    )
    process.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the bench inserter process did not start")

        def go() -> int:
            start_ns = time.time_ns()
            start.set()
            return start_ns

        yield go
        process.join(300)
    finally:
        if process.is_alive():
            process.kill()
        process.join()
    with rest_client(url, keys) as http:
        http.delete("/vital_signs", params={"id": "gt.0"}).raise_for_status()


def write_at_rate(url: str, key: str, rate_per_s: float, duration_s: float) -> None:
    """Insert vital-sign rows at ``rate_per_s`` for ``duration_s`` (runs in a child process)."""
    batch = max(1, int(rate_per_s / 100))  # 100 requests a second
    interval_s = batch / rate_per_s
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Prefer": "return=minimal"}
    rows = [VITALS] * batch
    with httpx.Client(base_url=f"{url}/rest/v1", headers=headers, timeout=30) as http:
        start = time.perf_counter()
        due = start
        while due - start < duration_s:
            http.post("/vital_signs", json=rows).raise_for_status()
            due += interval_s
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing a load generator, not synchronisation


def writer_process(url: str, keys: Keys, rate_per_s: float, duration_s: float) -> Any:
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=write_at_rate, args=(url, keys.service, rate_per_s, duration_s)
    )
    process.start()
    return process


def start_collector(
    url: str, keys: Keys, *, fast_decode: bool = False, history: Path | None = None
) -> Any:
    """Start a Collector following vital_signs only (periodic resync off); wait until
    SUBSCRIBED. ``fast_decode`` turns on :mod:`rtdata.fastpath`; with ``history``, every event
    is also written to a history under that folder (:class:`rtdata.history.HistoryWriter`
    with its defaults)."""
    from rtdata.collector import Collector
    from rtdata.config import DEFAULT_CONFIG
    from rtdata.history import HistoryWriter
    from rtdata.settings import Settings

    connection = dataclasses.replace(
        DEFAULT_CONFIG.connection, resync_interval_s=0.0, fast_decode=fast_decode
    )
    config = dataclasses.replace(DEFAULT_CONFIG, connection=connection)
    # The stream's table grows by every round; its first snapshot is not what is measured.
    settings = Settings(config=config, tables={"vital_signs": ("id",)}, connect_timeout_s=300)
    writer = None if history is None else HistoryWriter(history)
    return Collector(settings.with_project(url, keys.service), history=writer).start(wait=True)
