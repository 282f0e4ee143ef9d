"""Events explorer: filter the buffered events, take the newest rows, inspect one, export.

Every function takes a snapshot frame (columns :data:`rtdata.events.COLUMNS`) and returns new
data; nothing here reads a clock or the collector.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from rtdata.events import COLUMNS

__all__ = [
    "EXPORT_MAX_ROWS",
    "TAIL_COLUMNS",
    "TAIL_ROWS",
    "export_frame",
    "filter_events",
    "filter_options",
    "row_details",
    "tail",
    "to_csv_bytes",
    "to_parquet_bytes",
]

TAIL_ROWS: Final = 500
"""Rows :func:`tail` returns by default: enough to scan, small enough to ship every refresh."""

EXPORT_MAX_ROWS: Final = 1_000_000
"""Most rows an export holds; beyond it only the newest rows are written."""

TAIL_COLUMNS: Final = (
    "received_at",
    "kind",
    "channel",
    "table",
    "op",
    "key",
    "latency_ms",
    "source",
    "record",
    "old_record",
)
"""Columns of :func:`tail`, in display order."""

_TEXT_COLUMNS: Final = ("key", "record", "old_record")


def _keep(column: pd.Series[Any], values: Sequence[str] | None) -> npt.NDArray[np.bool_] | None:
    if not values:
        return None
    return np.asarray(column.isin(list(values)), dtype=bool)


def filter_events(
    events: pd.DataFrame,
    *,
    tables: Sequence[str] | None = None,
    ops: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    text: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Return the events that pass every given filter, in their original order.

    A filter that is ``None`` or empty keeps every row, as an empty multiselect does.

    Args:
        events: A buffer snapshot.
        tables: Keep rows whose ``table`` is one of these.
        ops: Keep rows whose ``op`` is one of these.
        kinds: Keep rows whose ``kind`` is one of these.
        text: Keep rows whose ``key``, ``record`` or ``old_record`` contains this text,
            ignoring case; it is matched literally, never as a regular expression.
        since: Keep rows received at or after this time.
        until: Keep rows received at or before this time (a paused view's freeze point).
    """
    mask = np.ones(len(events), dtype=bool)
    for name, values in (("table", tables), ("op", ops), ("kind", kinds)):
        keep = _keep(events[name], values)
        if keep is not None:
            mask &= keep
    if since is not None:
        mask &= np.asarray(events["received_at"] >= pd.Timestamp(since), dtype=bool)
    if until is not None:
        mask &= np.asarray(events["received_at"] <= pd.Timestamp(until), dtype=bool)
    selected = events.loc[mask]
    if text:
        # Search only rows that passed the cheap filters: substring search is the costly part.
        found = np.zeros(len(selected), dtype=bool)
        for name in _TEXT_COLUMNS:
            column = selected[name].astype(object)
            found |= np.asarray(
                column.str.contains(text, case=False, regex=False, na=False), dtype=bool
            )
        selected = selected.loc[found]
    return selected.reset_index(drop=True)


def filter_options(events: pd.DataFrame) -> dict[str, list[str]]:
    """Return the distinct ``table``, ``op`` and ``kind`` values present, sorted, for pickers."""
    options: dict[str, list[str]] = {}
    for name in ("table", "op", "kind"):
        values = events[name].dropna().unique()
        options[name] = sorted(str(v) for v in values)
    return options


def tail(events: pd.DataFrame, limit: int = TAIL_ROWS) -> pd.DataFrame:
    """Return the ``limit`` newest events, newest first, with :data:`TAIL_COLUMNS`.

    Events received at the same instant keep their reverse arrival order (the later one first).
    """
    received = events["received_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    if len(received) < 2 or bool((received[1:] >= received[:-1]).all()):
        # The buffer's usual case: already in receive order, so the newest rows are the last.
        positions = np.arange(len(received) - 1, max(len(received) - limit, 0) - 1, -1)
    else:
        reverse = np.arange(len(received) - 1, -1, -1)
        order = np.argsort(-received[reverse], kind="stable")
        positions = reverse[order][:limit]
    return events.iloc[positions][list(TAIL_COLUMNS)].reset_index(drop=True)


def _parse(text: Any) -> Any:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # not JSON after all: show it as it is rather than hide it


def row_details(events: pd.DataFrame, index: int) -> dict[str, Any]:
    """Return row ``index`` (by position) as a dict, with ``record`` and ``old_record`` parsed.

    Timestamps become ISO 8601 text and missing values ``None``, so the result is JSON-ready.

    Raises:
        IndexError: ``index`` is not a row position of ``events``.
    """
    if not 0 <= index < len(events):
        raise IndexError(f"row {index} of {len(events)}")
    row = events.iloc[index]
    details: dict[str, Any] = {}
    for name, value in row.items():
        if name in ("record", "old_record"):
            details[str(name)] = _parse(value)
        elif isinstance(value, pd.Timestamp):
            details[str(name)] = None if pd.isna(value) else value.isoformat()
        elif value is None or (not isinstance(value, str) and pd.isna(value)):
            details[str(name)] = None
        elif isinstance(value, np.generic):
            details[str(name)] = value.item()
        else:
            details[str(name)] = value
    return details


def export_frame(events: pd.DataFrame, limit: int = EXPORT_MAX_ROWS) -> pd.DataFrame:
    """Return what an export writes: :data:`rtdata.events.COLUMNS` of the newest ``limit`` rows.

    Rows keep their order (oldest first); records stay JSON text.
    """
    columns = [c for c in COLUMNS if c in events]
    return events.iloc[max(len(events) - limit, 0) :][columns].reset_index(drop=True)


def to_csv_bytes(events: pd.DataFrame, limit: int = EXPORT_MAX_ROWS) -> bytes:
    """Return the newest ``limit`` events as UTF-8 CSV, times as ISO 8601 UTC in nanoseconds.

    A missing time or value is an empty field; records stay JSON text.
    """
    frame = export_frame(events, limit)
    for name in ("received_at", "commit_ts"):
        if name in frame:
            # NumPy's formatter is C code: pandas' strftime path costs seconds per million rows.
            values = frame[name].to_numpy(dtype="datetime64[ns]")
            text = np.datetime_as_string(values, unit="ns", timezone="UTC").astype(object)
            text[np.isnat(values)] = None
            frame[name] = text
    return frame.to_csv(index=False).encode()


def to_parquet_bytes(events: pd.DataFrame, limit: int = EXPORT_MAX_ROWS) -> bytes:
    """Return the newest ``limit`` events as a Parquet file written by pyarrow.

    Categorical columns become dictionary-encoded strings; ``record`` and ``old_record`` stay
    JSON text.
    """
    frame = export_frame(events, limit)
    sink = io.BytesIO()
    frame.to_parquet(sink, engine="pyarrow", index=False)
    return sink.getvalue()
