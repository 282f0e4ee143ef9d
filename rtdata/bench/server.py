"""``server``: frames/s the local server delivers to 1 and 10 raw readers, REST insert rows/s,
beside one official realtime-py client."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from rtdata.bench.common import (
    Figure,
    insert_vitals,
    official_client_rate,
    server_process,
)
from rtdata.server.auth import Keys


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
