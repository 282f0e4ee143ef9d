"""The GoTrue (Supabase Auth) subset at ``/auth/v1`` that supabase-py's auth client uses.

Email and password only: sign up (auto-confirmed, as on the local stack), password and
refresh-token grants, ``GET /user``, logout, ``/settings``, ``/health``, and the admin API's
``POST /admin/users`` (service role only; an app's seed scripts and back office create users
with it). Users live in memory, and also in ``auth.users`` when the server runs on Postgres
(:class:`UserDirectory`), so the app's triggers on ``auth.users`` run.

Access tokens are HS256 JWTs signed with the server's secret, carrying GoTrue's claims. Custom
claims set with :meth:`UserStore.set_app_metadata` go into the token's ``app_metadata`` and,
as a local convenience GoTrue does not offer, also at the token's top level, so a policy can
read ``auth.jwt() ->> 'site_id'`` as well as ``auth.jwt() -> 'app_metadata' ->> ...``.

Errors use GoTrue's JSON: ``{"code": 400, "error_code": ..., "msg": ...}``, or
``{"code": "<error_code>", "message": ...}`` when the request asks for API version 2024-01-01
(``X-Supabase-Api-Version``, which supabase-py always sends; the version is echoed back).
A request without a valid ``apikey`` header gets the API gateway's 401 instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

import bcrypt
import jwt
from aiohttp import web

from rtdata.server import limits
from rtdata.server.auth import DEFAULT_JWT_SECRET, AuthError, decode_token
from rtdata.server.ratelimit import KeyedLimiter, Rate

__all__ = [
    "DEFAULT_ACCESS_TOKEN_TTL_S",
    "DEFAULT_AUTH_RATE_LIMITS",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_LENGTH",
    "PROVIDER_CLAIMS",
    "RESERVED_CLAIMS",
    "AuthRateLimits",
    "DirectoryError",
    "GoTrueError",
    "SignOutScope",
    "StoredUser",
    "UserDirectory",
    "UserStore",
    "add_routes",
]

log = logging.getLogger(__name__)

DEFAULT_ACCESS_TOKEN_TTL_S: Final = 3600
"""Access tokens expire this long after they are issued (GoTrue's default ``JWT_EXP``)."""

MIN_PASSWORD_LENGTH: Final = 6
"""Shorter passwords are refused with ``weak_password`` (GoTrue's default)."""

MAX_PASSWORD_BYTES: Final = 72
"""Longer passwords are refused at sign-up, as GoTrue does: bcrypt reads no further."""

RESERVED_CLAIMS: Final = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "email", "phone", "role", "aal", "amr"}
    | {"session_id", "is_anonymous", "app_metadata", "user_metadata", "provider", "providers"}
)
"""GoTrue's own claim names: an ``app_metadata`` claim of one of these names (``role`` is a
common one) stays in ``app_metadata`` and is not copied to the token's top level."""

PROVIDER_CLAIMS: Final = frozenset({"provider", "providers"})
"""The ``app_metadata`` names GoTrue keeps for itself: :meth:`UserStore.set_app_metadata`
refuses them."""

SignOutScope = Literal["global", "local", "others"]
"""Which sessions a logout ends: all of the user's, only this one, or all but this one."""

_AUD: Final = "authenticated"
_API_VERSION: Final = "2024-01-01"
_API_VERSION_HEADER: Final = "X-Supabase-Api-Version"
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SCOPES: Final[dict[str, SignOutScope]] = {"global": "global", "local": "local", "others": "others"}
_BCRYPT_COST: Final = 10  # GoTrue's


