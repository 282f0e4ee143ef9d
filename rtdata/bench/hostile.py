"""``hostile``: other clients' latency while one client sends a pathological filter, beside the
same clients alone, in one run.

For each database (``memory``, then ``embedded``) a fresh ``rtdata serve`` process with the
hospital's migrations gets ``rows`` emergency requests whose ``patient_name`` is ``"aaa…a!"``
(:data:`EVIL_NAME_CHARS` letters), the text on which ``^(a+)+$`` takes a backtracking engine
two to the power of its length steps. After a warm-up (both kinds of client for a second, not
counted), two phases of ``duration_s`` seconds each:

- baseline: ``clients`` normal clients, each reading one hospital over REST every
  :data:`PERIOD_S` seconds (open loop: a slow answer does not slow the next request down);
- hostile: the same clients, and one more that sends
  ``GET /rest/v1/emergency_requests?patient_name=match.^(a+)+$`` back to back.

Figures per database: the normal clients' p99 in each phase (target: under 50 ms while the
pathological client runs), and how many pathological requests were answered and their p50.
Every answer must be 200 (the regex runs in linear time: RE2 in memory, Postgres' engine with
its statement timeout on Postgres); the section raises otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Final

import httpx
import numpy as np

from rtdata.bench.common import Figure, server_process
from rtdata.server.auth import Keys

__all__ = ["EVIL_FILTER", "EVIL_NAME_CHARS", "PERIOD_S", "bench_hostile"]

EVIL_FILTER: Final = "match.^(a+)+$"
"""The pathological filter: exponential on a backtracking regex engine."""
EVIL_NAME_CHARS: Final = 1000
"""How many ``a`` precede the ``!`` in each pathological row's ``patient_name``."""
PERIOD_S: Final = 0.05
"""How often each normal client sends its request."""
_DATABASES: Final = ("memory", "embedded")
_ROW: Final = {
    "hospital_id": 1,
    "emergency_type": "cardiac",
    "lat": 38.7,
    "lon": -9.1,
    "pickup_address": "Rua A 1",
}


def bench_hostile(
    duration_s: float = 10.0,
    clients: int = 4,
    rows: int = 200,
    databases: Sequence[str] = _DATABASES,
) -> list[Figure]:
    """Measure each database's normal clients with and without the pathological one."""
    keys = Keys.for_secret()
    figures: list[Figure] = []
    for db in databases:
        with server_process(db) as url:
            _seed(url, keys, rows)
            asyncio.run(_phase(url, keys, clients, min(1.0, duration_s), hostile=True))  # warm-up
            base = asyncio.run(_phase(url, keys, clients, duration_s, hostile=False))
            loaded = asyncio.run(_phase(url, keys, clients, duration_s, hostile=True))
        name = "memory" if db == "memory" else "postgres"
        base_key = f"hostile.{name}.normal_p99_ms"
        figures += [
            Figure(
                base_key,
                _p(base.normal_ms, 99),
                "ms",
                f"{name}: p99 of {clients} clients reading a hospital every"
                f" {PERIOD_S * 1000:.0f} ms over REST, alone ({len(base.normal_ms)} requests)",
            ),
            Figure(
                f"hostile.{name}.normal_p99_with_evil_ms",
                _p(loaded.normal_ms, 99),
                "ms",
                f"the same while one client sends ?patient_name={EVIL_FILTER} back to back"
                f" ({len(loaded.normal_ms)} requests; target < 50 ms)",
                base_key,
            ),
            Figure(
                f"hostile.{name}.evil_answered",
                float(len(loaded.evil_ms)),
                "requests",
                f"pathological requests answered (200) in {duration_s:g} s, over {rows} rows"
                f" of {EVIL_NAME_CHARS} a's and a '!'",
            ),
            Figure(
                f"hostile.{name}.evil_p50_ms",
                _p(loaded.evil_ms, 50),
                "ms",
                "p50 of a pathological request",
            ),
        ]
    return figures


class _Phase:
    """Latencies measured in one phase."""

    def __init__(self) -> None:
        self.normal_ms: list[float] = []
        self.evil_ms: list[float] = []


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _headers(keys: Keys) -> dict[str, str]:
    return {"apikey": keys.service, "Authorization": f"Bearer {keys.service}"}


def _seed(url: str, keys: Keys, rows: int) -> None:
    name = "a" * EVIL_NAME_CHARS + "!"
    body = [{**_ROW, "patient_name": name} for _ in range(rows)]
    headers = {**_headers(keys), "Prefer": "return=minimal"}
    with httpx.Client(base_url=f"{url}/rest/v1", headers=headers, timeout=60) as http:
        http.post("/emergency_requests", json=body).raise_for_status()


async def _phase(url: str, keys: Keys, clients: int, duration_s: float, *, hostile: bool) -> _Phase:
    phase = _Phase()
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(
        base_url=f"{url}/rest/v1", headers=_headers(keys), timeout=60, limits=limits
    ) as http:
        await http.get("/hospitals", params={"select": "id", "limit": "1"})  # connect, warm up
        deadline = time.perf_counter() + duration_s

        async def normal(offset_s: float) -> None:
            await asyncio.sleep(offset_s)  # spread the clients over one period
            pending: set[asyncio.Task[None]] = set()
            next_s = time.perf_counter()
            while next_s < deadline:
                task = asyncio.create_task(_timed_read(http, phase.normal_ms))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_s += PERIOD_S
                await asyncio.sleep(max(0.0, next_s - time.perf_counter()))
            await asyncio.gather(*pending)

        async def evil() -> None:
            params = {"select": "id", "patient_name": EVIL_FILTER}
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                answer = await http.get("/emergency_requests", params=params)
                if answer.status_code != 200:
                    raise RuntimeError(f"the pathological filter got {answer.status_code}")
                phase.evil_ms.append((time.perf_counter() - start) * 1000)

        tasks = [normal(i * PERIOD_S / clients) for i in range(clients)]
        await asyncio.gather(*tasks, *([evil()] if hostile else []))
    return phase


async def _timed_read(http: httpx.AsyncClient, into: list[float]) -> None:
    start = time.perf_counter()
    answer = await http.get("/hospitals", params={"select": "id,name", "id": "eq.1"})
    if answer.status_code != 200:
        raise RuntimeError(f"a normal read got {answer.status_code}")
    into.append((time.perf_counter() - start) * 1000)
