"""The slot change reader under load: decode throughput, commit→decoded latency and idle CPU.

Run ``python -m rtdata.bench.wal [seconds] [rate]`` (defaults 10 s at 2,000 changes/s). An
embedded cluster is started (or ``RTDATA_TEST_DB`` used), a table is published, a writer thread
commits one-row transactions at ``rate`` over a plain psycopg connection, and a
:class:`~rtdata.server.postgres.wal.ChangeReader` hands them to a listener that records, per
change, the wall clock minus the commit time. Then the reader idles for ``seconds`` and the CPU
of this process and of the reader's Postgres backend is measured.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from rtdata.server.postgres.cluster import EmbeddedPostgres
from rtdata.server.postgres.shape import prepare
from rtdata.server.postgres.wal import ChangeReader
from rtdata.server.store import Change

__all__ = ["main", "measure"]

_TICK_S = 0.01


def _writer(dsn: str, rate: float, seconds: float, stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.monotonic()
        sent = 0
        total = int(seconds * rate)
        while sent < total and not stop.is_set():
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while sent < due:
                conn.execute("insert into bench_events (value) values (%s)", (sent,))
                sent += 1
            stop.wait(_TICK_S)  # pacing the load generator, not synchronising a test


def _backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(dsn: str, seconds: float = 10.0, rate: float = 2000.0) -> dict[str, Any]:
    """Measure the reader on the database ``dsn`` (which :func:`prepare` shapes).

    Returns:
        ``changes``, ``throughput_cps`` (changes decoded per second of load), ``latency_p50_ms``
        and ``latency_p99_ms`` (commit to decoded), ``idle_cpu_percent`` (this process) and
        ``idle_backend_cpu_percent`` (the reader's Postgres backend) over ``seconds`` idle.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        prepare(conn)
        conn.execute("create table bench_events (id bigserial primary key, value int)")
        conn.execute("alter publication supabase_realtime add table bench_events")
    latencies_ms: list[float] = []
    expected = int(seconds * rate)

    def listener(changes: list[Change]) -> None:
        now_ns = time.time_ns()
        latencies_ms.extend((now_ns - c.commit_ns) / 1e6 for c in changes)
        if len(latencies_ms) >= expected:
            reader.stop()

    reader = ChangeReader(dsn, slot=f"bench_{uuid.uuid4().hex[:8]}")
    await reader.open()
    stop = threading.Event()
    try:
        writer = threading.Thread(target=_writer, args=(dsn, rate, seconds, stop), daemon=True)
        started = time.monotonic()
        writer.start()
        await asyncio.wait_for(reader.run(listener), seconds * 3 + 30)
        load_s = time.monotonic() - started
        writer.join()
        backend = reader._connection().info.backend_pid
        cpu0, backend0, wall0 = time.process_time(), _backend_cpu_s(backend), time.monotonic()
        idle = asyncio.create_task(reader.run(listener))
        await asyncio.sleep(seconds)  # the measured idle period itself
        reader.stop()
        await idle
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        backend_cpu = _backend_cpu_s(backend) - backend0
        await reader.drop_slot()
    finally:
        stop.set()
        await reader.close()
    ordered = sorted(latencies_ms)
    return {
        "changes": len(ordered),
        "throughput_cps": round(len(ordered) / load_s),
        "latency_p50_ms": round(statistics.median(ordered), 1),
        "latency_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 1),
        "idle_cpu_percent": round(100 * cpu / wall, 2),
        "idle_backend_cpu_percent": round(100 * backend_cpu / wall, 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Run :func:`measure` on a fresh database and print the figures."""
    args = sys.argv[1:] if argv is None else argv
    seconds = float(args[0]) if args else 10.0
    rate = float(args[1]) if len(args) > 1 else 2000.0
    external = os.environ.get("RTDATA_TEST_DB")
    cluster = None if external else EmbeddedPostgres().start()
    admin = external or (cluster.dsn if cluster else "")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        try:
            figures = asyncio.run(
                measure(conninfo.make_conninfo(admin, dbname=name), seconds, rate)
            )
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    finally:
        if cluster is not None:
            cluster.stop()
    for key, value in figures.items():
        print(f"{key}: {value}")  # noqa: T201 - a command-line report


if __name__ == "__main__":
    main()
