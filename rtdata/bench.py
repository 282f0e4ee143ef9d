"""Benchmarks behind ``rtdata bench``: every figure is measured beside its baseline, in one run.

Sections (``--only`` picks some):

* ``server``: postgres_changes frames the local server delivers per second to 1 and to 10 raw
  websocket readers, REST bulk-insert rows per second, and, as the baseline, how many frames per
  second one official realtime-py client consumes from the same server.
* ``ingest``: the collector's throughput on one stream beside the bare official client's.
* ``latency``: commit → buffer latency percentiles at a steady write rate.
* ``buffer``: EventBuffer append rate beside per-row ``pd.concat``, snapshot time and memory.

The server always runs in its own process (``rtdata serve``), so it never shares the GIL with
what is measured. Absolute numbers vary between machines and runs; compare ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import httpx
import orjson

from rtdata.server.auth import Keys

__all__ = ["SECTIONS", "Figure", "render_markdown", "run"]

SECTIONS: Final = ("server",)
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


async def official_client_rate(url: str, keys: Keys, rows: int) -> float:
    """Frames/s one official realtime-py client consumes (no-op callback) from ``url``."""
    from realtime import AsyncRealtimeClient, RealtimePostgresChangesListenEvent

    got = 0
    done = asyncio.Event()

    def count(_payload: Any) -> None:
        nonlocal got
        got += 1
        if got >= rows:
            done.set()

    client = AsyncRealtimeClient(f"{url}/realtime/v1", token=keys.anon)
    await client.connect()
    try:
        channel = client.channel("bench-official")
        channel.on_postgres_changes(
            RealtimePostgresChangesListenEvent.All,
            schema="public",
            table="vital_signs",
            callback=count,
        )
        await channel.subscribe()
        start = time.perf_counter()
        await asyncio.to_thread(insert_vitals, url, keys, rows)
        await asyncio.wait_for(done.wait(), timeout=300)
        return rows / (time.perf_counter() - start)
    finally:
        await client.close()


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


_RUNNERS: Final[dict[str, Callable[[], list[Figure]]]] = {"server": bench_server}
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
        base_text = f"{base.value:,.1f} {base.unit} (`{base.key}`)" if base else ""
        lines.append(f"| `{f.key}` | {f.value:,.1f} {f.unit} | {base_text} | {f.what} |")
    return "\n".join(lines)


def to_json(figures: Sequence[Figure]) -> dict[str, float]:
    """Return ``{key: value}`` for ``--json``."""
    return {f.key: round(f.value, 3) for f in figures}
