"""The local server's database when it is Postgres: one object the server's loop owns.

:class:`PostgresBackend` ties the parts together on the server's event loop:

- at :meth:`~PostgresBackend.open`, the database gets Supabase's shape and the project's
  migrations (:mod:`~rtdata.server.postgres.shape`);
- REST requests run as SQL under the caller's role (:mod:`~rtdata.server.postgres.rest_pg`);
- committed changes, whoever made them, are read from a logical replication slot
  (:mod:`~rtdata.server.postgres.wal`), checked against each subscriber's row-level security
  (:mod:`~rtdata.server.postgres.visibility`) and handed to the realtime hub.

The data path::

    client ── REST ──> PostgresRest ── SQL under SET LOCAL ROLE ──> Postgres
    psql, triggers, migrations ───────────────────────────────────> Postgres
    Postgres ── pgoutput slot ──> ChangeReader ── RLS per subscriber ──> RealtimeHub ──> clients
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from rtdata.server.postgres.catalog import read_catalog_async
from rtdata.server.postgres.rest_pg import PostgresRest
from rtdata.server.postgres.shape import Applied, migrate, prepare
from rtdata.server.postgres.users import PostgresUsers
from rtdata.server.postgres.visibility import SelectPrivileges, visible_changes
from rtdata.server.postgres.wal import DEFAULT_SLOT, ChangeReader
from rtdata.server.schema import Schema
from rtdata.server.store import Change

__all__ = ["PostgresBackend", "Publisher"]

log = logging.getLogger(__name__)

_POOL_MAX: Final = 8
_RETRY_FIRST_S: Final = 0.1
_RETRY_MAX_S: Final = 5.0


class Publisher(Protocol):
    """What the backend hands changes to: the realtime hub."""

    def subscribed_claims(self, changes: Sequence[Change]) -> list[dict[str, Any]]:
        """Distinct claims of the subscribers that want any of ``changes``."""
        ...

    def publish(
        self, changes: Sequence[Change], may_read: Callable[[Mapping[str, Any], int], bool]
    ) -> None:
        """Send ``changes`` to their subscribers; ``may_read(claims, index)`` says whether the
        holder of ``claims`` may see ``changes[index]``."""
        ...


class PostgresBackend:
    """A Postgres database serving REST and streaming its changes, on the server's loop.

    Args:
        conninfo: libpq connection string (or ``postgresql://`` URL) of a superuser of the
            database to serve; it gets Supabase's shape at :meth:`open`.
        migrations: A migrations file or folder to apply at :meth:`open` (those already
            recorded in ``supabase_migrations.schema_migrations`` are skipped), or ``None``.
        slot: Name of the logical replication slot the changes are read from.

    Attributes:
        applied: What :meth:`open` migrated, once open.
    """

    def __init__(
        self, conninfo: str, *, migrations: str | Path | None = None, slot: str = DEFAULT_SLOT
    ) -> None:
        self.conninfo = conninfo
        self.migrations = migrations
        self.slot = slot
        self.applied: Applied | None = None
        self._schema = Schema()
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._rest: PostgresRest | None = None
        self._users: PostgresUsers | None = None
        self._reader: ChangeReader | None = None
        self._checker: psycopg.AsyncConnection[Any] | None = None
        self._privileges = SelectPrivileges()  # the realtime SELECT checks, kept a second
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def schema(self) -> Schema:
        """The exposed tables, as the catalog had them at the last read."""
        reader = self._reader
        if reader is not None and reader.catalog is not None:
            return reader.catalog.schema
        return self._schema

    @property
    def users(self) -> PostgresUsers:
        """GoTrue's users in ``auth.users`` (after :meth:`open`)."""
        if self._users is None:
            raise RuntimeError("the Postgres backend is not open")
        return self._users

    @property
    def rest(self) -> PostgresRest:
        """The REST handler (after :meth:`open`)."""
        if self._rest is None:
            raise RuntimeError("the Postgres backend is not open")
        return self._rest

    async def open(self) -> None:
        """Shape and migrate the database, then open the REST pool and the change reader.

        Raises:
            rtdata.server.postgres.shape.MigrationError: A migration failed.
            psycopg.Error: The database cannot be reached.
        """
        self.applied = await asyncio.to_thread(self._migrate)
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self.conninfo, min_size=1, max_size=_POOL_MAX, open=False, name="rtdata-rest"
        )
        await pool.open(wait=True)
        self._pool = pool
        self._rest = PostgresRest(pool.connection)
        self._users = PostgresUsers(pool.connection)
        async with pool.connection() as conn:
            self._schema = (await read_catalog_async(conn)).schema
        await self._checker_connection()
        self._reader = await ChangeReader(self.conninfo, slot=self.slot).open()

    def start(self, publisher: Publisher) -> None:
        """Start handing committed changes to ``publisher`` (on the running loop).

        A failure of the reader or of a delivery (the database restarting, a lost connection)
        is logged and the reader reopened after a backoff; the slot still holds every change
        not yet delivered, so nothing committed is lost.
        """
        if self._reader is None:
            raise RuntimeError("the Postgres backend is not open")
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(
            self._follow(publisher), name="rtdata-wal-reader"
        )
        self._task.add_done_callback(_report)

    async def _follow(self, publisher: Publisher) -> None:
        async def deliver(changes: list[Change]) -> None:
            await self._deliver(publisher, changes)

        delay_s = _RETRY_FIRST_S
        while not self._closing:
            reader = self._reader
            try:
                if reader is None:
                    reader = self._reader = await ChangeReader(self.conninfo, slot=self.slot).open()
                await self._checker_connection()
                await reader.run(deliver)
                return  # stopped by close()
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "postgres: reading changes failed (%s); retrying in %.1f s", exc, delay_s
                )
                if reader is not None:
                    with contextlib.suppress(Exception):
                        await reader.close()
                self._reader = None
                await asyncio.sleep(delay_s)  # a backoff, not a synchronisation
                delay_s = min(delay_s * 2, _RETRY_MAX_S)

    async def close(self) -> None:
        """Stop reading changes and close every connection; safe to call twice."""
        self._closing = True
        if self._reader is not None:
            self._reader.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
            self._task = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._checker is not None:
            await self._checker.close()
            self._checker = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` as JSON values (as ``to_jsonb`` gives them), read as the
        superuser."""
        if self._pool is None:
            raise RuntimeError("the Postgres backend is not open")
        target = self.schema.tables.get(table)
        if target is None:
            raise KeyError(f"no table {table!r}")
        query = psycopg.sql.SQL("select to_jsonb(t)::text from {}.{} t").format(
            psycopg.sql.Identifier(target.schema), psycopg.sql.Identifier(target.name)
        )
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query)
            return [orjson.loads(row[0]) for row in await cursor.fetchall()]

    def _migrate(self) -> Applied:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            prepare(conn)
            if self.migrations is None:
                return Applied((), ())
            return migrate(conn, self.migrations)

    async def _checker_connection(self) -> psycopg.AsyncConnection[Any]:
        """The connection of the row-level security checks, (re)opened when it is closed."""
        if self._checker is None or self._checker.closed:
            self._checker = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, application_name="rtdata_rls"
            )
        return self._checker

    async def _deliver(self, publisher: Publisher, changes: list[Change]) -> None:
        claims = publisher.subscribed_claims(changes)
        if not claims:  # nobody wants these changes: nothing to check
            publisher.publish(changes, lambda _claims, _index: True)
            return
        # Never deliver unchecked: without a connection for the check, this raises, the slot
        # is not advanced past these changes, and the reader retries them (see _follow).
        checker = await self._checker_connection()
        visible = await visible_changes(checker, changes, claims, self._privileges)
        by_claims = {_claims_key(c): v for c, v in zip(claims, visible, strict=True)}

        def may_read(holder: Mapping[str, Any], index: int) -> bool:
            allowed = by_claims.get(_claims_key(holder))
            return allowed is not None and index in allowed

        publisher.publish(changes, may_read)


def _claims_key(claims: Mapping[str, Any]) -> bytes:
    return orjson.dumps(claims, option=orjson.OPT_SORT_KEYS)


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("postgres: the change reader stopped: %r", task.exception())
