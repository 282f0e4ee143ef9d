"""The local server on a real Postgres (``LocalServer(db="embedded")``), through the official
Python client on real sockets: REST under the caller's role, changes from logical decoding
(made by any client of the database) and row-level security per subscriber."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClientOptions, acreate_client
from supabase_auth.errors import AuthApiError

from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import DEFAULT_JWT_SECRET, LocalServer
from rtdata.server.gotrue import GoTrueError
from rtdata.server.postgres.cluster import new_database
from rtdata.server.postgres.wal import WalError
from tests.support import EMERGENCY_ROW, published_changes, until, wait_until

APP = Path(__file__).parent / "migrations" / "supabase_app"


def user_token(sub: uuid.UUID) -> str:
    """An access token of an authenticated user, as GoTrue signs it."""
    now_s = int(time.time())
    claims = {"sub": str(sub), "role": "authenticated", "aud": "authenticated"}
    claims |= {"iat": now_s, "exp": now_s + 3600}
    return jwt.encode(claims, DEFAULT_JWT_SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def pg_server() -> Iterator[LocalServer]:
    """A local server on an embedded Postgres with a Supabase app's migrations."""
    with LocalServer(schema=APP, db="embedded") as server:
        yield server


def sql(server: LocalServer, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run SQL as a plain client of the database would (psql, a migration): not through
    the server."""
    assert server.backend is not None
    with psycopg.connect(server.backend.conninfo, autocommit=True) as conn:
        cursor = conn.execute(statement.encode(), params)
        return cursor.fetchall() if cursor.description else []


def new_user(server: LocalServer, name: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    sql(
        server,
        "insert into auth.users (id, aud, role, email, raw_user_meta_data) "
        "values (%s, 'authenticated', 'authenticated', %s, jsonb_build_object('username', %s::text))",
        (user_id, f"{name}-{user_id.hex[:6]}@example.test", f"{name}-{user_id.hex[:6]}"),
    )
    return user_id


def test_a_change_made_with_sql_reaches_the_official_client(pg_server: LocalServer) -> None:
    alice = new_user(pg_server, "alice")
    team = sql(pg_server, "insert into teams (name) values ('ward') returning id")[0][0]
    sql(pg_server, "insert into team_members values (%s, %s)", (team, alice))

    async def run() -> list[dict[str, Any]]:
        http = httpx.AsyncClient()
        client = await acreate_client(
            pg_server.url, pg_server.service_key, options=AsyncClientOptions(httpx_client=http)
        )
        got: list[dict[str, Any]] = []
        try:
            channel = client.channel(f"notes-{uuid.uuid4().hex[:6]}")
            channel.on_postgres_changes(
                "*", schema="public", table="notes", callback=lambda p: got.append(p["data"])
            )
            states: list[str] = []
            await channel.subscribe(lambda state, _error: states.append(state.value))
            await until(lambda: states == ["SUBSCRIBED"], what="the subscription")
            sql(
                pg_server,
                "insert into notes (team_id, owner_id, body) values (%s, %s, 'from psql')",
                (team, alice),
            )
            sql(pg_server, "update notes set body = 'edited' where body = 'from psql'")
            await until(lambda: len(got) == 2, within_s=10, what="the insert and the update")
            await client.remove_all_channels()
        finally:
            await client.realtime.close()
            await http.aclose()
        return got

    inserted, updated = asyncio.run(run())
    assert inserted["type"] == "INSERT"
    assert inserted["record"]["body"] == "from psql"
    assert inserted["record"]["owner_id"] == str(alice)
    assert isinstance(inserted["record"]["id"], int)
    columns = {c["name"]: c["type"] for c in inserted["columns"]}
    assert columns == {"id": "int8", "team_id": "int8", "owner_id": "uuid", "body": "text"}
    assert inserted["commit_timestamp"].endswith("Z")
    assert updated["type"] == "UPDATE"
    assert updated["record"]["body"] == "edited"
    assert updated["old_record"] == {"id": inserted["record"]["id"]}


def test_rest_and_subscriptions_obey_row_level_security(pg_server: LocalServer) -> None:
    alice, bob = new_user(pg_server, "alice"), new_user(pg_server, "bob")
    team = sql(pg_server, "insert into teams (name) values ('theatre') returning id")[0][0]
    sql(pg_server, "insert into team_members values (%s, %s)", (team, alice))

    async def run() -> tuple[list[str], list[str], list[Any], list[Any]]:
        http = httpx.AsyncClient()
        clients = []
        seen: dict[uuid.UUID, list[str]] = {alice: [], bob: []}
        try:
            for user in (alice, bob):
                client = await acreate_client(
                    pg_server.url,
                    pg_server.anon_key,
                    options=AsyncClientOptions(
                        httpx_client=http, headers={"Authorization": f"Bearer {user_token(user)}"}
                    ),
                )
                await client.realtime.set_auth(user_token(user))
                channel = client.channel(f"notes-{user.hex[:6]}")
                channel.on_postgres_changes(
                    "INSERT",
                    schema="public",
                    table="notes",
                    callback=lambda p, user=user: seen[user].append(p["data"]["record"]["body"]),
                )
                states: list[str] = []
                await channel.subscribe(
                    lambda state, _error, states=states: states.append(state.value)
                )
                await until(lambda states=states: states == ["SUBSCRIBED"], what="subscribed")
                clients.append(client)
            alice_client, bob_client = clients
            # Alice writes through REST under her own role: the policy's WITH CHECK holds.
            await (
                alice_client.table("notes")
                .insert({"team_id": team, "body": "private to the team"})
                .execute()
            )
            # Bob may not write into a team he is not in.
            with pytest.raises(APIError) as refused:
                await bob_client.table("notes").insert({"team_id": team, "body": "no"}).execute()
            assert "row-level security" in str(refused.value)
            await until(lambda: seen[alice] == ["private to the team"], within_s=10, what="alice")
            alice_rows = (await alice_client.table("notes").select("body").execute()).data
            bob_rows = (await bob_client.table("notes").select("body").execute()).data
            for client in clients:
                await client.remove_all_channels()
        finally:
            for client in clients:
                await client.realtime.close()
            await http.aclose()
        return seen[alice], seen[bob], alice_rows, bob_rows

    alice_seen, bob_seen, alice_rows, bob_rows = asyncio.run(run())
    assert alice_seen == ["private to the team"]
    assert bob_seen == []  # his subscription never got the team's private note
    assert {"body": "private to the team"} in alice_rows
    assert bob_rows == []


def test_sign_up_writes_auth_users_and_runs_the_apps_trigger(pg_server: LocalServer) -> None:
    email = f"carol-{uuid.uuid4().hex[:6]}@example.test"

    async def run() -> tuple[str, list[Any]]:
        http = httpx.AsyncClient()
        client = await acreate_client(
            pg_server.url,
            pg_server.anon_key,
            options=AsyncClientOptions(httpx_client=http, auto_refresh_token=False),
        )
        try:
            signed = await client.auth.sign_up(
                {
                    "email": email,
                    "password": "s3cret-pass",
                    "options": {"data": {"username": "carol"}},
                }
            )
            assert signed.user is not None
            session = await client.auth.sign_in_with_password(
                {"email": email, "password": "s3cret-pass"}
            )
            assert session.session is not None
            # Her own profile, made by the trigger, readable under her own role.
            client.postgrest.auth(session.session.access_token)
            profile = (await client.table("profiles").select("username").execute()).data
        finally:
            await client.realtime.close()
            await http.aclose()
        return signed.user.id, profile

    user_id, profile = asyncio.run(run())
    assert profile == [{"username": "carol"}]
    stored = sql(
        pg_server,
        "select email, encrypted_password like '$2%%', raw_app_meta_data ->> 'provider' "
        "from auth.users where id = %s",
        (uuid.UUID(user_id),),
    )
    assert stored == [(email, True, "email")]
    identities = sql(
        pg_server, "select provider from auth.identities where user_id = %s", (uuid.UUID(user_id),)
    )
    assert identities == [("email",)]


def test_the_admin_api_makes_a_user_with_its_id_and_runs_the_apps_trigger(
    pg_server: LocalServer,
) -> None:
    user_id = uuid.uuid4()
    email = f"erin-{user_id.hex[:6]}@example.test"

    async def run() -> tuple[str, str, list[Any]]:
        http = httpx.AsyncClient()
        client = await acreate_client(
            pg_server.url,
            pg_server.service_key,
            options=AsyncClientOptions(httpx_client=http, auto_refresh_token=False),
        )
        try:
            made = await client.auth.admin.create_user(
                {
                    "id": str(user_id),
                    "email": email,
                    "email_confirm": True,
                    "user_metadata": {"username": "erin"},
                }
            )
            with pytest.raises(AuthApiError) as again:
                await client.auth.admin.create_user({"id": str(user_id), "email": email})
            # The service role reads every profile: the trigger made hers.
            profile = (
                await client.table("profiles").select("username").eq("id", str(user_id)).execute()
            ).data
        finally:
            await client.realtime.close()
            await http.aclose()
        return made.user.id, again.value.code or "", profile

    made_id, code, profile = asyncio.run(run())
    assert made_id == str(user_id)
    assert code == "email_exists"
    assert profile == [{"username": "erin"}]
    stored = sql(
        pg_server, "select email, encrypted_password from auth.users where id = %s", (user_id,)
    )
    assert stored == [(email, "")]  # no password: it cannot sign in with one


def test_a_user_made_in_the_database_signs_in(pg_server: LocalServer) -> None:
    email = f"dave-{uuid.uuid4().hex[:6]}@example.test"
    hashed = bcrypt.hashpw(b"from-a-seed", bcrypt.gensalt(4)).decode()
    user_id = uuid.uuid4()
    sql(
        pg_server,
        "insert into auth.users (id, aud, role, email, encrypted_password, raw_app_meta_data) "
        "values (%s, 'authenticated', 'authenticated', %s, %s, '{\"provider\": \"email\", \"team\": 7}')",
        (user_id, email, hashed),
    )

    async def run() -> tuple[str, Any]:
        http = httpx.AsyncClient()
        client = await acreate_client(
            pg_server.url,
            pg_server.anon_key,
            options=AsyncClientOptions(httpx_client=http, auto_refresh_token=False),
        )
        try:
            with pytest.raises(AuthApiError):
                await client.auth.sign_in_with_password({"email": email, "password": "wrong-one"})
            session = await client.auth.sign_in_with_password(
                {"email": email, "password": "from-a-seed"}
            )
            assert session.user is not None
            return session.user.id, session.user.app_metadata.get("team")
        finally:
            await client.realtime.close()
            await http.aclose()

    assert asyncio.run(run()) == (str(user_id), 7)


def test_set_app_metadata_writes_auth_users_and_the_next_tokens(pg_server: LocalServer) -> None:
    email = f"erin-{uuid.uuid4().hex[:6]}@example.test"
    hashed = bcrypt.hashpw(b"from-a-seed", bcrypt.gensalt(4)).decode()
    meta = '{"provider": "email", "providers": ["email"], "team": 7}'
    sql(
        pg_server,
        "insert into auth.users (id, aud, role, email, encrypted_password, raw_app_meta_data)"
        " values (%s, 'authenticated', 'authenticated', %s, %s, %s::jsonb)",
        (uuid.uuid4(), email, hashed, meta),
    )

    def stored() -> Any:
        found = sql(
            pg_server, "select raw_app_meta_data from auth.users where email = %s", (email,)
        )
        return found[0][0]

    def token_claims() -> dict[str, Any]:
        response = httpx.post(
            f"{pg_server.url}/auth/v1/token",
            params={"grant_type": "password"},
            json={"email": email, "password": "from-a-seed"},
            headers={"apikey": pg_server.anon_key},
        )
        assert response.status_code == 200, response.text
        app_metadata: dict[str, Any] = response.json()["user"]["app_metadata"]
        return app_metadata

    # A user the server has not seen yet (made in the database): the claims replace the custom
    # ones in auth.users, GoTrue's provider keys stay, and the next sign-in carries them.
    pg_server.set_app_metadata(email.upper(), {"hospital_id": 2})
    assert stored() == {"provider": "email", "providers": ["email"], "hospital_id": 2}
    assert token_claims()["hospital_id"] == 2
    # Now signed in (known to the server's session store): both places change.
    pg_server.set_app_metadata(email, {"hospital_id": 3})
    assert stored()["hospital_id"] == 3
    assert token_claims()["hospital_id"] == 3
    with pytest.raises(GoTrueError) as unknown:
        pg_server.set_app_metadata("nobody@example.test", {"hospital_id": 1})
    assert unknown.value.status == 404
    with pytest.raises(ValueError, match="reserved claim"):
        pg_server.set_app_metadata(email, {"provider": "phone"})
    assert stored()["hospital_id"] == 3
    # A claim named as one of GoTrue's stays in app_metadata: it never shadows the token's own.
    pg_server.set_app_metadata(email, {"role": "service_role"})
    assert stored()["role"] == "service_role"
    assert token_claims()["role"] == "service_role"  # the user's app_metadata
    signed = httpx.post(
        f"{pg_server.url}/auth/v1/token",
        params={"grant_type": "password"},
        json={"email": email, "password": "from-a-seed"},
        headers={"apikey": pg_server.anon_key},
    ).json()
    claims = jwt.decode(signed["access_token"], options={"verify_signature": False})
    assert claims["role"] == "authenticated"
    assert claims["app_metadata"]["role"] == "service_role"


def test_a_sign_up_the_database_refuses_is_undone(tmp_path: Path) -> None:
    (tmp_path / "0001_strict.sql").write_text(
        "create function public.refuse_test_users() returns trigger language plpgsql as $$\n"
        "begin\n"
        "  if new.email like '%@refused.test' then raise exception 'no test users'; end if;\n"
        "  return new;\n"
        "end $$;\n"
        "create trigger refuse before insert on auth.users\n"
        "  for each row execute function public.refuse_test_users();\n"
    )
    with LocalServer(schema=tmp_path, db="embedded") as server:
        url = f"{server.url}/auth/v1"
        headers = {"apikey": server.anon_key}
        body = {"email": "eve@refused.test", "password": "s3cret-pass"}
        refused = httpx.post(f"{url}/signup", json=body, headers=headers)
        assert refused.status_code == 500
        assert refused.json()["msg"] == "Database error saving new user"
        signed_in = httpx.post(f"{url}/token?grant_type=password", json=body, headers=headers)
        assert signed_in.status_code == 400
        assert sql(server, "select count(*) from auth.users") == [(0,)]


def test_servers_on_two_databases_of_one_cluster_need_their_own_slots(
    postgres_admin_dsn: str, hospital_template: str
) -> None:
    migrations = get_scenario(DEFAULT_SCENARIO).migrations
    with (
        new_database(postgres_admin_dsn, hospital_template) as first,
        new_database(postgres_admin_dsn, hospital_template) as second,
    ):
        with LocalServer(db=first, schema=migrations, slot="rtdata_first") as one:
            # Slot names are cluster-wide: the default one, taken by another database, is a
            # clear error at start, not a silent loss of the first server's changes.
            clash = LocalServer(db=second, schema=migrations, slot="rtdata_first")
            with pytest.raises(WalError, match="rtdata_first"):
                clash.start()
            with LocalServer(db=second, schema=migrations, slot="rtdata_second") as two:
                published = [published_changes(one), published_changes(two)]
                for server in (one, two):
                    headers = {
                        "apikey": server.service_key,
                        "Authorization": f"Bearer {server.service_key}",
                    }
                    response = httpx.post(
                        f"{server.url}/rest/v1/emergency_requests",
                        json=EMERGENCY_ROW,
                        headers=headers,
                    )
                    assert response.status_code == 201, response.text
                wait_until(
                    lambda: all(len(p) == 1 for p in published), what="each server's own change"
                )
                assert [len(p) for p in published] == [1, 1]
        slots = sql_admin(postgres_admin_dsn, "select slot_name from pg_replication_slots")
        assert {"rtdata_first", "rtdata_second"} <= {name for (name,) in slots}


def sql_admin(dsn: str, statement: str) -> list[Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(statement.encode()).fetchall()


def test_a_lost_rls_connection_is_reopened_and_changes_still_checked(
    pg_server: LocalServer,
) -> None:
    backend, loop = pg_server.backend, pg_server._loop
    assert backend is not None
    assert loop is not None
    checker = asyncio.run_coroutine_threadsafe(backend._checker_connection(), loop).result(10)
    asyncio.run_coroutine_threadsafe(checker.close(), loop).result(10)
    # Bob still never receives the team's private note; Alice still does.
    test_rest_and_subscriptions_obey_row_level_security(pg_server)
