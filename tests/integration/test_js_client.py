"""The official JavaScript client (supabase-js, realtime-js) against the local server.

Each test runs ``tests/js/client.mjs`` in node and waits on the JSON lines it prints. The
expectations are what a real Supabase Realtime server gives supabase-js; where the wire matters
the script's ``trace`` lines are decoded with :mod:`rtdata.protocol`. Needs ``node`` and
``npm ci --prefix tests/js``; skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from rtdata import protocol
from rtdata.protocol import Message, UserBroadcastPayload
from rtdata.server import LocalServer
from tests.jsclient import JsProcess, Line, js_available, run_js

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not js_available(),
        reason="needs node and tests/js/node_modules: run `npm ci --prefix tests/js`",
    ),
]

RUN_S = 30.0
"""Upper bound for one scenario; the script exits by itself after this."""

ROW = {
    "hospital_id": 1,
    "patient_name": "A",
    "emergency_type": "cardiac",
    "lat": 38.7,
    "lon": -9.1,
    "pickup_address": "x",
}


def _status(value: str) -> Callable[[Line], bool]:
    return lambda line: line.get("status") in {value, "FAILED", "TIMEOUT"}


def _started(js: JsProcess) -> None:
    line = js.wait_for_line(_status("SUBSCRIBED"))
    assert line["status"] == "SUBSCRIBED", line


def _changes_ready(js: JsProcess) -> None:
    """Wait for the system message after which real servers deliver changes (not the join
    reply)."""
    js.wait_for_line(
        lambda line: (
            line.get("type") == "system"
            and line["payload"].get("extension") == "postgres_changes"
            and line["payload"].get("status") == "ok"
        )
    )


def _done(js: JsProcess) -> None:
    line = js.wait_for_line(_status("DONE"), timeout=RUN_S)
    assert line["status"] == "DONE", line
    assert js.wait() == 0


def _of(js: JsProcess, kind: str, **match: Any) -> list[Line]:
    return [
        line
        for line in js.lines
        if line.get("type") == kind and all(line.get(k) == v for k, v in match.items())
    ]


def _frames(js: JsProcess, client: str, direction: str, vsn: str) -> list[Message]:
    """Decode the frames one client sent or received, as the server's serializer would."""
    frames = []
    for line in _of(js, "wire", client=client, dir=direction):
        raw: str | bytes = (
            bytes.fromhex(line["binary_hex"]) if "binary_hex" in line else line["text"]
        )
        frames.append(protocol.decode_v2(raw) if vsn == "2.0.0" else protocol.decode(raw))
    return frames


@pytest.fixture
def rest(server: LocalServer) -> Iterator[httpx.Client]:
    """PostgREST-style writes with the service key, as the brief's ``httpx.post`` example."""
    key = server.service_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Prefer": "return=representation"}
    with httpx.Client(base_url=f"{server.url}/rest/v1", headers=headers, timeout=10) as client:
        yield client


def _scenario(server: LocalServer, kind: str, vsn: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "url": server.url, "key": server.anon_key, "vsn": vsn, **extra}


# --- connection -----------------------------------------------------------------------------


def test_js_client_defaults_to_vsn_2(server: LocalServer) -> None:
    # No "vsn" in the scenario: the client's own default must be 2.0.0 (DEFAULT_VSN).
    scenario = _scenario(server, "presence", "2.0.0", trace=True)
    del scenario["vsn"]
    scenario["observer"] = False
    with run_js(scenario, RUN_S) as js:
        endpoint = js.wait_for_line(lambda line: line.get("type") == "endpoint")
        assert endpoint["path"] == "/realtime/v1/websocket"
        assert endpoint["vsn"] == "2.0.0"
        _started(js)
        join = _frames(js, "tracker", "out", "2.0.0")[0]
        assert join.event == "phx_join"
        assert join.join_ref == join.ref == "1"
        _done(js)


# --- postgres_changes -----------------------------------------------------------------------


