"""Hostile filters (issue #17, "no request can hold the server"): a pathological regex on REST
or in a realtime subscription is answered promptly on both backends while other clients go on,
a regex the local engine cannot run in linear time is refused with PostgREST's error, and an
overlong filter is refused on its own request or topic. (A join whose filter is not a string
is refused by the join's type checks: tests/integration/test_hostile_frames.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx

from rtdata.server import LocalServer
from rtdata.server.limits import MAX_FILTER_BYTES
from tests.support import EMERGENCY_ROW, Socket, timeout_s

EVIL = "match.^(a+)+$"
"""Exponential on a backtracking engine: each extra "a" before the "!" doubles the work."""
EVIL_NAME = "a" * 40 + "!"
"""Two to the fortieth paths for a backtracking engine: it would not finish within any test."""


def _headers(server: LocalServer) -> dict[str, str]:
    return {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}


def _insert(server: LocalServer, **row: Any) -> None:
    response = httpx.post(
        f"{server.url}/rest/v1/emergency_requests",
        json={**EMERGENCY_ROW, **row},
        headers=_headers(server),
        timeout=timeout_s(10),
    )
    assert response.status_code == 201, response.text


def test_a_pathological_regex_on_rest_is_answered_while_other_clients_go_on(
    server: LocalServer,
) -> None:
    _insert(server, patient_name=EVIL_NAME)
    _insert(server, patient_name="aaaa")
    order: list[str] = []

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.url, headers=_headers(server), timeout=timeout_s(20)
        ) as http:

            async def evil() -> httpx.Response:
                params = {"select": "patient_name", "patient_name": EVIL}
                answer = await http.get("/rest/v1/emergency_requests", params=params)
                order.append("evil")
                return answer

            async def other(path: str) -> httpx.Response:
                answer = await http.get(path)
                order.append(path)
                return answer

            return await asyncio.gather(
                evil(), other("/auth/v1/health"), other("/rest/v1/hospitals?select=id")
            )

    # Before the fix the in-memory server evaluated this on its event loop with a backtracking
    # engine: every request, the health check included, waited behind it past the timeouts.
    evil_answer, health, hospitals = asyncio.run(run())
    assert evil_answer.status_code == 200, evil_answer.text
    assert evil_answer.json() == [{"patient_name": "aaaa"}]
    assert (health.status_code, hospitals.status_code) == (200, 200)
    assert sorted(order) == sorted(["evil", "/auth/v1/health", "/rest/v1/hospitals?select=id"])


def test_a_regex_that_needs_backtracking_is_refused_or_bounded(server: LocalServer) -> None:
    _insert(server, patient_name="abab")
    response = httpx.get(
        f"{server.url}/rest/v1/emergency_requests",
        params={"select": "patient_name", "patient_name": "match.^(ab)\\1$"},
        headers=_headers(server),
        timeout=timeout_s(20),
    )
    if server.store is not None:
        # In memory, RE2 runs every regex in linear time and has no back-references: PostgREST's
        # answer for an invalid regular expression, never a wait.
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "2201B"
        assert "back-references are not supported" in body["message"]
        assert set(body) == {"code", "message", "details", "hint"}
    else:
        # Postgres runs back-references itself, under the request's statement_timeout (57014,
        # HTTP 500 as PostgREST maps it: tests/integration/test_rest_postgres.py).
        assert response.status_code == 200, response.text
        assert response.json() == [{"patient_name": "abab"}]


def test_a_filter_longer_than_the_limit_is_refused(server: LocalServer) -> None:
    long_value = "eq." + "x" * MAX_FILTER_BYTES
    response = httpx.get(
        f"{server.url}/rest/v1/emergency_requests",
        params={"patient_name": long_value},
        headers=_headers(server),
        timeout=timeout_s(20),
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "PGRST100"
    assert f"at most {MAX_FILTER_BYTES} bytes" in body["details"]
    fits = httpx.get(
        f"{server.url}/rest/v1/emergency_requests",
        params={"patient_name": long_value[:MAX_FILTER_BYTES]},
        headers=_headers(server),
        timeout=timeout_s(20),
    )
    assert (fits.status_code, fits.json()) == (200, [])


def _binding(filter_: Any = None) -> dict[str, Any]:
    binding: dict[str, Any] = {"event": "INSERT", "schema": "public", "table": "emergency_requests"}
    if filter_ is not None:
        binding["filter"] = filter_
    return binding


def test_a_pathological_or_bad_realtime_filter_holds_no_other_channel(
    server: LocalServer,
) -> None:
    joins: dict[str, Any] = {
        "realtime:evil": f"patient_name={EVIL}",
        "realtime:plain": None,
        "realtime:backref": "patient_name=match.(a)\\1",
        "realtime:long": "patient_name=eq." + "x" * MAX_FILTER_BYTES,
    }

    async def run() -> dict[str, dict[str, Any]]:
        url = Socket.url(server.url, server.anon_key)
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            sock = Socket(ws)
            systems: dict[str, dict[str, Any]] = {}
            for ref, (topic, filter_) in enumerate(joins.items(), start=1):
                join = {"config": {"postgres_changes": [_binding(filter_)]}}
                await sock.send(
                    topic, "phx_join", {**join, "access_token": server.anon_key}, str(ref)
                )
                reply = await sock.expect("phx_reply", topic)
                assert reply["payload"]["status"] == "ok", reply
                systems[topic] = (await sock.expect("system", topic))["payload"]
            # The row no backtracking engine could test: the plain channel still gets it at once
            # and the evil channel does not (no match); then a row the evil filter matches.
            async with httpx.AsyncClient(
                base_url=f"{server.url}/rest/v1", headers=_headers(server), timeout=timeout_s(20)
            ) as rest:
                for name in (EVIL_NAME, "aaaa"):
                    row = {**EMERGENCY_ROW, "patient_name": name}
                    assert (await rest.post("/emergency_requests", json=row)).status_code == 201
            plain = await sock.expect("postgres_changes", "realtime:plain", within_s=20)
            assert plain["payload"]["data"]["record"]["patient_name"] == EVIL_NAME
            evil = await sock.expect("postgres_changes", "realtime:evil", within_s=20)
            assert evil["payload"]["data"]["record"]["patient_name"] == "aaaa"
            await sock.send("phoenix", "heartbeat", {}, "hb")
            await sock.expect("phx_reply", "phoenix")
            return systems

    systems = asyncio.run(run())
    assert systems["realtime:evil"]["status"] == "ok"
    assert systems["realtime:plain"]["status"] == "ok"
    refused = {
        "realtime:backref": "back-references are not supported",
        "realtime:long": f"longer than {MAX_FILTER_BYTES} bytes",
    }
    for topic, reason in refused.items():
        assert systems[topic]["status"] == "error", (topic, systems[topic])
        assert systems[topic]["extension"] == "postgres_changes"
        assert reason in systems[topic]["message"], (topic, systems[topic])


def test_the_hostile_bench_section_runs_small() -> None:
    from rtdata.bench.hostile import bench_hostile

    # The section, run small on the in-memory server: both phases happen, the pathological
    # client's requests are answered (the section raises on any answer but 200).
    figures = {
        f.key: f for f in bench_hostile(duration_s=0.3, clients=2, rows=5, databases=("memory",))
    }
    assert set(figures) == {
        "hostile.memory.normal_p99_ms",
        "hostile.memory.normal_p99_with_evil_ms",
        "hostile.memory.evil_answered",
        "hostile.memory.evil_p50_ms",
    }
    assert figures["hostile.memory.evil_answered"].value >= 1
    assert figures["hostile.memory.normal_p99_ms"].value > 0
    assert figures["hostile.memory.normal_p99_with_evil_ms"].baseline == (
        "hostile.memory.normal_p99_ms"
    )
