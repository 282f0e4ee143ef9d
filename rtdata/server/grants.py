"""Table privileges: ``GRANT`` and ``REVOKE`` parsed from migrations, as Postgres keeps them.

The in-memory database models the four privileges PostgREST's requests need (``SELECT``,
``INSERT``, ``UPDATE``, ``DELETE``) per table and grantee. A new table of schema ``public``
starts with Supabase's default privileges (``alter default privileges in schema public grant
all on tables to anon, authenticated, service_role``); a table of another schema starts with
none. The statements understood:

* ``GRANT <privileges> ON [TABLE] <table> [, ...] TO <grantee> [, ...]``;
* ``REVOKE [GRANT OPTION FOR] <privileges> ON [TABLE] <table> [, ...] FROM <grantee> [, ...]``;
* ``... ON ALL TABLES IN SCHEMA <schema> [, ...] ...`` (the tables existing at that point);
* privileges ``ALL [PRIVILEGES]`` or a list of ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``,
  ``TRUNCATE``, ``REFERENCES``, ``TRIGGER``, ``MAINTAIN`` (the last four are accepted and not
  modelled: no request needs them);
* grantees: role names (``GROUP`` allowed before one) and ``PUBLIC``, the pseudo-role whose
  privileges every role has. As in Postgres, revoking from ``PUBLIC`` takes away only what was
  granted to ``PUBLIC``, not what a role was granted itself.

Column-level privileges, role membership and privileges on other objects (schemas, sequences,
functions, ...) are :class:`UnsupportedGrantError`: the caller reports and ignores them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import sqlglot
from sqlglot import Token, TokenType

__all__ = [
    "ALL_PRIVILEGES",
    "PUBLIC_GRANTEE",
    "SUPABASE_API_ROLES",
    "Grant",
    "GrantError",
    "Privilege",
    "UnsupportedGrantError",
    "default_privileges",
    "has_privilege",
    "is_grant",
    "parse_grant",
]


class Privilege(enum.StrEnum):
    """A table privilege a PostgREST request needs."""

    SELECT = "SELECT"
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


ALL_PRIVILEGES: Final = frozenset(Privilege)
"""Every modelled table privilege (what ``ALL [PRIVILEGES]`` grants)."""

PUBLIC_GRANTEE: Final = "public"
"""The pseudo-role ``PUBLIC``: a privilege granted to it is held by every role."""

SUPABASE_API_ROLES: Final = ("anon", "authenticated", "service_role")
"""The roles Supabase's default privileges give every privilege on new tables of ``public``."""

_UNMODELLED: Final = frozenset({"TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"})
_OTHER_OBJECTS: Final = frozenset(
    {
        "SEQUENCE",
        "SEQUENCES",
        "FUNCTION",
        "FUNCTIONS",
        "PROCEDURE",
        "PROCEDURES",
        "ROUTINE",
        "ROUTINES",
        "SCHEMA",
        "DATABASE",
        "DOMAIN",
        "TYPE",
        "LANGUAGE",
        "LARGE",
        "FOREIGN",
        "TABLESPACE",
        "PARAMETER",
    }
)
_GRANTEE_END: Final = frozenset({"WITH", "GRANTED", "CASCADE", "RESTRICT"})


class GrantError(ValueError):
    """A ``GRANT`` or ``REVOKE`` that cannot be read; the text says which part."""


class UnsupportedGrantError(GrantError):
    """A valid ``GRANT`` or ``REVOKE`` this server does not model (column-level privileges,
    role membership, other objects than tables)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One ``GRANT`` or ``REVOKE`` on tables.

    Attributes:
        revoke: True for ``REVOKE``.
        privileges: The modelled privileges given or taken; empty for ``REVOKE GRANT OPTION
            FOR`` (which keeps the privileges) or a list of unmodelled ones only.
        tables: The tables named, as written (``public.t`` or ``t``, without quotes).
        schemas: For ``ON ALL TABLES IN SCHEMA``, the schemas named; else empty.
        grantees: Role names, lower case for unquoted names; ``public`` for ``PUBLIC``.
    """

    revoke: bool
    privileges: frozenset[Privilege]
    tables: tuple[str, ...]
    schemas: tuple[str, ...]
    grantees: tuple[str, ...]


def default_privileges(schema: str) -> dict[str, frozenset[Privilege]]:
    """Return the privileges a new table of ``schema`` starts with, by grantee: every privilege
    for Supabase's API roles in ``public``, none elsewhere."""
    if schema != "public":
        return {}
    return dict.fromkeys(SUPABASE_API_ROLES, ALL_PRIVILEGES)


def has_privilege(
    privileges: Mapping[str, frozenset[Privilege]], role: str, privilege: Privilege
) -> bool:
    """Tell whether ``role`` holds ``privilege``, granted to it or to ``PUBLIC``."""
    return privilege in privileges.get(role, frozenset()) or privilege in privileges.get(
        PUBLIC_GRANTEE, frozenset()
    )


