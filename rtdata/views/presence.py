"""Presence: who is online now (replayed from join/leave events), counts, joins and leaves.

A presence event in the buffer has ``kind="presence"``, ``op`` ``join`` or ``leave``, ``key``
the presence key and ``record`` the JSON list of the metas that joined or left. Each meta holds
what the client tracked (``user``, ``role``, ``hospital_id``, …) and the server's
``presence_ref``, which identifies one tracked session of a key.

The collector also records ``op="sync"`` (no key) each time it joins a presence channel,
before the server's state arrives as joins: who was online before it is forgotten, so a
person who left while the link was down does not stay online.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rtdata.events import EventKind
from rtdata.views.hospitals import hospital_labels
from rtdata.views.widgets.roster import HIDDEN_FIELDS, replay

__all__ = [
    "ONLINE_COLUMNS",
    "PresenceBoard",
    "joins_leaves_figure",
    "joins_leaves_over_time",
    "online_by",
    "online_now",
    "presence_board",
]

ONLINE_COLUMNS: Final = ("channel", "key", "user", "role", "hospital_id", "joined_at", "online_s")
"""Leading columns of :func:`online_now`; any other tracked field follows before ``joined_at``."""

_FIXED: Final = frozenset(ONLINE_COLUMNS)


def _presence(events: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    mask = np.asarray(events["kind"] == EventKind.PRESENCE, dtype=bool)
    if now is not None:
        mask = mask & np.asarray(events["received_at"] <= pd.Timestamp(now), dtype=bool)
    # Stable, so events received at the same instant keep their arrival order.
    return events.loc[mask].sort_values("received_at", kind="stable")


def online_now(events: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Replay presence joins and leaves received up to ``now`` and return who is online.

    Events are replayed per ``(channel, key)`` in receive order: a join adds its metas (a meta
    already present under the same ``presence_ref`` keeps its first join time), a leave removes
    its metas, and a leave that names no meta removes the whole key. A key that leaves and joins
    again is online with the time of its latest join. A ``sync`` empties its channel; the joins
    that follow it (the server's state) fill it again, each meta keeping the join time it had
    before the sync when its ``presence_ref`` is unchanged.

    Returns:
        One row per online meta, newest join first: :data:`ONLINE_COLUMNS` (``user``, ``role``
        and ``hospital_id`` are ``None`` when not tracked) with every other tracked field
        before ``joined_at`` (UTC); ``online_s`` is seconds from ``joined_at`` to ``now``.
    """
    presence = _presence(events, now)
    online = replay(presence)
    stamp = pd.Timestamp(now)
    rows: list[dict[str, Any]] = []
    extra: dict[str, None] = {}  # other tracked fields, in first-seen order
    for (channel, key), current in online.items():
        for meta, joined in current.values():
            fields = {k: v for k, v in meta.items() if k not in HIDDEN_FIELDS and k not in _FIXED}
            extra.update(dict.fromkeys(fields))
            rows.append(
                {
                    "channel": channel,
                    "key": key,
                    "user": meta.get("user"),
                    "role": meta.get("role"),
                    "hospital_id": meta.get("hospital_id"),
                    **fields,
                    "joined_at": joined,
                    "online_s": (stamp - joined).total_seconds(),
                }
            )
    # Built column by column as objects: pandas would turn ids with a gap into floats and NaN.
    data: dict[str, Any] = {
        name: pd.Series([row.get(name) for row in rows], dtype=object)
        for name in (*ONLINE_COLUMNS[:5], *extra)
    }
    data["joined_at"] = pd.to_datetime(pd.Series([row["joined_at"] for row in rows]), utc=True)
    data["online_s"] = pd.Series([row["online_s"] for row in rows], dtype=float)
    frame = pd.DataFrame(data)
    return frame.sort_values("joined_at", ascending=False, kind="stable").reset_index(drop=True)


