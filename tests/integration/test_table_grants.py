"""Table privileges (``GRANT``/``REVOKE`` in migrations) decide reads and writes as on Supabase,
on both backends (issue #17, item 1: "Writes obey RLS and grants exactly as Supabase does").

Supabase gives ``anon``, ``authenticated`` and ``service_role`` every privilege on new tables of
``public``; the migration below takes some away. Postgres checks privileges before row-level
security and answers ``42501 permission denied for table <name>``, which PostgREST sends with
401 to the anonymous role and 403 to any other. Every refused request is followed by a check
that the table's rows did not change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

from rtdata.server import LocalServer
from tests.support import SECRETS, rest_client, sign_up, until

GRANTS_SQL = """
create table public.notes (id bigint primary key, body text);
revoke insert, update, delete on public.notes from anon;

create table public.secret (id bigint primary key, body text);
revoke all on public.secret from anon, authenticated;
grant select on public.secret to authenticated;

create table public.drop_box (id bigint primary key, body text);
revoke select on table public.drop_box from anon, authenticated;

create table public.ledger (id bigint primary key, body text);
revoke update on public.ledger from authenticated;

create table public.locked (id bigint primary key, body text);
revoke all privileges on public.locked from public;
revoke all on public.locked from service_role;

create table public.feed (id bigint primary key, body text);
alter table public.feed enable row level security;
create policy "everyone reads" on public.feed for select using (true);
revoke select on public.feed from anon;

alter publication supabase_realtime add table public.notes, public.feed, public.drop_box;
"""

PASSWORD = "long-enough-password-17"
SECRETS.add(PASSWORD)


@dataclass
class World:
    server: LocalServer
    anon: httpx.Client
    user: httpx.Client
    service: httpx.Client

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table``, read with the service role, by id."""
        response = self.service.get(f"/{table}", params={"order": "id"})
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows


@pytest.fixture
def world(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[LocalServer]]
) -> Iterator[World]:
    migration = tmp_path / "001_grants.sql"
    migration.write_text(GRANTS_SQL)
    with serve(schema=migration) as server:
        token, _user_id = sign_up(server, "user@example.com", PASSWORD)
        anon = rest_client(server, server.anon_key)
        user = rest_client(server, server.anon_key, token)
        service = rest_client(server, server.service_key)
        try:
            for table in ("notes", "secret", "drop_box", "ledger", "feed"):
                seeded = service.post(f"/{table}", json={"id": 1, "body": "seed"})
                assert seeded.status_code == 201, seeded.text
            yield World(server, anon, user, service)
        finally:
            for client in (anon, user, service):
                client.close()


