"""Lifecycle board: items moving through ordered statuses, with SLAs, span times and toasts.

A table with a status column is read as a lifecycle: statuses in
order, some of them terminal. The board counts items per status, lists the open ones (most
urgent, then oldest, first) with how long each has been in its status against an SLA per
status (or per status and value of a column), measures the median and 90th percentile time
between pairs of statuses from the events, and picks new items that match a "toast" filter.

Values of a column are compared with the texts a config names them by (TOML keys and strings):
``1`` and ``1.0`` read as ``"1"``, booleans as ``"true"`` and ``"false"``.

Times in a status come from the events: a key enters a status at the first ``INSERT``,
``UPDATE`` or ``SNAPSHOT`` record showing it there after a record showing another status;
times are commit times, or receive times where there is none. A snapshot shows when the
status was first *seen*, so spans that started before the collector did are shortened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata._messages import show
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
    value_texts,
)
from rtdata.views.widgets._spec import SpecError
from rtdata.views.widgets._spec import check_names as _names

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
        priority_column: Open items are sorted by this column first, when set: by its numbers
            (see ``priority_ascending``), or by ``priority_order``.
        priority_ascending: Whether the smallest priority number is the most urgent; ``None``
            (not set) means ascending. Refused together with ``priority_order``.
        created_column: A column of ISO-8601 creation times: the age of an item, and its time
            in status when the events do not show it entering its status. Without it, the age
            is counted from the first event of the key.
        sla_s: Most seconds an item may stay in a status, per status; longer is a breach.
        spans: Pairs of statuses ``(start, end)`` whose time apart is measured.
        group_column: Span times are measured per value of this column, when set.
        toast_filter: Widget filter grammar (the realtime grammar with ``now()`` and
            ``col(name)`` values: :mod:`rtdata.views.widgets._filter`) selecting newly
            inserted items that need eyes now; ``None`` selects none.
        columns: The table's columns the open items show, in this order (before
            :data:`OPEN_EXTRA_COLUMNS`); empty shows every column, and one the rows lack
            (not loaded yet) is left out. The sort and the SLAs still read the key, priority,
            creation and SLA columns when they are not shown.
        sla_column: The column whose value chooses an item's SLAs in ``sla_s_by``.
        sla_s_by: Per value of ``sla_column`` (as text), most seconds an item may stay in a
            status, per status: ``{"gold": {"new": 60}}``. An item whose value or status is
            not listed there falls back to ``sla_s``. Needs ``sla_column``, and the reverse.
        priority_order: Values of ``priority_column`` (as text), most urgent first; values not
            listed sort after the listed ones, and missing ones last. Needs
            ``priority_column``; replaces ``priority_ascending``.

    Raises:
        ValueError: A field is invalid; the message names the field and value.
    """

    table: str
    status_column: str
    statuses: tuple[str, ...]
    terminal: tuple[str, ...] = ()
    key_column: str = "id"
    priority_column: str | None = None
    priority_ascending: bool | None = None
    created_column: str | None = None
    sla_s: Mapping[str, float] = field(default_factory=dict)
    spans: tuple[tuple[str, str], ...] = ()
    group_column: str | None = None
    toast_filter: str | None = None
    columns: tuple[str, ...] = ()
    sla_column: str | None = None
    sla_s_by: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    priority_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_name("table", self.table)
        check_name("status_column", self.status_column)
        object.__setattr__(self, "statuses", tuple(self.statuses))
        object.__setattr__(self, "terminal", tuple(self.terminal))
        object.__setattr__(self, "spans", tuple(tuple(pair) for pair in self.spans))
        object.__setattr__(self, "sla_s", _limits("sla_s", self.sla_s))
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
        for pair in self.spans:
            if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(self.statuses):
                raise SpecError(
                    "spans", f"spans={pair!r} must be two different statuses from {self.statuses!r}"
                )
        check_name("key_column", self.key_column)
        for name in ("priority_column", "created_column", "group_column", "sla_column"):
            check_name(name, getattr(self, name), optional=True)
        check_filter("toast_filter", self.toast_filter)
        object.__setattr__(self, "columns", _names("columns", self.columns))
        self._check_sla_by()
        self._check_priority_order()

    def _check_sla_by(self) -> None:
        if not isinstance(self.sla_s_by, Mapping):
            raise SpecError(
                "sla_s_by",
                f"sla_s_by={_shown(self.sla_s_by)} must be a table of limits per value, "
                "such as { gold = { new = 60 } }",
            )
        by: dict[str, Mapping[str, float]] = {}
        for value, limits in self.sla_s_by.items():
            text = _key_text("sla_s_by", value)
            where = f"sla_s_by[{text!r}]"
            if text in by:
                raise SpecError("sla_s_by", f"sla_s_by names the value {text!r} twice")
            by[text] = _limits(where, limits, field="sla_s_by")
            unknown = [s for s in by[text] if s not in self.statuses]
            if unknown:
                raise SpecError(
                    "sla_s_by", f"{where}={unknown!r}: not in statuses {self.statuses!r}"
                )
        object.__setattr__(self, "sla_s_by", MappingProxyType(by))
        if by and self.sla_column is None:
            raise SpecError("sla_s_by", "sla_s_by needs sla_column: the column its values are of")
        if self.sla_column is not None and not by:
            raise SpecError(
                "sla_column",
                f"sla_column={self.sla_column!r} needs sla_s_by: the limits per value of it",
            )

    def _check_priority_order(self) -> None:
        if self.priority_ascending is not None and not isinstance(self.priority_ascending, bool):
            raise SpecError(
                "priority_ascending",
                f"priority_ascending={_shown(self.priority_ascending)} must be true or false",
            )
        order = self.priority_order
        if isinstance(order, str) or not isinstance(order, Sequence):
            raise SpecError(
                "priority_order", f"priority_order={_shown(order)} must be a list of values"
            )
        texts = tuple(_key_text("priority_order", v) for v in order)
        if len(set(texts)) != len(texts):
            raise SpecError("priority_order", f"priority_order={texts!r} names a value twice")
        object.__setattr__(self, "priority_order", texts)
        if texts and self.priority_column is None:
            raise SpecError(
                "priority_order",
                "priority_order needs priority_column: the column its values are of",
            )
        if texts and self.priority_ascending is not None:
            raise SpecError(
                "priority_ascending",
                f"priority_ascending={self.priority_ascending!r} cannot be used with "
                "priority_order, which lists the most urgent value first; remove one of them",
            )


