"""Auth's bounds without sockets: GoTrue's defaults, email and metadata sizes, the access token
always small enough for one header, and tokens without ``exp`` refused."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.server import limits
from rtdata.server.auth import DEFAULT_JWT_SECRET, AuthError, Keys, decode_token
from rtdata.server.gotrue import DEFAULT_AUTH_RATE_LIMITS, GoTrueError, UserStore
from tests.support import secret

PASSWORD = secret("correct-horse-battery")


def compact_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def test_rate_limit_defaults_are_gotrues() -> None:
    rates = DEFAULT_AUTH_RATE_LIMITS
    # Supabase's sign_in_sign_ups and GoTrue's RATE_LIMIT_TOKEN_REFRESH, per 5 minutes per IP,
    # in buckets of 30.
    assert (rates.sign_ins_sign_ups.per_window, rates.sign_ins_sign_ups.window_s) == (30, 300.0)
    assert (rates.token_refreshes.per_window, rates.token_refreshes.window_s) == (150, 300.0)
    assert rates.sign_ins_sign_ups.burst == rates.token_refreshes.burst == 30
    assert rates.failures_per_email.burst == limits.AUTH_FAILURES_PER_EMAIL_BURST


def test_signup_refuses_an_email_longer_than_255_bytes() -> None:
    users = UserStore()
    local = "a" * (limits.MAX_EMAIL_BYTES - len("@h.test"))
    users.sign_up(f"{local}@h.test", PASSWORD)  # exactly 255: accepted
    for email in (f"a{local}@h.test", "a" * 10_000 + "@h.test", "é" * 128 + "@h.test"):
        with pytest.raises(GoTrueError) as refused:
            users.sign_up(email, PASSWORD)
        assert (refused.value.status, refused.value.error_code, refused.value.message) == (
            400,
            "validation_failed",
            "An email address is too long",
        )
        assert not users.knows(email)


def test_signup_refuses_user_metadata_over_its_limit_and_stores_nothing() -> None:
    users = UserStore()
    big = {"bio": "x" * limits.MAX_USER_METADATA_BYTES}
    with pytest.raises(GoTrueError) as refused:
        users.sign_up("big@h.test", PASSWORD, big)
    assert (refused.value.status, refused.value.error_code) == (400, "validation_failed")
    assert "user_metadata" in refused.value.message
    assert str(limits.MAX_USER_METADATA_BYTES) in refused.value.message
    assert not users.knows("big@h.test")
    # Escaped characters count as the token carries them: 6 bytes each.
    escaped = {"n": "\u00e9" * (limits.MAX_USER_METADATA_BYTES // 6)}
    assert compact_bytes(escaped) > limits.MAX_USER_METADATA_BYTES
    with pytest.raises(GoTrueError):
        users.sign_up("escaped@h.test", PASSWORD, escaped)


def test_app_metadata_over_its_limit_is_refused_by_create_user_and_set_app_metadata() -> None:
    users = UserStore()
    big = {"site": "x" * limits.MAX_APP_METADATA_BYTES}
    with pytest.raises(GoTrueError) as refused:
        users.create_user("admin-made@h.test", PASSWORD, app_metadata=big)
    assert (refused.value.status, refused.value.error_code) == (400, "validation_failed")
    assert not users.knows("admin-made@h.test")
    users.sign_up("nurse@h.test", PASSWORD)
    with pytest.raises(GoTrueError):
        users.set_app_metadata("nurse@h.test", big)
    users.set_app_metadata("nurse@h.test", {"site": "x" * 100})


def fill(budget: int, char: str) -> str:
    """The longest string of ``char`` whose JSON (with its quotes) fits in ``budget`` bytes."""
    return char * max(0, (budget - 2) // len(json.dumps(char)[1:-1]))


@settings(max_examples=12, deadline=None)
@given(
    char=st.sampled_from(["a", "\u00e9", "\U0001f600", '"', "\x00"]),
    email_char=st.sampled_from(["a", "\u00e9", "\U0001f600"]),
    issuer_bytes=st.integers(0, 2 * limits.MAX_ISSUER_BYTES),
)
def test_the_access_token_of_the_largest_accepted_user_fits_in_a_header(
    char: str, email_char: str, issuer_bytes: int
) -> None:
    """Every field at its limit, with the characters JSON escapes longest: the token still
    fits under MAX_ACCESS_TOKEN_BYTES."""
    users = UserStore()
    domain = "@h.test"
    local = email_char * ((limits.MAX_EMAIL_BYTES - len(domain)) // len(email_char.encode()))
    email = local + domain
    # The metadata's key takes some of the budget: fill the value up to the limit exactly.
    user_metadata = {"k": fill(limits.MAX_USER_METADATA_BYTES - len('{"k":}'), char)}
    app_metadata = {"k": fill(limits.MAX_APP_METADATA_BYTES - len('{"k":}'), char)}
    assert limits.MAX_USER_METADATA_BYTES - compact_bytes(user_metadata) < 12
    created = users.create_user(
        email, PASSWORD, user_metadata=user_metadata, app_metadata=app_metadata
    )
    base_url = "http://" + "h" * issuer_bytes
    session = users.sign_in(created["email"], PASSWORD, base_url=base_url)
    token = session["access_token"]
    assert len(token) <= limits.MAX_ACCESS_TOKEN_BYTES
    claims = jwt.decode(token, DEFAULT_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["user_metadata"] == user_metadata
    assert claims["app_metadata"]["k"] == app_metadata["k"] == claims["k"]
    assert len(claims["iss"].encode()) <= limits.MAX_ISSUER_BYTES + len("/auth/v1")


def test_a_token_without_exp_is_refused_for_every_role() -> None:
    for role in ("service_role", "anon", "authenticated"):
        token = jwt.encode({"role": role}, DEFAULT_JWT_SECRET, algorithm="HS256")
        with pytest.raises(AuthError, match="`exp` are required"):
            decode_token(token, DEFAULT_JWT_SECRET)
    with_exp = jwt.encode(
        {"role": "service_role", "exp": int(time.time()) + 60}, DEFAULT_JWT_SECRET, "HS256"
    )
    assert decode_token(with_exp, DEFAULT_JWT_SECRET)["role"] == "service_role"


def test_the_local_stacks_demo_keys_carry_exp_and_stay_valid() -> None:
    keys = Keys.for_secret()
    for key, role in ((keys.anon, "anon"), (keys.service, "service_role")):
        claims = decode_token(key, DEFAULT_JWT_SECRET)
        assert (claims["role"], claims["exp"]) == (role, 1983812996)


def test_rtdata_serve_raises_the_auth_rate_limits_it_is_given() -> None:
    from rtdata.cli import _auth_rate_limits, _parser
    from rtdata.server.ratelimit import Rate

    assert _auth_rate_limits(_parser().parse_args(["serve"])) == DEFAULT_AUTH_RATE_LIMITS
    raised = _auth_rate_limits(
        _parser().parse_args(
            ["serve", "--auth-sign-ins-sign-ups", "500", "--auth-failures-per-email", "50"]
        )
    )
    assert raised.sign_ins_sign_ups == Rate(500, 500, 300.0)
    assert raised.failures_per_email == Rate(50, 50, 300.0)
    assert raised.token_refreshes == DEFAULT_AUTH_RATE_LIMITS.token_refreshes
