"""``postgres``: the local server on its embedded Postgres beside the in-memory one, in one run.

For each database (``memory``, then ``embedded``) a fresh ``rtdata serve`` process with the
hospital's migrations is measured for:

- start-up to ready: launch to the server's first line, with the schema migrated;
- commit → official client p99 at 2,000 inserts/s (a writer in another process, one
  realtime-py client);
- fan-out: postgres_changes frames/s delivered in total to 100 raw websocket readers of one
  table while rows are inserted over REST;
- idle CPU: the server's processes (its Postgres included) over ``idle_s`` seconds with 20
  subscribers joined and nothing written.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import psutil

from rtdata.bench.common import Figure, server_process
from rtdata.bench.ingest import _bare_latencies, percentile
from rtdata.bench.server import _delivery
from rtdata.server.auth import Keys

__all__ = ["bench_postgres"]

_DATABASES = ("memory", "embedded")


async def _idle_cpu_percent(
    url: str, keys: Keys, pid: int, subscribers: int, idle_s: float
) -> float:
    """CPU of the server process and its children, in percent of one core, over ``idle_s``
    seconds with ``subscribers`` joined channels and no writes."""
    async with aiohttp.ClientSession() as session:
        sockets = []
        for i in range(subscribers):
            ws = await session.ws_connect(
                f"{url}/realtime/v1/websocket?apikey={keys.anon}&vsn=1.0.0"
            )
            binding = {"event": "*", "schema": "public", "table": "vital_signs"}
            await ws.send_json(
                {
                    "topic": f"realtime:idle-{i}",
                    "event": "phx_join",
                    "payload": {"config": {"postgres_changes": [binding]}},
                    "ref": "1",
                    "join_ref": "1",
                }
            )
            while '"system"' not in await ws.receive_str():
                pass
            sockets.append(ws)
        server = psutil.Process(pid)

        def cpu_s() -> float:
            total = 0.0
            for process in [server, *server.children(recursive=True)]:
                try:
                    times = process.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
            return total

        before_s, start = cpu_s(), time.perf_counter()
        await asyncio.sleep(idle_s)  # the measured interval, not a synchronisation
        used_s, elapsed_s = cpu_s() - before_s, time.perf_counter() - start
        for ws in sockets:
            await ws.close()
    return 100.0 * used_s / elapsed_s


def bench_postgres(
    rate_per_s: float = 2000.0, duration_s: float = 8.0, fan_rows: int = 2_000, idle_s: float = 60.0
) -> list[Figure]:
    """Measure both databases of the local server, one after the other, in one run."""
    keys = Keys.for_secret()
    figures: list[Figure] = []
    for db in _DATABASES:
        started: list[float] = []
        with server_process(db, started) as url:
            startup_s, pid = started[0], int(started[1])
            latencies = asyncio.run(_bare_latencies(url, keys, rate_per_s, duration_s))
            fan_fps, _ = asyncio.run(_delivery(url, keys, 100, fan_rows))
            idle = asyncio.run(_idle_cpu_percent(url, keys, pid, 20, idle_s))
        base = None if db == "memory" else "postgres.memory"
        figures += [
            Figure(f"postgres.{db}.startup_s", startup_s, "s", f"{db}: launch → listening, hospital migrations applied (target ≤ 5 s)", base and f"{base}.startup_s"),
            Figure(f"postgres.{db}.commit_to_client_p50_ms", percentile(latencies, 50), "ms", f"{db}: commit → official client callback at {rate_per_s:,.0f} inserts/s, p50", base and f"{base}.commit_to_client_p50_ms"),
            Figure(f"postgres.{db}.commit_to_client_p99_ms", percentile(latencies, 99), "ms", f"{db}: same, p99 (target ≤ 100 ms)", base and f"{base}.commit_to_client_p99_ms"),
            Figure(f"postgres.{db}.fan_out_100_fps", fan_fps, "frames/s", f"{db}: frames/s to 100 raw readers of one table in total (target ≥ 20,000)", base and f"{base}.fan_out_100_fps"),
            Figure(f"postgres.{db}.idle_cpu_percent", idle, "% of a core", f"{db}: server and its database, 20 subscribers, {idle_s:g} s idle (target ≤ 2%)", base and f"{base}.idle_cpu_percent"),
        ]  # fmt: skip
    return figures
