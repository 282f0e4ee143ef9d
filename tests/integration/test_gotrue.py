"""The local GoTrue subset: the official supabase-py auth client against ``add_routes`` served
on a real socket (port 0), each test inside one ``asyncio.run``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from aiohttp import web
from supabase import AsyncClient, AsyncClientOptions, acreate_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from rtdata.server.auth import make_key
from rtdata.server.gotrue import (
    DEFAULT_ACCESS_TOKEN_TTL_S,
    UserDirectory,
    UserStore,
    add_routes,
)
from rtdata.server.postgres.shape import prepare
from rtdata.server.postgres.users import PostgresUsers
from tests.integration.conftest import BACKENDS
from tests.support import timeout_s
from tests.unit.test_gotrue_users import EMAIL, PASSWORD, Clock, claims_of

ANON = make_key("anon")


# --- UserStore, no sockets ---------------------------------------------------------------


# --- the official client on a real socket -------------------------------------------------

Scenario = Callable[[str, AsyncClient, httpx.AsyncClient], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(users: UserStore, directory: UserDirectory | None) -> AsyncIterator[str]:
    """Serve ``add_routes`` (keeping users in ``directory`` if given) on a free port and yield
    the base URL."""
    app = web.Application()
    add_routes(app, users, directory)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture(params=BACKENDS)
def directory(request: pytest.FixtureRequest) -> Iterator[UserDirectory | None]:
    """Where sign-up keeps users: the server's memory only, or also ``auth.users`` of a
    Postgres database with Supabase's shape (as ``LocalServer(db=...)`` does)."""
    if request.param == "memory":
        yield None
        return
    conn: psycopg.Connection[Any] = request.getfixturevalue("pg_database")
    prepare(conn)
    info = conn.info.dsn

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with await psycopg.AsyncConnection.connect(info) as lent:
            yield lent

    yield PostgresUsers(connect)


def run(users: UserStore, scenario: Scenario, directory: UserDirectory | None = None) -> None:
    """Run ``scenario`` with a supabase client and a raw httpx client against ``users`` (kept
    in ``directory`` too, if given)."""

    async def main() -> None:
        async with (
            serve(users, directory) as url,
            httpx.AsyncClient(timeout=timeout_s(10)) as http,
        ):
            # No auto refresh: it would leave a timer task behind; tests refresh explicitly.
            options = AsyncClientOptions(httpx_client=http, auto_refresh_token=False)
            client = await acreate_client(url, ANON, options)
            await scenario(url, client, http)

    asyncio.run(main())


def test_sign_up_returns_a_session_with_gotrue_claims(directory: UserDirectory | None) -> None:
    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        response = await client.auth.sign_up(
            {"email": EMAIL, "password": PASSWORD, "options": {"data": {"hospital_id": 2}}}
        )
        session, user = response.session, response.user
        assert session is not None
        assert user is not None
        assert session.token_type == "bearer"
        assert session.expires_in == DEFAULT_ACCESS_TOKEN_TTL_S
        assert session.refresh_token
        assert user.email == EMAIL
        assert user.user_metadata == {"hospital_id": 2}
        claims = claims_of(session.access_token)
        assert claims["exp"] == session.expires_at
        assert claims["sub"] == user.id
        assert claims["role"] == claims["aud"] == "authenticated"
        assert claims["email"] == EMAIL
        assert claims["iss"] == f"{url}/auth/v1"
        assert claims["is_anonymous"] is False
        assert claims["session_id"]
        assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
        assert claims["user_metadata"] == {"hospital_id": 2}

    run(UserStore(), scenario, directory)


def test_sign_in_get_user_and_app_metadata_claims(directory: UserDirectory | None) -> None:
    users = UserStore()
    users.sign_up(EMAIL, PASSWORD)
    users.set_app_metadata(EMAIL, {"hospital_id": 7})

    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        response = await client.auth.sign_in_with_password({"email": EMAIL, "password": PASSWORD})
        assert response.session is not None
        assert response.user is not None
        claims = claims_of(response.session.access_token)
        assert claims["hospital_id"] == 7
        assert claims["app_metadata"]["hospital_id"] == 7
        assert claims["app_metadata"]["provider"] == "email"
        fetched = await client.auth.get_user()
        assert fetched is not None
        assert fetched.user.id == response.user.id == claims["sub"]
        assert fetched.user.app_metadata["hospital_id"] == 7

    run(users, scenario, directory)


