"""Lifecycle board: items moving through ordered statuses, with SLAs, span times and toasts.

A table with a status column is read as a lifecycle: statuses in
order, some of them terminal. The board counts items per status, lists the open ones (most
urgent, then oldest, first) with how long each has been in its status against a per-status
SLA, measures the median and 90th percentile time between pairs of statuses from the events,
and picks new items that match a "toast" filter.

Times in a status come from the events: a key enters a status at the first ``INSERT``,
``UPDATE`` or ``SNAPSHOT`` record showing it there after a record showing another status;
times are commit times, or receive times where there is none. A snapshot shows when the
status was first *seen*, so spans that started before the collector did are shortened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.views.widgets._common import (
    KeyHistory,
    age_s,
    check_filter,
    check_name,
    filter_mask,
    key_history,
    key_text,
    loads,
    table_changes,
)
from rtdata.views.widgets._spec import SpecError

__all__ = [
    "COUNT_COLUMNS",
    "EVENT_COLUMNS",
    "OPEN_EXTRA_COLUMNS",
    "SPAN_COLUMNS",
    "LifecycleSpec",
    "LifecycleView",
    "compute",
    "event_fields",
    "toasts",
]

COUNT_COLUMNS: Final = ("status", "count", "terminal")
"""Columns of :attr:`LifecycleView.counts`."""

OPEN_EXTRA_COLUMNS: Final = ("age_s", "in_status_s", "sla_s", "breached")
"""Columns :attr:`LifecycleView.open` adds after the table's own."""

SPAN_COLUMNS: Final = ("start", "end", "n", "median_s", "p90_s")
"""Columns of :attr:`LifecycleView.spans` (after the group column, when there is one)."""


@dataclass(frozen=True, slots=True)
class LifecycleSpec:
    """One lifecycle board, by table and column names only.

    Attributes:
        table: The table of items.
        status_column: The column holding each item's status.
        statuses: Every status, in lifecycle order.
        terminal: The statuses in which an item is done (a subset of ``statuses``).
        key_column: The primary-key column, matched against the events' ``key``.
        priority_column: Open items are sorted by this column first, when set.
        priority_ascending: ``True`` when the smallest priority value is the most urgent.
        created_column: A column of ISO-8601 creation times: the age of an item, and its time
            in status when the events do not show it entering its status. Without it, the age
            is counted from the first event of the key.
        sla_s: Most seconds an item may stay in a status, per status; longer is a breach.
        spans: Pairs of statuses ``(start, end)`` whose time apart is measured.
        group_column: Span times are measured per value of this column, when set.
        toast_filter: Widget filter grammar (the realtime grammar with ``now()`` and
            ``col(name)`` values: :mod:`rtdata.views.widgets._filter`) selecting newly
            inserted items that need eyes now; ``None`` selects none.

    Raises:
        ValueError: A field is invalid; the message names the field and value.
    """

    table: str
    status_column: str
    statuses: tuple[str, ...]
    terminal: tuple[str, ...] = ()
    key_column: str = "id"
    priority_column: str | None = None
    priority_ascending: bool = True
    created_column: str | None = None
    sla_s: Mapping[str, float] = field(default_factory=dict)
    spans: tuple[tuple[str, str], ...] = ()
    group_column: str | None = None
    toast_filter: str | None = None

    def __post_init__(self) -> None:
        check_name("table", self.table)
        check_name("status_column", self.status_column)
        object.__setattr__(self, "statuses", tuple(self.statuses))
        object.__setattr__(self, "terminal", tuple(self.terminal))
        object.__setattr__(self, "spans", tuple(tuple(pair) for pair in self.spans))
        object.__setattr__(self, "sla_s", MappingProxyType(dict(self.sla_s)))
        if not self.statuses:
            raise SpecError("statuses", "statuses=() must name at least one status")
        for status in self.statuses:
            check_name("statuses", status)
        if len(set(self.statuses)) != len(self.statuses):
            raise SpecError("statuses", f"statuses={self.statuses!r} names a status twice")
        for name in ("terminal", "sla_s"):
            unknown = [s for s in getattr(self, name) if s not in self.statuses]
            if unknown:
                raise SpecError(name, f"{name}={unknown!r}: not in statuses {self.statuses!r}")
        for status, limit_s in self.sla_s.items():
            if not limit_s > 0:
                raise SpecError("sla_s", f"sla_s[{status!r}]={limit_s!r} must be positive")
        for pair in self.spans:
            if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(self.statuses):
                raise SpecError(
                    "spans", f"spans={pair!r} must be two different statuses from {self.statuses!r}"
                )
        check_name("key_column", self.key_column)
        for name in ("priority_column", "created_column", "group_column"):
            check_name(name, getattr(self, name), optional=True)
        check_filter("toast_filter", self.toast_filter)


