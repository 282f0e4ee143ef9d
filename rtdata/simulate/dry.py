"""A write source played against rows in memory: what a scenario would do to a database, with no
server and no clock of its own.

:class:`DryRun` answers each :class:`~rtdata.simulate.Write` as PostgREST would (ids for inserts
without one, updates merged into the rows their ``match`` selects, deletes by ``match``) and
feeds the written rows back to the scenario when the write asks for them, as
:class:`~rtdata.simulate.Simulator` does. Each changed row becomes a :class:`Change`, what a
Realtime subscriber would receive. Tests, benchmarks and lifecycle checks use it to run a pack's
simulator for thousands of writes in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from rtdata.events import row_key
from rtdata.simulate.write import Broadcast, Write, WriteSource

__all__ = ["Change", "DryRun"]


@dataclass(frozen=True, slots=True)
class Change:
    """One row changed by a write.

    Attributes:
        table: The row's table.
        op: ``INSERT``, ``UPDATE`` or ``DELETE``.
        key: The row's primary key as text (:func:`rtdata.events.row_key`).
        record: The row after the change (``None`` for ``DELETE``).
        old: The primary-key columns of the row before the change (empty for ``INSERT``), as
            Realtime sends ``old_record`` for a table without ``REPLICA IDENTITY FULL``.
    """

    table: str
    op: Literal["INSERT", "UPDATE", "DELETE"]
    key: str
    record: dict[str, Any] | None
    old: dict[str, Any]


class DryRun:
    """Rows in memory that a write source's writes change.

    Attributes:
        source: The write source driven by :meth:`step` and :meth:`run`.
        rows: Table -> primary key text -> row, as the database would hold them.

    Args:
        source: The write source (a pack's ``scenario(seed)``).
        primary_keys: Primary-key columns per table; ``("id",)`` for a table not named.
    """

    def __init__(
        self, source: WriteSource, primary_keys: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.source = source
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self._keys = {table: tuple(columns) for table, columns in (primary_keys or {}).items()}
        self._next_id: dict[str, int] = {}

    def step(self, now: datetime) -> tuple[Write | Broadcast, list[Change]]:
        """Take the source's next write at ``now`` (tz-aware) and apply it; return it with the
        rows it changed (none for a broadcast)."""
        write = self.source.next_write(now)
        if isinstance(write, Broadcast):
            return write, []
        changes = self.apply(write)
        if write.returning:
            self.source.apply_result(write, [c.record for c in changes if c.record is not None])
        return write, changes

    def run(
        self, writes: int, start: datetime, step_s: float = 0.1
    ) -> Iterator[tuple[datetime, Write | Broadcast, list[Change]]]:
        """Take ``writes`` steps ``step_s`` seconds apart from ``start``; yield each step's time,
        write and changes."""
        for i in range(writes):
            now = start + timedelta(seconds=i * step_s)
            write, changes = self.step(now)
            yield now, write, changes

    def apply(self, write: Write) -> list[Change]:
        """Apply one write to the rows; return the rows it changed."""
        table = self.rows.setdefault(write.table, {})
        primary_key = self._keys.get(write.table, ("id",))
        if write.method == "POST":
            return [self._insert(write.table, table, primary_key, body) for body in write.rows()]
        chosen = _chosen(table, primary_key, write.match)
        changes = []
        for key in chosen:
            old = {column: table[key].get(column) for column in primary_key}
            if write.method == "PATCH":
                table[key] = {**table[key], **(write.body if isinstance(write.body, dict) else {})}
                changes.append(Change(write.table, "UPDATE", key, dict(table[key]), old))
            else:
                del table[key]
                changes.append(Change(write.table, "DELETE", key, None, old))
        return changes

    def _insert(
        self,
        name: str,
        table: dict[str, dict[str, Any]],
        primary_key: tuple[str, ...],
        body: Mapping[str, Any],
    ) -> Change:
        row = dict(body)
        if "id" in primary_key and "id" not in row:  # an identity column
            self._next_id[name] = self._next_id.get(name, 0) + 1
            row["id"] = self._next_id[name]
        elif isinstance(row.get("id"), int):  # keep identities ahead of explicit ids
            self._next_id[name] = max(self._next_id.get(name, 0), row["id"])
        key = row_key(row, primary_key)
        table[key] = row
        return Change(name, "INSERT", key, dict(row), {})


def _chosen(
    table: Mapping[str, Mapping[str, Any]], primary_key: Sequence[str], match: Mapping[str, Any]
) -> list[str]:
    """Return the keys of the rows ``match`` selects. A match on exactly the primary key looks
    its row up by key, so a long run (``rtdata bench`` plays 1M events) does not scan the table
    on every update; any other match, or a key that finds no row, scans every row (a match on
    one column without a generator per row: about three times faster)."""
    if match and match.keys() == set(primary_key) and None not in match.values():
        key = row_key(match, primary_key)
        row = table.get(key)
        if row is not None and all(row.get(column) == value for column, value in match.items()):
            return [key]
    if len(match) == 1:
        ((column, value),) = match.items()
        return [key for key, row in table.items() if row.get(column) == value]
    return [
        key
        for key, row in table.items()
        if all(row.get(column) == value for column, value in match.items())
    ]