@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
def test_postgres_changes_insert_update_delete(
    server: LocalServer, rest: httpx.Client, vsn: str
) -> None:
    scenario = _scenario(server, "postgres_changes", vsn, table="emergency_requests", count=3)
    with run_js(scenario, RUN_S) as js:
        _started(js)
        _changes_ready(js)

        def change(event: str) -> dict[str, Any]:
            line = js.wait_for_line(
                lambda line: (
                    line.get("type") == "postgres_changes"
                    and line["payload"].get("eventType") == event
                )
            )
            payload: dict[str, Any] = line["payload"]
            assert payload["schema"] == "public"
            assert payload["table"] == "emergency_requests"
            assert payload["errors"] is None
            assert payload["commit_timestamp"].endswith("Z")
            return payload

        created = rest.post("/emergency_requests", json=ROW)
        assert created.status_code == 201, created.text
        row_id = created.json()[0]["id"]
        insert = change("INSERT")
        assert insert["new"]["id"] == row_id
        assert insert["new"]["patient_name"] == "A"
        assert insert["new"]["lat"] == 38.7
        assert insert["old"] == {}

        updated = rest.patch(f"/emergency_requests?id=eq.{row_id}", json={"patient_name": "B"})
        assert updated.status_code == 200, updated.text
        update = change("UPDATE")
        assert update["new"]["id"] == row_id
        assert update["new"]["patient_name"] == "B"
        assert update["old"]["id"] == row_id

        deleted = rest.delete(f"/emergency_requests?id=eq.{row_id}")
        assert deleted.status_code == 200, deleted.text
        delete = change("DELETE")
        assert delete["new"] == {}
        assert delete["old"]["id"] == row_id
        _done(js)


@pytest.mark.parametrize("server", ["postgres"], indirect=True)
def test_a_change_made_with_sql_reaches_the_js_client(server: LocalServer) -> None:
    """Not through the server: a plain client of the database (psql, a migration, a trigger)."""
    assert server.backend is not None
    scenario = _scenario(server, "postgres_changes", "2.0.0", table="emergency_requests", count=1)
    with run_js(scenario, RUN_S) as js:
        _started(js)
        _changes_ready(js)
        with psycopg.connect(server.backend.conninfo, autocommit=True) as conn:
            row_id = conn.execute(
                "insert into emergency_requests"
                " (hospital_id, patient_name, emergency_type, lat, lon, pickup_address)"
                " values (1, 'from psql', 'cardiac', 38.7, -9.1, 'x') returning id"
            ).fetchone()
        line = js.wait_for_line(lambda line: line.get("type") == "postgres_changes")
        payload = line["payload"]
        assert payload["eventType"] == "INSERT"
        assert row_id is not None
        assert payload["new"]["id"] == row_id[0]
        assert payload["new"]["patient_name"] == "from psql"
        _done(js)


# --- broadcast ------------------------------------------------------------------------------


