"""Roster widget: who is online on chosen presence channels, grouped by tracked fields.

A presence event has ``kind="presence"``, ``op`` ``join`` or ``leave``, ``key`` the presence
key and ``record`` the JSON list of the metas that joined or left; each meta holds what the
client tracked and the server's ``presence_ref`` (one tracked session of a key). The collector
records ``op="sync"`` (no key) each time it joins a presence channel, before the server's state
arrives as joins: who was online on that channel before is forgotten, so someone who left
while the link was down does not stay online. Those rules live in :mod:`rtdata.presence`:
:func:`compute` either replays events with them or takes the collector's live presence, which
also knows who joined before the oldest buffered event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rtdata.events import EventKind
from rtdata.presence import PresenceState, Slot, members_frame, meta_identity
from rtdata.views.widgets._figures import stacked_axes, subplot_title
from rtdata.views.widgets._spec import (
    SpecError,
    check_name,
    check_names,
    check_positive,
    check_positive_int,
)

__all__ = [
    "ACTIVITY_COLUMNS",
    "HIDDEN_FIELDS",
    "UNKNOWN",
    "RosterSpec",
    "RosterView",
    "Slot",
    "compute",
    "figure",
    "replay",
    "window_start",
]

ACTIVITY_COLUMNS: Final = ("bucket_start", "joins", "leaves")
"""Columns of :attr:`RosterView.activity`."""

UNKNOWN: Final = "unknown"
"""Group value of a meta that does not track the field."""

HIDDEN_FIELDS: Final = frozenset({"presence_ref", "phx_ref", "phx_ref_prev"})
"""Meta fields that are the server's bookkeeping, not what a client tracked."""
_MAX_BUCKETS: Final = 1440


@dataclass(frozen=True, slots=True)
class RosterSpec:
    """Which presence a roster shows, and how it groups it; checked on construction.

    Attributes:
        channels: Presence channels read, without the ``realtime:`` prefix (at least one).
        group_by: Tracked meta fields to count by (``("role",)``); empty counts everyone as
            one group.
        label_field: One of ``group_by`` whose values are ids shown by a label read from a
            table's rows (passed to :func:`compute`); ``None`` for none.
        label_table: Table of those labels (for the caller to read); needed with
            ``label_field``.
        label_key_column: Column of ``label_table`` holding the ids.
        label_column: Column of ``label_table`` holding the labels.
        window_s: Joins and leaves are counted in the buckets covering this many seconds
            before ``now``.
        bucket_s: Length of a join/leave bucket in seconds; at most 1440 buckets per window.
        max_rows: Most online metas listed, newest join first (1 to 10000).
    """

    channels: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    label_field: str | None = None
    label_table: str | None = None
    label_key_column: str = "id"
    label_column: str = "name"
    window_s: float = 3600.0
    bucket_s: int = 60
    max_rows: int = 500

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "channels", check_names("channels", self.channels, allow_empty=False)
        )
        group_by = check_names("group_by", self.group_by)
        for name in group_by:
            if name in HIDDEN_FIELDS:
                raise SpecError("group_by", f"group_by must name tracked fields, not {name!r}")
        object.__setattr__(self, "group_by", group_by)
        if self.label_field is not None:
            if self.label_field not in group_by:
                raise SpecError(
                    "label_field",
                    f"label_field {self.label_field!r} must be one of group_by {group_by!r}",
                )
            if self.label_table is None:
                raise SpecError(
                    "label_field", f"label_field {self.label_field!r} needs a label_table"
                )
            check_name("label_table", self.label_table)
        elif self.label_table is not None:
            raise SpecError("label_table", f"label_table {self.label_table!r} needs a label_field")
        check_name("label_key_column", self.label_key_column)
        check_name("label_column", self.label_column)
        window_s = check_positive("window_s", self.window_s)
        check_positive_int("bucket_s", self.bucket_s, most=86_400)
        if window_s / self.bucket_s > _MAX_BUCKETS:
            raise SpecError(
                "window_s",
                f"window_s {self.window_s!r} holds more than {_MAX_BUCKETS} buckets of "
                f"bucket_s {self.bucket_s!r}",
            )
        check_positive_int("max_rows", self.max_rows, most=10_000)


@dataclass(frozen=True, slots=True)
class RosterView:
    """What a roster draws.

    Attributes:
        spec: The spec computed.
        online: Online metas, newest join first, at most ``spec.max_rows``: ``channel``,
            ``key``, each ``group_by`` field as text (labelled; :data:`UNKNOWN` when not
            tracked), ``joined_at`` (UTC) and ``online_s`` (seconds from ``joined_at`` to
            ``now``).
        online_total: Online metas in all.
        keys_online: Distinct ``(channel, key)`` pairs online.
        groups: Each ``group_by`` field (or ``group`` when there are none) and ``online``,
            most first, then by the fields.
        activity: :data:`ACTIVITY_COLUMNS`: every bucket of the window, oldest first, with
            the join and leave events received in it (zeros included).
    """

    spec: RosterSpec
    online: pd.DataFrame
    online_total: int
    keys_online: int
    groups: pd.DataFrame
    activity: pd.DataFrame