def _shown(value: object) -> str:
    """``value`` as a message names it: never a whole table or array (one might hold a
    credential, which the config reports without showing it)."""
    return show(list(value) if isinstance(value, tuple) else value)


def _limits(where: str, value: object, *, field: str | None = None) -> Mapping[str, float]:
    """``value`` as a read-only table of seconds per status, each a number above zero."""
    name = field or where
    if not isinstance(value, Mapping):
        raise SpecError(
            name,
            f"{where}={_shown(value)} must be a table of seconds per status, such as {{ new = 60 }}",
        )
    for status, limit_s in value.items():
        if isinstance(limit_s, bool) or not isinstance(limit_s, int | float) or not limit_s > 0:
            raise SpecError(name, f"{where}[{status!r}]={_shown(limit_s)} must be positive seconds")
    return MappingProxyType(dict(value))


def _key_text(field: str, value: object) -> str:
    """A value a config names (a TOML key or an array item) as the text it is compared by."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise SpecError(field, f"{field}: {_shown(value)} must be a value as text, such as 'gold'")
    return value


@dataclass(frozen=True, slots=True)
class LifecycleView:
    """A lifecycle board, ready to draw.

    Attributes:
        counts: One row per status in lifecycle order, zero counts included, with the
            columns :data:`COUNT_COLUMNS`.
        other: Items whose status is none of the statuses (or missing).
        open: The items not in a terminal status (unknown or missing ones included), most urgent
            first (by priority, then oldest, then key), with the table's columns (the spec's
            ``columns`` that the rows have, when it names some) and
            :data:`OPEN_EXTRA_COLUMNS`: age and time in the current status in seconds (NaN
            when unknown), the item's SLA for its status (by its ``sla_column`` value, else
            the status's; NaN without one) and whether it is breached.
        breaches: Open items past their SLA.
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
    present = [str(c) for c in rows.columns]
    shown = [c for c in spec.columns if c in present] if spec.columns else present
    columns = [*shown, *OPEN_EXTRA_COLUMNS]
    is_open = (~status.isin(list(spec.terminal))).to_numpy(dtype=bool)
    # What the sort and the SLAs read, shown or not: dropped when the rows are put in order.
    read = (spec.key_column, spec.priority_column, spec.created_column, spec.sla_column)
    needed = list(dict.fromkeys([*shown, *(c for c in read if c is not None and c in present)]))
    items = rows.loc[is_open, needed]
    if items.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    current = status[is_open]
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
    items["sla_s"] = _sla_s(spec, items, current)
    items["breached"] = (items["in_status_s"] > items["sla_s"]).astype(bool)
    order: dict[str, pd.Series] = {}
    if spec.priority_column is not None and spec.priority_column in items.columns:
        order["priority"] = _priority(spec, items[spec.priority_column])
    order["age_s"] = items["age_s"]
    order["key"] = keys.astype(str)
    ascending = [spec.priority_ascending is not False] * ("priority" in order) + [False, True]
    ranked = pd.DataFrame(order).sort_values(
        list(order), ascending=ascending, kind="stable", na_position="last"
    )
    return items.loc[ranked.index, columns].reset_index(drop=True)


def _sla_s(spec: LifecycleSpec, items: pd.DataFrame, current: pd.Series) -> npt.NDArray[np.float64]:
    """Each open item's SLA for its status: by its ``sla_column`` value, else the status's."""
    limits = np.array(current.map(dict(spec.sla_s)), dtype=np.float64)  # a copy: written below
    if spec.sla_column is None or spec.sla_column not in items.columns:
        return limits
    values = value_texts(items[spec.sla_column])
    states = current.to_numpy(dtype=object)
    for value, by_status in spec.sla_s_by.items():
        of_value = values == value
        if of_value.any():
            for state, limit_s in by_status.items():
                limits[of_value & (states == state)] = limit_s
    return limits


def _priority(spec: LifecycleSpec, values: pd.Series) -> pd.Series:
    """The sort key of each priority value: its number, or its rank in ``priority_order``
    (unlisted values after the listed ones, missing ones after those)."""
    if not spec.priority_order:
        return pd.to_numeric(values, errors="coerce")
    ranks = {value: float(i) for i, value in enumerate(spec.priority_order)}
    texts = pd.Series(value_texts(values), index=values.index, dtype=object)
    unlisted = float(len(ranks))
    return texts.map(ranks).astype(float).fillna(unlisted).where(texts.notna(), unlisted + 1)


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
