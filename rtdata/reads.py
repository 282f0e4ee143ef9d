"""Reading tables over REST for the collector: the first snapshot, resyncs and polls.

Every read happens *after* the channels are subscribed. A realtime change that arrives while
a table is being read is recorded at once, as always, and its key is noted in
:attr:`TableReads.touched`; the read then leaves that key alone, because the change is at
least as new as what the read saw. So the live state is exact without comparing clocks, and
every row a read contributes is recorded through :meth:`rtdata.recorder.Recorder.record` in
the order it is applied: the history replays to the same state. Reads page by primary key
(see :meth:`TableReads.fetch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from postgrest.types import CountMethod
from supabase import AsyncClient

from rtdata.events import Event, EventError, EventKind, EventSource, event_from_row, row_key
from rtdata.recorder import ErrorKind, Recorder
from rtdata.resync import diff_rows, resync_since_ns
from rtdata.settings import Settings

__all__ = ["PAGE_ROWS", "TableReads"]

log = logging.getLogger("rtdata.supervisor")

PAGE_ROWS: Final = 1000
"""Rows per REST page: Supabase's default PostgREST ``max-rows``."""


def _iso(epoch_ns: int) -> str:
    return datetime.fromtimestamp(epoch_ns / 1e9, UTC).isoformat()


