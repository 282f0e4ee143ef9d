"""The local GoTrue user store, without sockets: defaults, expiry on a clock parameter, sign-out
scopes, metadata and emails."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from rtdata.server.auth import DEFAULT_JWT_SECRET
from rtdata.server.gotrue import (
    DEFAULT_ACCESS_TOKEN_TTL_S,
    MIN_PASSWORD_LENGTH,
    GoTrueError,
    UserStore,
)
from tests.support import secret


class Clock:
    """A settable clock in UNIX seconds, starting at the real time."""

    def __init__(self) -> None:
        self.now_s = time.time()

    def __call__(self) -> float:
        return self.now_s


def claims_of(access_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        access_token, DEFAULT_JWT_SECRET, algorithms=["HS256"], audience="authenticated"
    )
    return claims


EMAIL = "nurse@hospital.test"
PASSWORD = secret("correct-horse-battery")


def test_documented_defaults() -> None:
    users = UserStore()
    assert DEFAULT_ACCESS_TOKEN_TTL_S == 3600
    assert MIN_PASSWORD_LENGTH == 6
    session = users.sign_up(EMAIL, PASSWORD)
    claims = claims_of(session["access_token"])
    assert session["expires_in"] == claims["exp"] - claims["iat"] == 3600
    with pytest.raises(GoTrueError) as weak:
        users.sign_up("other@hospital.test", "12345")
    assert (weak.value.status, weak.value.error_code, weak.value.reasons) == (
        422,
        "weak_password",
        ("length",),
    )
    users.sign_up("other@hospital.test", "123456")


def test_expiry_follows_the_clock_parameter() -> None:
    clock = Clock()
    users = UserStore(access_token_ttl_s=60, clock_s=clock)
    access_token = users.sign_up(EMAIL, PASSWORD)["access_token"]
    clock.now_s += 59
    assert users.get_user_by_token(access_token)["email"] == EMAIL
    clock.now_s += 1
    with pytest.raises(GoTrueError) as expired:
        users.get_user_by_token(access_token)
    assert (expired.value.status, expired.value.error_code) == (401, "bad_jwt")


def test_sign_out_scopes() -> None:
    users = UserStore()
    users.sign_up(EMAIL, PASSWORD)
    first, second, third = (users.sign_in(EMAIL, PASSWORD) for _ in range(3))

    users.sign_out(first["access_token"], "others")
    assert users.get_user_by_token(first["access_token"])["email"] == EMAIL
    for ended in (second, third):
        with pytest.raises(GoTrueError, match="session_id claim"):
            users.get_user_by_token(ended["access_token"])
        with pytest.raises(GoTrueError, match="Not Found"):
            users.refresh(ended["refresh_token"])

    fourth = users.sign_in(EMAIL, PASSWORD)
    users.sign_out(first["access_token"], "local")
    assert users.refresh(fourth["refresh_token"])["user"]["email"] == EMAIL
    with pytest.raises(GoTrueError, match="Not Found"):
        users.refresh(first["refresh_token"])


def test_set_app_metadata_refuses_gotrues_keys_and_unknown_users() -> None:
    users = UserStore()
    users.sign_up(EMAIL, PASSWORD)
    with pytest.raises(ValueError, match="provider"):
        users.set_app_metadata(EMAIL, {"provider": "phone"})
    # A claim named like one of the token's own stays in app_metadata, never at the top.
    users.set_app_metadata(EMAIL, {"role": "service_role", "team": 7})
    claims = claims_of(users.sign_in(EMAIL, PASSWORD)["access_token"])
    assert claims["role"] == "authenticated"
    assert claims["app_metadata"]["role"] == "service_role"
    assert claims["team"] == 7
    with pytest.raises(GoTrueError) as unknown:
        users.set_app_metadata("nobody@hospital.test", {"hospital_id": 1})
    assert unknown.value.error_code == "user_not_found"


def test_emails_are_case_insensitive_and_validated() -> None:
    users = UserStore()
    users.sign_up("Nurse@Hospital.Test ", PASSWORD)
    assert users.sign_in(EMAIL, PASSWORD)["user"]["email"] == EMAIL
    with pytest.raises(GoTrueError, match="invalid format"):
        users.sign_up("not-an-email", PASSWORD)
