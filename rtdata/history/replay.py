"""Table state from the history alone: replay the recorded changes up to a moment.

Every row a collector applies to its live tables is recorded first, through
:meth:`rtdata.recorder.Recorder.record`, in the order it is applied: realtime changes,
snapshot rows, and the INSERT, UPDATE and DELETE rows of resyncs and polls. Replaying them in
receive order with the same :class:`rtdata.tables.LiveTables` therefore gives the state the
collector held. A recorder's start (its ``idle → connecting`` transition, recorded as a
``status`` event) begins from empty tables, so a folder written by several runs in turn
replays only the run that was live at the moment asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from rtdata.events import Event, EventKind
from rtdata.history.reader import query
from rtdata.lifecycle import ConnectionState
from rtdata.tables import LiveTables

__all__ = ["rebuild_tables"]

_SQL = (
    'SELECT epoch_ns(received_at) AS received_at_ns, kind, "table", op, key, record, '
    f"old_record FROM events WHERE kind IN ('{EventKind.POSTGRES_CHANGES}', '{EventKind.STATUS}')"
    " {until} ORDER BY received_at"
)


def rebuild_tables(
    root: str | os.PathLike[str],
    primary_keys: Mapping[str, Sequence[str]],
    at: datetime | None = None,
) -> LiveTables:
    """Return every table's rows as the collector held them at ``at``, from the history alone.

    Args:
        root: The history folder (one recorder's at a time).
        primary_keys: Primary-key columns by table, as the collector followed them
            (``Settings.table_keys``); changes of other tables are ignored.
        at: Include events received at or before this moment (naive times are UTC); the
            newest state when omitted.
    """
    params: dict[str, Any] = {}
    until = ""
    if at is not None:
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        params["at"] = moment
        until = "AND received_at <= $at"
    frame = query(root, _SQL.format(until=until), params)
    frame = frame.astype(object).where(frame.notna(), None)  # nulls as None, not NaN
    rows = frame.to_dict("records")
    start = 0
    for i, row in enumerate(rows):
        if row["kind"] == EventKind.STATUS and _is_start(row):
            start = i
    tables = LiveTables(primary_keys)
    for row in rows[start:]:
        if row["kind"] != EventKind.POSTGRES_CHANGES or row["table"] is None or row["key"] is None:
            continue
        tables.apply(
            Event(
                int(row["received_at_ns"]),
                None,
                EventKind.POSTGRES_CHANGES,
                "",
                row["table"],
                row["op"],
                row["key"],
                row["record"],
                row["old_record"],
            )
        )
    return tables


def _is_start(row: Mapping[Any, Any]) -> bool:
    """Tell whether a ``status`` row is a recorder's first transition (out of IDLE)."""
    if row["op"] != ConnectionState.CONNECTING.value or not row["record"]:
        return False
    try:
        body = orjson.loads(row["record"])
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("from") == ConnectionState.IDLE.value
