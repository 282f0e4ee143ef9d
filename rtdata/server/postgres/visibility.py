"""Which subscribers may see which changes: the RLS check Supabase Realtime applies per
subscriber, run by the database itself.

For a change of a table with row-level security on, Supabase runs a ``SELECT`` of the row under
the subscriber's role and JWT claims (realtime-protocol.md §3 and §6). :func:`visible_changes`
does the same, batched: subscribers with identical claims form one group, and each group runs
one transaction (``SET LOCAL ROLE`` + ``set_config('request.jwt.claims', ..., true)``) with one
query per table of the batch, selecting the rows by primary key. What it decides:

- Every change first needs the SELECT privilege on its table for the subscriber's role
  (``has_table_privilege``, as Supabase's ``apply_rls`` checks it for every change type): a
  role without it sees no change of the table, DELETEs included.
- DELETEs are then visible (Supabase does not RLS-check them), and so is every change of a
  table without RLS.
- The ``service_role`` bypasses RLS: it sees every change of the tables it may select.
- A row that the select does not return, a row without a primary key, or a role that does not
  exist: not visible.

The select reads the row as it is when the check runs, as Supabase's does; a row deleted
since is not visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from rtdata.server.schema import TableSchema
from rtdata.server.store import Change

__all__ = ["PRIVILEGE_TTL_S", "SERVICE_ROLE", "SelectPrivileges", "visible_changes"]

SERVICE_ROLE: Final = "service_role"
"""The role that bypasses row-level security."""

_DEFAULT_ROLE: Final = "anon"
# Refusals that mean "this group may not see these rows", decided by SQLSTATE class.
_REFUSED: Final = (
    pg_errors.InsufficientPrivilege,  # 42501: no SELECT on the table
    pg_errors.InvalidParameterValue,  # 22023: SET ROLE to a role that does not exist
    pg_errors.UndefinedObject,  # 42704: likewise, on some versions
)


PRIVILEGE_TTL_S: Final = 1.0
"""How long a role's SELECT privilege on a table, once read, is reused for realtime: a
``GRANT`` or ``REVOKE`` reaches subscribers within this, and a busy feed costs one privilege
query per role per second instead of one per batch."""


class SelectPrivileges:
    """The tables each role may SELECT, read with ``has_table_privilege`` and kept for
    :data:`PRIVILEGE_TTL_S`.

    Args:
        clock_s: A monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, clock_s: Callable[[], float] = time.monotonic) -> None:
        self._clock_s = clock_s
        self._known: dict[tuple[str, str, str], tuple[float, bool]] = {}

    async def selectable(
        self,
        conn: psycopg.AsyncConnection[Any],
        role: str,
        tables: Sequence[tuple[str, str]],
    ) -> frozenset[tuple[str, str]]:
        """The ``tables`` ``role`` may select (none for a role that does not exist)."""
        now_s = self._clock_s()
        fresh = {
            t: known[1]
            for t in tables
            if (known := self._known.get((role, *t))) is not None and known[0] > now_s
        }
        missing = [t for t in tables if t not in fresh]
        if missing:
            allowed = await _selectable(conn, role, missing)
            if len(self._known) > _MAX_KNOWN:
                self._known.clear()
            for t in missing:
                fresh[t] = t in allowed
                self._known[(role, *t)] = (now_s + PRIVILEGE_TTL_S, fresh[t])
        return frozenset(t for t, ok in fresh.items() if ok)


_MAX_KNOWN: Final = 10_000  # (role, table) pairs kept; past it the cache starts over


