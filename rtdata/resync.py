"""Making table state exact again after a gap: row diffs, deduplication and the resync window.

Supabase delivers postgres_changes at most once, and nothing that happened while a socket was
down is replayed. So after every (re)subscribe the collector reads rows over REST and applies
only the differences. Pure functions and one small bounded set; no I/O, no clock reads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rtdata.events import row_key

__all__ = ["Deduper", "Gap", "RowDiff", "diff_rows", "resync_since_ns"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RowDiff:
    """What must change locally to match rows read from the server.

    Attributes:
        inserted: Rows the server has and the local state lacks.
        updated: Rows whose content differs from the local copy.
        deleted: Keys held locally that the server no longer has (only when the read was
            complete, i.e. covered every row of the table).
    """

    inserted: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inserted) + len(self.updated) + len(self.deleted)


def diff_rows(
    local: Mapping[str, Row],
    fetched: Iterable[Row],
    primary_key: Sequence[str],
    *,
    complete: bool,
    server_keys: Iterable[str] | None = None,
) -> RowDiff:
    """Compare rows read from the server with the local rows of one table.

    Args:
        local: Local rows by key text (see :func:`rtdata.events.row_key`).
        fetched: Rows read from the server (all rows, or those changed since some time).
        primary_key: The table's primary-key columns.
        complete: Whether ``fetched`` is every row of the table; if so, local keys missing
            from it are deletions.
        server_keys: Every key the server has (a key-only read). When given, local keys not
            in it are deletions even if ``fetched`` is partial.

    Rows without their primary key are skipped (the caller counts them as invalid).
    """
    diff = RowDiff()
    seen: set[str] = set()
    for row in fetched:
        try:
            key = row_key(row, primary_key)
        except ValueError:
            continue
        seen.add(key)
        mine = local.get(key)
        if mine is None:
            diff.inserted.append(dict(row))
        elif dict(mine) != dict(row):
            diff.updated.append(dict(row))
    present: set[str] | None = None
    if server_keys is not None:
        present = set(server_keys) | seen
    elif complete:
        present = seen
    if present is not None:
        diff.deleted.extend(key for key in local if key not in present)
    return diff


def resync_since_ns(last_commit_ns: int | None, gap_start_ns: int, margin_s: float) -> int:
    """Return the time from which rows must be re-read after a gap.

    It is the last commit seen for the table (or the gap's start when none was seen), minus
    ``margin_s`` to absorb clock skew between the server and the database.
    """
    start = gap_start_ns if last_commit_ns is None else min(last_commit_ns, gap_start_ns)
    return start - int(margin_s * 1e9)


class Deduper:
    """Remembers recent (table, key, commit time) triples so a change is applied once.

    The same change can arrive twice, for example through two channels whose bindings both
    match it. Memory is bounded: the oldest entries are forgotten first.

    Args:
        max_entries: How many triples to remember.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        # OrderedDict, not dict: evicting the oldest from a plain dict rescans deleted slots.
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()

    def first_time(self, table: str, key: str, commit_ns: int | None) -> bool:
        """Return True the first time a triple is seen; changes without a commit time always
        count as new."""
        if commit_ns is None:
            return True
        triple = (table, key, commit_ns)
        if triple in self._seen:
            return False
        self._seen[triple] = None
        if len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class Gap:
    """A period without a live subscription, and how it was repaired.

    Attributes:
        start_ns: When the subscription was lost (epoch ns).
        end_ns: When it was back and tables were resynced (epoch ns).
        rows_resynced: Rows inserted, updated or deleted by the resync.
    """

    start_ns: int
    end_ns: int
    rows_resynced: int

    @property
    def duration_s(self) -> float:
        """Length of the gap in seconds."""
        return (self.end_ns - self.start_ns) / 1e9
