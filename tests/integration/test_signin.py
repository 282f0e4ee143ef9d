"""The dashboard's sign-in (:mod:`rtdata.signin`) against the local server's GoTrue on a real
socket: sign-in, refresh, reuse of a spent refresh token, sign-out, and the refusal reasons."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

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