async def visible_changes(
    conn: psycopg.AsyncConnection[Any],
    changes: Sequence[Change],
    claims: Sequence[Mapping[str, Any]],
    privileges: SelectPrivileges | None = None,
) -> list[frozenset[int]]:
    """Return, for each claims set (same order), the indexes of ``changes`` its holder may see.

    Args:
        conn: An autocommit connection of a role that may ``SET ROLE`` to the claims' roles
            (the superuser the change reader uses, or ``authenticator``). It must not be inside
            a transaction; the checks run in their own, rolled back.
        changes: A batch of changes (one or several transactions).
        claims: The subscribers' JWT claims; ``role`` names the database role (``anon`` when
            missing).
        privileges: Where the roles' SELECT privileges are read and kept; a new one (no
            reuse) when omitted.
    """
    privileges = privileges if privileges is not None else SelectPrivileges()
    unchecked = [i for i, c in enumerate(changes) if not _needs_check(c)]
    checked = [i for i, c in enumerate(changes) if _needs_check(c)]
    groups: dict[bytes, list[int]] = {}
    for position, claim in enumerate(claims):
        groups.setdefault(orjson.dumps(claim, option=orjson.OPT_SORT_KEYS), []).append(position)
    out: list[frozenset[int]] = [frozenset()] * len(claims)
    by_table: dict[tuple[str, str], list[int]] = {}
    for i in checked:
        table = changes[i].table
        by_table.setdefault((table.schema, table.name), []).append(i)
    tables = sorted({(c.table.schema, c.table.name) for c in changes})
    for key, positions in groups.items():
        role = str(claims[positions[0]].get("role") or _DEFAULT_ROLE)
        selectable = await privileges.selectable(conn, role, tables)
        if role == SERVICE_ROLE:
            seen = frozenset(i for i, c in enumerate(changes) if _name(c) in selectable)
        else:
            plain = frozenset(i for i in unchecked if _name(changes[i]) in selectable)
            rls = (
                await _check_group(conn, role, key.decode(), changes, by_table)
                if by_table
                else frozenset()
            )
            seen = plain | rls
        for position in positions:
            out[position] = seen
    return out


def _name(change: Change) -> tuple[str, str]:
    return (change.table.schema, change.table.name)


async def _selectable(
    conn: psycopg.AsyncConnection[Any], role: str, tables: Sequence[tuple[str, str]]
) -> frozenset[tuple[str, str]]:
    """The ``tables`` ``role`` has the SELECT privilege on (none for a role that does not
    exist)."""
    if not tables:
        return frozenset()
    try:
        cur = await conn.execute(
            "select s, n from unnest(%s::text[], %s::text[]) as t(s, n)"
            " where has_table_privilege(%s, format('%%I.%%I', s, n), 'SELECT')",
            ([s for s, _ in tables], [n for _, n in tables], role),
        )
        return frozenset((str(s), str(n)) for s, n in await cur.fetchall())
    except _REFUSED:
        return frozenset()


def _needs_check(change: Change) -> bool:
    return change.type != "DELETE" and change.table.rls_enabled


async def _check_group(
    conn: psycopg.AsyncConnection[Any],
    role: str,
    claims_json: str,
    changes: Sequence[Change],
    by_table: Mapping[tuple[str, str], list[int]],
) -> frozenset[int]:
    seen: set[int] = set()
    try:
        async with conn.transaction(force_rollback=True):
            await conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            await conn.execute("select set_config('request.jwt.claims', %s, true)", (claims_json,))
            for indexes in by_table.values():
                table = changes[indexes[0]].table
                keyed = [i for i in indexes if _has_key(table, changes[i])]
                if not keyed:
                    continue
                try:
                    async with conn.transaction():  # a savepoint: one table's refusal only
                        seen.update(await _select(conn, table, changes, keyed))
                except _REFUSED:
                    continue
    except _REFUSED:
        return frozenset()
    return frozenset(seen)


def _has_key(table: TableSchema, change: Change) -> bool:
    record = change.record or {}
    return bool(table.primary_key) and all(record.get(k) is not None for k in table.primary_key)


async def _select(
    conn: psycopg.AsyncConnection[Any],
    table: TableSchema,
    changes: Sequence[Change],
    indexes: list[int],
) -> set[int]:
    """Select, under the current role, which of the changes' rows the table shows."""
    keys = [{k: (changes[i].record or {})[k] for k in table.primary_key} for i in indexes]
    target = sql.Identifier(table.schema, table.name)
    query = sql.SQL(
        "select e.ord from jsonb_array_elements(%s::jsonb) with ordinality as e(doc, ord)"
        " cross join lateral jsonb_populate_record(null::{target}, e.doc) as k"
        " where exists (select from {target} as t where {match})"
    ).format(
        target=target,
        match=sql.SQL(" and ").join(
            sql.SQL("t.{c} = k.{c}").format(c=sql.Identifier(c)) for c in table.primary_key
        ),
    )
    cur = await conn.execute(query, (orjson.dumps(keys).decode(),))
    return {indexes[int(ord_) - 1] for (ord_,) in await cur.fetchall()}
