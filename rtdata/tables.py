"""Live table state: the current rows of each subscribed table, kept by primary key.

The collector thread applies snapshots and changes; readers get DataFrame copies they own.
:class:`LiveTables` holds one lock for every table, so a reader never sees a half-applied
snapshot.

Out-of-order changes: Postgres commits the changes of one row in order (a second writer
waits for the first's row lock until it commits), so each row's commit timestamps never go
back. :class:`LiveTables` remembers the commit time of the realtime change that last wrote
each row, and of the last deletions (:data:`MAX_TOMBSTONES`), and :meth:`LiveTables.stale`
tells the collector when a change is older than that: a server that sent it late or twice.
Rows read over REST carry no commit time and clear what was remembered of their key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson
import pandas as pd

from rtdata.events import Event, EventKind, row_key

__all__ = ["MAX_TOMBSTONES", "LiveTables"]

MAX_TOMBSTONES: Final = 10_000
"""Deleted keys per table whose deletion's commit time is remembered, newest kept: a late
INSERT or UPDATE of one of them, older than its deletion, is recognised as stale
(:meth:`LiveTables.stale`) instead of bringing the row back."""


class LiveTables:
    """Current rows of every subscribed table.

    Invariants:
        * ``_lock`` protects ``_rows`` and ``_versions``; the collector thread is the only writer.
        * Rows are stored as dicts keyed by primary-key text (see :func:`rtdata.events.row_key`).

    Args:
        primary_keys: Primary-key columns by table name.
    """

    def __init__(self, primary_keys: Mapping[str, Sequence[str]]) -> None:
        self.primary_keys = {name: tuple(pk) for name, pk in primary_keys.items()}
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Mapping[str, Any]]] = {name: {} for name in primary_keys}
        self._versions: dict[str, int] = dict.fromkeys(primary_keys, 0)
        # Commit time (epoch ns) of the realtime change that last wrote each live row, and of
        # the newest deletions; both only ever hold keys of changes that carried one.
        self._commits: dict[str, dict[str, int]] = {name: {} for name in primary_keys}
        self._tombstones: dict[str, OrderedDict[str, int]] = {
            name: OrderedDict() for name in primary_keys
        }

    @property
    def names(self) -> list[str]:
        """Names of the tables kept."""
        return list(self.primary_keys)

    def version(self, table: str) -> int:
        """A counter that changes whenever ``table`` changes (for caching views)."""
        with self._lock:
            return self._versions.get(table, 0)

    def load(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the whole content of ``table`` with ``rows`` (a REST snapshot)."""
        pk = self.primary_keys[table]
        fresh: dict[str, Mapping[str, Any]] = {row_key(row, pk): dict(row) for row in rows}
        with self._lock:
            self._rows[table] = fresh
            self._commits[table] = {}
            self._tombstones[table] = OrderedDict()
            self._versions[table] += 1

    def stale(
        self, table: str, key: str, commit_ns: int | None, old_key: str | None = None
    ) -> bool:
        """Tell whether a change of ``table`` with ``key`` (and ``old_key``, when an update
        moves the row) committed at ``commit_ns`` is older than the change that last wrote or
        deleted that row here: applying it would undo a newer one. A change without a commit
        time, or of a row written since only over REST, is never stale; one committed at the
        same moment (one transaction) is not either."""
        if commit_ns is None:
            return False
        with self._lock:
            commits, tombstones = self._commits.get(table), self._tombstones.get(table)
            if commits is None or tombstones is None:
                return False
            for k in (key,) if old_key is None or old_key == key else (key, old_key):
                newest = commits.get(k, tombstones.get(k))
                if newest is not None and commit_ns < newest:
                    return True
        return False

    def apply(self, event: Event) -> bool:
        """Apply one postgres_changes event; return whether it changed a table.

        Events for tables not kept, and events of other kinds, are ignored. ``SNAPSHOT`` events
        upsert like ``INSERT``.
        """
        if event.kind != EventKind.POSTGRES_CHANGES or event.table is None or event.key is None:
            return False
        record = orjson.loads(event.record) if event.record is not None else None
        old = orjson.loads(event.old_record) if event.old_record is not None else None
        return self.apply_change(event.table, event.op, event.key, record, old)

    def apply_change(
        self,
        table: str,
        op: str,
        key: str,
        record: Mapping[str, Any] | None,
        old_record: Mapping[str, Any] | None = None,
        commit_ns: int | None = None,
    ) -> bool:
        """Apply one change given as dicts (the collector's hot path); return whether it
        changed a table. A key change arrives as ``UPDATE`` with the old key in ``old_record``.
        ``commit_ns`` is the change's commit time, remembered for :meth:`stale`; ``None`` (a
        row read over REST) forgets what was remembered of the key.

        An ``UPDATE`` record may lack columns: Postgres does not log a TOASTed value (a large
        text, JSON or array) that the update left alone, and Supabase then leaves the column
        out of ``record`` rather than send it again. Such columns keep the value of the row
        held (under its old key, for a key change)."""
        rows = self._rows.get(table)
        if rows is None:
            return False
        commits, tombstones = self._commits[table], self._tombstones[table]
        with self._lock:
            if op == "DELETE":
                rows.pop(key, None)
                commits.pop(key, None)
                _bury(tombstones, key, commit_ns)
            elif record is not None:
                if op == "UPDATE":
                    old_key = key
                    if old_record:
                        try:
                            old_key = row_key(old_record, self.primary_keys[table])
                        except ValueError:
                            old_key = key
                    held = rows.pop(old_key, None) if old_key != key else rows.get(key)
                    if held is not None and not held.keys() <= record.keys():
                        record = {**held, **record}  # unchanged TOASTed values, kept
                    if old_key != key:
                        commits.pop(old_key, None)
                        _bury(tombstones, old_key, commit_ns)
                rows[key] = record  # never mutated: readers get copies
                tombstones.pop(key, None)
                if commit_ns is None:
                    commits.pop(key, None)
                else:
                    commits[key] = commit_ns
            else:
                return False
            self._versions[table] += 1
        return True

    def rows_by_key(self, table: str) -> dict[str, Mapping[str, Any]]:
        """Return ``table``'s rows keyed by primary-key text (for resync diffs; the mapping is a
        copy, the rows are shared and must not be mutated)."""
        with self._lock:
            return dict(self._rows.get(table, {}))

    def frame(self, table: str) -> pd.DataFrame:
        """Return the current rows of ``table`` as a new DataFrame (empty if unknown)."""
        with self._lock:
            rows = list(self._rows.get(table, {}).values())
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Return copies of the current rows of ``table`` exactly as received (no dtype changes)."""
        with self._lock:
            rows = list(self._rows.get(table, {}).values())
        return [dict(row) for row in rows]

    def count(self, table: str) -> int:
        """Return the number of rows currently in ``table``."""
        with self._lock:
            return len(self._rows.get(table, {}))


def _bury(tombstones: OrderedDict[str, int], key: str, commit_ns: int | None) -> None:
    """Remember that ``key`` was deleted (or moved away) at ``commit_ns``, newest last, and
    forget the oldest deletion beyond :data:`MAX_TOMBSTONES`."""
    tombstones.pop(key, None)
    if commit_ns is not None:
        tombstones[key] = commit_ns
        if len(tombstones) > MAX_TOMBSTONES:
            tombstones.popitem(last=False)