class TableReads:
    """Snapshots, resyncs and polls of one recorder's tables; runs on the collector's loop.

    Args:
        recorder: Where every row read is recorded (and whose live tables are compared).

    Attributes:
        rest: The supabase client to read with; set by the supervisor once it exists.
        touched: Table → keys changed by realtime while that table is being read.
        last_commit_ns: Table → newest commit time seen on a realtime change.
        checked_until_ns: Table → start time of its last complete read.
        loaded: Whether the tables were read once (later reads are resyncs).
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.cfg = recorder.settings.config.connection
        self.rest: AsyncClient | None = None
        self.touched: dict[str, set[str]] = {}
        self.last_commit_ns: dict[str, int] = {}
        self.checked_until_ns: dict[str, int] = {}
        self.loaded = False

    @property
    def settings(self) -> Settings:
        """The recorder's current settings (discovery may replace them before the first read)."""
        return self.recorder.settings

    def note_change(self, table: str, event: Event, old_key: str | None = None) -> None:
        """Remember a realtime change of ``table``: its commit time, and its key (and
        ``old_key``, when an update moved the row) while the table is being read."""
        if event.commit_ns is not None and event.commit_ns > self.last_commit_ns.get(table, 0):
            self.last_commit_ns[table] = event.commit_ns
        keys = self.touched.get(table)
        if keys is not None and event.key is not None:
            keys.add(event.key)
            if old_key is not None:
                keys.add(old_key)

    async def load(self, gap_start_ns: int, source: str = EventSource.RESYNC) -> int:
        """Snapshot every table the first time; afterwards resync them. Return rows changed."""
        if not self.loaded:
            for table, pk in self.settings.table_keys.items():
                await self.snapshot(table, pk)
            self.loaded = True
            return 0
        return await self.resync_all(gap_start_ns, source=source)

    async def fetch(
        self,
        table: str,
        pk: tuple[str, ...],
        columns: str = "*",
        since: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Read every row of ``table`` (changed since ``since``, when given) page by page.

        Pages are ordered by primary key. A single-column key pages by key (``pk > last``),
        which an index serves in O(page) however deep the read goes; a composite key pages by
        offset in key order.
        """
        assert self.rest is not None
        rows: list[dict[str, Any]] = []
        keyset = pk[0] if len(pk) == 1 else None
        last: Any = None
        while True:
            query = self.rest.table(table).select(columns)
            if since is not None:
                query = query.gte(since[0], since[1])
            for column in pk:
                query = query.order(column)
            if keyset is None:
                query = query.range(len(rows), len(rows) + PAGE_ROWS - 1)
            else:
                if last is not None:
                    query = query.gt(keyset, last)
                query = query.limit(PAGE_ROWS)
            response = await query.execute()
            page = [dict(r) for r in response.data if isinstance(r, Mapping)]
            rows.extend(page)
            if len(page) < PAGE_ROWS:
                return rows
            if keyset is not None:
                last = page[-1].get(keyset)
                if last is None:  # a row without its key: cannot go on by key
                    raise EventError(f"{table}: a page ends with a row without {keyset!r}")

    async def count(self, table: str, pk: Sequence[str]) -> int:
        """Return how many rows ``table`` has on the server (an exact count)."""
        assert self.rest is not None
        query = self.rest.table(table).select(",".join(pk), count=CountMethod.exact)
        response = await query.limit(1).execute()
        return int(response.count or 0)

    async def snapshot(self, table: str, pk: tuple[str, ...]) -> None:
        """Read the whole of ``table`` and record each row as a ``SNAPSHOT`` event.

        Rows whose key realtime changed during the read are left as realtime made them.
        Keys held locally that the read no longer has (and realtime did not touch) are
        recorded as deletions, so the table ends exactly as the server had it.
        """
        touched = self.touched[table] = set()
        started_ns = time.time_ns()
        try:
            rows = await self.fetch(table, pk)
            local = self.recorder.tables.rows_by_key(table)
            now = time.time_ns()
            seen: set[str] = set()
            record = self.recorder.record
            for row in rows:
                try:
                    event = event_from_row(row, table, now, pk)
                except EventError as exc:
                    self.recorder.count_error(ErrorKind.INVALID_ROW, str(exc))
                    continue
                assert event.key is not None
                seen.add(event.key)
                if event.key not in touched:
                    record(event, row)
            for key in sorted(set(local) - seen - touched):
                self._record_delete(table, key, local[key], now, EventSource.SNAPSHOT)
            self.checked_until_ns[table] = started_ns
        finally:
            self.touched.pop(table, None)

    async def resync_all(self, gap_start_ns: int, *, source: str) -> int:
        """Resync every table (see :meth:`resync`); return the rows changed."""
        total = 0
        resync_columns = self.settings.config.resync_columns()
        for table, pk in self.settings.table_keys.items():
            total += await self.resync(table, pk, resync_columns.get(table), gap_start_ns, source)
        return total

    async def resync(
        self, table: str, pk: tuple[str, ...], column: str | None, gap_start_ns: int, source: str
    ) -> int:
        """Make ``table`` match the server again and return how many rows that changed.

        With a resync ``column``, rows changed since the last verified point (less a margin)
        are read, plus every key when the table is small; without one, a small table is read
        whole. Differences are recorded as INSERT, UPDATE and DELETE events with ``source``;
        keys realtime changed during the read are left alone.
        """
        touched = self.touched[table] = set()
        started_ns = time.time_ns()
        try:
            small = await self.count(table, pk) <= self.cfg.reconcile_max_rows
            server_keys: list[str] | None = None
            if column is not None:
                # From the last verified point (or the last commit seen, if earlier), less a margin.
                verified_ns = min(gap_start_ns, self.checked_until_ns.get(table, gap_start_ns))
                since = resync_since_ns(
                    self.last_commit_ns.get(table), verified_ns, self.cfg.resync_margin_s
                )
                rows = await self.fetch(table, pk, since=(column, _iso(since)))
                if small:
                    keys = await self.fetch(table, pk, ",".join(pk))
                    server_keys = [
                        row_key(k, pk) for k in keys if all(k.get(c) is not None for c in pk)
                    ]
                complete = False
            elif small:
                rows, complete = await self.fetch(table, pk), True
            else:
                self.recorder.count_error(
                    ErrorKind.RESYNC_IMPOSSIBLE,
                    f"{table} has no resync_column and more than {self.cfg.reconcile_max_rows} rows",
                )
                return 0
            local = self.recorder.tables.rows_by_key(table)
            diff = diff_rows(local, rows, pk, complete=complete, server_keys=server_keys)
            missing = set(server_keys or ()) - set(local) - {row_key(r, pk) for r in rows}
            if missing and len(pk) == 1:  # inserted during the gap with an older resync time
                for chunk in _chunks(sorted(missing), 100):
                    assert self.rest is not None
                    response = await self.rest.table(table).select("*").in_(pk[0], chunk).execute()
                    diff.inserted.extend(dict(r) for r in response.data if isinstance(r, Mapping))
            now = time.time_ns()  # no await from here on: the rows below land as one batch
            changed = 0
            for op, rows_changed in (("INSERT", diff.inserted), ("UPDATE", diff.updated)):
                for row in rows_changed:
                    key = row_key(row, pk)
                    if key in touched:
                        continue
                    body = orjson.dumps(row).decode()
                    self.recorder.record(
                        Event(
                            now,
                            None,
                            EventKind.POSTGRES_CHANGES,
                            "",
                            table,
                            op,
                            key,
                            body,
                            None,
                            source,
                        ),
                        row,
                    )
                    changed += 1
            for key in diff.deleted:
                if key not in touched:
                    self._record_delete(table, key, local.get(key), now, source)
                    changed += 1
            self.checked_until_ns[table] = started_ns
            if changed:
                log.info("collector: %s %s repaired %d rows", source, table, changed)
            return changed
        finally:
            self.touched.pop(table, None)

    def _record_delete(
        self, table: str, key: str, old: Mapping[str, Any] | None, now_ns: int, source: str
    ) -> None:
        old_body = orjson.dumps(old).decode() if old is not None else None
        self.recorder.record(
            Event(
                now_ns,
                None,
                EventKind.POSTGRES_CHANGES,
                "",
                table,
                "DELETE",
                key,
                None,
                old_body,
                source,
            )
        )


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