def is_grant(text: str) -> bool:
    """Tell whether the SQL statement ``text`` is a ``GRANT`` or ``REVOKE``."""
    tokens = sqlglot.tokenize(text, read="postgres")
    return bool(tokens) and tokens[0].token_type in (TokenType.GRANT, TokenType.REVOKE)


def parse_grant(text: str) -> Grant:
    """Parse one ``GRANT`` or ``REVOKE`` statement on tables.

    Raises:
        UnsupportedGrantError: Column-level privileges, role membership, or another object.
        GrantError: The statement is not a table ``GRANT``/``REVOKE`` this grammar reads.
    """
    return _Parser(sqlglot.tokenize(text, read="postgres")).statement()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = [t for t in tokens if t.token_type != TokenType.SEMICOLON]
        self.i = 0

    def word(self, offset: int = 0) -> str:
        """The upper-cased keyword at the cursor (+offset); '' for a quoted name or the end."""
        index = self.i + offset
        if index >= len(self.tokens) or self.tokens[index].token_type == TokenType.IDENTIFIER:
            return ""
        return self.tokens[index].text.upper()

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def expect(self, *words: str) -> None:
        for word in words:
            if self.word() != word:
                found = self.tokens[self.i].text if not self.at_end() else "the end"
                raise GrantError(f"expected {word} but found {found!r}")
            self.i += 1

    def name(self, *, fold: bool = True) -> str:
        """The name at the cursor: lower case when unquoted and ``fold``, as written else."""
        if self.at_end():
            raise GrantError("a name is missing at the end")
        token = self.tokens[self.i]
        if token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER) and not (
            token.text.isidentifier()
        ):
            raise GrantError(f"expected a name but found {token.text!r}")
        self.i += 1
        return (
            token.text
            if token.token_type == TokenType.IDENTIFIER or not fold
            else (token.text.lower())
        )

    def comma(self) -> bool:
        if not self.at_end() and self.tokens[self.i].token_type == TokenType.COMMA:
            self.i += 1
            return True
        return False

    def statement(self) -> Grant:
        revoke = self.word() == "REVOKE"
        if not revoke and self.word() != "GRANT":
            raise GrantError("not a GRANT or REVOKE statement")
        self.i += 1
        option_only = False
        if revoke and self.word() == "GRANT" and self.word(1) == "OPTION":
            self.expect("GRANT", "OPTION", "FOR")
            option_only = True
        words, on_objects = self.privileges()
        if not on_objects:
            raise UnsupportedGrantError("role membership is not modelled")
        self.expect("ON")
        tables, schemas = self.objects()
        self.expect("FROM" if revoke else "TO")
        grantees = self.grantees()
        modelled = frozenset(Privilege(w) for w in words if w in Privilege.__members__)
        return Grant(revoke, frozenset() if option_only else modelled, tables, schemas, grantees)

    def privileges(self) -> tuple[list[str], bool]:
        """The privilege words, and whether an ``ON`` follows (else: role membership)."""
        words: list[str] = []
        while not self.at_end() and self.word() != "ON":
            token = self.tokens[self.i]
            if token.token_type == TokenType.L_PAREN:
                raise UnsupportedGrantError("column-level privileges are not modelled")
            if token.token_type != TokenType.COMMA:
                words.append(self.word())
            self.i += 1
        if self.at_end():
            return words, False
        if words in (["ALL"], ["ALL", "PRIVILEGES"]):
            return list(Privilege.__members__), True
        for word in words:
            if word not in Privilege.__members__ and word not in _UNMODELLED:
                # Postgres: invalid privilege type for a table, or a privilege of another
                # object; either way nothing a table request checks.
                raise UnsupportedGrantError(f"privilege {word or '?'} is not a table privilege")
        return words, True

    def objects(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self.word() in _OTHER_OBJECTS:
            raise UnsupportedGrantError(f"privileges on a {self.word().lower()} are not modelled")
        if self.word() == "ALL":
            self.i += 1
            if self.word() != "TABLES":
                raise UnsupportedGrantError(
                    f"privileges on all {self.word().lower()} are not modelled"
                )
            self.expect("TABLES", "IN", "SCHEMA")
            schemas = [self.name()]
            while self.comma():
                schemas.append(self.name())
            return (), tuple(schemas)
        if self.word() == "TABLE":
            self.i += 1
        tables = [self.qualified()]
        while self.comma():
            tables.append(self.qualified())
        return tuple(tables), ()

    def qualified(self) -> str:
        # Table names stay as written, as the schema keeps them.
        parts = [self.name(fold=False)]
        while not self.at_end() and self.tokens[self.i].token_type == TokenType.DOT:
            self.i += 1
            parts.append(self.name(fold=False))
        return ".".join(parts)

    def grantees(self) -> tuple[str, ...]:
        grantees: list[str] = []
        while True:
            if self.word() == "GROUP":
                self.i += 1
            grantees.append(self.name())
            if not self.comma():
                break
        if not self.at_end() and self.word() not in _GRANTEE_END:
            raise GrantError(f"unexpected {self.tokens[self.i].text!r} after the grantees")
        return tuple(grantees)
