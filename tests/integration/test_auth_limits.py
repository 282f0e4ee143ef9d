"""Auth under hostile input (issue #17, item 5), on real sockets and both backends: GoTrue's
rate limits with 429 and ``Retry-After``, bounded email, password and metadata sizes, access
tokens that always fit in a header, and tokens without ``exp`` refused everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from rtdata.server import LocalServer, limits
from rtdata.server.auth import DEFAULT_JWT_SECRET
from rtdata.server.gotrue import AuthRateLimits
from tests.support import Socket, secret, timeout_s

PASSWORD = secret("correct-horse-battery")
WRONG = secret("wrong-horse-battery")
Serve = Callable[..., contextlib.AbstractContextManager[LocalServer]]
RATE_LIMITED = {
    "code": 429,
    "error_code": "over_request_rate_limit",
    "msg": "Request rate limit reached",
}


@contextlib.contextmanager
def auth_client(server: LocalServer) -> Iterator[httpx.Client]:
    """A raw HTTP client of the server's ``/auth/v1`` with the anon key."""
    with httpx.Client(
        base_url=f"{server.url}/auth/v1",
        headers={"apikey": server.anon_key},
        timeout=timeout_s(30),
    ) as http:
        yield http


def sign_up(
    http: httpx.Client, email: str, password: str = PASSWORD, **body: Any
) -> httpx.Response:
    return http.post("/signup", json={"email": email, "password": password, **body})


