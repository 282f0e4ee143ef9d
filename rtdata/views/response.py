"""Emergency response times grouped by any column: when each emergency entered each status.

This module holds the one definition of "entered a status"; the dashboard's per-hospital
:func:`rtdata.views.emergencies.response_times` and the notebooks' per-priority figures are both
built on it. Pure: event snapshots in, frames out.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import orjson
import pandas as pd

__all__ = [
    "PRIORITY_RESPONSE_COLUMNS",
    "SPANS",
    "STATUS_ENTRY_COLUMNS",
    "response_by",
    "response_by_priority",
    "status_entries",
]

TABLE: Final = "emergency_requests"

STATUS_ENTRY_COLUMNS: Final = ("key", "status", "entered_at", "hospital_id", "priority")
"""Columns of :func:`status_entries`."""

SPANS: Final = (
    ("pending_to_accepted", "pending", "accepted", "accepted_n"),
    ("accepted_to_completed", "accepted", "completed", "completed_n"),
)
"""Each measured span: its name, start status, end status and the column counting it."""

PRIORITY_RESPONSE_COLUMNS: Final = (
    "priority",
    "accepted_n",
    "pending_to_accepted_median_min",
    "pending_to_accepted_p90_min",
    "completed_n",
    "accepted_to_completed_median_min",
    "accepted_to_completed_p90_min",
)
"""Columns of :func:`response_by_priority`."""


def status_entries(events: pd.DataFrame) -> pd.DataFrame:
    """Return when each emergency first entered each status, oldest first.

    Times are commit
    times (receive time where a commit time is missing); an emergency enters a status at its
    ``INSERT`` or at an ``UPDATE`` whose ``old_record`` has a different status (or none).
    ``hospital_id`` and ``priority`` are the emergency's values at its latest status entry.

    Args:
        events: An event buffer snapshot (other tables and kinds are ignored).

    Returns:
        A frame with the columns :data:`STATUS_ENTRY_COLUMNS`, one row per emergency and status.
    """
    empty = pd.DataFrame(columns=list(STATUS_ENTRY_COLUMNS))
    if events.empty:
        return empty
    changes = events[(events["table"] == TABLE) & events["op"].isin(["INSERT", "UPDATE"])]
    times = changes["commit_ts"].where(changes["commit_ts"].notna(), changes["received_at"])
    rows = []
    iterable = zip(
        changes["key"], changes["op"], changes["record"], changes["old_record"], times, strict=True
    )
    for key, op, text, old_text, at in iterable:
        record = _loads(text)
        status = record.get("status")
        if status is None or (op == "UPDATE" and _loads(old_text).get("status") == status):
            continue
        rows.append((key, status, at, record.get("hospital_id"), record.get("priority")))
    if not rows:
        return empty
    frame = pd.DataFrame(rows, columns=list(STATUS_ENTRY_COLUMNS))
    frame = frame.sort_values("entered_at", kind="stable")
    latest = frame.drop_duplicates("key", keep="last").set_index("key")
    frame = frame.drop_duplicates(["key", "status"]).reset_index(drop=True)
    for column in ("hospital_id", "priority"):
        frame[column] = frame["key"].map(latest[column])
    return frame


def response_by(entries: pd.DataFrame, by: str) -> pd.DataFrame:
    """Return median and 90th-percentile minutes of each span in :data:`SPANS` per ``by``.

    Only emergencies whose both ends are in ``entries`` are measured; quantiles interpolate
    linearly; groups with nothing measured are left out.

    Args:
        entries: A frame from :func:`status_entries`.
        by: The column to group emergencies by (``priority``, ``hospital_id``, ...).

    Returns:
        Columns ``by``, then for each span its count and ``<span>_median_min`` and
        ``<span>_p90_min``, one row per group, sorted by ``by``.
    """
    columns = [by]
    for span, _, _, count in SPANS:
        columns += [count, f"{span}_median_min", f"{span}_p90_min"]
    if entries.empty:
        return pd.DataFrame(columns=columns)
    entered = entries.pivot(index="key", columns="status", values="entered_at")
    spans = pd.DataFrame(index=entered.index)
    for span, start, end, _ in SPANS:
        if start in entered and end in entered:
            spans[span] = (entered[end] - entered[start]).dt.total_seconds()
        else:
            spans[span] = np.nan
    spans[by] = entries.drop_duplicates("key").set_index("key")[by].reindex(spans.index)
    rows = []
    for group, part in spans.groupby(by, sort=True):
        row: dict[str, Any] = {by: group}
        for span, _, _, count in SPANS:
            minutes = part[span].dropna().to_numpy(dtype=float) / 60.0
            row[count] = len(minutes)
            row[f"{span}_median_min"] = float(np.median(minutes)) if len(minutes) else np.nan
            row[f"{span}_p90_min"] = float(np.quantile(minutes, 0.9)) if len(minutes) else np.nan
        if any(row[count] for *_, count in SPANS):
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def response_by_priority(events: pd.DataFrame) -> pd.DataFrame:
    """Return response times per priority (1 = critical), with the rules of
    :func:`rtdata.views.emergencies.response_times`.

    Args:
        events: An event buffer snapshot (other tables and kinds are ignored).

    Returns:
        A frame with the columns :data:`PRIORITY_RESPONSE_COLUMNS`, one row per priority with
        at least one measured emergency, most urgent first; counts are emergencies measured.
    """
    frame = response_by(status_entries(events), "priority")
    if not frame.empty:
        frame["priority"] = frame["priority"].astype("int64")
    return frame


def _loads(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {}
