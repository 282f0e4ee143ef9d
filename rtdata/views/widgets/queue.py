"""Queue widget: a live table of a table's rows, filtered, ordered, cut, with fresh rows flagged.

Rows are filtered with the widget filter grammar (the realtime one, with ``now()`` and
``col(name)`` values) and ordered with PostgREST's ``order``
grammar (``priority.asc,created_at.desc.nullslast``). A row is flagged as changed when the
event buffer holds an ``INSERT`` or ``UPDATE`` of its key received within ``highlight_s``
seconds before ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import pandas as pd

from rtdata.views.widgets._common import (
    check_filter,
    check_name,
    filter_mask,
    key_text,
    table_changes,
)
from rtdata.views.widgets._spec import SpecError

__all__ = ["OrderTerm", "QueueSpec", "QueueView", "compute", "parse_order"]


class OrderTerm(NamedTuple):
    """One term of an ``order``: a column, its direction and where its nulls go."""

    column: str
    ascending: bool
    nulls_first: bool


def parse_order(text: str | None) -> tuple[OrderTerm, ...]:
    """Parse PostgREST's ``order`` grammar: ``column[.asc|.desc][.nullsfirst|.nullslast]``, ...

    Nulls sort as in Postgres unless told: last when ascending, first when descending.

    Raises:
        ValueError: ``text`` is not text, or a term is empty or has an unknown modifier.
    """
    if text is not None and not isinstance(text, str):
        raise SpecError("order", f"order={text!r} must be text, such as 'created_at.desc'")
    if not text or not text.strip():
        return ()
    terms = []
    for term in text.split(","):
        column, *modifiers = term.strip().split(".")
        if not column or len(modifiers) > 2:
            raise SpecError("order", f"order term {term!r} must look like column.asc.nullslast")
        ascending, nulls_first = True, None
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                ascending = modifier == "asc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls_first = modifier == "nullsfirst"
            else:
                raise SpecError("order", f"order term {term!r}: unknown modifier {modifier!r}")
        terms.append(
            OrderTerm(column, ascending, not ascending if nulls_first is None else nulls_first)
        )
    return tuple(terms)


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """What one live table shows, by table and column names only.

    Attributes:
        table: The table whose current rows are listed.
        columns: The columns shown, in order; empty shows every column of the rows.
        labels: Display label per column; a column without one shows its name.
        filter: Widget filter grammar (the realtime grammar with ``now()`` and ``col(name)``
            values: :mod:`rtdata.views.widgets._filter`); ``None`` keeps every row.
        order: PostgREST order grammar, e.g. ``"priority.asc,created_at.desc"``; ``None``
            keeps the table's order.
        limit: Most rows shown.
        key_column: The primary-key column, matched against the events' ``key``.
        highlight_s: Rows inserted or updated at most this many seconds before ``now`` are
            flagged; ``0`` flags none.

    Raises:
        ValueError: A field is invalid; the message names the field and value.
    """

    table: str
    columns: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    filter: str | None = None
    order: str | None = None
    limit: int = 50
    key_column: str = "id"
    highlight_s: float = 10.0

    def __post_init__(self) -> None:
        check_name("table", self.table)
        object.__setattr__(self, "columns", tuple(self.columns))
        for column in self.columns:
            check_name("columns", column)
        if len(set(self.columns)) != len(self.columns):
            raise SpecError("columns", f"columns={self.columns!r} names a column twice")
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        for column, label in self.labels.items():
            check_name("labels", column)
            check_name(f"labels[{column!r}]", label)
        check_filter("filter", self.filter)
        try:
            parse_order(self.order)
        except ValueError as exc:
            raise SpecError("order", f"order={self.order!r} is not a valid order: {exc}") from None
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise SpecError("limit", f"limit={self.limit!r} must be a positive integer")
        check_name("key_column", self.key_column)
        if not self.highlight_s >= 0:
            raise SpecError(
                "highlight_s", f"highlight_s={self.highlight_s!r} must be zero or positive"
            )


@dataclass(frozen=True, slots=True)
class QueueView:
    """A live table, ready to draw.

    Attributes:
        rows: The rows shown, at most ``limit``, with display labels as column names and a
            fresh ``0..n-1`` index. A chosen column the rows lack shows as ``None``.
        columns: The source column of each column of ``rows``, in order.
        keys: Each shown row's primary key as text (``None`` where it has none).
        changed: For each shown row, whether it was inserted or updated within
            ``highlight_s`` seconds before ``now``.
        matched: How many rows matched the filter, before the limit.
    """

    rows: pd.DataFrame
    columns: tuple[str, ...]
    keys: tuple[str | None, ...]
    changed: tuple[bool, ...]
    matched: int


def compute(spec: QueueSpec, rows: pd.DataFrame, events: pd.DataFrame, now: datetime) -> QueueView:
    """Filter, order and cut a table's rows and flag the ones that just changed.

    Args:
        spec: The live table.
        rows: The table's current rows (an empty frame, with or without columns, is fine).
        events: An event buffer snapshot; only ``INSERT``/``UPDATE`` events of the table
            count for the flags.
        now: The current time, tz-aware UTC.
    """
    matched = rows[filter_mask(rows, spec.filter, now)] if len(rows) else rows
    ordered = _ordered(matched, parse_order(spec.order)).head(spec.limit)
    columns = spec.columns or tuple(str(c) for c in rows.columns)
    shown = pd.DataFrame(
        {
            spec.labels.get(c, c): (
                ordered[c].to_numpy(dtype=object)
                if c in ordered.columns
                else np.full(len(ordered), None, dtype=object)
            )
            for c in columns
        },
        columns=[spec.labels.get(c, c) for c in columns],
    )
    if spec.key_column in ordered.columns:
        keys = tuple(key_text(v) for v in ordered[spec.key_column].to_numpy(dtype=object))
    else:
        keys = (None,) * len(ordered)
    fresh = _fresh_keys(spec, events, now)
    changed = tuple(k is not None and k in fresh for k in keys)
    return QueueView(shown, columns, keys, changed, len(matched))


def _ordered(rows: pd.DataFrame, terms: tuple[OrderTerm, ...]) -> pd.DataFrame:
    terms = tuple(t for t in terms if t.column in rows.columns)
    if not terms or rows.empty:
        return rows
    rows = rows.reset_index(drop=True)
    keys: dict[str, pd.Series] = {}
    ascending: list[bool] = []
    for i, term in enumerate(terms):
        values = rows[term.column]
        # Nulls are placed by a flag sorted before the value: pandas has one na_position for
        # every column, Postgres one per term.
        keys[f"n{i}"] = values.isna() != term.nulls_first
        ascending.append(True)
        # Text columns compare as text (so "10" < "9", as in Postgres); a column mixing
        # numbers and text compares as text rather than failing.
        numeric = pd.api.types.is_numeric_dtype(values)
        keys[f"v{i}"] = values if numeric else values.astype(str).where(values.notna())
        ascending.append(term.ascending)
    order = pd.DataFrame(keys, index=rows.index).sort_values(
        list(keys), ascending=ascending, kind="stable", na_position="last"
    )
    return rows.loc[order.index]


def _fresh_keys(spec: QueueSpec, events: pd.DataFrame, now: datetime) -> frozenset[str]:
    if spec.highlight_s == 0:
        return frozenset()
    changes = table_changes(events, spec.table, ("INSERT", "UPDATE"))
    if changes.empty:
        return frozenset()
    moment = pd.Timestamp(now)
    received = changes["received_at"]
    recent = (received <= moment) & (received >= moment - timedelta(seconds=spec.highlight_s))
    return frozenset(k for k in changes["key"][recent.to_numpy(dtype=bool)] if k is not None)