@dataclass(frozen=True, slots=True)
class LifecycleView:
    """A lifecycle board, ready to draw.

    Attributes:
        counts: One row per status in lifecycle order, zero counts included, with the
            columns :data:`COUNT_COLUMNS`.
        other: Items whose status is none of the statuses (or missing).
        open: The items not in a terminal status (unknown or missing ones included), most urgent
            first (by priority, then oldest, then key), with the table's columns and
            :data:`OPEN_EXTRA_COLUMNS`: age and time in the current status in seconds (NaN
            when unknown), the status's SLA (NaN without one) and whether it is breached.
        breaches: Open items past their status's SLA.
        spans: Median and 90th percentile seconds (linear interpolation) from entering
            ``start`` to entering ``end``, over the keys that entered both in that order;
            one row per span (and group) with at least one measurement, with the group column
            (named as in the table) first when there is one, then :data:`SPAN_COLUMNS`.
        toasts: Items inserted after ``since`` that match the toast filter, oldest first:
            ``received_at``, ``key`` and the inserted row's columns (a row column named
            ``received_at`` or ``key`` is left out).
    """

    counts: pd.DataFrame
    other: int
    open: pd.DataFrame
    breaches: int
    spans: pd.DataFrame
    toasts: pd.DataFrame


EVENT_COLUMNS: Final = ("received_at", "commit_ts", "kind", "table", "op", "key")
"""The event columns :func:`compute` reads besides the record fields of :func:`event_fields`
(its toasts also read ``record``; see :func:`toasts`)."""


def event_fields(spec: LifecycleSpec) -> tuple[str, ...]:
    """The record fields :func:`compute` reads from the events: a snapshot asked for them
    spares decoding the records (see :meth:`rtdata.EventBuffer.snapshot`)."""
    return tuple(name for name in (spec.status_column, spec.group_column) if name)


def compute(
    spec: LifecycleSpec,
    rows: pd.DataFrame,
    events: pd.DataFrame,
    now: datetime,
    since: datetime | None = None,
) -> LifecycleView:
    """Compute a lifecycle board from a table's rows and the buffered events.

    Args:
        spec: The board.
        rows: The table's current rows (an empty frame, with or without columns, is fine).
        events: An event buffer snapshot (other tables and kinds are ignored).
        now: The current time, tz-aware UTC.
        since: Toast only items whose ``INSERT`` was received strictly after this time (the
            last toast already shown); ``None`` toasts nothing.
    """
    if spec.status_column in rows.columns:
        status = rows[spec.status_column].astype(object).where(rows[spec.status_column].notna())
    else:
        status = pd.Series(None, index=rows.index, dtype=object)
    tally = status.value_counts()
    counts = pd.DataFrame(
        {
            "status": list(spec.statuses),
            "count": [int(tally.get(s, 0)) for s in spec.statuses],
            "terminal": [s in spec.terminal for s in spec.statuses],
        },
        columns=list(COUNT_COLUMNS),
    )
    other = len(rows) - int(counts["count"].sum())
    history = key_history(events, spec.table, spec.status_column, spec.group_column)
    open_items = _open(spec, rows, status, history, now)
    breaches = int(open_items["breached"].sum())
    return LifecycleView(
        counts, other, open_items, breaches, _spans(spec, history), toasts(spec, events, since, now)
    )


