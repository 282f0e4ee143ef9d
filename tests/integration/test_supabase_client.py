"""The official supabase async client, unchanged, against the local server: a signed-up user
with a hospital claim sees only its hospital's rows, over realtime and over REST."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from supabase import AsyncClientOptions, acreate_client

from rtdata.server import LocalServer
from tests.integration.test_realtime_features import POLICY_SQL, until


def test_user_with_hospital_claim_sees_only_its_rows(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[LocalServer]]
) -> None:
    migration = tmp_path / "001_cases.sql"
    migration.write_text(POLICY_SQL)

    async def run(server: LocalServer) -> None:
        http = httpx.AsyncClient()
        client = await acreate_client(
            server.url,
            server.anon_key,
            options=AsyncClientOptions(httpx_client=http, auto_refresh_token=False),
        )
        try:
            await client.auth.sign_up({"email": "nurse@example.org", "password": "s3cret-pass"})
            server.set_app_metadata("nurse@example.org", {"hospital_id": 2})
            session = await client.auth.sign_in_with_password(
                {"email": "nurse@example.org", "password": "s3cret-pass"}
            )
            assert session.session is not None
            await client.realtime.set_auth(session.session.access_token)

            got: list[dict[str, Any]] = []
            channel = client.channel("cases-feed")
            channel.on_postgres_changes(
                "INSERT",
                schema="public",
                table="cases",
                callback=lambda p: got.append(p["data"]["record"]),
            )
            states: list[str] = []
            await channel.subscribe(lambda state, error: states.append(state.value))
            assert states == ["SUBSCRIBED"]

            service = await acreate_client(
                server.url, server.service_key, options=AsyncClientOptions(httpx_client=http)
            )
            await (
                service.table("cases")
                .insert([{"hospital_id": h, "note": f"n{h}"} for h in (1, 2, 3, 2)])
                .execute()
            )
            await until(lambda: len(got) == 2, what="the user's two rows")
            assert [r["hospital_id"] for r in got] == [2, 2]

            mine = await client.table("cases").select("*", count="exact").execute()
            assert [r["hospital_id"] for r in mine.data] == [2, 2]
            assert mine.count == 2
            everything = await service.table("cases").select("id").execute()
            assert len(everything.data) == 4
            await client.remove_all_channels()
        finally:
            await client.realtime.close()
            await http.aclose()

    with serve(schema=migration) as server:
        asyncio.run(run(server))
