"""The dashboard's sign-in (:mod:`rtdata.signin`) against the local server's GoTrue on a real
socket: sign-in, refresh, reuse of a spent refresh token, sign-out, and the refusal reasons."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rtdata.access import ROLE_COLUMN_CLAIM, AccessConfig, roles_of
from rtdata.server import LocalServer
from rtdata.signin import ProjectAuth, RefusalReason, SignedIn, SignInRefused
from tests.support import secret

EMAIL = "ops@clinic.test"
PASSWORD = secret("correct-horse-42")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(db="memory") as srv:
        srv.call(lambda: srv.users.sign_up(EMAIL, PASSWORD))
        srv.set_app_metadata(EMAIL, {"role": "analyst", "team": 7})
        yield srv


def test_sign_in_refresh_and_sign_out(server: LocalServer) -> None:
    auth = ProjectAuth(server.url, server.anon_key)
    signed = auth.sign_in(f"  {EMAIL} ", PASSWORD)
    assert isinstance(signed, SignedIn)
    assert signed.email == EMAIL
    assert signed.claims["app_metadata"]["role"] == "analyst"
    assert signed.claims["role"] == "authenticated"
    assert signed.expires_at_s > time.time() + 3000
    assert not signed.needs_refresh(time.time())
    assert signed.needs_refresh(signed.expires_at_s - 30)
    assert PASSWORD not in repr(signed)
    assert signed.access_token not in repr(signed)

    fresh = auth.refresh(signed)
    assert isinstance(fresh, SignedIn)
    assert fresh.refresh_token != signed.refresh_token
    spent = auth.refresh(signed)  # a refresh token works once; reuse ends the session
    assert isinstance(spent, SignInRefused)
    assert spent.reason is RefusalReason.SESSION_ENDED

    again = auth.sign_in(EMAIL, PASSWORD)
    assert isinstance(again, SignedIn)
    auth.sign_out(again)
    ended = auth.refresh(again)
    assert isinstance(ended, SignInRefused)
    assert ended.reason is RefusalReason.SESSION_ENDED


def test_refusals_name_their_reason_and_never_a_secret(server: LocalServer) -> None:
    auth = ProjectAuth(server.url, server.anon_key)
    for email, password, message in (
        (EMAIL, "wrong-password", "Wrong email or password."),
        ("nobody@clinic.test", PASSWORD, "Wrong email or password."),
        ("", "", "Enter your email and password."),
    ):
        refused = auth.sign_in(email, password)
        assert isinstance(refused, SignInRefused)
        assert (refused.reason, refused.message) == (RefusalReason.BAD_CREDENTIALS, message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = ProjectAuth(f"http://127.0.0.1:{port}", server.anon_key, timeout_s=2)
    unreachable = down.sign_in(EMAIL, PASSWORD)
    assert isinstance(unreachable, SignInRefused)
    assert unreachable.reason is RefusalReason.UNAVAILABLE
    wrong_key = ProjectAuth(server.url, "not-a-key").sign_in(EMAIL, PASSWORD)
    assert isinstance(wrong_key, SignInRefused)
    assert wrong_key.reason is RefusalReason.REFUSED  # the API gateway's 401, not the password


def test_roles_from_the_users_own_profile_row(tmp_path: Path) -> None:
    (tmp_path / "0001_profiles.sql").write_text(
        "create table public.profiles (id uuid primary key, role text);\n"
        "alter table public.profiles enable row level security;\n"
        "create policy own on public.profiles for select to authenticated"
        " using (id = auth.uid());\n"
    )
    with LocalServer(db="memory", schema=tmp_path) as server:
        people = {"ana@clinic.test": "analyst", "bo@clinic.test": "admin"}
        ids = {}
        for email in people:
            made = server.call(lambda email=email: server.users.sign_up(email, PASSWORD))
            ids[email] = made["user"]["id"]
        rows = [{"id": ids[e], "role": role} for e, role in people.items()]
        headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
        assert httpx.post(f"{server.url}/rest/v1/profiles", json=rows, headers=headers).is_success
        access = AccessConfig(require_sign_in=True, role_column="profiles.role")
        auth = ProjectAuth(server.url, server.anon_key)
        for email, role in people.items():
            signed = auth.sign_in(email, PASSWORD)
            assert isinstance(signed, SignedIn)
            with_role = auth.with_column(signed, "profiles", "role", ROLE_COLUMN_CLAIM)
            assert with_role.claims[ROLE_COLUMN_CLAIM] == role  # its own row only (RLS)
            assert roles_of(access, with_role.claims) == {role}
            missing = auth.with_column(signed, "profiles", "nope", ROLE_COLUMN_CLAIM)
            assert missing.claims[ROLE_COLUMN_CLAIM] is None
            assert roles_of(access, missing.claims) == frozenset()