def _open(
    spec: LifecycleSpec,
    rows: pd.DataFrame,
    status: pd.Series,
    history: KeyHistory,
    now: datetime,
) -> pd.DataFrame:
    columns = [*(str(c) for c in rows.columns), *OPEN_EXTRA_COLUMNS]
    is_open = ~status.isin(list(spec.terminal))
    items = rows[is_open.to_numpy(dtype=bool)].copy()
    if items.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    current = status[is_open.to_numpy(dtype=bool)]
    if spec.key_column in items.columns:
        keys = pd.Series([key_text(v) for v in items[spec.key_column]], index=items.index)
    else:
        keys = pd.Series(None, index=items.index, dtype=object)
    now_ns = pd.Timestamp(now).value
    created_age_s = (
        age_s(items[spec.created_column], now)
        if spec.created_column is not None and spec.created_column in items.columns
        else pd.Series(np.nan, index=items.index)
    )
    # Each open item's key looked up once in the history (-1: no event of it).
    codes = history.codes_of(keys.tolist())
    known = codes >= 0
    seen_age_s = np.full(len(codes), np.nan)
    seen_age_s[known] = (now_ns - history.first_ns[codes[known]]) / 1e9
    items["age_s"] = created_age_s.fillna(pd.Series(seen_age_s, index=items.index)).astype(float)
    # Time in status: since the key's newest entry, when that entry is its current status.
    last = np.full(len(codes), -1, dtype=np.intp)
    last[known] = history.last_entry[codes[known]]
    in_status_s = np.full(len(codes), np.nan)
    entered = last >= 0
    same = np.zeros(len(codes), dtype=bool)
    same[entered] = history.entry_status[last[entered]] == current.to_numpy(dtype=object)[entered]
    in_status_s[same] = (now_ns - history.entry_ns[last[same]]) / 1e9
    items["in_status_s"] = (
        pd.Series(in_status_s, index=items.index).fillna(created_age_s).astype(float)
    )
    items["sla_s"] = current.map(lambda s: spec.sla_s.get(s, np.nan)).astype(float)
    items["breached"] = (items["in_status_s"] > items["sla_s"]).astype(bool)
    order: dict[str, pd.Series] = {}
    if spec.priority_column is not None and spec.priority_column in items.columns:
        order["priority"] = pd.to_numeric(items[spec.priority_column], errors="coerce")
    order["age_s"] = items["age_s"]
    order["key"] = keys.astype(str)
    ascending = [spec.priority_ascending] * ("priority" in order) + [False, True]
    ranked = pd.DataFrame(order).sort_values(
        list(order), ascending=ascending, kind="stable", na_position="last"
    )
    return items.loc[ranked.index, columns].reset_index(drop=True)


def _spans(spec: LifecycleSpec, history: KeyHistory) -> pd.DataFrame:
    group = spec.group_column
    columns = [*([group] if group else []), *SPAN_COLUMNS]
    # Per key code: when it first entered each status of a span (entries are oldest first).
    keys = len(history.keys)
    codes, status, times = history.entry_codes, history.entry_status, history.entry_ns

    def first_entered(name: str) -> npt.NDArray[np.int64]:
        at = np.full(keys, _NAT, dtype=np.int64)
        chosen = np.flatnonzero(status == name)
        found, first = np.unique(codes[chosen], return_index=True)
        at[found] = times[chosen[first]]
        return at

    out = []
    for start, end in spec.spans:
        began, ended = first_entered(start), first_entered(end)
        measured = np.flatnonzero((began != _NAT) & (ended != _NAT) & (ended >= began))
        span_s = pd.Series((ended[measured] - began[measured]) / 1e9)
        parts = (
            [(None, span_s)]
            if group is None or history.group is None
            else span_s.groupby(pd.Series(history.group[measured], dtype=object), dropna=False)
        )
        for value, part in parts:
            seconds = part.to_numpy(dtype=float)
            if not len(seconds):
                continue
            row: dict[str, object] = {
                "start": start,
                "end": end,
                "n": len(seconds),
                "median_s": float(np.median(seconds)),
                "p90_s": float(np.quantile(seconds, 0.9)),
            }
            if group is not None:
                row[group] = value
            out.append(row)
    return pd.DataFrame(out, columns=columns)


_NAT: Final = np.iinfo(np.int64).min  # NaT as int64: a status never entered


def toasts(
    spec: LifecycleSpec,
    events: pd.DataFrame,
    since: datetime | None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The items inserted after ``since`` that match the toast filter, as
    :attr:`LifecycleView.toasts` (empty without a filter or ``since``). Reads the ``record``
    of the inserts only, so the board can be computed from a snapshot without records and its
    toasts from a short one with them. ``now`` is the render time a filter comparing with
    ``now()`` needs (it raises ``ValueError`` without it)."""
    empty = pd.DataFrame({"received_at": pd.Series(dtype="datetime64[ns, UTC]"), "key": []})
    if spec.toast_filter is None or since is None:
        return empty
    inserts = table_changes(events, spec.table, ("INSERT",))
    inserts = inserts[(inserts["received_at"] > pd.Timestamp(since)).to_numpy(dtype=bool)]
    if inserts.empty:
        return empty
    records = pd.DataFrame.from_records([loads(r) for r in inserts["record"]])
    records = records.drop(columns=[c for c in ("received_at", "key") if c in records.columns])
    records.insert(0, "key", inserts["key"].to_numpy(dtype=object))
    records.insert(0, "received_at", inserts["received_at"].to_numpy())
    picked = records[filter_mask(records, spec.toast_filter, now)]
    return picked.sort_values("received_at", kind="stable").reset_index(drop=True)
