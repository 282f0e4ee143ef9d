"""Who may look: the ``[access]`` section of ``rtdata.toml`` and the pure decisions it drives.

A signed-in user's dashboard roles come from their verified claims (the access token the
project's GoTrue issued): by default the claim ``app_metadata.role``, mapped through
``role_map`` when given. Each page lists the roles that may open it (``[[pages]] roles``;
none listed: every signed-in user); the built-in pages take theirs from ``[access]``.

Nothing here does I/O or reads a clock: the dashboard calls these functions with the claims
and the page it is about to render.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from rtdata.scope import CLAIM_PATH, ROLE_NAME, RowScope, ScopeRule, parse_scopes, scope_of

__all__ = [
    "ACCESS_KEYS",
    "ROLE_COLUMN_CLAIM",
    "AccessConfig",
    "Decision",
    "Refusal",
    "claim",
    "decide",
    "parse_access",
    "parse_page_roles",
    "roles_of",
    "scope_for",
    "wall_only",
]

ACCESS_KEYS: Final = (
    "require_sign_in",
    "role_claim",
    "role_map",
    "role_column",
    "events_roles",
    "realtime_roles",
    "audit_roles",
    "wall_roles",
    "scopes",
)
"""The keys ``[access]`` takes."""

_TABLE_COLUMN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AccessConfig:
    """The ``[access]`` section.

    Attributes:
        require_sign_in: Whether the dashboard asks for the project's Supabase Auth sign-in
            before showing anything.
        role_claim: Dotted path of the claim that holds a user's role, for example
            ``app_metadata.role``; its value may be one role or a list of roles.
        role_map: Claim value -> dashboard role; a value not in it is its own role name. Empty:
            every value is its own role name.
        role_column: ``table.column`` of a row keyed by the user's id (its ``id`` column is
            the auth user's id, as a ``profiles`` table's is), read over REST with the user's
            own token at sign-in, so RLS applies; when set, its value (a text or a list) gives
            the roles instead of ``role_claim``, through ``role_map``.
        events_roles: Roles that may open the built-in Events page (empty: every signed-in
            user).
        realtime_roles: Roles that may open the built-in Realtime health page (empty: every
            signed-in user).
        audit_roles: Roles that may open the audit page (shown only with sign-in).
        wall_roles: Roles that only ever see the wall display: a user whose every role is one
            of these gets the wall rotation of the pages they may open, and no navigation.
        scopes: Row scoping rules (``[[access.scopes]]``, see :mod:`rtdata.scope`): a user
            holding one of a rule's roles sees only the rows whose column equals a claim.
    """

    require_sign_in: bool = False
    role_claim: str = "app_metadata.role"
    role_map: Mapping[str, str] = field(default_factory=dict)
    role_column: str | None = None
    events_roles: tuple[str, ...] = ()
    realtime_roles: tuple[str, ...] = ()
    audit_roles: tuple[str, ...] = ("admin",)
    wall_roles: tuple[str, ...] = ("wall",)
    scopes: tuple[ScopeRule, ...] = ()


class Refusal(Enum):
    """Why a page is not shown."""

    SIGN_IN_REQUIRED = "sign_in_required"
    """Nobody is signed in and the dashboard requires sign-in."""
    ROLE = "role"
    """The signed-in user has none of the page's roles."""


@dataclass(frozen=True)
class Decision:
    """Whether a page may be shown.

    Attributes:
        refusal: Why the page is refused, or ``None`` when it may be shown.
    """

    refusal: Refusal | None

    @property
    def allowed(self) -> bool:
        """Whether the page may be shown."""
        return self.refusal is None


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """Return the value at the dotted ``path`` of ``claims`` (``app_metadata.role``), or
    ``None`` when any step is missing or not an object."""
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


ROLE_COLUMN_CLAIM: Final = "rtdata_role_column"
"""The key under which the dashboard keeps the ``role_column`` value it read at sign-in, beside
the user's claims."""


def roles_of(access: AccessConfig, claims: Mapping[str, Any]) -> frozenset[str]:
    """Return the dashboard roles of a user with these verified claims.

    The value (the claim at ``role_claim``, or the ``role_column`` value kept under
    :data:`ROLE_COLUMN_CLAIM`) may be a text or a list of texts; other values give no role.
    """
    if access.role_column is not None:
        value = claims.get(ROLE_COLUMN_CLAIM)
    else:
        value = claim(claims, access.role_claim)
    values = value if isinstance(value, list) else [value]
    return frozenset(access.role_map.get(v, v) for v in values if isinstance(v, str) and v.strip())


