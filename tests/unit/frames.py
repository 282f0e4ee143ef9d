"""Frames the widget tests share: table rows as the recorder returns them, and event snapshots.

Small event frames go through a real :class:`rtdata.buffer.EventBuffer`, so they have the
snapshot's exact dtypes; large ones are built column by column with NumPy and checked against
those dtypes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd

from rtdata.buffer import EventBuffer
from rtdata.events import COLUMNS, Event

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
"""The tests' clock."""


def ago(seconds: float) -> datetime:
    """Return the time ``seconds`` before :data:`NOW`."""
    return NOW - timedelta(seconds=seconds)


def iso(at: datetime) -> str:
    """Return ``at`` as the ISO-8601 text a JSON row carries."""
    return at.isoformat().replace("+00:00", "Z")


def ns(at: datetime) -> int:
    """Return ``at`` in epoch nanoseconds."""
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1_000


def table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Return rows the way ``Recorder.table`` does (no rows: a frame without columns)."""
    return pd.DataFrame.from_records([dict(r) for r in rows])


def change(
    table: str,
    op: str,
    key: object,
    record: Mapping[str, Any] | None,
    received: datetime,
    *,
    commit: datetime | None = None,
    old: Mapping[str, Any] | None = None,
    kind: str = "postgres_changes",
) -> Event:
    """Return one event of ``table``; snapshot rows (``op="SNAPSHOT"``) have no commit time."""
    source = "snapshot" if op == "SNAPSHOT" else "realtime"
    return Event(
        ns(received),
        None if commit is None else ns(commit),
        kind,
        "" if source == "snapshot" else f"public:{table}",
        table,
        op,
        str(key),
        None if record is None else orjson.dumps(dict(record)).decode(),
        None if old is None else orjson.dumps(dict(old)).decode(),
        source,
    )


def snapshot(events: Iterable[Event]) -> pd.DataFrame:
    """Return the buffer snapshot of ``events`` (no events: the empty snapshot)."""
    buffer = EventBuffer()
    buffer.extend(events)
    return buffer.snapshot()


def bulk_events(
    table: str,
    keys: np.ndarray[Any, Any],
    ops: np.ndarray[Any, Any],
    received_ns: np.ndarray[Any, Any],
    records: pd.Series,
) -> pd.DataFrame:
    """Return a large snapshot-shaped frame built column by column (no per-event objects).

    Args:
        table: Table of every event.
        keys: Primary keys (any type; stored as text).
        ops: Op of each event.
        received_ns: Receive times in epoch nanoseconds; they double as commit times.
        records: Each event's record as JSON text.
    """
    n = len(keys)
    received = pd.DatetimeIndex(received_ns.astype("datetime64[ns]"), tz="UTC")
    frame = pd.DataFrame(
        {
            "received_at": received,
            "commit_ts": received,
            "latency_ms": np.zeros(n),
            "kind": pd.Categorical(["postgres_changes"] * n),
            "channel": pd.Categorical([f"public:{table}"] * n),
            "table": pd.Categorical([table] * n),
            "op": pd.Categorical(ops),
            "key": pd.Series(keys.astype(str), dtype=object),
            "record": pd.Series(records.to_numpy(dtype=object), dtype=object),
            "old_record": pd.Series([None] * n, dtype=object),
            "source": pd.Categorical(["realtime"] * n),
        },
        columns=list(COLUMNS),
    )
    reference = snapshot([change(table, "INSERT", 1, {"id": 1}, NOW, commit=NOW)])
    assert (frame.dtypes.map(str).map(lambda d: d.split("[")[0])).equals(
        reference.dtypes.map(str).map(lambda d: d.split("[")[0])
    )
    return frame