def _denied(response: httpx.Response, status: int, table: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {
        "code": "42501",
        "message": f"permission denied for table {table}",
        "details": None,
        "hint": None,
    }


MERGE = {"Prefer": "resolution=merge-duplicates"}
IGNORE = {"Prefer": "resolution=ignore-duplicates"}
REPRESENTATION = {"Prefer": "return=representation"}


def test_anon_without_write_grants_reads_but_cannot_write(world: World) -> None:
    before = world.rows("notes")
    read = world.anon.get("/notes", params={"select": "id,body"})
    assert (read.status_code, read.json()) == (200, [{"id": 1, "body": "seed"}])
    _denied(world.anon.post("/notes", json={"id": 2, "body": "x"}), 401, "notes")
    _denied(world.anon.post("/notes", json={"id": 1, "body": "x"}, headers=MERGE), 401, "notes")
    _denied(world.anon.post("/notes", json={"id": 1, "body": "x"}, headers=IGNORE), 401, "notes")
    _denied(world.anon.patch("/notes?id=eq.1", json={"body": "x"}), 401, "notes")
    _denied(world.anon.delete("/notes?id=eq.1"), 401, "notes")
    assert world.rows("notes") == before


def test_authenticated_keeps_its_default_grants_where_only_anon_lost_them(world: World) -> None:
    created = world.user.post("/notes", json={"id": 2, "body": "mine"}, headers=REPRESENTATION)
    assert (created.status_code, created.json()) == (201, [{"id": 2, "body": "mine"}])
    merged = world.user.post("/notes", json={"id": 2, "body": "merged"}, headers=MERGE)
    assert merged.status_code == 201, merged.text
    deleted = world.user.delete("/notes?id=eq.1")
    assert deleted.status_code == 204, deleted.text
    assert world.rows("notes") == [{"id": 2, "body": "merged"}]


def test_revoke_all_then_grant_select_leaves_only_that_select(world: World) -> None:
    before = world.rows("secret")
    _denied(world.anon.get("/secret"), 401, "secret")
    assert world.anon.head("/secret").status_code == 401
    read = world.user.get("/secret", params={"select": "body"})
    assert (read.status_code, read.json()) == (200, [{"body": "seed"}])
    _denied(world.user.post("/secret", json={"id": 2, "body": "x"}), 403, "secret")
    _denied(world.user.patch("/secret?id=eq.1", json={"body": "x"}), 403, "secret")
    _denied(world.user.delete("/secret?id=eq.1"), 403, "secret")
    _denied(world.anon.delete("/secret?id=eq.1"), 401, "secret")
    assert world.rows("secret") == before


def test_insert_without_select_works_only_without_reading_back(world: World) -> None:
    blind = world.user.post("/drop_box", json={"id": 2, "body": "blind"})
    assert blind.status_code == 201, blind.text
    _denied(
        world.user.post("/drop_box", json={"id": 3, "body": "x"}, headers=REPRESENTATION),
        403,
        "drop_box",
    )
    _denied(world.user.get("/drop_box"), 403, "drop_box")
    # A filter reads the table: UPDATE and DELETE with one need SELECT too.
    _denied(world.user.patch("/drop_box?id=eq.1", json={"body": "x"}), 403, "drop_box")
    _denied(world.user.delete("/drop_box?id=eq.1"), 403, "drop_box")
    assert world.rows("drop_box") == [{"id": 1, "body": "seed"}, {"id": 2, "body": "blind"}]


def test_upsert_without_select_is_refused(world: World) -> None:
    # ON CONFLICT reads the conflict target: Postgres needs SELECT for either resolution.
    for prefer in (IGNORE, MERGE):
        response = world.user.post("/drop_box", json={"id": 1, "body": "x"}, headers=prefer)
        _denied(response, 403, "drop_box")
    assert world.rows("drop_box") == [{"id": 1, "body": "seed"}]


def test_upsert_without_update_can_ignore_but_not_merge(world: World) -> None:
    ignored = world.user.post("/ledger", json={"id": 1, "body": "x"}, headers=IGNORE)
    assert ignored.status_code == 201, ignored.text
    _denied(world.user.post("/ledger", json={"id": 1, "body": "x"}, headers=MERGE), 403, "ledger")
    # DO UPDATE needs UPDATE even when no row conflicts.
    _denied(world.user.post("/ledger", json={"id": 2, "body": "x"}, headers=MERGE), 403, "ledger")
    _denied(world.user.patch("/ledger?id=eq.1", json={"body": "x"}), 403, "ledger")
    assert world.rows("ledger") == [{"id": 1, "body": "seed"}]


def test_revoking_from_public_leaves_a_roles_own_grant(world: World) -> None:
    # Supabase's defaults are granted to each role, not to PUBLIC: revoking from PUBLIC
    # takes nothing from anon.
    assert world.anon.post("/locked", json={"id": 1, "body": "anon"}).status_code == 201
    read = world.anon.get("/locked", params={"select": "body"})
    assert (read.status_code, read.json()) == (200, [{"body": "anon"}])


def test_service_role_is_subject_to_grants(world: World) -> None:
    # It bypasses row-level security, not privileges.
    _denied(world.service.get("/locked"), 403, "locked")
    _denied(world.service.post("/locked", json={"id": 2, "body": "x"}), 403, "locked")
    read = world.anon.get("/locked")
    assert (read.status_code, read.json()) == (200, [])


def test_realtime_subscriber_without_select_gets_no_change(world: World) -> None:
    async def run() -> None:
        got: list[tuple[str, dict[str, Any]]] = []
        client = AsyncRealtimeClient(
            f"{world.server.url}/realtime/v1", token=world.server.anon_key, initial_backoff=0.1
        )
        await client.connect()
        channel = client.channel("grants")
        for table in ("feed", "drop_box", "notes"):
            channel.on_postgres_changes(
                "*",
                schema="public",
                table=table,
                callback=lambda p, table=table: got.append(
                    (table, p["data"].get("record") or p["data"].get("old_record"))
                ),
            )
        states: list[RealtimeSubscribeStates] = []
        await channel.subscribe(lambda state, _error: states.append(state))
        await until(lambda: RealtimeSubscribeStates.SUBSCRIBED in states, what="subscribed")
        # feed (RLS) and drop_box (no RLS) change first, drop_box's row is deleted too (a
        # DELETE is not RLS-checked, but still needs SELECT); notes' change arriving on the
        # same socket means the others were decided (and withheld) before it.
        for table in ("feed", "drop_box", "notes"):
            response = await asyncio.to_thread(
                world.service.post, f"/{table}", json={"id": 7, "body": table}
            )
            assert response.status_code == 201, response.text
        deleted = await asyncio.to_thread(world.service.delete, "/drop_box", params={"id": "eq.7"})
        assert deleted.status_code == 204, deleted.text
        response = await asyncio.to_thread(
            world.service.post, "/notes", json={"id": 8, "body": "last"}
        )
        assert response.status_code == 201, response.text
        await until(lambda: ("notes", {"id": 8, "body": "last"}) in got, within_s=10)
        # (On Postgres the seeds' changes may arrive after the subscription: notes' is allowed.)
        assert [table for table, _record in got if table in ("feed", "drop_box")] == []
        await client.close()

    asyncio.run(run())


def test_privileges_are_checked_before_row_level_security(world: World) -> None:
    # feed's policy lets everyone read, but anon lost SELECT: the privilege decides.
    _denied(world.anon.get("/feed"), 401, "feed")
    # anon keeps INSERT and has no insert policy: past the privilege, RLS refuses.
    refused = world.anon.post("/feed", json={"id": 2, "body": "x"})
    assert (refused.status_code, refused.json()["message"]) == (
        401,
        'new row violates row-level security policy for table "feed"',
    )
    assert world.rows("feed") == [{"id": 1, "body": "seed"}]


def test_an_empty_patch_still_needs_select(world: World) -> None:
    # PostgREST runs a SELECT instead of an UPDATE for an empty body.
    _denied(world.user.patch("/drop_box?id=eq.1", json={}), 403, "drop_box")
    assert world.anon.patch("/notes?id=eq.1", json={}).status_code == 204