def wall_only(access: AccessConfig, claims: Mapping[str, Any] | None) -> bool:
    """Whether a user with these claims only ever sees the wall display: sign-in is required,
    the user has roles, and every one of them is in ``wall_roles``."""
    if not access.require_sign_in or claims is None:
        return False
    roles = roles_of(access, claims)
    return bool(roles) and roles <= set(access.wall_roles)


def scope_for(access: AccessConfig, claims: Mapping[str, Any] | None) -> RowScope | None:
    """The row scope of a signed-in user with these verified claims, or ``None`` when they
    see every row: sign-in is off, nobody is signed in, or no scope rule names their roles."""
    if not access.require_sign_in or claims is None or not access.scopes:
        return None
    return scope_of(access.scopes, roles_of(access, claims), claims, claim)


def decide(
    access: AccessConfig,
    page_roles: Sequence[str],
    claims: Mapping[str, Any] | None,
) -> Decision:
    """Decide whether a page whose roles are ``page_roles`` (empty: every signed-in user) is
    shown to a user with verified ``claims`` (``None``: nobody signed in).

    Without ``require_sign_in`` every page is shown to anyone.
    """
    if not access.require_sign_in:
        return Decision(None)
    if claims is None:
        return Decision(Refusal.SIGN_IN_REQUIRED)
    roles = roles_of(access, claims)
    if page_roles and not roles.intersection(page_roles):
        return Decision(Refusal.ROLE)
    return Decision(None)


# ---------------------------------------------------------------- parsing

Report = Callable[[str, str], None]
"""Called with (key path, problem) for each problem found while parsing."""


def parse_access(value: Any, report: Report) -> AccessConfig:
    """Read ``[access]``; every problem is reported with its key path.

    Args:
        value: The ``access`` value of the document.
        report: Called with (key path, problem) for each problem.
    """
    if not isinstance(value, dict):
        report("access", f"must be a table ([access]), got {value!r}")
        return AccessConfig()
    for key in value:
        if key not in ACCESS_KEYS:
            report(f"access.{key}", f"unknown key; the keys are {', '.join(ACCESS_KEYS)}")
    default = AccessConfig()
    require = value.get("require_sign_in", default.require_sign_in)
    if not isinstance(require, bool):
        report("access.require_sign_in", f"must be true or false, got {require!r}")
        require = default.require_sign_in
    role_claim = value.get("role_claim", default.role_claim)
    if not isinstance(role_claim, str) or not CLAIM_PATH.match(role_claim):
        report("access.role_claim", f"must be a dotted claim path, got {role_claim!r}")
        role_claim = default.role_claim
    role_map = value.get("role_map", {})
    if not isinstance(role_map, dict) or not all(
        isinstance(v, str) and ROLE_NAME.match(v) for v in role_map.values()
    ):
        report("access.role_map", "must map claim values to role names ([a-z0-9_-], 1-40)")
        role_map = {}
    role_column = value.get("role_column")
    if role_column is not None and (
        not isinstance(role_column, str) or not _TABLE_COLUMN.match(role_column)
    ):
        report("access.role_column", f"must be table.column, got {role_column!r}")
        role_column = None
    lists = {
        key: _roles(value.get(key, getattr(default, key)), f"access.{key}", report)
        for key in ("events_roles", "realtime_roles", "audit_roles", "wall_roles")
    }
    scopes = parse_scopes(value["scopes"], report) if "scopes" in value else ()
    return AccessConfig(
        require,
        role_claim,
        dict(role_map),
        role_column,
        lists["events_roles"],
        lists["realtime_roles"],
        lists["audit_roles"],
        lists["wall_roles"],
        scopes,
    )


def parse_page_roles(value: Any, path: str, report: Report) -> tuple[str, ...]:
    """Read a page's ``roles`` (an array of role names; empty: every signed-in user)."""
    return _roles(value, path, report)


def _roles(value: Any, path: str, report: Report) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(r, str) and ROLE_NAME.match(r) for r in value
    ):
        report(path, f"must be an array of role names ([a-z0-9_-], 1-40), got {value!r}")
        return ()
    return tuple(value)
