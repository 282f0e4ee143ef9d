"""API keys and JWTs as the local Supabase stack issues them (HS256, shared secret).

With the default secret, the well-known demo ``anon`` and ``service_role`` keys of
``supabase start`` are accepted unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import jwt

__all__ = [
    "DEFAULT_JWT_SECRET",
    "AuthError",
    "Keys",
    "TokenExpiredError",
    "decode_token",
    "make_key",
]

DEFAULT_JWT_SECRET: Final = "super-secret-jwt-token-with-at-least-32-characters-long"
"""The local Supabase stack's default JWT secret."""

_DEMO_EXP: Final = 1983812996  # the expiry the local stack's demo keys carry (2032-11-11)
_CLAIMS_REQUIRED: Final = "Fields `role` and `exp` are required in JWT"  # Realtime's words


class AuthError(Exception):
    """A token that is missing, malformed, badly signed or expired; the text says which."""


class TokenExpiredError(AuthError):
    """A token that is well formed and signed but past its ``exp``."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The API keys a server accepts.

    Attributes:
        anon: Key with role ``anon``, safe for browsers.
        service: Key with role ``service_role``, which bypasses policies. Keep it secret.
    """

    anon: str
    service: str

    @classmethod
    def for_secret(cls, secret: str = DEFAULT_JWT_SECRET) -> Keys:
        """Return the demo keys signed with ``secret``."""
        return cls(make_key("anon", secret), make_key("service_role", secret))

    def __repr__(self) -> str:
        return "Keys(anon=<redacted>, service=<redacted>)"


def make_key(role: str, secret: str = DEFAULT_JWT_SECRET, *, exp: int = _DEMO_EXP) -> str:
    """Sign an API key for ``role`` the way the local stack's demo keys are signed."""
    return jwt.encode({"iss": "supabase-demo", "role": role, "exp": exp}, secret, algorithm="HS256")


def decode_token(token: str | None, secret: str) -> dict[str, Any]:
    """Verify a JWT and return its claims.

    Raises:
        AuthError: No token, a bad signature or format, an expired token, or no ``role`` or
            ``exp`` claim (a token that never expires is refused, the service role's included;
            the local stack's demo keys carry an ``exp``).
    """
    if not token:
        raise AuthError("no API key found in request")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], options={"verify_aud": False, "require": ["exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpiredError("Token has expired") from None
    except jwt.MissingRequiredClaimError:  # a token without exp never expires: refused
        raise AuthError(_CLAIMS_REQUIRED) from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"Invalid JWT: {type(exc).__name__}") from None
    if "role" not in claims:
        raise AuthError(_CLAIMS_REQUIRED)
    return claims