def compute(
    spec: RosterSpec,
    events: pd.DataFrame,
    now: datetime,
    *,
    labels: pd.DataFrame | None = None,
    online: pd.DataFrame | None = None,
) -> RosterView:
    """Show who is online on the spec's channels at ``now``, and the joins and leaves over
    its window.

    Who is online is ``online`` when given (the collector's live presence), else the replay
    of the presence events of the spec's channels up to ``now`` (:func:`replay`): events are
    replayed in receive order; a join adds its metas (a meta already present under the same
    ``presence_ref`` keeps its first join time), a leave removes its metas, and a leave naming
    no meta removes the whole key. A ``sync`` empties its channel; the joins that follow it
    fill it again, each meta keeping the join time it had before the sync when its
    ``presence_ref`` is unchanged (see :mod:`rtdata.presence` for how long it is kept).

    Args:
        spec: The roster.
        events: A buffer snapshot; may be empty. With ``online``, only the events received
            from :func:`window_start` on matter (the joins and leaves are counted from them).
        now: Current time, timezone-aware: later events are left out and the window ends here.
        labels: Current rows of ``spec.label_table``; an id without a label shows as itself.
        online: The metas online, as :meth:`rtdata.presence.LivePresence.members` returns
            them (:data:`rtdata.presence.MEMBER_COLUMNS`; rows of other channels are left
            out). It is the state after every event recorded so far, so take ``now`` after
            reading it; ``None`` replays ``events`` instead.
    """
    presence = _presence(spec, events, now)
    if online is None:
        members = members_frame(_replayed(presence).members())
    else:
        members = online[online["channel"].isin(spec.channels)]
    table = _online(spec, members, now, _label_map(spec, labels))
    if spec.group_by:
        keys = list(spec.group_by)
        counts = table.groupby(keys, sort=False).size()
        groups = counts.rename("online").reset_index() if len(table) else None
    else:
        keys = ["group"]
        groups = pd.DataFrame({"group": ["everyone"], "online": [len(table)]})
    if groups is None:
        groups = pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys}, "online": []})
    groups["online"] = groups["online"].astype("int64")
    groups = groups.sort_values(["online", *keys], ascending=[False, *[True] * len(keys)])
    return RosterView(
        spec=spec,
        online=table.head(spec.max_rows),
        online_total=len(table),
        keys_online=len(table[["channel", "key"]].drop_duplicates()),
        groups=groups.reset_index(drop=True),
        activity=_activity(spec, presence, now),
    )


_PLOT_PX: Final = 200  # height of each of the figure's two plots


def figure(view: RosterView) -> go.Figure:
    """Draw a view: online metas per group as bars above the joins (up) and leaves (down,
    as negatives) per bucket."""
    groups = view.groups
    label_columns = [c for c in groups.columns if c != "online"]
    labels: list[str] = [
        " · ".join(str(v) for v in values)
        for values in groups[label_columns].itertuples(index=False, name=None)
    ]
    # The group names lie slanted under the bars: leave them room above the second plot's
    # title (about 4 px of height per character at 35 degrees) instead of writing over it.
    labels_px = 4 * max((len(label) for label in labels), default=0) + 40
    height_px = 2 * _PLOT_PX + labels_px + 40
    # One list of traces and one layout, checked once by go.Figure (make_subplots and each
    # add_trace and update_* call check the whole figure again).
    layout = stacked_axes(2, labels_px / height_px)
    layout["xaxis"].update(type="category", tickangle=-35)
    layout["annotations"] = [
        subplot_title("online", layout["yaxis"]["domain"]),
        subplot_title("joins and leaves", layout["yaxis2"]["domain"]),
    ]
    activity = view.activity
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": labels,
            "y": groups["online"],
            "name": "online",
            "showlegend": False,
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "bar",
            "x": activity["bucket_start"],
            "y": activity["joins"],
            "name": "joins",
            "marker": {"color": "#2e7d32"},
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {
            "type": "bar",
            "x": activity["bucket_start"],
            "y": -activity["leaves"],
            "name": "leaves",
            "marker": {"color": "#c62828"},
            "customdata": activity["leaves"],
            "hovertemplate": "%{x}<br>leaves: %{customdata}<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        },
    ]
    layout.update(
        barmode="relative",
        height=height_px,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h"},
    )
    return go.Figure(data=traces, layout=layout)


