"""Feed widget: the newest changes of a table, or broadcasts on one or several channels, as
lines of text.

Each feed item is an event rendered through a text template such as
``"{name} is now {role} (was {old.role})"``: plain names read the record, ``old.`` names the
old values, and ``{event.channel}`` the channel the event came on. For a ``DELETE`` the record
is the old row. Supabase sends only the primary key in ``old_record`` unless the table is
``REPLICA IDENTITY FULL``, so the old values are the ``old_record`` laid over the previous
record of the same key seen earlier in the events (a snapshot row, an insert or an update).

A field of an id column with labels (``[labels]`` in ``rtdata.toml``, passed to
:func:`compute`) shows the label of its id, or the id while none is known; ``{column:id}``
shows the id itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.views.widgets._filter import WidgetCondition
from rtdata.views.widgets._spec import (
    Piece,
    SpecError,
    check_name,
    check_names,
    check_positive_int,
    compile_filter,
    compile_template,
    loads_record,
    parse_spec_filter,
    render,
)

__all__ = [
    "CHANGE_OPS",
    "DEFAULT_OPS",
    "EVENT_FIELDS",
    "MAX_LIMIT",
    "FeedItem",
    "FeedSpec",
    "FeedView",
    "compute",
]

CHANGE_OPS: Final = ("INSERT", "UPDATE", "DELETE", "SNAPSHOT")
"""Operations a table feed may select (``SNAPSHOT``: rows read over REST, not news)."""

DEFAULT_OPS: Final = ("INSERT", "UPDATE", "DELETE")
"""Operations of a table feed that selects none."""

MAX_LIMIT: Final = 1000
"""Most items a feed may show."""

EVENT_FIELDS: Final = ("channel",)
"""What a template reads of the event itself, as ``{event.<name>}``: dotted, so no record or
payload field can hide it."""

_BLOCK: Final = 512  # events decoded at a time, newest first, until the feed is full
_EVENT_COLUMNS: Final = ("received_at", "kind", "channel", "table", "op", "key", "record")


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What a feed shows; checked on construction.

    Attributes:
        template: Text of each item: ``{column}`` for the record's value, ``{old.column}`` for
            the old one, ``{event.channel}`` for the event's channel (:data:`EVENT_FIELDS`),
            each with an optional short format spec (``{level:.1f}``). A column with labels
            shows the label of its id; ``{column:id}`` shows the id.
        table: Show changes of this table (exactly one of ``table``, ``channel`` and
            ``channels``).
        channel: Show broadcasts on this channel, without the ``realtime:`` prefix.
        channels: Show broadcasts on these channels (at least one, no repeats), merged newest
            first.
        ops: For a table, the operations shown (:data:`CHANGE_OPS`; empty means
            :data:`DEFAULT_OPS`); for channels, the broadcast event names (empty means all).
        filter: Condition on the record in the widget filter grammar
            (``"status=eq.open,priority=lte.2"``, with ``now()`` and ``col(name)`` values:
            :mod:`rtdata.views.widgets._filter`); empty keeps every record.
        changed: Table feeds only: show only ``UPDATE`` events where one of these columns
            changed. A column whose old value is unknown (no ``old_record`` value and no
            earlier record of the key) counts as unchanged.
        limit: Most items shown, from 1 to :data:`MAX_LIMIT`.
        toast_filter: Condition that makes a new item toast; ``None`` for no toasts, ``""``
            for every new item.
        missing: Text of a template field missing from the record or null.
    """

    template: str
    table: str | None = None
    channel: str | None = None
    channels: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    filter: str = ""
    changed: tuple[str, ...] = ()
    limit: int = 20
    toast_filter: str | None = None
    missing: str = "?"
    _pieces: tuple[Piece, ...] = field(init=False, repr=False, compare=False)
    _conditions: tuple[WidgetCondition, ...] = field(init=False, repr=False, compare=False)
    _toast: tuple[WidgetCondition, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sources = (("table", self.table), ("channel", self.channel), ("channels", self.channels))
        given = [name for name, value in sources if value is not None and value != ()]
        if len(given) != 1:
            raise SpecError(
                given[-1] if given else "table",
                "exactly one of table, channel and channels (a non-empty list) must be set, "
                f"not {' and '.join(given) if given else 'none'}",
            )
        if self.table is not None:
            check_name("table", self.table)
            ops = check_names("ops", self.ops)
            for op in ops:
                if op not in CHANGE_OPS:
                    raise SpecError("ops", f"ops must be among {CHANGE_OPS}, not {op!r}")
            changed = check_names("changed", self.changed)
            if changed and ops and "UPDATE" not in ops:
                raise SpecError("changed", f"changed {changed!r} needs UPDATE in ops, not {ops!r}")
        else:
            if self.channel is not None:
                check_name("channel", self.channel)
            else:
                object.__setattr__(self, "channels", check_names("channels", self.channels))
            ops = check_names("ops", self.ops)
            if self.changed:
                raise SpecError(
                    "changed", f"changed applies to table feeds only, not {self.changed!r}"
                )
            changed = ()
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "changed", changed)
        check_positive_int("limit", self.limit, most=MAX_LIMIT)
        if not isinstance(self.missing, str):
            raise SpecError("missing", f"missing must be text, not {self.missing!r}")
        pieces = compile_template("template", self.template, event_fields=EVENT_FIELDS)
        object.__setattr__(self, "_pieces", pieces)
        object.__setattr__(self, "_conditions", parse_spec_filter("filter", self.filter))
        toast = None
        if self.toast_filter is not None:
            toast = parse_spec_filter("toast_filter", self.toast_filter)
        object.__setattr__(self, "_toast", toast)

    @property
    def broadcast_channels(self) -> tuple[str, ...]:
        """The channels whose broadcasts the feed shows: ``(channel,)``, ``channels``, or none
        for a table feed."""
        return (self.channel,) if self.channel is not None else self.channels


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One line of a feed.

    Attributes:
        received_at: When the collector received the event (UTC).
        op: The change's operation, or the broadcast's event name.
        key: Primary key of the changed row as text; ``None`` for a broadcast.
        text: The rendered template.
        toast: The item is new since the caller's ``toast_since`` and matches the toast filter.
        channel: The channel the event came on, without the ``realtime:`` prefix; ``None``
            for a row read over REST (a snapshot, resync or poll row).
    """

    received_at: datetime
    op: str
    key: str | None
    text: str
    toast: bool
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class FeedView:
    """What a feed draws.

    Attributes:
        items: Matching events, newest first, at most ``spec.limit``.
        toasts: The items to toast, oldest first.
        latest_at: Receive time of the newest event of the table or channels up to ``now``,
            matching or not (pass it as the next ``toast_since``); ``None`` without any.
    """

    items: tuple[FeedItem, ...]
    toasts: tuple[FeedItem, ...]
    latest_at: datetime | None


def compute(
    spec: FeedSpec,
    events: pd.DataFrame,
    now: datetime,
    *,
    toast_since: datetime | None = None,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> FeedView:
    """Return the newest events of the spec's table or channels received up to ``now``.

    Args:
        spec: The feed.
        events: A buffer snapshot (:meth:`rtdata.EventBuffer.snapshot`); may be empty.
        now: Current time, timezone-aware; later events are left out.
        toast_since: Items received strictly after this time, from the realtime stream (not
            snapshot or resync rows), that match ``spec.toast_filter`` toast; ``None`` toasts
            nothing. Times compare at the microsecond a ``datetime`` holds, so passing an
            item's ``received_at`` back never toasts that item again.
        labels: Per id column, the label text of each id as text
            (:func:`rtdata.views.labels.label_maps`): a template field of such a column shows
            the label of its value, or the value when that id has none. Filters still compare
            the ids themselves.
    """
    if events.empty or not set(_EVENT_COLUMNS) <= set(events.columns):
        return FeedView((), (), None)
    stream = _stream(spec, events, now)
    if stream.empty:
        return FeedView((), (), None)
    received_ns = stream["received_at"].to_numpy(dtype="datetime64[ns]").view("int64")
    latest_at = _utc(int(received_ns[-1]))
    if spec.table is not None:
        ops = ("UPDATE",) if spec.changed else (spec.ops or DEFAULT_OPS)
    else:
        ops = spec.ops
    wanted = np.asarray(stream["op"].isin(ops), dtype=bool) if ops else np.ones(len(stream), bool)
    positions = np.flatnonzero(wanted)
    cols = {
        name: stream[name].to_numpy(dtype=object)
        for name in ("op", "key", "record", "old_record", "previous", "source", "channel")
    }
    since_ns = None if toast_since is None else pd.Timestamp(toast_since).value
    keep: Callable[[Mapping[str, Any]], bool] | None = None
    toast: Callable[[Mapping[str, Any]], bool] | None = None
    items: list[FeedItem] = []
    stop = len(positions)
    while stop > 0 and len(items) < spec.limit:
        block = positions[max(0, stop - _BLOCK) : stop][::-1]  # newest first
        stop -= len(block)
        decoded = [_decode(cols, int(i)) for i in block]
        if keep is None:  # cast filter values by the types of the newest records
            samples = [row for row, _ in decoded]
            keep = compile_filter(spec._conditions, samples, now)
            toast = None if spec._toast is None else compile_filter(spec._toast, samples, now)
        for i, (row, old) in zip(block, decoded, strict=True):
            if spec.changed and not _changed(spec.changed, row, old):
                continue
            if not keep(row):
                continue
            at_ns = int(received_ns[i])
            key = cols["key"][i]
            fresh = since_ns is not None and _micro(at_ns) > since_ns
            live = cols["source"][i] == "realtime"
            channel = cols["channel"][i] or None  # "" for a row read over REST
            event = {"channel": channel}
            items.append(
                FeedItem(
                    received_at=_utc(at_ns),
                    op=str(cols["op"][i]),
                    key=None if key is None else str(key),
                    text=render(spec._pieces, row, old, spec.missing, labels=labels, event=event),
                    toast=bool(toast is not None and fresh and live and toast(row)),
                    channel=None if channel is None else str(channel),
                )
            )
            if len(items) == spec.limit:
                break
    return FeedView(tuple(items), tuple(i for i in reversed(items) if i.toast), latest_at)


def _stream(spec: FeedSpec, events: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The spec's table or channels up to ``now``, oldest first (events received at the same
    time in buffer order), with each key's previous record (``previous``) for tables."""
    if spec.table is not None:
        mask = (events["kind"] == "postgres_changes") & (events["table"] == spec.table)
    else:
        channels = spec.broadcast_channels
        mask = (events["kind"] == "broadcast") & events["channel"].isin(channels)
    mask &= events["received_at"] <= pd.Timestamp(now)
    columns = [*_EVENT_COLUMNS, "source", "old_record"]
    columns = [c for c in columns if c in events.columns]
    stream = events.loc[np.asarray(mask, dtype=bool), columns]
    stream = stream.sort_values("received_at", kind="stable").reset_index(drop=True)
    if "old_record" not in stream:
        stream["old_record"] = None
    if "source" not in stream:
        stream["source"] = "realtime"
    if spec.table is not None and not stream.empty:
        stream["previous"] = stream.groupby("key", sort=False)["record"].shift(1)
    else:
        stream["previous"] = None
    return stream


def _micro(ns: int) -> int:
    """``ns`` floored to the microsecond, the precision of a ``datetime``."""
    return ns - ns % 1000


def _utc(ns: int) -> datetime:
    return pd.Timestamp(_micro(ns), tz="UTC").to_pydatetime()  # no warning for dropped ns


def _decode(
    cols: Mapping[str, npt.NDArray[np.object_]], i: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return event ``i``'s row (the record, or the old row of a delete) and its old values."""
    record = loads_record(cols["record"][i])
    if cols["op"][i] == "INSERT":
        return record, {}
    old = {**loads_record(cols["previous"][i]), **loads_record(cols["old_record"][i])}
    return (record, old) if record else (old, old)


def _changed(columns: tuple[str, ...], row: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    return any(c in old and row.get(c) != old[c] for c in columns)
