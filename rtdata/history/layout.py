"""The history's shape on disk: Arrow schemas, partition folders, file names, and the pure
conversions between appended events, journal batches and Parquet rows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from rtdata.events import COLUMNS, Event

__all__ = [
    "CATEGORICAL",
    "JOURNAL_SCHEMA",
    "NO_TABLE",
    "SCHEMA",
    "TYPES",
    "PartitionKey",
    "file_id",
    "folder",
    "journal_batch",
    "journal_id",
    "journal_name",
    "part_name",
    "split",
    "to_rows",
]

NO_TABLE: Final = "_none"
"""Partition folder value (``table=_none``) of events without a table."""

CATEGORICAL: Final = ("kind", "channel", "table", "op", "source")
"""Low-cardinality text columns: dictionary-encoded in Parquet, categoricals in frames."""

_NS_PER_DAY: Final = 86_400 * 10**9
_TIMESTAMP: Final = pa.timestamp("ns", tz="UTC")

TYPES: Final = {"received_at": _TIMESTAMP, "commit_ts": _TIMESTAMP, "latency_ms": pa.float64()}
"""Arrow type of each non-text column of :data:`SCHEMA` (every other column is a string)."""

SCHEMA: Final = pa.schema([(name, TYPES.get(name, pa.string())) for name in COLUMNS])
"""Arrow schema of every Parquet file written now: :data:`rtdata.events.COLUMNS`, in order."""

JOURNAL_SCHEMA: Final = pa.schema(
    [("received_at_ns", pa.int64()), ("commit_ns", pa.int64())]
    + [(name, pa.string()) for name in COLUMNS[3:]]
)
"""Arrow schema of journal batches: the fields of :class:`rtdata.events.Event`, in order."""

_EVENT: Final = pa.struct(list(JOURNAL_SCHEMA))
_JOURNAL_NAME: Final = re.compile(r"\.journal-(\d{8}T\d{12}Z-\d{6})\.arrows")

PartitionKey = tuple[int, str | None]
"""A partition: UTC day number since 1970-01-01 and table name (``None`` for no table)."""


def file_id(now_s: float, seq: int) -> str:
    """Return the name part shared by a journal and the Parquet files folded from it.

    Args:
        now_s: When the journal was opened (epoch seconds); the id sorts by it.
        seq: A number that makes ids opened in the same microsecond unique.
    """
    stamp = datetime.fromtimestamp(now_s, UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{seq:06d}"


def journal_name(ident: str) -> str:
    """Return the (hidden) file name of the journal with id ``ident``."""
    return f".journal-{ident}.arrows"


def journal_id(path: Path) -> str | None:
    """Return the id of a journal file name, or ``None`` when ``path`` is not named like one."""
    match = _JOURNAL_NAME.fullmatch(path.name)
    return match.group(1) if match else None


def part_name(ident: str) -> str:
    """Return the name of the Parquet file that a partition of journal ``ident`` folds into."""
    return f"part-{ident}.parquet"


def folder(root: Path, key: PartitionKey) -> Path:
    """Return the hive partition folder of ``key`` under ``root``."""
    day, table = key
    value = NO_TABLE if table is None else quote(table, safe="")
    return root / f"date={np.datetime64(day, 'D')}" / f"table={value}"


def journal_batch(events: Sequence[Event]) -> Any:
    """Convert events to one journal record batch in a single C-level pass.

    This is the writer's only per-event work while the collector runs: one ``pa.array``
    call that reads each event tuple once (it holds the GIL throughout; nothing else does).

    Raises:
        pyarrow.ArrowException: An item is not an :class:`rtdata.events.Event`.
        TypeError: Ditto.
    """
    return pa.RecordBatch.from_struct_array(pa.array(events, type=_EVENT))


def to_rows(journal: Any) -> Any:
    """Convert a journal table (:data:`JOURNAL_SCHEMA`) to history rows (:data:`SCHEMA`)."""
    received, commit = journal.column("received_at_ns"), journal.column("commit_ns")
    latency = pc.divide(pc.subtract(received, commit).cast(pa.float64()), 1e6)
    text = [journal.column(name) for name in COLUMNS[3:]]
    columns = [received.cast(_TIMESTAMP), commit.cast(_TIMESTAMP), latency, *text]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def split(rows: Any) -> list[tuple[PartitionKey, Any]]:
    """Split history rows by (UTC day, table), keeping arrival order within each partition.

    A few whole-table calls (a stable NumPy sort of one int64 key and one ``take``), so the
    cost does not grow with the number of partitions.

    Returns:
        ``(key, rows)`` pairs, ordered by day; within a day, events without a table come
        first, then tables in the order they first appear.
    """
    if rows.num_rows == 0:
        return []
    received_ns = rows.column("received_at").cast(pa.int64()).to_numpy()
    day = np.floor_divide(received_ns, _NS_PER_DAY)
    encoded = pc.dictionary_encode(rows.column("table").combine_chunks())
    names: list[str | None] = [None, *encoded.dictionary.to_pylist()]
    code = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    key = day * len(names) + code
    if key.min() == key.max():
        return [((int(day[0]), names[code[0]]), rows)]
    order = np.argsort(key, kind="stable")
    ordered_key = key[order]
    starts = [0, *(np.flatnonzero(np.diff(ordered_key)) + 1).tolist()]
    ends = [*starts[1:], len(ordered_key)]
    taken = rows.take(pa.array(order))
    parts = []
    for start, end in zip(starts, ends, strict=True):
        day_number, table_code = divmod(int(ordered_key[start]), len(names))
        parts.append(((day_number, names[table_code]), taken.slice(start, end - start)))
    return parts