def test_wrong_password_unknown_user_and_duplicate_sign_up(directory: UserDirectory | None) -> None:
    users = UserStore()
    users.sign_up(EMAIL, PASSWORD)

    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        for email, password in [(EMAIL, "wrong-password"), ("nobody@hospital.test", PASSWORD)]:
            with pytest.raises(AuthApiError) as refused:
                await client.auth.sign_in_with_password({"email": email, "password": password})
            assert (refused.value.status, refused.value.code) == (400, "invalid_credentials")
            assert refused.value.message == "Invalid login credentials"
        with pytest.raises(AuthApiError) as duplicate:
            await client.auth.sign_up({"email": EMAIL.upper(), "password": PASSWORD})
        assert (duplicate.value.status, duplicate.value.code) == (422, "user_already_exists")
        with pytest.raises(AuthWeakPasswordError) as weak:
            await client.auth.sign_up({"email": "new@hospital.test", "password": "short"})
        assert weak.value.reasons == ["length"]

    run(users, scenario, directory)


def test_refresh_rotates_and_a_reused_token_ends_the_session(
    directory: UserDirectory | None,
) -> None:
    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        first = (await client.auth.sign_up({"email": EMAIL, "password": PASSWORD})).session
        assert first is not None
        second = (await client.auth.refresh_session()).session
        assert second is not None
        assert second.refresh_token != first.refresh_token
        assert (
            claims_of(second.access_token)["session_id"]
            == (claims_of(first.access_token)["session_id"])
        )
        with pytest.raises(AuthApiError) as reused:
            await client.auth.refresh_session(first.refresh_token)
        assert (reused.value.status, reused.value.code) == (400, "refresh_token_already_used")
        # Reuse detection: the thief's replay also revokes the rotated token.
        with pytest.raises(AuthApiError) as revoked:
            await client.auth.refresh_session(second.refresh_token)
        assert (revoked.value.status, revoked.value.code) == (400, "refresh_token_not_found")

    run(UserStore(), scenario, directory)


def test_sign_out_revokes_refresh_tokens_and_the_session(directory: UserDirectory | None) -> None:
    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        session = (await client.auth.sign_up({"email": EMAIL, "password": PASSWORD})).session
        assert session is not None
        await client.auth.sign_out()
        assert await client.auth.get_session() is None
        with pytest.raises(AuthApiError) as refresh:
            await client.auth.refresh_session(session.refresh_token)
        assert (refresh.value.status, refresh.value.code) == (400, "refresh_token_not_found")
        with pytest.raises(AuthApiError) as user:
            await client.auth.get_user(session.access_token)
        assert (user.value.status, user.value.code) == (401, "session_not_found")

    run(UserStore(), scenario, directory)


def test_expired_and_forged_bearer_tokens_are_refused(directory: UserDirectory | None) -> None:
    clock = Clock()
    users = UserStore(clock_s=clock)

    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        session = (await client.auth.sign_up({"email": EMAIL, "password": PASSWORD})).session
        assert session is not None
        forged = jwt.encode(claims_of(session.access_token), "x" * 32, algorithm="HS256")
        clock.now_s += DEFAULT_ACCESS_TOKEN_TTL_S
        for token in (session.access_token, forged, ANON):
            with pytest.raises(AuthApiError) as refused:
                await client.auth.get_user(token)
            assert (refused.value.status, refused.value.code) == (401, "bad_jwt")
        refreshed = (await client.auth.refresh_session(session.refresh_token)).session
        assert refreshed is not None
        fetched = await client.auth.get_user(refreshed.access_token)
        assert fetched is not None
        assert fetched.user.email == EMAIL

    run(users, scenario, directory)


def test_the_admin_api_makes_users_for_the_service_role_only(
    directory: UserDirectory | None,
) -> None:
    user_id = "0b5a3c1e-7d2f-4e8a-9c6b-1f2e3d4c5b6a"

    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        service = await acreate_client(
            url,
            make_key("service_role"),
            AsyncClientOptions(httpx_client=http, auto_refresh_token=False),
        )
        made = await service.auth.admin.create_user(
            {
                "id": user_id,
                "email": EMAIL,
                "password": PASSWORD,
                "user_metadata": {"full_name": "Ada"},
                "app_metadata": {"team": 7},
            }
        )
        assert made.user.id == user_id
        assert made.user.user_metadata == {"full_name": "Ada"}
        assert made.user.app_metadata == {"provider": "email", "providers": ["email"], "team": 7}
        signed = await client.auth.sign_in_with_password({"email": EMAIL, "password": PASSWORD})
        assert signed.user is not None
        assert signed.user.id == user_id
        with pytest.raises(AuthApiError) as refused:
            await client.auth.admin.create_user({"email": "eve@example.test"})  # anon key
        assert (refused.value.status, refused.value.code) == (403, "not_admin")
        for body, status, code in (
            ({"email": EMAIL.upper()}, 422, "email_exists"),
            ({"email": "bob@example.test", "id": user_id}, 422, "email_exists"),
            ({"email": "bob@example.test", "id": "not-a-uuid"}, 400, "validation_failed"),
            ({"email": "not an address"}, 400, "validation_failed"),
            ({"email": "bob@example.test", "password": "short"}, 422, "weak_password"),
            ({"email": "bob@example.test", "user_metadata": [1]}, 400, "validation_failed"),
        ):
            with pytest.raises((AuthApiError, AuthWeakPasswordError)) as bad:
                await service.auth.admin.create_user(body)  # type: ignore[arg-type]
            assert (bad.value.status, bad.value.code) == (status, code), body
        # Without a password, no password signs in.
        await service.auth.admin.create_user({"email": "nopass@example.test"})
        with pytest.raises(AuthApiError):
            await client.auth.sign_in_with_password(
                {"email": "nopass@example.test", "password": PASSWORD}
            )
        if directory is not None:
            stored = await directory.find(EMAIL)
            assert stored is not None
            assert stored.id == user_id

    run(UserStore(), scenario, directory)