def _presence(spec: RosterSpec, events: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The presence events of the spec's channels up to ``now``, in receive order."""
    if events.empty or not {"kind", "channel", "op", "key", "record", "received_at"} <= set(events):
        return pd.DataFrame(
            {
                "received_at": pd.Series(dtype="datetime64[ns, UTC]"),
                **{c: pd.Series(dtype=object) for c in ("channel", "op", "key", "record")},
            }
        )
    mask = (
        (events["kind"] == EventKind.PRESENCE)
        & events["channel"].isin(spec.channels)
        & (events["received_at"] <= pd.Timestamp(now))
    )
    chosen = events.loc[np.asarray(mask, dtype=bool), ["received_at", "channel", "op", "key"]]
    chosen["record"] = events.loc[np.asarray(mask, dtype=bool), "record"]
    # Stable, so events received at the same instant keep their arrival order.
    return chosen.sort_values("received_at", kind="stable")


def replay(presence: pd.DataFrame) -> dict[Slot, dict[str, tuple[dict[str, Any], pd.Timestamp]]]:
    """Replay presence events in the order given and return who is online.

    The rules are :class:`rtdata.presence.PresenceState`'s, the ones the collector's live
    presence follows: a join adds its metas (a meta already present under the same
    ``presence_ref`` keeps its first join time), a leave removes its metas, and a leave that
    names no meta removes the whole key. A ``sync`` (recorded at every (re)join) empties its
    channel; a meta stated again after it (before the channel's next sync) keeps the join time
    it had before the sync.

    Args:
        presence: Presence events (columns ``channel``, ``key``, ``op``, ``record`` and
            ``received_at``) in receive order.

    Returns:
        ``(channel, key)`` → meta identity → ``(meta, joined_at)`` of every meta online.
    """
    online: dict[Slot, dict[str, tuple[dict[str, Any], pd.Timestamp]]] = {}
    for channel, key, meta, joined_ns in _replayed(presence).members():
        joined_at = pd.Timestamp(joined_ns, unit="ns", tz="UTC")
        online.setdefault((channel, key), {})[meta_identity(meta)] = (meta, joined_at)
    return online


def _replayed(presence: pd.DataFrame) -> PresenceState:
    """Fold presence events (as :func:`replay` takes them) into a new state."""
    state = PresenceState()
    received_ns = pd.DatetimeIndex(presence["received_at"]).as_unit("ns").asi8.tolist()
    columns = zip(
        presence["channel"].astype(object).tolist(),
        presence["op"].astype(object).tolist(),
        presence["key"].tolist(),
        presence["record"].tolist(),
        received_ns,
        strict=True,
    )
    for channel, op, key, record, at_ns in columns:
        state.apply(str(channel), str(op), key, record, at_ns)
    return state


def _online(
    spec: RosterSpec, members: pd.DataFrame, now: datetime, labels: dict[str, str]
) -> pd.DataFrame:
    """The online table from members (:data:`rtdata.presence.MEMBER_COLUMNS`), newest first."""
    stamp = pd.Timestamp(now)
    metas: list[dict[str, Any]] = members["meta"].tolist()
    data: dict[str, Any] = {
        "channel": pd.Series(members["channel"].astype(object).tolist(), dtype=object),
        "key": pd.Series(members["key"].astype(object).tolist(), dtype=object),
    }
    for name in spec.group_by:
        values = [_group_value(meta.get(name)) for meta in metas]
        if name == spec.label_field:
            values = [labels.get(v, v) for v in values]
        data[name] = pd.Series(values, dtype=object)
    joined_at = pd.to_datetime(members["joined_at"], utc=True).dt.as_unit("ns")
    data["joined_at"] = joined_at.reset_index(drop=True)
    data["online_s"] = (stamp - data["joined_at"]).dt.total_seconds().astype(float)
    frame = pd.DataFrame(data)
    return frame.sort_values("joined_at", ascending=False, kind="stable").reset_index(drop=True)


def _group_value(value: Any) -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _label_map(spec: RosterSpec, labels: pd.DataFrame | None) -> dict[str, str]:
    if (
        spec.label_field is None
        or labels is None
        or not {spec.label_key_column, spec.label_column} <= set(labels.columns)
    ):
        return {}
    return {
        _group_value(key): str(label)
        for key, label in zip(labels[spec.label_key_column], labels[spec.label_column], strict=True)
        if key is not None and label is not None
    }


def window_start(spec: RosterSpec, now: datetime) -> datetime:
    """Return the earliest receive time the joins and leaves of a view at ``now`` count: the
    start of the bucket holding ``now - spec.window_s`` (UTC).

    A view at any later ``now`` reads no event received before it, so a caller keeping
    :func:`compute`'s ``online`` need only snapshot the buffer from here.
    """
    start = pd.Timestamp(now).tz_convert("UTC") - timedelta(seconds=spec.window_s)
    floored: datetime = start.floor(f"{spec.bucket_s}s")
    return floored


def _activity(spec: RosterSpec, presence: pd.DataFrame, now: datetime) -> pd.DataFrame:
    bucket = f"{spec.bucket_s}s"
    end = pd.Timestamp(now).tz_convert("UTC")
    first = pd.Timestamp(window_start(spec, now))
    full = pd.date_range(first, end.floor(bucket), freq=bucket, name="bucket_start")
    recent = presence[(presence["received_at"] >= full[0]) & presence["op"].isin(["join", "leave"])]
    starts = recent["received_at"].dt.floor(bucket)
    op = recent["op"].astype(object)
    counts = pd.DataFrame(
        {
            "joins": (op == "join").groupby(starts).sum(),
            "leaves": (op == "leave").groupby(starts).sum(),
        }
    )
    counts = counts.reindex(full, fill_value=0).astype("int64")
    return counts.reset_index()[list(ACTIVITY_COLUMNS)]