def online_by(
    online: pd.DataFrame,
    by: Literal["role", "hospital_id"] = "role",
    hospitals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Count online metas per ``role`` or ``hospital_id``, most first.

    Args:
        online: :func:`online_now`.
        by: The tracked field to count by.
        hospitals: Rows of ``hospitals``; when given, ``hospital_id`` is counted under the
            hospital's label (:func:`rtdata.views.hospitals.hospital_label`) in a ``hospital``
            column.

    Returns:
        Columns ``by`` (or ``hospital``), as text (``"unknown"`` when not tracked, so ids plot
        as categories), and ``online``.
    """
    column = "hospital" if by == "hospital_id" and hospitals is not None else by
    if online.empty:
        return pd.DataFrame({column: pd.Series(dtype=object), "online": pd.Series(dtype="int64")})
    if column == "hospital":
        assert hospitals is not None
        labels = pd.Series(hospital_labels(online[by], hospitals), index=online.index)
    else:
        labels = online[by].map(lambda v: "unknown" if v is None or v != v else str(v))
    counts = labels.value_counts(sort=False)
    frame = pd.DataFrame({column: counts.index.astype(object), "online": counts.to_numpy("int64")})
    return frame.sort_values(["online", column], ascending=[False, True]).reset_index(drop=True)


def joins_leaves_over_time(events: pd.DataFrame, bucket: str = "1min") -> pd.DataFrame:
    """Count presence join and leave events per time bucket (one event per key and change).

    Args:
        events: A buffer snapshot (events of other kinds are ignored).
        bucket: A pandas frequency such as ``"1min"``; buckets start on its boundaries.

    Returns:
        Columns ``bucket_start`` (UTC), ``joins`` and ``leaves``: every bucket from the first
        presence event to the last, empty buckets as zeros.
    """
    presence = _presence(events)
    if presence.empty:
        return pd.DataFrame(
            {
                "bucket_start": pd.Series(dtype="datetime64[ns, UTC]"),
                "joins": pd.Series(dtype="int64"),
                "leaves": pd.Series(dtype="int64"),
            }
        )
    starts = presence["received_at"].dt.floor(bucket)
    op = presence["op"].astype(object)
    counts = pd.DataFrame(
        {
            "joins": (op == "join").groupby(starts).sum(),
            "leaves": (op == "leave").groupby(starts).sum(),
        }
    )
    full = pd.date_range(counts.index.min(), counts.index.max(), freq=bucket)
    counts = counts.reindex(full, fill_value=0).astype("int64")
    counts.index.name = "bucket_start"
    return counts.reset_index()


def joins_leaves_figure(counts: pd.DataFrame) -> go.Figure:
    """Draw :func:`joins_leaves_over_time` as bars: joins up, leaves down (as negatives)."""
    figure = go.Figure(
        [
            go.Bar(
                x=counts["bucket_start"],
                y=counts["joins"],
                name="joins",
                marker_color="#2e7d32",
            ),
            go.Bar(
                x=counts["bucket_start"],
                y=-counts["leaves"],
                name="leaves",
                marker_color="#c62828",
                customdata=counts["leaves"],
                hovertemplate="%{x}<br>leaves: %{customdata}<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        barmode="relative",
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=None,
        yaxis_title="events per bucket",
        legend={"orientation": "h"},
    )
    return figure


@dataclass(frozen=True, slots=True)
class PresenceBoard:
    """The Presence page's data.

    Attributes:
        online: :func:`online_now`.
        keys_online: Distinct ``(channel, key)`` pairs online.
        by_role: :func:`online_by` role.
        by_hospital: :func:`online_by` hospital_id, by name when ``hospitals`` was given.
        counts: :func:`joins_leaves_over_time`.
        events: Presence joins and leaves in the snapshot (``sync`` marks not counted).
    """

    online: pd.DataFrame
    keys_online: int
    by_role: pd.DataFrame
    by_hospital: pd.DataFrame
    counts: pd.DataFrame
    events: int


def presence_board(
    events: pd.DataFrame,
    now: datetime,
    bucket: str = "1min",
    hospitals: pd.DataFrame | None = None,
) -> PresenceBoard:
    """Compute everything the Presence page shows from a buffer snapshot (and, for hospital
    names, the current rows of ``hospitals``)."""
    online = online_now(events, now)
    return PresenceBoard(
        online=online,
        keys_online=len(online[["channel", "key"]].drop_duplicates()),
        by_role=online_by(online, "role"),
        by_hospital=online_by(online, "hospital_id", hospitals),
        counts=joins_leaves_over_time(events, bucket),
        events=int(((events["kind"] == EventKind.PRESENCE) & (events["op"] != "sync")).sum()),
    )