def test_raw_http_errors_api_key_and_small_endpoints(directory: UserDirectory | None) -> None:
    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        auth = f"{url}/auth/v1"
        key = {"apikey": ANON}
        missing = await http.post(f"{auth}/token?grant_type=password", json={})
        assert (missing.status_code, missing.json()) == (
            401,
            {"message": "No API key found in request"},
        )
        for bad_key in ("nonsense", make_key("anon", "y" * 32), make_key("authenticated")):
            refused = await http.get(f"{auth}/settings", headers={"apikey": bad_key})
            assert refused.status_code == 401
        grant = await http.post(f"{auth}/token?grant_type=magic", json={}, headers=key)
        assert (grant.status_code, grant.json()) == (
            400,
            {"code": 400, "error_code": "invalid_credentials", "msg": "unsupported_grant_type"},
        )
        for body in (b"{", b"[1]"):
            malformed = await http.post(f"{auth}/signup", content=body, headers=key)
            assert malformed.status_code == 400
            assert malformed.json()["error_code"] == "bad_json"
        versioned = await http.post(
            f"{auth}/signup",
            content=b"{",
            headers={**key, "X-Supabase-Api-Version": "2024-01-01"},
        )
        assert versioned.status_code == 400
        assert versioned.headers["X-Supabase-Api-Version"] == "2024-01-01"
        assert versioned.json()["code"] == "bad_json"
        no_bearer = await http.get(f"{auth}/user", headers=key)
        assert (no_bearer.status_code, no_bearer.json()["error_code"]) == (401, "no_authorization")
        settings = await http.get(f"{auth}/settings", headers=key)
        assert settings.json()["mailer_autoconfirm"] is True
        health = await http.get(f"{auth}/health", headers=key)
        assert health.json()["name"] == "GoTrue"
        unknown = await http.post(f"{auth}/otp", json={}, headers=key)
        assert (unknown.status_code, unknown.json()["error_code"]) == (404, "not_found")

    run(UserStore(), scenario, directory)


def test_no_secret_reaches_a_log_record_or_an_error(
    caplog: pytest.LogCaptureFixture, directory: UserDirectory | None
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_seen: list[str] = [PASSWORD, "wrong-password"]
    errors: list[str] = []

    async def scenario(url: str, client: AsyncClient, http: httpx.AsyncClient) -> None:
        session = (await client.auth.sign_up({"email": EMAIL, "password": PASSWORD})).session
        assert session is not None
        secrets_seen.extend([session.access_token, session.refresh_token])
        with pytest.raises(AuthApiError) as wrong:
            await client.auth.sign_in_with_password({"email": EMAIL, "password": "wrong-password"})
        errors.append(str(wrong.value))
        with pytest.raises(AuthApiError) as duplicate:
            await client.auth.sign_up({"email": EMAIL, "password": PASSWORD})
        errors.append(str(duplicate.value))
        refreshed = (await client.auth.refresh_session()).session
        assert refreshed is not None
        secrets_seen.append(refreshed.refresh_token)
        with pytest.raises(AuthApiError) as reused:
            await client.auth.refresh_session(session.refresh_token)
        errors.append(str(reused.value))
        await client.auth.sign_out()

    users = UserStore()
    run(users, scenario, directory)
    assert any(r.name == "rtdata.server.gotrue" for r in caplog.records)
    texts = [r.getMessage() for r in caplog.records] + errors + [repr(users)]
    for secret in secrets_seen:
        assert not [t for t in texts if secret in t]