def sign_in(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/token?grant_type=password", json={"email": email, "password": password})


def retry_after_s(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    return int(response.headers["Retry-After"])


# --- rate limits -------------------------------------------------------------------------


def test_fifty_wrong_passwords_in_a_row_get_429_with_retry_after(server: LocalServer) -> None:
    """GoTrue's defaults: the email locks after 10 failures, the IP after 30 requests."""
    with auth_client(server) as http:
        assert sign_up(http, "target@h.test").status_code == 200
        answers = [sign_in(http, "target@h.test", WRONG) for _ in range(50)]
        versioned = http.post(
            "/token?grant_type=password",
            json={"email": "target@h.test", "password": PASSWORD},
            headers={"X-Supabase-Api-Version": "2024-01-01"},
        )
    failures = limits.AUTH_FAILURES_PER_EMAIL_BURST
    assert [a.status_code for a in answers[:failures]] == [400] * failures
    assert {a.json()["error_code"] for a in answers[:failures]} == {"invalid_credentials"}
    assert [a.status_code for a in answers[failures:]] == [429] * (50 - failures)
    assert all(a.json() == RATE_LIMITED for a in answers[failures:])
    # One failure back every 30 s (10 per 5 min); the IP's bucket, one request back every 10 s.
    assert all(1 <= retry_after_s(a) <= 30 for a in answers[failures:])
    # Even the right password is refused while locked, in the versioned error shape.
    assert (versioned.status_code, versioned.json()) == (
        429,
        {"code": "over_request_rate_limit", "message": "Request rate limit reached"},
    )
    assert 1 <= retry_after_s(versioned) <= 30


def test_a_locked_email_refuses_even_its_password_and_locks_no_other(serve: Serve) -> None:
    rates = AuthRateLimits.per_5_min(
        sign_ins_sign_ups=1000, token_refreshes=1000, failures_per_email=5
    )
    with (
        serve(auth_rate_limits=rates) as server,
        auth_client(server) as http,
        httpx.Client(timeout=timeout_s(30)) as http_for_client,
    ):
        for email in ("target@h.test", "bystander@h.test"):
            assert sign_up(http, email).status_code == 200
        # Successful sign-ins are not failures: more of them than the email's budget pass.
        assert {sign_in(http, "target@h.test").status_code for _ in range(8)} == {200}
        assert [sign_in(http, "target@h.test", WRONG).status_code for _ in range(6)] == [
            400
        ] * 5 + [429]
        assert 1 <= retry_after_s(sign_in(http, "TARGET@h.test ")) <= 60  # same email, normalised
        # A refused sign-up for a locked email is refused the same way, before any work.
        assert sign_up(http, "target@h.test").json() == RATE_LIMITED
        assert sign_in(http, "bystander@h.test").status_code == 200
        # The official client surfaces GoTrue's error code and status.
        options = ClientOptions(httpx_client=http_for_client, auto_refresh_token=False)
        client = create_client(server.url, server.anon_key, options)
        with pytest.raises(AuthApiError) as refused:
            client.auth.sign_in_with_password({"email": "target@h.test", "password": PASSWORD})
        assert (refused.value.status, refused.value.code) == (429, "over_request_rate_limit")


def test_sign_ins_and_sign_ups_share_one_bucket_per_ip(serve: Serve) -> None:
    rates = AuthRateLimits.per_5_min(
        sign_ins_sign_ups=3, token_refreshes=1000, failures_per_email=1000
    )
    with serve(auth_rate_limits=rates) as server, auth_client(server) as http:
        first = sign_up(http, "one@h.test")
        assert first.status_code == 200
        assert sign_in(http, "one@h.test").status_code == 200
        assert sign_in(http, "nobody@h.test").status_code == 400
        refused = sign_up(http, "two@h.test")
        assert refused.json() == RATE_LIMITED
        assert 1 <= retry_after_s(refused) <= 100  # 3 per 5 min: one back every 100 s
        assert retry_after_s(sign_in(http, "one@h.test")) >= 1
        # Refused before it was tried: the refused sign-up made no user.
        assert not server.call(lambda: server.users.knows("two@h.test"))
        # Token refreshes have a bucket of their own.
        refresh = http.post(
            "/token?grant_type=refresh_token",
            json={"refresh_token": first.json()["refresh_token"]},
        )
        assert refresh.status_code == 200


def test_token_refreshes_are_limited_per_ip(serve: Serve) -> None:
    rates = AuthRateLimits.per_5_min(
        sign_ins_sign_ups=1000, token_refreshes=2, failures_per_email=1000
    )
    with serve(auth_rate_limits=rates) as server, auth_client(server) as http:
        refresh_token = sign_up(http, "one@h.test").json()["refresh_token"]
        for _ in range(2):
            refreshed = http.post(
                "/token?grant_type=refresh_token", json={"refresh_token": refresh_token}
            )
            assert refreshed.status_code == 200
            refresh_token = refreshed.json()["refresh_token"]
        refused = http.post(
            "/token?grant_type=refresh_token", json={"refresh_token": refresh_token}
        )
        assert refused.json() == RATE_LIMITED
        assert 1 <= retry_after_s(refused) <= 150
        # The refused refresh spent nothing: the token still works once the bucket refills,
        # and password sign-ins are not held back meanwhile.
        assert sign_in(http, "one@h.test").status_code == 200


# --- sizes -----------------------------------------------------------------------------------


def test_signup_refuses_a_long_email_a_long_password_and_large_metadata(
    server: LocalServer,
) -> None:
    huge_password = secret("p" * 2**20)
    with auth_client(server) as http:
        long_email = sign_up(http, "a" * 10_000 + "@h.test")
        assert (long_email.status_code, long_email.json()) == (
            400,
            {"code": 400, "error_code": "validation_failed", "msg": "An email address is too long"},
        )
        long_password = sign_up(http, "pw@h.test", huge_password)
        assert long_password.status_code == 422
        assert long_password.json()["error_code"] == "weak_password"
        assert long_password.json()["msg"] == "Password cannot be longer than 72 characters"
        metadata = {"blob": "m" * (5 * 2**20)}
        large = sign_up(http, "meta@h.test", data=metadata)
        assert (large.status_code, large.json()["error_code"]) == (400, "validation_failed")
        assert f"more than the {limits.MAX_USER_METADATA_BYTES} allowed" in large.json()["msg"]
        deep = http.post("/signup", content=b"[" * 100_000 + b"]" * 100_000)
        assert (deep.status_code, deep.json()["error_code"]) == (400, "bad_json")
        # Nothing was stored: none of them can sign in, and the emails are free.
        for email in ("pw@h.test", "meta@h.test"):
            assert not server.call(lambda email=email: server.users.knows(email))
            assert sign_up(http, email).status_code == 200


def test_the_largest_accepted_user_gets_a_token_every_endpoint_accepts(
    server: LocalServer,
) -> None:
    def filled(max_bytes: int) -> dict[str, str]:
        value = "\u00e9" * ((max_bytes - len('{"k":""}')) // 6)  # escaped: 6 bytes each
        assert max_bytes - len(json.dumps({"k": value}, separators=(",", ":"))) < 6
        return {"k": value}

    email = "\u00e9" * ((limits.MAX_EMAIL_BYTES - len("@h.test")) // 2) + "@h.test"
    admin = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    with auth_client(server) as http:
        created = http.post(
            "/admin/users",
            headers=admin,
            json={
                "email": email,
                "password": PASSWORD,
                "user_metadata": filled(limits.MAX_USER_METADATA_BYTES),
                "app_metadata": filled(limits.MAX_APP_METADATA_BYTES),
            },
        )
        assert created.status_code == 200, created.text
        too_big = http.post(
            "/admin/users",
            headers=admin,
            json={"email": "x@h.test", "app_metadata": {"k": "x" * limits.MAX_APP_METADATA_BYTES}},
        )
        assert (too_big.status_code, too_big.json()["error_code"]) == (400, "validation_failed")
        session = sign_in(http, email)
        assert session.status_code == 200, session.text
        token = session.json()["access_token"]
        assert len(token) <= limits.MAX_ACCESS_TOKEN_BYTES
        bearer = {"Authorization": f"Bearer {token}"}
        assert http.get("/user", headers=bearer).json()["email"] == email
    rest = httpx.get(
        f"{server.url}/rest/v1/emergency_requests?select=id",
        headers={"apikey": server.anon_key, **bearer},
        timeout=timeout_s(30),
    )
    assert rest.status_code == 200, rest.text


# --- tokens without exp -----------------------------------------------------------------------


def test_tokens_without_exp_are_refused_the_service_role_included(server: LocalServer) -> None:
    def no_exp(role: str) -> str:
        return jwt.encode({"role": role, "iss": "supabase-demo"}, DEFAULT_JWT_SECRET, "HS256")

    service = no_exp("service_role")
    table = f"{server.url}/rest/v1/emergency_requests?select=id"
    with httpx.Client(timeout=timeout_s(30)) as http:
        rest = http.get(table, headers={"apikey": service})
        assert (rest.status_code, rest.json()["code"]) == (401, "PGRST301")
        assert "exp" in rest.json()["message"]
        bearer = http.get(
            table, headers={"apikey": server.anon_key, "Authorization": f"Bearer {service}"}
        )
        assert bearer.status_code == 401
        assert (
            http.get(f"{server.url}/auth/v1/settings", headers={"apikey": service}).status_code
            == 401
        )
        admin = http.post(
            f"{server.url}/auth/v1/admin/users",
            headers={"apikey": server.anon_key, "Authorization": f"Bearer {service}"},
            json={"email": "made@h.test", "password": PASSWORD},
        )
        assert (admin.status_code, admin.json()["error_code"]) == (403, "not_admin")
        # The local stack's demo keys carry an exp and keep working.
        assert http.get(table, headers={"apikey": server.service_key}).status_code == 200

    async def realtime() -> None:
        async with aiohttp.ClientSession() as session:
            refused = await session.get(Socket.url(server.url, service))
            assert refused.status == 401
            async with session.ws_connect(Socket.url(server.url, server.anon_key)) as ws:
                sock = Socket(ws)
                payload = {"config": {}, "access_token": service}
                await sock.send("realtime:no-exp", "phx_join", payload, "1")
                reply = await sock.expect("phx_reply", "realtime:no-exp")
                assert reply["payload"] == {
                    "status": "error",
                    "response": {
                        "reason": "InvalidJWTToken: Fields `role` and `exp` are required in JWT"
                    },
                }
                await sock.send("realtime:ok", "phx_join", {"config": {}}, "2")
                joined = await sock.expect("phx_reply", "realtime:ok")
                assert joined["payload"]["status"] == "ok"
                await sock.send(
                    "realtime:ok", "access_token", {"access_token": no_exp("anon")}, "3"
                )
                await sock.expect("phx_close", "realtime:ok")

    asyncio.run(realtime())
