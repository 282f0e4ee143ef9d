"""Committed changes read from a logical replication slot, as the server's
:class:`~rtdata.server.store.Change` lists, one per transaction in commit order.

:class:`ChangeReader` polls a persistent ``pgoutput`` slot with SQL, as Supabase Realtime's
postgres_changes polls its slot (no replication-protocol connection: psycopg 3 has none):

- :meth:`ChangeReader.read` peeks (``pg_logical_slot_peek_binary_changes``) one batch of whole
  transactions without consuming it; :meth:`ChangeReader.advance` moves the slot past what was
  handed over (``pg_replication_slot_advance``). A consumer that fails before the advance gets
  the same transactions again, from this reader or from a new one after a restart; a reader
  never hands the same transaction twice itself.
- :meth:`ChangeReader.run` is the loop the server runs: read, hand each transaction's changes to
  a listener (the same ``Callable[[list[Change]], None]`` a
  :class:`~rtdata.server.store.TableStore` takes), advance, and wait adaptively: again at once
  after a batch, then ``poll_interval_s`` doubling up to ``idle_interval_max_s`` while idle.
- Values are converted by :mod:`rtdata.server.postgres.values`. ``old_record`` is what the WAL
  holds: every old column under ``REPLICA IDENTITY FULL``, else the key (for an UPDATE that did
  not log an old key, the key taken from the new row, as wal2json does). An unchanged TOASTed
  value (pgoutput's ``u``) is filled from the old row when the WAL has it (FULL) and otherwise
  left out of ``record``, never reported as null.
- A Relation message that differs from the catalog (a new table, a new column) re-reads the
  catalog; ``Change.table`` is always the catalog's table when its columns match the WAL's.
- Changes are made by anyone (psql, triggers, migrations): the WAL has them all. Only tables of
  the exposed schemas are reported; TRUNCATE and logical messages are skipped.

With asynchronous commit (the embedded cluster's setting) a commit sits in WAL buffers until
the WAL writer flushes it, and the SQL decoding functions read only flushed WAL. On Postgres 17
and later the reader flushes it itself before each read when the flush position lags
(``pg_logical_emit_message(..., flush => true)``), so a commit reaches it within one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from rtdata.server.postgres import pgoutput
from rtdata.server.postgres.catalog import PUBLICATION, Catalog, read_catalog_async
from rtdata.server.postgres.values import JsonKind, TypeInfo, to_json
from rtdata.server.schema import Column, TableSchema
from rtdata.server.store import Change, Row

__all__ = [
    "DEFAULT_SLOT",
    "ChangeReader",
    "SlotBusyError",
    "Transaction",
    "WalError",
]

DEFAULT_SLOT: Final = "rtdata_realtime"
"""The slot a reader uses unless told otherwise."""

_SLOT_NAME: Final = re.compile(r"[a-z0-9_]{1,63}")
_FLUSH_MESSAGE_PREFIX: Final = "rtdata.flush"
_SESSION: Final = (
    "set DateStyle = 'ISO, MDY'; set TimeZone = 'UTC'; set IntervalStyle = 'postgres';"
    " set extra_float_digits = 1; set bytea_output = 'hex'"
)
_UNKNOWN_TYPE: Final = TypeInfo("unknown", JsonKind.STRING)


class WalError(RuntimeError):
    """The slot or publication cannot be used; the text names which and why."""


class SlotBusyError(WalError):
    """Another backend is reading the slot (SQLSTATE 55006, object_in_use)."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """One committed transaction's changes of exposed tables.

    Attributes:
        xid: Transaction id.
        commit_ns: Commit time, nanoseconds since the Unix epoch (every change carries it).
        end_lsn: LSN just past the commit record: advance the slot here once handed over.
        changes: The row changes in the order they were made (possibly empty).
    """

    xid: int
    commit_ns: int
    end_lsn: int
    changes: list[Change]


@dataclass(slots=True)
class _Shape:
    """A relation as the WAL describes it, with the table and types to decode it by."""

    relation: pgoutput.Relation
    table: TableSchema
    types: tuple[TypeInfo, ...]


Listener = Callable[[list[Change]], Awaitable[None] | None]


class ChangeReader:
    """Reads committed changes of one database from a persistent pgoutput slot.

    Args:
        conninfo: libpq connection string of a role that may use replication slots (a
            superuser, or one with ``REPLICATION``) in the database to read.
        slot: Slot name (lowercase letters, digits and ``_``, at most 63); created if missing and
            kept, so that a restart loses nothing committed meanwhile.
        publication: The publication that says which tables stream.
        schemas: The exposed schemas, as for :func:`~rtdata.server.postgres.catalog.read_catalog`.
        max_changes: Rows asked of one peek; a batch still ends at a commit, so may hold more.
        poll_interval_s: First wait after an empty read.
        idle_interval_max_s: Longest wait between reads while idle.

    Raises:
        ValueError: A slot name Postgres would refuse, or non-positive limits.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        slot: str = DEFAULT_SLOT,
        publication: str = PUBLICATION,
        schemas: Sequence[str] = ("public",),
        max_changes: int = 2000,
        poll_interval_s: float = 0.01,
        idle_interval_max_s: float = 0.1,
    ) -> None:
        if not _SLOT_NAME.fullmatch(slot):
            raise ValueError(
                f"slot name {slot!r}: use 1 to 63 lowercase letters, digits or underscores"
            )
        if max_changes < 1 or poll_interval_s <= 0 or idle_interval_max_s < poll_interval_s:
            raise ValueError(
                "max_changes must be positive and 0 < poll_interval_s <= idle_interval_max_s"
            )
        self.conninfo = conninfo
        self.slot = slot
        self.publication = publication
        self.schemas = tuple(schemas)
        self.max_changes = max_changes
        self.poll_interval_s = poll_interval_s
        self.idle_interval_max_s = idle_interval_max_s
        self.catalog: Catalog | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._shapes: dict[int, _Shape] = {}
        # End LSN of the last transaction handed out: never hand it, or an earlier one, again.
        self._handed_lsn = 0
        self._advanced_lsn = 0
        self._can_flush = False
        # Flushed WAL end at the last peek that found nothing (0: peek next time).
        self._idle_flush_lsn = 0
        self._stop = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> ChangeReader:
        """Connect, create the slot if missing and read the catalog.

        Raises:
            WalError: The publication does not exist, or a slot of that name belongs to another
                database or plugin.
        """
        conn = await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, application_name="rtdata_wal"
        )
        try:
            await conn.execute(_SESSION)
            await self._check_slot(conn)
            self._can_flush = conn.info.server_version >= 170000
            self.catalog = await read_catalog_async(conn, self.schemas, self.publication)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return self

    async def _check_slot(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(
            "select 1 from pg_publication where pubname = %s", (self.publication,)
        )
        if await cur.fetchone() is None:
            raise WalError(f"publication {self.publication!r} does not exist in this database")
        cur = await conn.execute(
            "select database, plugin, slot_type from pg_replication_slots where slot_name = %s",
            (self.slot,),
        )
        found = await cur.fetchone()
        if found is None:
            await conn.execute(
                "select pg_create_logical_replication_slot(%s, 'pgoutput')", (self.slot,)
            )
            return
        if found != (conn.info.dbname, "pgoutput", "logical"):
            raise WalError(
                f"slot {self.slot!r} exists but is a {found[2]} slot of plugin {found[1]!r} in"
                f" database {found[0]!r}, not a pgoutput slot of {conn.info.dbname!r}"
            )

    async def close(self) -> None:
        """Close the connection; the slot stays (see :meth:`drop_slot`)."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def drop_slot(self) -> None:
        """Drop the slot (its unread changes are lost); for tests and for tearing a project down."""
        conn = self._connection()
        await conn.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
            " where slot_name = %s",
            (self.slot,),
        )

    async def __aenter__(self) -> ChangeReader:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise WalError("the reader is not open: call open() first")
        return self._conn

    # ------------------------------------------------------------ reading

    async def read(self) -> list[Transaction]:
        """Peek the next batch of whole transactions after those already handed out, without
        consuming them from the slot.

        Raises:
            SlotBusyError: Another backend holds the slot.
            pgoutput.DecodeError: The server sent bytes that are not pgoutput version 1.
        """
        conn = self._connection()
        peek = sql.SQL(
            "select lsn, xid, data from pg_logical_slot_peek_binary_changes({slot}, NULL, {n},"
            " 'proto_version', '1', 'publication_names', {publication})"
        ).format(
            slot=sql.Literal(self.slot),
            n=sql.Literal(self.max_changes),
            publication=sql.Literal(self.publication),
        )
        flush = (
            sql.SQL(
                "case when pg_current_wal_insert_lsn() > pg_current_wal_flush_lsn() then"
                " pg_logical_emit_message(false, {prefix}, '', true) end"
            ).format(prefix=sql.Literal(_FLUSH_MESSAGE_PREFIX))
            if self._can_flush
            else sql.SQL("NULL")
        )
        try:
            async with conn.cursor() as cur:
                # Flush (when the server can) and look where flushed WAL ends: when nothing was
                # flushed since the last empty peek, there is nothing to decode, and a peek
                # (a decoding context set up each time) would only cost CPU.
                await cur.execute(
                    sql.SQL("select {flush}, pg_current_wal_flush_lsn()::text").format(flush=flush)
                )
                found = await cur.fetchone()
                flushed = _parse_lsn(str(found[1])) if found else 0
                if flushed and flushed == self._idle_flush_lsn:
                    return []
                await cur.execute(peek)
                rows = await cur.fetchall()
        except pg_errors.ObjectInUse as exc:
            raise SlotBusyError(f"slot {self.slot!r} is in use by another backend") from exc
        self._idle_flush_lsn = 0 if rows else flushed
        return await self._transactions(rows)

    async def _transactions(self, rows: Sequence[tuple[Any, ...]]) -> list[Transaction]:
        out: list[Transaction] = []
        begin: pgoutput.Begin | None = None
        changes: list[Change] = []
        for _lsn, _xid, data in rows:
            message = pgoutput.decode(bytes(data))
            if isinstance(message, pgoutput.Begin):
                begin, changes = message, []
            elif isinstance(message, pgoutput.Commit):
                if begin is not None and message.end_lsn > self._handed_lsn:
                    out.append(Transaction(begin.xid, message.commit_ns, message.end_lsn, changes))
                begin = None
            elif isinstance(message, pgoutput.Relation):
                await self._learn(message)
            elif begin is not None and isinstance(
                message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete
            ):
                change = self._change(message, begin.commit_ns)
                if change is not None:
                    changes.append(change)
            # Origin, Type (types come from the catalog), Truncate and Message: nothing to report.
        return out

    async def advance(self, end_lsn: int) -> None:
        """Consume the slot up to ``end_lsn`` (a :attr:`Transaction.end_lsn`): those
        transactions are not read again, by this reader or another."""
        self._handed_lsn = max(self._handed_lsn, end_lsn)
        if end_lsn <= self._advanced_lsn:
            return
        await self._connection().execute(
            "select pg_replication_slot_advance(%s, %s::text::pg_lsn)",
            (self.slot, _format_lsn(end_lsn)),
        )
        self._advanced_lsn = end_lsn

    def stop(self) -> None:
        """Make :meth:`run` return after the transaction it is handing over."""
        self._stop.set()

    async def run(self, listener: Listener) -> None:
        """Hand every committed transaction's changes to ``listener`` until :meth:`stop`.

        Transactions without changes of exposed tables are passed over (and consumed). The slot
        advances after each batch, past the transactions the listener returned from; if the
        listener raises, the slot advances past the ones before it and the error propagates,
        so the failed transaction is read again by the next reader.
        """
        self._stop.clear()
        delay_s = self.poll_interval_s
        while not self._stop.is_set():
            batch = await self.read()
            handed = 0
            try:
                for transaction in batch:
                    if self._stop.is_set():
                        break
                    if transaction.changes:
                        result = listener(transaction.changes)
                        if inspect.isawaitable(result):
                            await result
                    handed = transaction.end_lsn
                    self._handed_lsn = max(self._handed_lsn, handed)
            finally:
                if handed:
                    await self.advance(handed)
            if batch:
                delay_s = self.poll_interval_s
                await asyncio.sleep(0)  # let the loop breathe between back-to-back batches
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay_s)
            delay_s = min(delay_s * 2, self.idle_interval_max_s)

    # ------------------------------------------------------------ decoding

    async def _learn(self, relation: pgoutput.Relation) -> None:
        known = self._shapes.get(relation.relation_id)
        if known is not None and known.relation == relation:
            return
        catalog = self.catalog
        assert catalog is not None
        table = catalog.relations.get(relation.relation_id)
        if table is None or not _matches(table, relation, catalog):
            catalog = self.catalog = await read_catalog_async(
                self._connection(), self.schemas, self.publication
            )
            self._shapes.clear()  # every table object was replaced
            table = catalog.relations.get(relation.relation_id)
        if table is None:  # outside the exposed schemas
            self._shapes.pop(relation.relation_id, None)
            return
        types = tuple(catalog.types.get(c.type_oid, _UNKNOWN_TYPE) for c in relation.columns)
        if not _matches(table, relation, catalog):
            # The WAL describes the table as it was when the change was made; the catalog has
            # moved on (a later ALTER). Report the columns the change has.
            by_name = {c.name: c for c in table.columns}
            table = dataclasses.replace(
                table,
                columns=[
                    by_name.get(c.name) or Column(c.name, t.name)
                    for c, t in zip(relation.columns, types, strict=True)
                ],
            )
        self._shapes[relation.relation_id] = _Shape(relation, table, types)

    def _change(
        self, message: pgoutput.Insert | pgoutput.Update | pgoutput.Delete, commit_ns: int
    ) -> Change | None:
        shape = self._shapes.get(message.relation_id)
        if shape is None:
            return None
        if isinstance(message, pgoutput.Insert):
            return Change(shape.table, "INSERT", commit_ns, _row(shape, message.new), None)
        if isinstance(message, pgoutput.Delete):
            old = _row(shape, message.old, keys_only=message.old_is_key)
            return Change(shape.table, "DELETE", commit_ns, None, old)
        old_row = (
            None if message.old is None else _row(shape, message.old, keys_only=message.old_is_key)
        )
        new = _row(shape, message.new, fill=old_row)
        if old_row is None:
            keys = [c.name for c in shape.relation.columns if c.key]
            old_row = {k: new[k] for k in keys if k in new}
        return Change(shape.table, "UPDATE", commit_ns, new, old_row)


def _matches(table: TableSchema, relation: pgoutput.Relation, catalog: Catalog) -> bool:
    if len(table.columns) != len(relation.columns):
        return False
    for column, wal in zip(table.columns, relation.columns, strict=True):
        info = catalog.types.get(wal.type_oid)
        if column.name != wal.name or info is None or info.name != column.type:
            return False
    return True


def _row(
    shape: _Shape,
    values: Sequence[pgoutput.Value],
    *,
    keys_only: bool = False,
    fill: Row | None = None,
) -> Row:
    row: Row = {}
    for column, info, value in zip(shape.relation.columns, shape.types, values, strict=False):
        if keys_only and not column.key:
            continue
        kind = value.kind
        if kind is pgoutput.Kind.TEXT:
            row[column.name] = to_json(value.data.decode("utf-8"), info)
        elif kind is pgoutput.Kind.NULL:
            row[column.name] = None
        elif kind is pgoutput.Kind.UNCHANGED_TOAST:
            if fill is not None and column.name in fill:
                row[column.name] = fill[column.name]
        else:  # binary: never asked for ('binary' option off)
            raise pgoutput.DecodeError(f"column {column.name} came in binary format")
    return row


def _parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