@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
@pytest.mark.parametrize(
    ("self_send", "ack"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_broadcast_self_and_ack(server: LocalServer, vsn: str, self_send: bool, ack: bool) -> None:
    config = {"broadcast": {"self": self_send, "ack": ack}}
    scenario = _scenario(server, "broadcast", vsn, config=config, trace=True)
    with run_js(scenario, RUN_S) as js:
        _started(js)
        _done(js)

    ping = {"type": "broadcast", "event": "ping", "payload": {"n": 1}}
    assert [line["payload"] for line in _of(js, "broadcast", client="receiver")] == [ping]
    sender_got = [line["payload"]["event"] for line in _of(js, "broadcast", client="sender")]
    # With self: false the server leaves the sender out (broadcast_from), so the only thing it
    # hears is the receiver's pong; with self: true its own ping comes back too.
    assert sorted(sender_got) == (["ping", "pong"] if self_send else ["pong"])
    assert [line["result"] for line in _of(js, "send", client="sender")] == ["ok"]

    # ack: true makes the server answer the broadcast push with phx_reply ok; ack: false, never.
    sent = [m for m in _frames(js, "sender", "out", vsn) if m.event == "broadcast"]
    assert len(sent) == 1
    replies = [
        m
        for m in _frames(js, "sender", "in", vsn)
        if m.event == "phx_reply" and m.ref == sent[0].ref
    ]
    if ack:
        assert [m.payload["status"] for m in replies] == ["ok"]
    else:
        assert replies == []


def test_broadcast_v2_wire_uses_binary_user_broadcast_frames(server: LocalServer) -> None:
    # realtime-js sends a websocket broadcast as a kind-3 user broadcast push, and the real server
    # relays it as a kind-4 user broadcast (broadcast_handler.ex builds a UserBroadcast).
    scenario = _scenario(server, "broadcast", "2.0.0", trace=True)
    with run_js(scenario, RUN_S) as js:
        _started(js)
        _done(js)

    out = [line for line in _of(js, "wire", client="sender", dir="out") if "binary_hex" in line]
    assert len(out) == 1
    assert out[0]["binary_hex"].startswith("03")
    push = protocol.decode_v2(bytes.fromhex(out[0]["binary_hex"]))
    assert push.topic == "realtime:rtdata-js-broadcast"
    assert dict(push.payload) == {"type": "broadcast", "event": "ping", "payload": {"n": 1}}

    relayed = _frames(js, "receiver", "in", "2.0.0")
    pings = [m for m in relayed if m.event == "broadcast" and m.payload.get("event") == "ping"]
    assert len(pings) == 1
    assert isinstance(pings[0].payload, UserBroadcastPayload), "relayed as a text array, not kind 4"
    assert pings[0].ref is None
    assert "meta" not in pings[0].payload


def test_broadcast_v2_binary_payload(server: LocalServer) -> None:
    scenario = _scenario(server, "broadcast", "2.0.0", binary_payload_hex="00ff10", trace=True)
    with run_js(scenario, RUN_S) as js:
        _started(js)
        _done(js)
    (received,) = _of(js, "broadcast", client="receiver")
    assert received["payload"] == {
        "type": "broadcast",
        "event": "ping",
        "payload": {"$binary_hex": "00ff10"},
    }


# --- presence -------------------------------------------------------------------------------


@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
def test_presence_sync_join_leave(server: LocalServer, vsn: str) -> None:
    scenario = _scenario(server, "presence", vsn, presence_key="alice", state={"user": "alice"})
    with run_js(scenario, RUN_S) as js:
        _started(js)
        join = js.wait_for_line(
            lambda line: (
                line.get("type") == "presence"
                and line["client"] == "observer"
                and line["event"] == "join"
            )
        )
        assert join["key"] == "alice"
        (presence,) = join["newPresences"]
        assert presence["user"] == "alice"
        assert isinstance(presence["presence_ref"], str)
        assert presence["presence_ref"]
        # The tracker hears its own join too.
        js.wait_for_line(
            lambda line: (
                line.get("type") == "presence"
                and line["client"] == "tracker"
                and line["event"] == "join"
                and line["key"] == "alice"
            )
        )
        js.wait_for_line(
            lambda line: (
                line.get("type") == "presence"
                and line["client"] == "observer"
                and line["event"] == "sync"
                and [m["user"] for m in line["state"].get("alice", [])] == ["alice"]
            )
        )
        leave = js.wait_for_line(
            lambda line: (
                line.get("type") == "presence"
                and line["client"] == "observer"
                and line["event"] == "leave"
            )
        )
        assert leave["key"] == "alice"
        assert [m["user"] for m in leave["leftPresences"]] == ["alice"]
        _done(js)

    assert [line["result"] for line in _of(js, "track")] == ["ok"]
    assert [line["result"] for line in _of(js, "untrack")] == ["ok"]
    last_sync = _of(js, "presence", client="observer", event="sync")[-1]
    assert last_sync["state"] == {}
