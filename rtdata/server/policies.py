"""Row-level security: ``CREATE POLICY`` parsed from migrations, evaluated against JWT claims.

Supported predicates (in ``USING`` and ``WITH CHECK``), combined with ``AND``/``OR``:

* ``true`` / ``false``;
* ``column = auth.uid()`` (the ``sub`` claim);
* ``column = (auth.jwt() ->> 'claim')`` with an optional cast, also one level deeper:
  ``auth.jwt() -> 'app_metadata' ->> 'claim'``;
* ``auth.role() = 'authenticated'``.

Anything else is a :class:`PolicyError`, reported with file and line and never silently
widened. As in Postgres: ``service_role`` bypasses RLS; a table without RLS is readable by
every role; with RLS and no matching policy a row is hidden (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

__all__ = ["BYPASS_ROLE", "Policy", "PolicyError", "parse_policy", "visible"]

BYPASS_ROLE: Final = "service_role"
"""The role that bypasses row-level security."""

_COMMANDS: Final = frozenset({"all", "select", "insert", "update", "delete"})

Claims = Mapping[str, Any]
Row = Mapping[str, Any]
Cast = Callable[[str, Any], Any]
_Check = Callable[[Claims, Row, Cast], bool | None]


class PolicyError(ValueError):
    """A ``CREATE POLICY`` this server cannot evaluate; the text says which part."""


class RestrictivePolicyError(PolicyError):
    """A ``RESTRICTIVE`` policy, which this server does not evaluate. Unlike a permissive
    policy, it cannot be left out safely: it hides rows the other policies allow."""


@dataclass(frozen=True)
class Policy:
    """One row-level security policy.

    Attributes:
        name: Policy name.
        table: Table name (without schema).
        command: ``all``, ``select``, ``insert``, ``update`` or ``delete``.
        roles: Roles it applies to; empty means every role (``PUBLIC``).
        using: SQL of the ``USING`` predicate, or ``None``.
        check: SQL of the ``WITH CHECK`` predicate, or ``None``.
    """

    name: str
    table: str
    command: str
    roles: tuple[str, ...]
    using: str | None
    check: str | None

    def applies(self, command: str, role: str) -> bool:
        """Tell whether this policy covers ``command`` for ``role``."""
        return self.command in ("all", command) and (not self.roles or role in self.roles)

    def allows(self, claims: Claims, row: Row, cast: Cast, *, checking: bool = False) -> bool:
        """Evaluate ``USING`` (or ``WITH CHECK`` when ``checking``) for ``row``.

        ``cast(column, value)`` casts a claim's value to the column's type; a value that does
        not cast makes the comparison false. A missing predicate allows the row.
        """
        sql = (self.check or self.using) if checking else self.using
        if sql is None:
            return True
        return _compile(sql)(claims, row, cast) is True


def visible(
    policies: Sequence[Policy],
    rls_enabled: bool,
    command: str,
    claims: Claims,
    row: Row,
    cast: Cast,
    *,
    checking: bool = False,
) -> bool:
    """Tell whether ``claims`` may see (or, with ``checking``, write) ``row``.

    Args:
        policies: The table's policies.
        rls_enabled: Whether the table has row-level security enabled.
        command: ``select``, ``insert``, ``update`` or ``delete``.
        claims: The caller's JWT claims (``role`` decides which policies apply).
        row: The row, as stored.
        cast: Casts a claim value to a column's type.
        checking: Evaluate ``WITH CHECK`` instead of ``USING`` (new rows of writes).
    """
    role = str(claims.get("role", "anon"))
    if role == BYPASS_ROLE or not rls_enabled:
        return True
    return any(
        p.allows(claims, row, cast, checking=checking) for p in policies if p.applies(command, role)
    )


def parse_policy(text: str) -> Policy:
    """Parse one ``CREATE POLICY`` statement (the text after ``CREATE``).

    Raises:
        PolicyError: The statement or one of its predicates is not supported.
    """
    tokens = sqlglot.tokenize(text, read="postgres")
    words = [t.text for t in tokens]
    lowered = [w.lower() for w in words]
    if not lowered or lowered[0] != "policy" or "on" not in lowered:
        raise PolicyError("expected CREATE POLICY <name> ON <table> ...")
    name = words[1].strip('"')
    on = lowered.index("on")
    table_end = on + 2
    table = words[on + 1]
    while table_end < len(words) and words[table_end] == ".":  # schema-qualified
        table = words[table_end + 1]
        table_end += 2
    command, roles, using, check = "all", [], None, None
    i = table_end
    while i < len(words):
        word = lowered[i]
        if word == "as":
            i += 2  # PERMISSIVE / RESTRICTIVE: only permissive policies are modelled
            if lowered[i - 1] == "restrictive":
                raise RestrictivePolicyError(
                    f"policy {name!r}: RESTRICTIVE policies are not supported"
                )
        elif word == "for":
            command = lowered[i + 1]
            if command not in _COMMANDS:
                raise PolicyError(f"policy {name!r}: unknown command {words[i + 1]!r}")
            i += 2
        elif word == "to":
            i += 1
            while i < len(words):
                roles.append(lowered[i].strip('"'))
                if i + 1 < len(words) and words[i + 1] == ",":
                    i += 2
                else:
                    i += 1
                    break
        elif word == "using" or (
            word == "with" and i + 1 < len(words) and lowered[i + 1] == "check"
        ):
            start = i + (1 if word == "using" else 2)
            end = _matching_paren(tokens, start)
            body = text[tokens[start].end + 1 : tokens[end].start].strip()
            _compile(body)  # validate now, with the statement's location
            if word == "using":
                using = body
            else:
                check = body
            i = end + 1
        else:
            raise PolicyError(f"policy {name!r}: unexpected {words[i]!r}")
    public = {"public"}
    return Policy(
        name, table.strip('"'), command, tuple(r for r in roles if r not in public), using, check
    )


def _matching_paren(tokens: list[Any], start: int) -> int:
    if start >= len(tokens) or tokens[start].text != "(":
        raise PolicyError("a policy predicate must be in parentheses")
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    raise PolicyError("unbalanced parentheses in a policy predicate")


_compiled: dict[str, _Check] = {}


def _compile(sql: str) -> _Check:
    cached = _compiled.get(sql)
    if cached is not None:
        return cached
    sqlglot_logger = logging.getLogger("sqlglot")
    previous = sqlglot_logger.level
    sqlglot_logger.setLevel(logging.ERROR)
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except ParseError as exc:
        raise PolicyError(f"cannot parse predicate {sql!r}: {exc}") from None
    finally:
        sqlglot_logger.setLevel(previous)
    check = _node(tree, sql)
    _compiled[sql] = check
    return check


def _node(node: exp.Expr, sql: str) -> _Check:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Boolean):
        value = bool(node.this)
        return lambda claims, row, cast: value
    if isinstance(node, exp.And | exp.Or):
        left, right = _node(node.this, sql), _node(node.expression, sql)
        if isinstance(node, exp.And):
            return lambda c, r, k: _and(left(c, r, k), right(c, r, k))
        return lambda c, r, k: _or(left(c, r, k), right(c, r, k))
    if isinstance(node, exp.EQ):
        return _equality(node.this, node.expression, sql)
    raise PolicyError(f"unsupported policy predicate {sql!r}")


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _equality(left: exp.Expr, right: exp.Expr, sql: str) -> _Check:
    column = _column(left) or _column(right)
    claim = _claim(right) if _column(left) else _claim(left)
    if column is not None and claim is not None:

        def compare(claims: Claims, row: Row, cast: Cast) -> bool | None:
            value, wanted = row.get(column), _claim_value(claims, claim)
            if value is None or wanted is None:
                return None  # SQL: a comparison with NULL is unknown
            try:
                return bool(cast(column, wanted) == value)
            except ValueError:
                return False

        return compare
    role_side = left if _is_call(left, "role") else right if _is_call(right, "role") else None
    literal = right if role_side is left else left
    if role_side is not None and isinstance(literal, exp.Literal) and literal.is_string:
        wanted_role = literal.this
        return lambda claims, row, cast: claims.get("role") == wanted_role
    raise PolicyError(f"unsupported comparison in policy predicate {sql!r}")


def _column(node: exp.Expr) -> str | None:
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return node.name if isinstance(node, exp.Column) and not node.table else None


def _is_call(node: exp.Expr, name: str) -> bool:
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return (
        isinstance(node, exp.Dot)
        and node.this.name == "auth"
        and isinstance(node.expression, exp.Anonymous)
        and node.expression.name.lower() == name
    )


def _claim(node: exp.Expr) -> tuple[str, ...] | None:
    """Return the claim path a side reads: ``("sub",)`` for auth.uid(), ``("a", "b")`` for
    ``auth.jwt() -> 'a' ->> 'b'``; ``None`` if the side is not a claim."""
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    if _is_call(node, "uid"):
        return ("sub",)
    path: list[str] = []
    while isinstance(node, exp.JSONExtractScalar | exp.JSONExtract):
        keys = node.expression
        if not isinstance(keys, exp.JSONPath):
            return None
        path[:0] = [k.this for k in keys.expressions if isinstance(k, exp.JSONPathKey)]
        node = node.this
        while isinstance(node, exp.Paren):
            node = node.this
    if path and _is_call(node, "jwt"):
        return tuple(path)
    return None


def _claim_value(claims: Claims, path: tuple[str, ...]) -> Any:
    value: Any = claims
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
