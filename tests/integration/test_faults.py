"""Fault injection: each fault and what a client sees (official realtime-py client, or raw
frames where timing and silence are the point)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx
import pytest
from realtime import AsyncRealtimeClient

from rtdata.server import LocalServer
from tests.integration.test_realtime_features import ROW, insert, until
from tests.support import Socket, published_changes

BINDING = {
    "config": {
        "postgres_changes": [{"event": "*", "schema": "public", "table": "emergency_requests"}]
    }
}


async def joined_socket(session: aiohttp.ClientSession, server: LocalServer) -> Socket:
    ws = await session.ws_connect(Socket.url(server.url, server.anon_key))
    sock = Socket(ws)
    await sock.send("realtime:f", "phx_join", BINDING, "1")
    await sock.expect("system", "realtime:f")  # Subscribed to PostgreSQL
    return sock


async def official_client(server: LocalServer) -> tuple[AsyncRealtimeClient, list[str], list[Any]]:
    c = AsyncRealtimeClient(f"{server.url}/realtime/v1", token=server.anon_key, initial_backoff=0.1)
    await c.connect()
    states: list[str] = []
    got: list[Any] = []
    channel = c.channel("f")
    channel.on_postgres_changes(
        "INSERT", schema="public", table="emergency_requests", callback=got.append
    )
    await channel.subscribe(lambda state, error: states.append(state.value))
    return c, states, got


@pytest.mark.parametrize("action", ["drop", "close"])
def test_dropped_or_closed_sockets_are_rejoined_by_the_official_client(
    server: LocalServer, action: str
) -> None:
    async def run() -> None:
        c, states, got = await official_client(server)
        assert states == ["SUBSCRIBED"]
        await asyncio.to_thread(server.fault, action)
        await until(
            lambda: states.count("SUBSCRIBED") >= 2, within_s=10, what="rejoin after the fault"
        )
        assert "CHANNEL_ERROR" in states
        await asyncio.to_thread(insert, server)
        await until(lambda: len(got) == 1, what="changes flow after the rejoin")
        await c.close()

    asyncio.run(run())


def test_freeze_stops_traffic_without_closing_and_thaw_releases_it(server: LocalServer) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            sock = await joined_socket(session, server)
            await asyncio.to_thread(server.fault, "freeze")
            await asyncio.to_thread(insert, server)
            await sock.nothing(within_s=0.5)
            assert not sock.ws.closed
            await asyncio.to_thread(server.fault, "thaw")
            change = await sock.expect("postgres_changes")
            assert change["payload"]["data"]["record"]["patient_name"] == ROW["patient_name"]

    asyncio.run(run())


def test_latency_delays_every_outgoing_frame(server: LocalServer) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            sock = await joined_socket(session, server)
            await asyncio.to_thread(server.fault, "latency", ms=300)
            start = time.monotonic()
            await asyncio.to_thread(insert, server)
            await sock.expect("postgres_changes")
            assert time.monotonic() - start >= 0.3
            await asyncio.to_thread(server.fault, "latency", ms=0)

    asyncio.run(run())


def test_expire_tokens_sends_system_error_then_close(server: LocalServer) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            sock = await joined_socket(session, server)
            await asyncio.to_thread(server.fault, "expire_tokens")
            error = await sock.expect("system")
            assert error["payload"]["status"] == "error"
            assert error["payload"]["message"].startswith("Token has expired")
            close = await sock.expect("phx_close")
            assert close["ref"] == "1"

    asyncio.run(run())


def test_rejected_joins_fail_until_the_fault_is_cleared(server: LocalServer) -> None:
    async def run() -> None:
        await asyncio.to_thread(server.fault, "reject_joins", on=True)
        c = AsyncRealtimeClient(f"{server.url}/realtime/v1", token=server.anon_key)
        await c.connect()
        states: list[str] = []
        await c.channel("f").subscribe(lambda state, error: states.append(state.value))
        assert states == ["CHANNEL_ERROR"]
        await asyncio.to_thread(server.fault, "reject_joins", on=False)
        await until(lambda: "SUBSCRIBED" in states, within_s=10, what="the client's own rejoin")
        await c.close()

    asyncio.run(run())


def test_drop_changes_drops_the_given_fraction(server: LocalServer) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            sock = await joined_socket(session, server)
            # On Postgres changes reach the hub from the WAL a moment after the write returns:
            # wait for them to be published before changing the fault.
            published = published_changes(server)
            await asyncio.to_thread(server.fault, "drop_changes", fraction=1.0)
            await asyncio.to_thread(insert, server)
            await until(lambda: len(published) == 1, what="the first insert published")
            await sock.nothing(within_s=0.3)
            await asyncio.to_thread(server.fault, "drop_changes", fraction=0.5, seed=3)
            headers = {
                "apikey": server.service_key,
                "Authorization": f"Bearer {server.service_key}",
            }
            rows = [ROW] * 200
            async with httpx.AsyncClient(headers=headers) as http:
                await http.post(f"{server.url}/rest/v1/emergency_requests", json=rows)
            await until(lambda: len(published) == 201, what="the batch published")
            await asyncio.to_thread(server.fault, "drop_changes", fraction=0.0)
            await asyncio.to_thread(insert, server, {**ROW, "patient_name": "marker"})
            received = 0
            while True:
                frame = await sock.expect("postgres_changes")
                if frame["payload"]["data"]["record"]["patient_name"] == "marker":
                    break
                received += 1
            assert 60 <= received <= 140

    asyncio.run(run())


def test_admin_endpoint_needs_the_service_key(server: LocalServer) -> None:
    url = f"{server.url}/rtdata/v1/faults"

    def headers(key: str) -> dict[str, str]:
        return {"apikey": key, "Authorization": f"Bearer {key}"}

    assert (
        httpx.post(url, json={"action": "drop"}, headers=headers(server.anon_key)).status_code
        == 403
    )
    assert httpx.get(url).status_code == 401
    state = httpx.post(
        url, json={"action": "latency", "ms": 5}, headers=headers(server.service_key)
    )
    assert state.status_code == 200
    assert state.json()["latency_ms"] == 5
    bad = httpx.post(url, json={"action": "explode"}, headers=headers(server.service_key))
    assert bad.status_code == 400
    assert "unknown fault action 'explode'" in bad.json()["error"]
    assert httpx.get(url, headers=headers(server.service_key)).json()["latency_ms"] == 5
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        server.fault("drop_changes", fraction=2)
