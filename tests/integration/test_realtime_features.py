"""Realtime features of the local server, driven by the official realtime-py client (and by raw
frames where the exact wire matters): broadcast, presence, tokens, private channels, policies,
record trimming and HTTP broadcast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates

from rtdata.server import LocalServer
from rtdata.server.auth import DEFAULT_JWT_SECRET
from tests.support import EMERGENCY_ROW, Socket, until

ROW = EMERGENCY_ROW


def user_token(role: str = "authenticated", exp_in_s: float = 3600, **claims: Any) -> str:
    """A user JWT signed with the local default secret."""
    import jwt

    body = {"role": role, "sub": "u-1", "exp": int(time.time() + exp_in_s), **claims}
    return jwt.encode(body, DEFAULT_JWT_SECRET, algorithm="HS256")


async def client(server: LocalServer, key: str | None = None) -> AsyncRealtimeClient:
    c = AsyncRealtimeClient(
        f"{server.url}/realtime/v1", token=key or server.anon_key, initial_backoff=0.1
    )
    await c.connect()
    return c


async def subscribed(channel: AsyncRealtimeChannel) -> list[tuple[str, str]]:
    states: list[tuple[str, str]] = []
    await channel.subscribe(lambda state, error: states.append((state.value, str(error))))
    return states


def insert(
    server: LocalServer, row: dict[str, Any] | None = None, table: str = "emergency_requests"
) -> None:
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    response = httpx.post(f"{server.url}/rest/v1/{table}", json=row or ROW, headers=headers)
    assert response.status_code == 201, response.text


# ---------------------------------------------------------------- broadcast


@pytest.mark.parametrize("self_", [False, True])
def test_broadcast_reaches_others_and_self_only_when_asked(
    shared_server: LocalServer, self_: bool
) -> None:
    async def run() -> None:
        a, b = await client(shared_server), await client(shared_server)
        got_a: list[dict[str, Any]] = []
        got_b: list[dict[str, Any]] = []
        ch_a = a.channel("room", {"config": {"broadcast": {"self": self_, "ack": True}}})
        ch_a.on_broadcast("ping", got_a.append)
        ch_b = b.channel("room")
        ch_b.on_broadcast("ping", got_b.append)
        await subscribed(ch_a)
        await subscribed(ch_b)
        await ch_a.send_broadcast("ping", {"n": 1})
        await until(lambda: len(got_b) == 1, what="b receives")
        if self_:
            await until(lambda: len(got_a) == 1, what="a receives its own")
        assert got_b[0]["payload"] == {"n": 1}
        # b's reply reaches a after any self-echo of a's own message (one ordered socket).
        await ch_b.send_broadcast("ping", {"n": 2})
        await until(lambda: {"n": 2} in [g["payload"] for g in got_a], what="a receives b's")
        expected = ([{"n": 1}] if self_ else []) + [{"n": 2}]
        assert [g["payload"] for g in got_a] == expected
        await a.close()
        await b.close()

    asyncio.run(run())


def test_broadcast_ack_is_a_reply_only_when_asked(shared_server: LocalServer) -> None:
    async def run() -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(Socket.url(shared_server.url, shared_server.anon_key)) as ws,
        ):
            sock = Socket(ws)
            config = {"config": {"broadcast": {"ack": True, "self": True}}}
            await sock.send("realtime:r", "phx_join", config, "1")
            await sock.expect("phx_reply", "realtime:r")
            body = {"type": "broadcast", "event": "e", "payload": {"x": 1}}
            await sock.send("realtime:r", "broadcast", body, "2")
            echo = await sock.expect("broadcast")
            assert echo["payload"] == body
            assert echo["ref"] is None
            ack = await sock.expect("phx_reply")
            assert ack["ref"] == "2"

    asyncio.run(run())


def test_http_broadcast_endpoints_answer_202_and_deliver(shared_server: LocalServer) -> None:
    async def run() -> None:
        c = await client(shared_server)
        got: list[dict[str, Any]] = []
        channel = c.channel("news")
        channel.on_broadcast("*", got.append)
        await subscribed(channel)
        headers = {
            "apikey": shared_server.anon_key,
            "Authorization": f"Bearer {shared_server.anon_key}",
        }
        async with httpx.AsyncClient(
            base_url=f"{shared_server.url}/realtime/v1/api", headers=headers
        ) as http:
            one = await http.post("/broadcast/news/events/flash", json={"a": 1})
            batch = await http.post(
                "/broadcast",
                json={"messages": [{"topic": "news", "event": "flash", "payload": {"a": 2}}]},
            )
            bad = await http.post("/broadcast", json={"nope": 1})
        assert (one.status_code, batch.status_code, bad.status_code) == (202, 202, 400)
        await until(lambda: len(got) == 2, what="two HTTP broadcasts")
        assert [g["payload"] for g in got] == [{"a": 1}, {"a": 2}]
        assert all(g["meta"]["id"] for g in got)
        await c.close()

    asyncio.run(run())


# ---------------------------------------------------------------- presence


def test_presence_state_diffs_and_leave_on_disconnect(shared_server: LocalServer) -> None:
    async def run() -> None:
        a, b = await client(shared_server), await client(shared_server)
        joins: list[str] = []
        leaves: list[str] = []
        ch_a = a.channel("lobby", {"config": {"presence": {"key": "alice", "enabled": True}}})
        ch_a.on_presence_join(lambda key, current, new: joins.append(key))
        ch_a.on_presence_leave(lambda key, current, left: leaves.append(key))
        await subscribed(ch_a)
        await ch_a.track({"user": "alice", "role": "nurse"})
        await until(lambda: "alice" in joins, what="tracker sees its own join")
        ch_b = b.channel("lobby", {"config": {"presence": {"key": "bob", "enabled": True}}})
        ch_b.on_presence_sync(lambda: None)
        await subscribed(ch_b)
        await until(lambda: "alice" in ch_b.presence_state(), what="state pushed on join")
        assert ch_b.presence_state()["alice"][0]["role"] == "nurse"
        await ch_b.track({"user": "bob"})
        await until(lambda: "bob" in joins, what="a sees b join")
        await b.close()  # disconnect: the server sends a leaves diff
        await until(lambda: "bob" in leaves, what="a sees b leave on disconnect")
        await ch_a.untrack()
        await until(lambda: "alice" in leaves, what="untrack leaves")
        assert ch_a.presence_state() == {}
        await a.close()

    asyncio.run(run())


def test_presence_metas_carry_phx_ref_and_retrack_updates(shared_server: LocalServer) -> None:
    async def run() -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(Socket.url(shared_server.url, shared_server.anon_key)) as ws,
        ):
            sock = Socket(ws)
            config = {"config": {"presence": {"key": "k", "enabled": True}}}
            await sock.send("realtime:p", "phx_join", config, "1")
            assert (await sock.expect("presence_state"))["payload"] == {}
            await sock.send("realtime:p", "presence", {"event": "track", "payload": {"v": 1}}, "2")
            first = await sock.expect("presence_diff")
            meta = first["payload"]["joins"]["k"]["metas"][0]
            assert meta["v"] == 1
            assert meta["phx_ref"]
            await sock.send("realtime:p", "presence", {"event": "track", "payload": {"v": 2}}, "3")
            second = await sock.expect("presence_diff")
            assert second["payload"]["joins"]["k"]["metas"][0]["phx_ref_prev"] == meta["phx_ref"]
            assert second["payload"]["leaves"]["k"]["metas"][0]["v"] == 1
            await sock.send("realtime:p", "presence", {"event": "track", "payload": [1]}, "4")
            refused = await sock.expect("phx_reply")
            while refused["ref"] != "4":
                refused = await sock.expect("phx_reply")
            assert refused["payload"]["status"] == "error"

    asyncio.run(run())


# ---------------------------------------------------------------- tokens and private channels


def test_invalid_refreshed_token_gives_system_error_then_close(shared_server: LocalServer) -> None:
    async def run() -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(Socket.url(shared_server.url, shared_server.anon_key)) as ws,
        ):
            sock = Socket(ws)
            await sock.send("realtime:t", "phx_join", {"config": {}}, "1")
            await sock.expect("phx_reply")
            await sock.send("realtime:t", "access_token", {"access_token": "not-a-jwt"}, "2")
            error = await sock.expect("system")
            assert error["payload"]["status"] == "error"
            assert error["payload"]["extension"] == "system"
            await sock.expect("phx_close", "realtime:t")

    asyncio.run(run())


def test_tokens_expire_on_the_server_timer(shared_server: LocalServer) -> None:
    async def run() -> None:
        short = user_token(exp_in_s=1.5)
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(Socket.url(shared_server.url, shared_server.anon_key)) as ws,
        ):
            sock = Socket(ws)
            await sock.send("realtime:t", "phx_join", {"config": {}, "access_token": short}, "1")
            assert (await sock.expect("phx_reply"))["payload"]["status"] == "ok"
            error = await sock.expect("system", within_s=5)
            assert error["payload"]["message"].startswith("Token has expired")
            await sock.expect("phx_close")

    asyncio.run(run())


def test_expired_token_refuses_the_join(shared_server: LocalServer) -> None:
    async def run() -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(Socket.url(shared_server.url, shared_server.anon_key)) as ws,
        ):
            sock = Socket(ws)
            old = user_token(exp_in_s=-30)
            await sock.send("realtime:t", "phx_join", {"config": {}, "access_token": old}, "1")
            reply = await sock.expect("phx_reply")
            assert reply["payload"]["status"] == "error"
            assert reply["payload"]["response"]["reason"].startswith(
                "InvalidJWTToken: Token has expired"
            )

    asyncio.run(run())


def test_private_channel_refuses_anon_and_admits_users(shared_server: LocalServer) -> None:
    async def run() -> None:
        anon = await client(shared_server)
        states = await subscribed(anon.channel("ops", {"config": {"private": True}}))
        assert states[0][0] == RealtimeSubscribeStates.CHANNEL_ERROR.value
        assert (
            "Unauthorized: You do not have permissions to read from this Channel topic: ops"
            in states[0][1]
        )
        await anon.close()
        user = await client(shared_server, user_token())
        states = await subscribed(user.channel("ops", {"config": {"private": True}}))
        assert states == [(RealtimeSubscribeStates.SUBSCRIBED.value, "None")]
        await user.close()

    asyncio.run(run())


# ---------------------------------------------------------------- policies


POLICY_SQL = """
create table public.cases (
  id bigint generated by default as identity primary key,
  hospital_id int8 not null,
  note text
);
alter publication supabase_realtime add table public.cases;
alter table public.cases enable row level security;
create policy "staff read own hospital" on public.cases for select to authenticated
  using (hospital_id = ((auth.jwt() ->> 'hospital_id'))::int8);
