"""Neutral test data for the widget tests: buffer snapshots built event by event, and large
frames built column by column with the same dtypes a snapshot has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from rtdata.buffer import EventBuffer
from rtdata.events import COLUMNS, Event

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
"""The tests' epoch: every time is seconds after it."""


def at(seconds: float) -> datetime:
    """Return ``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def ns(seconds: float) -> int:
    """Return ``at(seconds)`` in epoch nanoseconds."""
    return int(at(seconds).timestamp() * 1e9)


def iso(seconds: float) -> str:
    """Return ``at(seconds)`` as ISO 8601 text, the way rows carry timestamps."""
    return at(seconds).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def change(
    seconds: float,
    table: str,
    op: str,
    record: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    source: str = "realtime",
) -> Event:
    """A postgres_changes event (``op`` may be ``SNAPSHOT``) received at ``seconds``."""
    keyed = record or old or {}
    return Event(
        ns(seconds),
        None,
        "postgres_changes",
        "" if op == "SNAPSHOT" else "changes",
        table,
        op,
        key if key is not None else str(keyed.get("id")),
        _json(record),
        _json(old),
        source,
    )


def broadcast(seconds: float, channel: str, name: str, payload: Any) -> Event:
    """A broadcast event ``name`` on ``channel`` received at ``seconds``."""
    return Event(ns(seconds), None, "broadcast", channel, None, name, None, _json(payload), None)


def presence(seconds: float, channel: str, op: str, key: str | None, metas: Any) -> Event:
    """A presence ``join``, ``leave`` or ``sync`` event received at ``seconds``."""
    return Event(ns(seconds), None, "presence", channel, None, op, key, _json(metas), None)


def snapshot(*events: Event) -> pd.DataFrame:
    """Return a buffer snapshot holding ``events``."""
    buffer = EventBuffer()
    buffer.extend(events)
    return buffer.snapshot()


def large_events(
    received_s: npt.NDArray[np.float64],
    *,
    kind: str,
    channel: str | npt.NDArray[np.object_],
    table: str | None,
    op: npt.NDArray[np.object_],
    key: pd.Series[Any] | None,
    record: pd.Series[Any],
    old_record: pd.Series[Any] | None = None,
) -> pd.DataFrame:
    """Build a snapshot-shaped frame column by column (no event objects), for large inputs."""
    n = len(received_s)

    def categorical(values: Any) -> pd.Categorical:
        if isinstance(values, str) or values is None:
            values = [values] * n
        array = np.asarray(values, dtype=object)
        categories = pd.Index(sorted({v for v in array if v is not None}), dtype=object)
        return pd.Categorical(array, categories=categories)

    received = pd.DatetimeIndex(
        (ns(0) + (received_s * 1e9).astype("int64")).view("datetime64[ns]"), tz="UTC"
    )
    frame = pd.DataFrame(
        {
            "received_at": received,
            "commit_ts": pd.DatetimeIndex(
                np.full(n, np.datetime64("NaT"), "datetime64[ns]"), tz="UTC"
            ),
            "latency_ms": np.full(n, np.nan),
            "kind": categorical(kind),
            "channel": categorical(channel),
            "table": categorical(table),
            "op": categorical(op),
            "key": pd.Series(
                (key if key is not None else pd.Series([None] * n)).to_numpy(dtype=object),
                dtype=object,
            ),
            "record": pd.Series(record.to_numpy(dtype=object), dtype=object),
            "old_record": pd.Series(
                (old_record if old_record is not None else pd.Series([None] * n)).to_numpy(
                    dtype=object
                ),
                dtype=object,
            ),
            "source": categorical("realtime"),
        }
    )
    assert tuple(frame.columns) == COLUMNS
    return frame
