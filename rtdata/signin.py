"""Signing dashboard users in with the project's own Supabase Auth (GoTrue), through the
official client.

The dashboard calls these from the Streamlit server, never from the browser: the tokens stay in
the server's per-session state, and the browser only ever holds Streamlit's session. What the
dashboard shows is decided from :attr:`SignedIn.claims` by :mod:`rtdata.access`.

Outcomes are types (:class:`SignedIn`, :class:`SignInRefused` with a :class:`RefusalReason`),
never an error's text; no message here ever holds a password or a token.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

import httpx
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError
from supabase_auth.types import Session

__all__ = [
    "REFRESH_MARGIN_S",
    "ProjectAuth",
    "RefusalReason",
    "SignInRefused",
    "SignedIn",
]

log = logging.getLogger(__name__)

REFRESH_MARGIN_S: Final = 60.0
"""A session is refreshed when it expires within this many seconds."""


class RefusalReason(Enum):
    """Why a sign-in or a refresh gave no session."""

    BAD_CREDENTIALS = "bad_credentials"
    """Wrong email or password (GoTrue's ``invalid_credentials``)."""
    SESSION_ENDED = "session_ended"
    """The refresh token was revoked, used or unknown: sign in again."""
    RATE_LIMITED = "rate_limited"
    """GoTrue answered 429."""
    UNAVAILABLE = "unavailable"
    """GoTrue could not be reached or failed (5xx, network)."""
    REFUSED = "refused"
    """Any other refusal by GoTrue (a 4xx with another code)."""


@dataclass(frozen=True)
class SignInRefused:
    """No session; :attr:`message` is safe to show (it never holds a secret).

    Attributes:
        reason: Why.
        message: A sentence for the sign-in form.
    """

    reason: RefusalReason
    message: str


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user's session, as GoTrue issued it.

    Attributes:
        email: The user's email.
        user_id: The user's id (``sub``).
        claims: What :mod:`rtdata.access` reads: ``sub``, ``email``, ``role`` (the database
            role, ``authenticated``), ``app_metadata`` and ``user_metadata``, from GoTrue's
            user record.
        expires_at_s: UNIX time the access token expires.
        access_token: The user's access token; never shown or logged.
        refresh_token: The refresh token; never shown or logged.
    """

    email: str
    user_id: str
    claims: dict[str, Any]
    expires_at_s: float
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)

    def needs_refresh(self, now_s: float, margin_s: float = REFRESH_MARGIN_S) -> bool:
        """Whether the access token expires within ``margin_s`` of ``now_s``."""
        return self.expires_at_s - now_s <= margin_s


_MESSAGES: Final = {
    RefusalReason.BAD_CREDENTIALS: "Wrong email or password.",
    RefusalReason.SESSION_ENDED: "Your session has ended. Please sign in again.",
    RefusalReason.RATE_LIMITED: "Too many attempts. Please wait a moment and try again.",
    RefusalReason.UNAVAILABLE: "The project's sign-in service cannot be reached right now.",
    RefusalReason.REFUSED: "The project's sign-in service refused this sign-in.",
}


class ProjectAuth:
    """The project's GoTrue, with its public (anon) key.

    Args:
        url: Project URL such as ``https://<ref>.supabase.co``.
        anon_key: The project's anon (publishable) key: what a browser app signs in with.
        timeout_s: Timeout of each request.
    """

    def __init__(self, url: str, anon_key: str, *, timeout_s: float = 10.0) -> None:
        self._url = url.rstrip("/") + "/auth/v1"
        self._headers = {"apikey": anon_key, "Authorization": f"Bearer {anon_key}"}
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ProjectAuth(url={self._url!r})"

    def sign_in(self, email: str, password: str) -> SignedIn | SignInRefused:
        """Sign in with email and password."""
        if not email.strip() or not password:
            return SignInRefused(RefusalReason.BAD_CREDENTIALS, "Enter your email and password.")
        with self._client() as client:
            try:
                response = client.sign_in_with_password(
                    {"email": email.strip(), "password": password}
                )
            except AuthError as exc:
                return _refused(exc, signing_in=True)
            except httpx.HTTPError:
                return _refused(None, signing_in=True)
        return _signed_in(response.session)

    def refresh(self, signed: SignedIn) -> SignedIn | SignInRefused:
        """Swap the session's refresh token for a new session (each works once)."""
        with self._client() as client:
            try:
                response = client.refresh_session(signed.refresh_token)
            except AuthError as exc:
                return _refused(exc, signing_in=False)
            except httpx.HTTPError:
                return _refused(None, signing_in=False)
        return _signed_in(response.session)

    def with_column(self, signed: SignedIn, table: str, column: str, key: str) -> SignedIn:
        """Return ``signed`` with ``column`` of the user's own row of ``table`` (the row whose
        ``id`` is the user's id), read over REST with the user's token (so RLS applies), kept
        in its claims under ``key``; ``None`` there when the row cannot be read."""
        value: Any = None
        try:
            response = httpx.get(
                self._url.removesuffix("/auth/v1") + f"/rest/v1/{table}",
                params={"select": column, "id": f"eq.{signed.user_id}"},
                headers={**self._headers, "Authorization": f"Bearer {signed.access_token}"},
                timeout=self._timeout_s,
            )
            rows = response.json() if response.status_code == 200 else []
            if isinstance(rows, list) and len(rows) == 1 and isinstance(rows[0], dict):
                value = rows[0].get(column)
            else:
                log.warning("sign-in: no readable %s.%s for the user", table, column)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("sign-in: reading %s.%s failed: %s", table, column, type(exc).__name__)
        return dataclasses.replace(signed, claims={**signed.claims, key: value})

    def sign_out(self, signed: SignedIn) -> None:
        """End the session at GoTrue (its refresh token stops working); a failure is logged,
        never raised: the dashboard forgets the session either way."""
        with self._client() as client:
            try:
                client.admin.sign_out(signed.access_token, "local")
            except (AuthError, httpx.HTTPError) as exc:
                log.warning("sign-out at the project failed: %s", type(exc).__name__)

    def _client(self) -> _ClientContext:
        return _ClientContext(self._url, self._headers, self._timeout_s)


class _ClientContext:
    """A GoTrue client with its own HTTP client, closed on exit."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        self._http = httpx.Client(timeout=timeout_s)
        self._client = SyncGoTrueClient(
            url=url,
            headers=dict(headers),
            auto_refresh_token=False,
            persist_session=False,
            http_client=self._http,
        )

    def __enter__(self) -> SyncGoTrueClient:
        return self._client

    def __exit__(self, *exc: object) -> None:
        self._http.close()


def _signed_in(session: Session | None) -> SignedIn | SignInRefused:
    if session is None or session.user is None:
        return SignInRefused(RefusalReason.REFUSED, _MESSAGES[RefusalReason.REFUSED])
    user = session.user
    claims = {
        "sub": user.id,
        "email": user.email,
        "role": user.role,
        "app_metadata": dict(user.app_metadata or {}),
        "user_metadata": dict(user.user_metadata or {}),
    }
    expires_at_s = float(session.expires_at or time.time() + (session.expires_in or 0))
    return SignedIn(
        email=user.email or "",
        user_id=user.id,
        claims=claims,
        expires_at_s=expires_at_s,
        access_token=session.access_token,
        refresh_token=session.refresh_token,
    )


def _refused(exc: AuthError | None, *, signing_in: bool) -> SignInRefused:
    if exc is None or isinstance(exc, AuthRetryableError):
        reason = RefusalReason.UNAVAILABLE
    else:
        status = exc.status if isinstance(exc, AuthApiError) else 0
        code = getattr(exc, "code", None)
        if status == 429:
            reason = RefusalReason.RATE_LIMITED
        elif status >= 500:
            reason = RefusalReason.UNAVAILABLE
        elif signing_in and status == 400:
            reason = RefusalReason.BAD_CREDENTIALS
        elif not signing_in and (status in (400, 401, 403) or code is not None):
            reason = RefusalReason.SESSION_ENDED
        else:
            reason = RefusalReason.REFUSED
    return SignInRefused(reason, _MESSAGES[reason])