class GoTrueError(Exception):
    """A refused auth request; the text is GoTrue's message and never holds a secret.

    Attributes:
        status: HTTP status of the response.
        error_code: GoTrue's machine-readable code, such as ``invalid_credentials``.
        message: GoTrue's human-readable message.
        reasons: For ``weak_password``, why the password was refused.
        retry_after_s: For a rate-limited request (429), seconds until a retry can succeed
            (sent as ``Retry-After``); else ``None``.
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        reasons: tuple[str, ...] = (),
        *,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message, self.reasons = (
            status,
            error_code,
            message,
            reasons,
        )
        self.retry_after_s = retry_after_s


_FIVE_MINUTES_S: Final = 300.0
_SIGN_INS_SIGN_UPS: Final = Rate(
    limits.AUTH_RATE_BURST, limits.AUTH_SIGN_INS_SIGN_UPS_PER_5_MIN, _FIVE_MINUTES_S
)
_TOKEN_REFRESHES: Final = Rate(
    limits.AUTH_RATE_BURST, limits.AUTH_TOKEN_REFRESHES_PER_5_MIN, _FIVE_MINUTES_S
)
_FAILURES_PER_EMAIL: Final = Rate(
    limits.AUTH_FAILURES_PER_EMAIL_BURST, limits.AUTH_FAILURES_PER_EMAIL_PER_5_MIN, _FIVE_MINUTES_S
)


@dataclass(frozen=True, slots=True)
class AuthRateLimits:
    """How often ``/auth/v1`` may be asked, as GoTrue's token buckets limit it.

    Refused requests get 429 ``over_request_rate_limit`` ("Request rate limit reached") with a
    ``Retry-After`` header, at once: nothing waits, and an admitted request is never delayed.

    Attributes:
        sign_ins_sign_ups: Per IP: password sign-ins (``/token?grant_type=password``) and
            sign-ups (``/signup``) together (Supabase's ``sign_in_sign_ups``).
        token_refreshes: Per IP: refresh-token grants (GoTrue's ``RATE_LIMIT_TOKEN_REFRESH``).
        failures_per_email: Per email, from any IP: failed sign-ins and refused sign-ups.
            Once spent, every attempt for that email is refused until it refills (a lockout
            against password guessing from many addresses).
        max_keys: IPs (and emails) remembered per bucket kind; the least recently seen is
            forgotten past it.
    """

    sign_ins_sign_ups: Rate = _SIGN_INS_SIGN_UPS
    token_refreshes: Rate = _TOKEN_REFRESHES
    failures_per_email: Rate = _FAILURES_PER_EMAIL
    max_keys: int = limits.AUTH_RATE_LIMIT_KEYS

    @classmethod
    def per_5_min(
        cls, sign_ins_sign_ups: int, token_refreshes: int, failures_per_email: int
    ) -> AuthRateLimits:
        """Limits of the given number of requests per 5 minutes, each also its burst (a test
        suite or a demo that signs many users in from one address raises them)."""

        def rate(n: int) -> Rate:
            return Rate(n, n, _FIVE_MINUTES_S)

        return cls(rate(sign_ins_sign_ups), rate(token_refreshes), rate(failures_per_email))


DEFAULT_AUTH_RATE_LIMITS: Final = AuthRateLimits()
"""GoTrue's defaults: 30 sign-ins and sign-ups and 150 token refreshes per 5 minutes per IP
(bursts of 30), and 10 failures per 5 minutes per email (see :mod:`rtdata.server.limits`)."""


class _Limiters:
    """The buckets of one server's ``/auth/v1``."""

    def __init__(self, rates: AuthRateLimits, clock_s: Callable[[], float]) -> None:
        def limiter(rate: Rate) -> KeyedLimiter:
            return KeyedLimiter(rate, max_keys=rates.max_keys, clock_s=clock_s)

        self.sign_ins_sign_ups = limiter(rates.sign_ins_sign_ups)
        self.token_refreshes = limiter(rates.token_refreshes)
        self.failures_per_email = limiter(rates.failures_per_email)

    def admit_ip(self, limiter: KeyedLimiter, request: web.Request) -> None:
        """Take a token for the request's IP, or refuse it with 429."""
        _refuse_if_waiting(limiter.admit(request.remote or ""), "ip")

    def check_email(self, email: str) -> str | None:
        """Refuse with 429 if ``email`` is locked; return its bucket key (a hash, so a huge
        email costs no memory), or ``None`` without an email."""
        if not email.strip():
            return None
        key = _sha256(email.strip().lower())
        _refuse_if_waiting(self.failures_per_email.wait_s(key), "email")
        return key


def _refuse_if_waiting(wait_s: float, by: str) -> None:
    if wait_s > 0.0:
        log.info("gotrue: rate limited a request (per %s) for %.1f s", by, wait_s)
        raise GoTrueError(
            429, "over_request_rate_limit", "Request rate limit reached", retry_after_s=wait_s
        )


@dataclass(frozen=True, slots=True)
class _PasswordHash:
    """A bcrypt hash in modular crypt format (``$2b$10$...``), as GoTrue keeps it in
    ``auth.users.encrypted_password``."""

    encoded: str = field(repr=False)

    @classmethod
    def of(cls, password: str) -> _PasswordHash:
        return cls(bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(_BCRYPT_COST)).decode())

    def matches(self, password: str) -> bool:
        try:
            return bcrypt.checkpw(_password_bytes(password), self.encoded.encode())
        except ValueError:  # not a bcrypt hash (a row written by hand): no password matches
            return False


_DUMMY_HASH: Final = _PasswordHash(
    bcrypt.hashpw(b"never a password", bcrypt.gensalt(_BCRYPT_COST)).decode()
)


_NO_PASSWORD: Final = _PasswordHash("")
"""The hash of a user made without a password (``encrypted_password`` empty, as GoTrue
keeps it): no password matches it."""


def _check_password(password: str) -> None:
    """Refuse a password GoTrue would refuse at sign-up (``weak_password``, 422)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise GoTrueError(
            422,
            "weak_password",
            f"Password should be at least {MIN_PASSWORD_LENGTH} characters.",
            ("length",),
        )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise GoTrueError(
            422,
            "weak_password",
            f"Password cannot be longer than {MAX_PASSWORD_BYTES} characters",
            ("length",),
        )


def _check_metadata(name: str, metadata: Mapping[str, Any], max_bytes: int) -> None:
    """Refuse metadata larger than ``max_bytes`` as the access token encodes it (compact JSON,
    non-ASCII escaped), so that every token fits in one HTTP header."""
    size_bytes = len(json.dumps(metadata, separators=(",", ":")))
    if size_bytes > max_bytes:
        raise GoTrueError(
            400,
            "validation_failed",
            f"{name} is {size_bytes} bytes as JSON, more than the {max_bytes} allowed",
        )


def _password_bytes(password: str) -> bytes:
    # bcrypt reads at most 72 bytes; sign-up refuses longer passwords, so only a sign-in attempt
    # can be longer, and it is cut as GoTrue's bcrypt cuts it.
    return password.encode()[:MAX_PASSWORD_BYTES]


@dataclass(slots=True)
class _User:
    id: str
    email: str
    password: _PasswordHash = field(repr=False)
    user_metadata: dict[str, Any]
    created_at_s: float
    identity_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    custom_claims: dict[str, Any] = field(default_factory=dict)
    updated_at_s: float | None = None
    last_sign_in_at_s: float | None = None


@dataclass(slots=True)
class _Session:
    id: str
    user_id: str
    token_hashes: list[str] = field(default_factory=list)  # every refresh token it issued


@dataclass(slots=True)
class _RefreshToken:
    session_id: str
    used: bool = False


class UserStore:
    """In-memory users, sessions and refresh tokens, issuing GoTrue-shaped sessions.

    Passwords are kept only as bcrypt hashes (GoTrue's, cost 10) and refresh tokens only as SHA-256 hashes.
    Not thread-safe, like the table store: use it on the server's loop thread
    (``LocalServer.call`` from elsewhere).

    Args:
        jwt_secret: HS256 secret access tokens are signed with and API keys are checked against.
        access_token_ttl_s: Lifetime of an access token.
        base_url: Server URL used for the ``iss`` claim when a call does not give one.
        clock_s: Returns the current UNIX time in seconds.
    """

    def __init__(
        self,
        jwt_secret: str = DEFAULT_JWT_SECRET,
        *,
        access_token_ttl_s: int = DEFAULT_ACCESS_TOKEN_TTL_S,
        base_url: str = "http://127.0.0.1:54321",
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self.jwt_secret = jwt_secret
        self.access_token_ttl_s = access_token_ttl_s
        self.base_url = base_url
        self._clock_s = clock_s
        self._users: dict[str, _User] = {}  # by id
        self._ids_by_email: dict[str, str] = {}
        self._sessions: dict[str, _Session] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}  # by SHA-256 of the token

    def __repr__(self) -> str:
        return f"UserStore(users={len(self._users)}, sessions={len(self._sessions)})"

    def sign_up(
        self,
        email: str,
        password: str,
        user_metadata: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Create a confirmed user and return a new session (GoTrue's response body).

        Raises:
            GoTrueError: ``validation_failed`` (400: a missing, malformed or too long email,
                or ``user_metadata`` over :data:`~rtdata.server.limits.MAX_USER_METADATA_BYTES`),
                ``weak_password`` (422) or ``user_already_exists`` (422).
        """
        email = _normalise_email(email)
        if not password:
            raise GoTrueError(400, "validation_failed", "Signup requires a valid password")
        _check_password(password)
        _check_metadata("user_metadata", user_metadata or {}, limits.MAX_USER_METADATA_BYTES)
        if email in self._ids_by_email:
            raise GoTrueError(422, "user_already_exists", "User already registered")
        now_s = self._clock_s()
        user = _User(
            str(uuid.uuid4()), email, _PasswordHash.of(password), dict(user_metadata or {}), now_s
        )
        self._users[user.id] = user
        self._ids_by_email[email] = user.id
        log.info("gotrue: signed up user %s", user.id)
        return self._new_session(user, base_url)

    def create_user(
        self,
        email: str,
        password: str | None = None,
        *,
        user_id: str | None = None,
        user_metadata: Mapping[str, Any] | None = None,
        app_metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a confirmed user as GoTrue's admin API does (``POST /admin/users``) and
        return it (GoTrue's user JSON); no session is made.

        A user without a password cannot sign in with one. ``app_metadata``'s ``provider``
        and ``providers`` are GoTrue's and ignored.

        Raises:
            GoTrueError: ``validation_failed`` (400) for a malformed or too long email, a
                malformed id or metadata over its size limit (:mod:`rtdata.server.limits`),
                ``weak_password`` (422), or ``email_exists`` (422) for a known email or id.
        """
        email = _normalise_email(email)
        if user_id is not None:
            try:
                user_id = str(uuid.UUID(user_id))
            except ValueError:
                raise GoTrueError(400, "validation_failed", "Unable to parse id as UUID") from None
        if email in self._ids_by_email or (user_id is not None and user_id in self._users):
            raise GoTrueError(
                422, "email_exists", "A user with this email address has already been registered"
            )
        if password is not None:
            _check_password(password)
        custom = {k: v for k, v in (app_metadata or {}).items() if k not in PROVIDER_CLAIMS}
        _check_metadata("user_metadata", user_metadata or {}, limits.MAX_USER_METADATA_BYTES)
        _check_metadata("app_metadata", custom, limits.MAX_APP_METADATA_BYTES)
        user = _User(
            user_id or str(uuid.uuid4()),
            email,
            _PasswordHash.of(password) if password is not None else _NO_PASSWORD,
            dict(user_metadata or {}),
            self._clock_s(),
            custom_claims=custom,
        )
        self._users[user.id] = user
        self._ids_by_email[email] = user.id
        log.info("gotrue: created user %s", user.id)
        return _user_json(user)

    def sign_in(self, email: str, password: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Check a user's password and return a new session.

        Raises:
            GoTrueError: ``validation_failed`` (400) without an email, ``invalid_credentials``
                (400) for an unknown email or a wrong password.
        """
        if not email:
            raise GoTrueError(400, "validation_failed", "missing email or phone")
        user_id = self._ids_by_email.get(email.strip().lower())
        user = self._users.get(user_id) if user_id else None
        if user is None:
            _DUMMY_HASH.matches(password)  # costs as much as a wrong password does
        if user is None or not user.password.matches(password):
            log.info("gotrue: refused a password sign-in")
            raise GoTrueError(400, "invalid_credentials", "Invalid login credentials")
        log.info("gotrue: signed in user %s", user.id)
        return self._new_session(user, base_url)

    def refresh(self, refresh_token: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Swap a refresh token for a new session; each refresh token works once.

        Reusing a spent refresh token ends its whole session, as GoTrue's reuse detection does.

        Raises:
            GoTrueError: ``validation_failed`` (400) without a token,
                ``refresh_token_not_found`` (400) for an unknown or logged-out token,
                ``refresh_token_already_used`` (400) for a spent one.
        """
        if not refresh_token:
            raise GoTrueError(400, "validation_failed", "refresh_token required")
        token = self._refresh_tokens.get(_sha256(refresh_token))
        session = self._sessions.get(token.session_id) if token else None
        if token is None or session is None:
            raise GoTrueError(
                400,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            )
        if token.used:
            log.warning("gotrue: refresh token reused; ending session %s", session.id)
            self._end_session(session.id)
            raise GoTrueError(
                400, "refresh_token_already_used", "Invalid Refresh Token: Already Used"
            )
        token.used = True
        user = self._users[session.user_id]
        return self._session_body(user, session, base_url)

    def get_user_by_token(self, access_token: str | None) -> dict[str, Any]:
        """Return the user (GoTrue's JSON) an access token belongs to.

        Raises:
            GoTrueError: 401 ``no_authorization``, ``bad_jwt`` (bad signature, wrong audience,
                expired by ``clock_s``), ``session_not_found`` (logged out) or
                ``user_not_found``.
        """
        return _user_json(self._authenticate(access_token)[0])

    def sign_out(self, access_token: str | None, scope: SignOutScope = "global") -> None:
        """End some of the token owner's sessions, revoking their refresh tokens.

        ``scope`` picks them: ``local`` ends the token's own session, ``others`` every other
        session of the user, ``global`` all of them. An access token of an ended session is
        refused by :meth:`get_user_by_token` (its ``session_id`` no longer resolves).

        Raises:
            GoTrueError: As :meth:`get_user_by_token`.
        """
        user, session = self._authenticate(access_token)
        mine = [s.id for s in self._sessions.values() if s.user_id == user.id]
        if scope == "local":
            ended = [session.id]
        elif scope == "others":
            ended = [s for s in mine if s != session.id]
        else:
            ended = mine
        for session_id in ended:
            self._end_session(session_id)
        log.info("gotrue: signed out %d session(s) of user %s", len(ended), user.id)

    def set_app_metadata(self, email: str, claims: Mapping[str, Any]) -> None:
        """Replace a user's custom ``app_metadata`` claims, for tokens issued from now on.

        The claims appear in the token's ``app_metadata`` (next to ``provider`` and
        ``providers``) and at its top level, except those named as one of GoTrue's own
        (:data:`RESERVED_CLAIMS`), which stay in ``app_metadata`` only.

        Raises:
            GoTrueError: ``user_not_found`` (404) for an unknown email, ``validation_failed``
                (400) for claims over :data:`~rtdata.server.limits.MAX_APP_METADATA_BYTES`.
            ValueError: A claim name is in :data:`PROVIDER_CLAIMS`.
        """
        clashing = sorted(PROVIDER_CLAIMS.intersection(claims))
        if clashing:
            raise ValueError(f"reserved claim names in app_metadata: {clashing}")
        _check_metadata("app_metadata", claims, limits.MAX_APP_METADATA_BYTES)
        user_id = self._ids_by_email.get(email.strip().lower())
        if user_id is None:
            raise GoTrueError(404, "user_not_found", "User not found")
        user = self._users[user_id]
        user.custom_claims = dict(claims)
        user.updated_at_s = self._clock_s()

    def knows(self, email: str) -> bool:
        """Whether a user with this email is in the store."""
        return email.strip().lower() in self._ids_by_email

    def stored(self, email: str) -> StoredUser:
        """Return the user with this email as ``auth.users`` keeps it.

        Raises:
            KeyError: No such user.
        """
        user = self._users[self._ids_by_email[email.strip().lower()]]
        return StoredUser(
            user.id,
            user.email,
            user.password.encoded,
            dict(user.user_metadata),
            _app_metadata(user),
            user.created_at_s,
        )

    def adopt(self, stored: StoredUser) -> None:
        """Add a user kept elsewhere (``auth.users``), so that it can sign in; a user already
        known by id or email is left as it is."""
        email = stored.email.strip().lower()
        if stored.id in self._users or email in self._ids_by_email:
            return
        custom = {
            k: v for k, v in stored.app_metadata.items() if k not in ("provider", "providers")
        }
        user = _User(
            stored.id,
            email,
            _PasswordHash(stored.encrypted_password),
            dict(stored.user_metadata),
            stored.created_at_s,
            custom_claims=custom,
        )
        self._users[user.id] = user
        self._ids_by_email[email] = user.id

    def remove(self, email: str) -> None:
        """Forget a user and end its sessions (a sign-up the database refused)."""
        user_id = self._ids_by_email.pop(email.strip().lower(), None)
        if user_id is None:
            return
        self._users.pop(user_id, None)
        for session in [s for s in self._sessions.values() if s.user_id == user_id]:
            self._end_session(session.id)

    def _authenticate(self, access_token: str | None) -> tuple[_User, _Session]:
        if not access_token:
            raise GoTrueError(
                401, "no_authorization", "This endpoint requires a valid Bearer token"
            )
        try:
            # Expiry is checked against clock_s below, not against the wall clock.
            claims: dict[str, Any] = jwt.decode(
                access_token,
                self.jwt_secret,
                algorithms=["HS256"],
                audience=_AUD,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidTokenError as exc:
            message = f"invalid JWT: unable to parse or verify signature, {type(exc).__name__}"
            raise GoTrueError(401, "bad_jwt", message) from None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock_s():
            raise GoTrueError(401, "bad_jwt", "invalid JWT: token is expired")
        session = self._sessions.get(str(claims.get("session_id")))
        if session is None:
            raise GoTrueError(
                401, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
        user = self._users.get(session.user_id)
        if user is None or user.id != claims.get("sub"):
            raise GoTrueError(401, "user_not_found", "User from sub claim in JWT does not exist")
        return user, session

    def _new_session(self, user: _User, base_url: str | None) -> dict[str, Any]:
        user.last_sign_in_at_s = self._clock_s()
        session = _Session(str(uuid.uuid4()), user.id)
        self._sessions[session.id] = session
        return self._session_body(user, session, base_url)

    def _session_body(self, user: _User, session: _Session, base_url: str | None) -> dict[str, Any]:
        refresh_token = secrets.token_urlsafe(24)
        token_hash = _sha256(refresh_token)
        self._refresh_tokens[token_hash] = _RefreshToken(session.id)
        session.token_hashes.append(token_hash)
        now_s = int(self._clock_s())
        expires_at_s = now_s + self.access_token_ttl_s
        issuer = (base_url or self.base_url).rstrip("/")
        if len(issuer.encode()) > limits.MAX_ISSUER_BYTES:  # a hostile Host header
            issuer = self.base_url.rstrip("/")
        claims = {
            **{k: v for k, v in user.custom_claims.items() if k not in RESERVED_CLAIMS},
            "aud": _AUD,
            "exp": expires_at_s,
            "iat": now_s,
            "iss": f"{issuer}/auth/v1",
            "sub": user.id,
            "email": user.email,
            "phone": "",
            "app_metadata": _app_metadata(user),
            "user_metadata": user.user_metadata,
            "role": _AUD,
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now_s}],
            "session_id": session.id,
            "is_anonymous": False,
        }
        access_token = jwt.encode(claims, self.jwt_secret, algorithm="HS256")
        if len(access_token) > limits.MAX_ACCESS_TOKEN_BYTES:
            # Only metadata stored by hand in auth.users gets here: the API bounds it.
            self._end_session(session.id)
            log.warning(
                "gotrue: user %s's access token would be %d bytes, over the %d-byte limit",
                user.id,
                len(access_token),
                limits.MAX_ACCESS_TOKEN_BYTES,
            )
            raise GoTrueError(
                500, "unexpected_failure", "The user's metadata is too large for an access token"
            )
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": self.access_token_ttl_s,
            "expires_at": expires_at_s,
            "refresh_token": refresh_token,
            "user": _user_json(user),
        }

    def _end_session(self, session_id: str) -> None:
        session = self._sessions.pop(session_id)
        for token_hash in session.token_hashes:
            self._refresh_tokens.pop(token_hash, None)


@dataclass(frozen=True, slots=True)
class StoredUser:
    """A user as ``auth.users`` keeps it.

    Attributes:
        id: The user's id (a UUID as text).
        email: Lower-case email.
        encrypted_password: bcrypt hash in modular crypt format.
        user_metadata: ``raw_user_meta_data``.
        app_metadata: ``raw_app_meta_data`` (``provider`` and ``providers`` included).
        created_at_s: Creation time, UNIX seconds.
    """

    id: str
    email: str
    encrypted_password: str = field(repr=False)
    user_metadata: Mapping[str, Any]
    app_metadata: Mapping[str, Any]
    created_at_s: float


class DirectoryError(Exception):
    """The directory refused to keep a user (for example, a trigger on ``auth.users`` failed);
    the message is the database's, for the server log only."""


class UserDirectory(Protocol):
    """Where users live beyond the store's memory: ``auth.users`` of a Postgres database, so
    that the app's triggers run at sign-up and users made there (a seed file) can sign in."""

    async def add(self, user: StoredUser) -> None:
        """Insert a new user.

        Raises:
            DirectoryError: The database refused it.
        """
        ...

    async def find(self, email: str) -> StoredUser | None:
        """Return the user with this (lower-case) email, or ``None``."""
        ...


_USERS: Final = web.AppKey("gotrue_users", UserStore)
_DIRECTORY: Final[web.AppKey[UserDirectory | None]] = web.AppKey("gotrue_directory")
_LIMITERS: Final = web.AppKey("gotrue_limiters", _Limiters)


def add_routes(
    app: web.Application,
    users: UserStore,
    directory: UserDirectory | None = None,
    *,
    rate_limits: AuthRateLimits = DEFAULT_AUTH_RATE_LIMITS,
    clock_s: Callable[[], float] = time.monotonic,
) -> None:
    """Register the ``/auth/v1`` handlers on ``app``, serving ``users``, kept also in
    ``directory`` when given, and limited by ``rate_limits`` on the (monotonic) ``clock_s``."""
    app[_USERS] = users
    app[_DIRECTORY] = directory
    app[_LIMITERS] = _Limiters(rate_limits, clock_s)
    app.router.add_post("/auth/v1/signup", _handler(_signup))
    app.router.add_post("/auth/v1/token", _handler(_token))
    app.router.add_get("/auth/v1/user", _handler(_user))
    app.router.add_post("/auth/v1/logout", _handler(_logout))
    app.router.add_get("/auth/v1/settings", _handler(_settings))
    app.router.add_get("/auth/v1/health", _handler(_health))
    app.router.add_post("/auth/v1/admin/users", _handler(_admin_create_user))
    app.router.add_route("*", "/auth/v1/{tail:.*}", _handler(_not_found))


_Handler = Callable[[web.Request, UserStore], Awaitable[web.StreamResponse]]


def _handler(fn: _Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap ``fn`` with the API-key check, version negotiation and GoTrue's error JSON."""

    async def handle(request: web.Request) -> web.StreamResponse:
        users = request.app[_USERS]
        versioned = _wants_versioned_errors(request)
        refusal = _api_key_refusal(request.headers.get("apikey"), users.jwt_secret)
        if refusal is not None:
            log.info("gotrue: refused a request to %s: %s", request.path, refusal)
            return web.json_response({"message": refusal}, status=401)
        try:
            response = await fn(request, users)
        except GoTrueError as exc:
            response = web.json_response(_error_body(exc, versioned), status=exc.status)
            if exc.retry_after_s is not None:
                response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        if versioned:
            response.headers[_API_VERSION_HEADER] = _API_VERSION
        return response

    return handle


def _api_key_refusal(api_key: str | None, jwt_secret: str) -> str | None:
    """Return why the API gateway would refuse ``api_key``, or ``None`` to let it pass."""
    if not api_key:
        return "No API key found in request"
    try:
        role = decode_token(api_key, jwt_secret)["role"]
    except AuthError:
        return "Invalid authentication credentials"
    # The gateway knows only the anon and service keys; a user's access token is no API key.
    return None if role in ("anon", "service_role") else "Invalid authentication credentials"


async def _signup(request: web.Request, users: UserStore) -> web.StreamResponse:
    limiters = request.app[_LIMITERS]
    limiters.admit_ip(limiters.sign_ins_sign_ups, request)
    body = await _json_body(request)
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise GoTrueError(400, "validation_failed", "data must be an object")
    email, password = _text(body, "email"), _text(body, "password")
    email_key = limiters.check_email(email)
    try:
        session = users.sign_up(email, password, data, base_url=_base_url(request))
    except GoTrueError:
        if email_key is not None:
            limiters.failures_per_email.spend(email_key)
        raise
    directory = request.app[_DIRECTORY]
    if directory is not None:
        stored = users.stored(email)
        try:
            await directory.add(stored)
        except DirectoryError as exc:
            users.remove(email)
            log.warning("gotrue: the database refused a new user: %s", exc)
            raise GoTrueError(500, "unexpected_failure", "Database error saving new user") from None
    return web.json_response(session)


async def _admin_create_user(request: web.Request, users: UserStore) -> web.StreamResponse:
    if _bearer_role(request, users.jwt_secret) != "service_role":
        raise GoTrueError(403, "not_admin", "User not allowed")
    body = await _json_body(request)
    email = _text(body, "email")
    password = body.get("password")
    user_id = body.get("id")
    metadata = {k: body.get(k) or {} for k in ("user_metadata", "app_metadata")}
    if (
        (password is not None and not isinstance(password, str))
        or (user_id is not None and not isinstance(user_id, str))
        or not all(isinstance(v, dict) for v in metadata.values())
    ):
        raise GoTrueError(400, "validation_failed", "Could not read User parameters")
    user = users.create_user(
        email,
        password,
        user_id=user_id,
        user_metadata=metadata["user_metadata"],
        app_metadata=metadata["app_metadata"],
    )
    directory = request.app[_DIRECTORY]
    if directory is not None:
        try:
            await directory.add(users.stored(email))
        except DirectoryError as exc:
            users.remove(email)
            log.warning("gotrue: the database refused a new user: %s", exc)
            raise GoTrueError(
                500, "unexpected_failure", "Database error creating new user"
            ) from None
    return web.json_response(user)


async def _token(request: web.Request, users: UserStore) -> web.StreamResponse:
    grant_type = request.query.get("grant_type", "")
    limiters = request.app[_LIMITERS]
    if grant_type == "password":
        limiters.admit_ip(limiters.sign_ins_sign_ups, request)
        body = await _json_body(request)
        email, password = _text(body, "email"), _text(body, "password")
        email_key = limiters.check_email(email)
        directory = request.app[_DIRECTORY]
        if directory is not None and email and not users.knows(email):
            stored = await directory.find(_normalise_email(email))
            if stored is not None:
                users.adopt(stored)
        try:
            session = users.sign_in(email, password, base_url=_base_url(request))
        except GoTrueError as exc:
            if email_key is not None and exc.error_code == "invalid_credentials":
                limiters.failures_per_email.spend(email_key)
            raise
        return web.json_response(session)
    if grant_type == "refresh_token":
        limiters.admit_ip(limiters.token_refreshes, request)
        body = await _json_body(request)
        refresh_token = _text(body, "refresh_token")
        return web.json_response(users.refresh(refresh_token, base_url=_base_url(request)))
    raise GoTrueError(400, "invalid_credentials", "unsupported_grant_type")


async def _user(request: web.Request, users: UserStore) -> web.StreamResponse:
    return web.json_response(users.get_user_by_token(_bearer(request)))


async def _logout(request: web.Request, users: UserStore) -> web.StreamResponse:
    asked = request.query.get("scope") or "global"
    scope = _SCOPES.get(asked)
    if scope is None:
        raise GoTrueError(400, "validation_failed", f"Unsupported logout scope {asked!r}")
    users.sign_out(_bearer(request), scope)
    return web.Response(status=204)


async def _settings(request: web.Request, users: UserStore) -> web.StreamResponse:
    return web.json_response(
        {
            "external": {"email": True, "phone": False, "anonymous_users": False},
            "disable_signup": False,
            "mailer_autoconfirm": True,
            "phone_autoconfirm": False,
            "sms_provider": "",
            "saml_enabled": False,
        }
    )


async def _health(request: web.Request, users: UserStore) -> web.StreamResponse:
    return web.json_response(
        {"version": "rtdata-local", "name": "GoTrue", "description": "rtdata's local GoTrue subset"}
    )


async def _not_found(request: web.Request, users: UserStore) -> web.StreamResponse:
    raise GoTrueError(404, "not_found", f"{request.method} {request.path} is not supported here")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except json.JSONDecodeError as exc:  # exc.msg names the position, never the content
        raise GoTrueError(
            400, "bad_json", f"Could not parse request body as JSON: {exc.msg}"
        ) from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise GoTrueError(
            400, "bad_json", "Could not parse request body as JSON: nested too deeply"
        ) from None
    if not isinstance(body, dict):
        raise GoTrueError(400, "bad_json", "Could not parse request body as JSON: not an object")
    return body


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GoTrueError(400, "validation_failed", f"{key} must be a string")
    return value


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _bearer_role(request: web.Request, jwt_secret: str) -> str | None:
    """The ``role`` claim of the request's verified bearer token, or ``None``."""
    token = _bearer(request)
    if not token:
        return None
    try:
        role = decode_token(token, jwt_secret).get("role")
    except AuthError:
        return None
    return role if isinstance(role, str) else None


def _base_url(request: web.Request) -> str:
    return str(request.url.origin())


def _wants_versioned_errors(request: web.Request) -> bool:
    asked = request.headers.get(_API_VERSION_HEADER, "")
    try:
        return datetime.strptime(asked, "%Y-%m-%d").date().isoformat() >= _API_VERSION
    except ValueError:
        return False


def _error_body(exc: GoTrueError, versioned: bool) -> dict[str, Any]:
    body: dict[str, Any] = (
        {"code": exc.error_code, "message": exc.message}
        if versioned
        else {"code": exc.status, "error_code": exc.error_code, "msg": exc.message}
    )
    if exc.reasons:
        body["weak_password"] = {"reasons": list(exc.reasons)}
    return body


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not email:
        raise GoTrueError(400, "validation_failed", "To signup, please provide your email")
    if len(email.encode()) > limits.MAX_EMAIL_BYTES:
        raise GoTrueError(400, "validation_failed", "An email address is too long")
    if not _EMAIL.match(email):
        raise GoTrueError(
            400, "validation_failed", "Unable to validate email address: invalid format"
        )
    return email


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(at_s: float | None) -> str | None:
    if at_s is None:
        return None
    return datetime.fromtimestamp(at_s, UTC).isoformat().replace("+00:00", "Z")


def _app_metadata(user: _User) -> dict[str, Any]:
    return {"provider": "email", "providers": ["email"], **user.custom_claims}


def _user_json(user: _User) -> dict[str, Any]:
    created_at = _iso(user.created_at_s)
    identity_data = {
        "email": user.email,
        "email_verified": True,
        "phone_verified": False,
        "sub": user.id,
    }
    return {
        "id": user.id,
        "aud": _AUD,
        "role": _AUD,
        "email": user.email,
        "email_confirmed_at": created_at,
        "phone": "",
        "confirmed_at": created_at,
        "last_sign_in_at": _iso(user.last_sign_in_at_s),
        "app_metadata": _app_metadata(user),
        "user_metadata": user.user_metadata,
        "identities": [
            {
                "identity_id": user.identity_id,
                "id": user.id,
                "user_id": user.id,
                "identity_data": identity_data,
                "provider": "email",
                "last_sign_in_at": created_at,
                "created_at": created_at,
                "updated_at": created_at,
                "email": user.email,
            }
        ],
        "created_at": created_at,
        "updated_at": _iso(user.updated_at_s or user.created_at_s),
        "is_anonymous": False,
    }