"""


def test_row_policies_filter_postgres_changes_by_jwt_claim(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[LocalServer]]
) -> None:
    migration = tmp_path / "001_cases.sql"
    migration.write_text(POLICY_SQL)

    async def run(server: LocalServer) -> None:
        seen: dict[str, list[int]] = {"h1": [], "h2": [], "anon": [], "service": []}
        clients = []
        for name, key in (
            ("h1", user_token(hospital_id=1)),
            ("h2", user_token(hospital_id="2")),
            ("anon", server.anon_key),
            ("service", server.service_key),
        ):
            c = await client(server, key)
            clients.append(c)
            channel = c.channel("cases")
            channel.on_postgres_changes(
                "*",
                schema="public",
                table="cases",
                callback=lambda p, n=name: seen[n].append(p["data"]["record"]["hospital_id"]),
            )
            await subscribed(channel)
        for hospital in (1, 2, 1):
            insert(server, {"hospital_id": hospital, "note": "x"}, table="cases")
        await until(lambda: len(seen["service"]) == 3, what="service_role sees every row")
        await until(
            lambda: len(seen["h1"]) == 2 and len(seen["h2"]) == 1, what="staff see their hospital"
        )
        assert seen["h1"] == [1, 1]
        assert seen["h2"] == [2]
        assert seen["anon"] == []  # RLS on and no anon policy: nothing
        for c in clients:
            await c.close()

    with serve(schema=migration) as server:
        asyncio.run(run(server))


# ---------------------------------------------------------------- large records


def test_records_over_max_record_bytes_are_trimmed_with_413(
    serve: Callable[..., AbstractContextManager[LocalServer]],
) -> None:
    async def run(server: LocalServer) -> None:
        c = await client(server, server.service_key)
        got: list[dict[str, Any]] = []
        channel = c.channel("big")
        channel.on_postgres_changes(
            "INSERT", schema="public", table="emergency_requests", callback=got.append
        )
        await subscribed(channel)
        insert(server, {**ROW, "pickup_address": "x" * 500})
        await until(lambda: len(got) == 1, what="the trimmed insert")
        data = got[0]["data"]
        assert data["errors"] == ["Error 413: Payload Too Large"]
        assert "pickup_address" not in data["record"]
        assert data["record"]["patient_name"] == "Ana"
        await c.close()

    with serve(max_record_bytes=300) as server:
        asyncio.run(run(server))
