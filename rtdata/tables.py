"""Live table state: the current rows of each subscribed table, kept by primary key.

The collector thread applies snapshots and changes; readers get DataFrame copies they own.
:class:`LiveTables` holds one lock for every table, so a reader never sees a half-applied
snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

from rtdata.events import Event, EventKind, row_key

__all__ = ["LiveTables"]


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
            self._versions[table] += 1

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
    ) -> bool:
        """Apply one change given as dicts (the collector's hot path); return whether it
        changed a table. A key change arrives as ``UPDATE`` with the old key in ``old_record``.

        An ``UPDATE`` record may lack columns: Postgres does not log a TOASTed value (a large
        text, JSON or array) that the update left alone, and Supabase then leaves the column
        out of ``record`` rather than send it again. Such columns keep the value of the row
        held (under its old key, for a key change)."""
        rows = self._rows.get(table)
        if rows is None:
            return False
        with self._lock:
            if op == "DELETE":
                rows.pop(key, None)
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
                rows[key] = record  # never mutated: readers get copies
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
