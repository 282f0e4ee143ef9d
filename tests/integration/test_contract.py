"""Contract: every frame kind the local server emits validates with the official client's models.

A raw websocket (aiohttp's client) drives the server through each path, and each captured frame
goes through ``realtime.message.ServerMessageAdapter`` from the installed realtime-py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager

import aiohttp
import httpx
import orjson
import pytest
from pydantic import ValidationError
from realtime.message import ServerMessageAdapter

from rtdata.server import LocalServer
from tests.support import EMERGENCY_ROW, Socket, timeout_s

ROW = EMERGENCY_ROW


async def _capture(server: LocalServer) -> list[str]:
    url = f"{server.url}/realtime/v1/websocket?apikey={server.anon_key}&vsn=1.0.0"
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        sock = Socket(ws)
        await sock.send("phoenix", "heartbeat", {}, None)
        await sock.expect("phx_reply", "phoenix")
        bindings = [
            {"event": "*", "schema": "public", "table": "emergency_requests"},
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "emergency_requests",
                "filter": "priority=eq.3",
            },
        ]
        join = {"config": {"postgres_changes": bindings}, "access_token": server.anon_key}
        await sock.send("realtime:room", "phx_join", join, "1")
        reply = await sock.expect("phx_reply", "realtime:room")
        assert [b["id"] > 0 for b in reply["payload"]["response"]["postgres_changes"]] == [
            True,
            True,
        ]
        system = await sock.expect("system", "realtime:room")
        assert system["payload"]["message"] == "Subscribed to PostgreSQL"

        async with httpx.AsyncClient(base_url=f"{server.url}/rest/v1", headers=headers) as rest:
            created = await rest.post(
                "/emergency_requests", json=ROW, headers={"Prefer": "return=representation"}
            )
            row_id = created.json()[0]["id"]
            insert = await sock.expect("postgres_changes")
            await rest.patch(f"/emergency_requests?id=eq.{row_id}", json={"status": "accepted"})
            update = await sock.expect("postgres_changes")
            await rest.delete(f"/emergency_requests?id=eq.{row_id}")
            delete = await sock.expect("postgres_changes")
        assert [f["payload"]["data"]["type"] for f in (insert, update, delete)] == [
            "INSERT",
            "UPDATE",
            "DELETE",
        ]
        # Both bindings match the UPDATE (priority 3 is the default); only '*' the others.
        assert len(update["payload"]["ids"]) == 2
        assert len(insert["payload"]["ids"]) == 1

        bad = {
            "config": {"postgres_changes": [{"event": "*", "schema": "public", "table": "nope"}]}
        }
        await sock.send("realtime:bad", "phx_join", bad, "2")
        await sock.expect("phx_reply", "realtime:bad")
        error = await sock.expect("system", "realtime:bad")
        assert error["payload"]["status"] == "error"

        await sock.send("realtime:", "phx_join", {"config": {}}, "3")
        refused = await sock.expect("phx_reply", "realtime:")
        assert refused["payload"]["status"] == "error"

        await sock.send("realtime:never-joined", "broadcast", {}, "4")
        unmatched = await sock.expect("phx_reply", "realtime:never-joined")
        assert unmatched["payload"]["response"]["reason"] == "unmatched topic"

        presence = {
            "config": {"presence": {"key": "k", "enabled": True}, "broadcast": {"self": True}}
        }
        await sock.send("realtime:live", "phx_join", presence, "6")
        await sock.expect("presence_state", "realtime:live")
        await sock.send("realtime:live", "presence", {"event": "track", "payload": {"u": 1}}, "7")
        await sock.expect("presence_diff", "realtime:live")
        body = {"type": "broadcast", "event": "ping", "payload": {"n": 1}}
        await sock.send("realtime:live", "broadcast", body, "8")
        await sock.expect("broadcast", "realtime:live")
        async with httpx.AsyncClient(headers=headers) as http:
            sent = await http.post(
                f"{server.url}/realtime/v1/api/broadcast/live/events/e", json={"a": 1}
            )
            assert sent.status_code == 202
        http_broadcast = await sock.expect("broadcast", "realtime:live")
        assert http_broadcast["payload"]["meta"]["id"]

        await sock.send("realtime:room", "phx_leave", {}, "5")
        await sock.expect("phx_reply", "realtime:room")
        close = await sock.expect("phx_close", "realtime:room")
        assert close["ref"] == "1"  # the join ref
        await asyncio.to_thread(server.fault, "expire_tokens")
        expired = await sock.expect("system", "realtime:live")
        assert expired["payload"]["extension"] == "system"
        return sock.frames


def test_every_emitted_frame_validates_with_the_official_models(shared_server: LocalServer) -> None:
    frames = asyncio.run(_capture(shared_server))
    kinds = set()
    for frame in frames:
        message = ServerMessageAdapter.validate_json(frame)
        kinds.add(type(message).__name__)
        assert "join_ref" not in orjson.loads(frame)  # V1 server frames carry four keys
    assert {
        "ReplyMessage",
        "SystemMessage",
        "PostgresChangesMessage",
        "ChannelCloseMessage",
    } <= kinds


def test_the_validator_rejects_a_broken_frame() -> None:
    """Guards the contract test itself: a postgres_changes frame without ids must not pass."""
    broken = {
        "topic": "realtime:room",
        "event": "postgres_changes",
        "payload": {"data": {"schema": "public"}},
        "ref": None,
    }
    with pytest.raises(ValidationError):
        ServerMessageAdapter.validate_json(orjson.dumps(broken))


def test_bad_api_key_refuses_the_handshake_with_401(shared_server: LocalServer) -> None:
    response = httpx.get(f"{shared_server.url}/realtime/v1/websocket?apikey=not-a-jwt&vsn=1.0.0")
    assert response.status_code == 401
    assert "error" in response.json()


def test_malformed_frames_are_counted_and_the_socket_keeps_serving(server: LocalServer) -> None:
    async def run() -> None:
        url = f"{server.url}/socket/websocket?apikey={server.anon_key}&vsn=1.0.0"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            sock = Socket(ws)
            await ws.send_str("{not json")
            await ws.send_str('{"topic": 1}')
            await sock.send("phoenix", "heartbeat", {}, "9")
            # Each malformed frame is answered on ``phoenix`` (its topic cannot be read), then
            # the heartbeat.
            for _ in range(2):
                refused = await sock.expect("phx_reply", "phoenix")
                assert refused["ref"] is None
                assert refused["payload"]["status"] == "error"
            reply = await sock.expect("phx_reply", "phoenix")
            assert reply["ref"] == "9"

    asyncio.run(run())
    assert server.hub.bad_input["malformed frame"] == 2


def test_idle_sockets_are_closed(serve: Callable[..., AbstractContextManager[LocalServer]]) -> None:
    async def run(server: LocalServer) -> None:
        url = f"{server.url}/socket/websocket?apikey={server.anon_key}&vsn=1.0.0"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            message = await ws.receive(timeout=timeout_s(5))
            assert message.type == aiohttp.WSMsgType.CLOSE

    with serve(idle_timeout_s=0.3) as server:
        asyncio.run(run(server))


def test_oversized_frames_close_the_socket_with_1009_and_others_keep_working(
    shared_server: LocalServer,
) -> None:
    async def run() -> None:
        url = f"{shared_server.url}/socket/websocket?apikey={shared_server.anon_key}&vsn=1.0.0"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as big:
                huge = {
                    "topic": "realtime:x",
                    "event": "broadcast",
                    "payload": {"a": "x" * (2 << 20)},
                }
                await big.send_str(orjson.dumps(huge).decode())
                message = await big.receive(timeout=timeout_s(5))
                assert message.type == aiohttp.WSMsgType.CLOSE
                assert big.close_code == 1009
            async with session.ws_connect(url) as other:
                sock = Socket(other)
                await sock.send("phoenix", "heartbeat", {}, "1")
                assert (await sock.expect("phx_reply"))["payload"]["status"] == "ok"

    asyncio.run(run())
