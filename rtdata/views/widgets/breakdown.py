"""Breakdown widget: counts, sums or oldest ages of a table's rows grouped by one or two columns.

Group values are shown as text; a foreign-key column can be shown by a label from another
table's rows (``labels = {column = [table, key_column, label_column]}``), falling back to the
raw id when the other table has no such row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rtdata.views.widgets._common import age_s, check_filter, check_name, filter_mask, key_text
from rtdata.views.widgets._spec import SpecError

__all__ = [
    "LONG_LABEL_CHARS",
    "NONE_LABEL",
    "BreakdownSpec",
    "BreakdownView",
    "Measure",
    "compute",
    "figure",
]

Measure = Literal["count", "sum", "oldest_age"]
"""What a breakdown measures per group."""

NONE_LABEL: Final = "(none)"
"""The group label of rows whose group column is missing or null."""

LONG_LABEL_CHARS: Final = 12
"""Bars are drawn sideways when a first-column label is longer than this many characters."""

_VALUE_COLUMNS: Final[Mapping[str, str]] = {
    "count": "count",
    "sum": "sum",
    "oldest_age": "oldest_age_s",
}


@dataclass(frozen=True, slots=True)
class BreakdownSpec:
    """One breakdown, by table and column names only.

    Attributes:
        table: The table whose current rows are grouped.
        by: One or two group columns; the second one splits each bar.
        measure: ``count`` rows, ``sum`` of ``column`` (values that are not numbers are
            ignored), or ``oldest_age``: the largest ``now`` minus ``column`` (ISO-8601 times)
            in seconds.
        column: The summed or timed column; required for ``sum`` and ``oldest_age``.
        filter: Widget filter grammar (the realtime grammar with ``now()`` and ``col(name)``
            values: :mod:`rtdata.views.widgets._filter`); ``None`` keeps every row.
        labels: For a group column holding ids of another table:
            ``(table, key_column, label_column)`` of that table, resolved from the lookups
            passed to :func:`compute`.

    Raises:
        ValueError: A field is invalid; the message names the field and value.
    """

    table: str
    by: tuple[str, ...]
    measure: Measure = "count"
    column: str | None = None
    filter: str | None = None
    labels: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("table", self.table)
        object.__setattr__(self, "by", tuple(self.by))
        if len(self.by) not in (1, 2) or len(set(self.by)) != len(self.by):
            raise SpecError("by", f"by={self.by!r} must name one or two different columns")
        for column in self.by:
            check_name("by", column)
        if self.measure not in get_args(Measure):
            raise SpecError(
                "measure", f"measure={self.measure!r} must be one of {get_args(Measure)}"
            )
        check_name("column", self.column, optional=self.measure == "count")
        check_filter("filter", self.filter)
        labels = {c: tuple(source) for c, source in dict(self.labels).items()}
        object.__setattr__(self, "labels", MappingProxyType(labels))
        for column, source in labels.items():
            if column not in self.by:
                raise SpecError(
                    "labels", f"labels[{column!r}]: {column!r} is not in by={self.by!r}"
                )
            if len(source) != 3 or not all(isinstance(s, str) and s.strip() for s in source):
                raise SpecError(
                    "labels",
                    f"labels[{column!r}]={source!r} must be (table, key_column, label_column)",
                )


@dataclass(frozen=True, slots=True)
class BreakdownView:
    """A breakdown, ready to draw.

    Attributes:
        table: One row per group (per pair of groups with two columns): the group columns,
            named as in ``by`` and holding labels as text (:data:`NONE_LABEL` for null), and
            ``value_column``. First-column groups come largest first (by their total, or
            oldest age), ties and second-column groups by label.
        by: The group columns.
        value_column: ``count``, ``sum`` or ``oldest_age_s``.
        measure: The spec's measure.
        horizontal: Whether bars should be drawn sideways (a label longer than
            :data:`LONG_LABEL_CHARS`).
    """

    table: pd.DataFrame
    by: tuple[str, ...]
    value_column: str
    measure: Measure
    horizontal: bool


def compute(
    spec: BreakdownSpec,
    rows: pd.DataFrame,
    now: datetime,
    lookups: Mapping[str, pd.DataFrame] | None = None,
) -> BreakdownView:
    """Group a table's rows and measure each group.

    Args:
        spec: The breakdown.
        rows: The table's current rows (an empty frame, with or without columns, is fine).
        now: The current time, tz-aware UTC (used by ``oldest_age``).
        lookups: Current rows of the tables named in ``spec.labels``, by table name; a
            missing table leaves raw ids.
    """
    value_column = _VALUE_COLUMNS[spec.measure]
    matched = rows[filter_mask(rows, spec.filter, now)] if len(rows) else rows
    frame = pd.DataFrame(index=range(len(matched)))
    for column in spec.by:
        names = _label_map(spec, column, lookups or {})
        values = matched[column] if column in matched.columns else None
        frame[column] = _group_labels(values, len(matched), names)
    if spec.measure == "count":
        frame[value_column] = 1
    elif spec.column is None or spec.column not in matched.columns:
        frame[value_column] = np.nan
    elif spec.measure == "sum":
        frame[value_column] = pd.to_numeric(matched[spec.column], errors="coerce").to_numpy(
            dtype=float
        )
    else:
        frame[value_column] = age_s(matched[spec.column], now).to_numpy()
    how = "max" if spec.measure == "oldest_age" else "sum"
    by = list(spec.by)
    table = frame.groupby(by, sort=False)[value_column].agg(how).reset_index()
    if spec.measure == "count":
        table[value_column] = table[value_column].astype("int64")
    totals = table.groupby(by[0], sort=False)[value_column].agg(how)
    table["_rank"] = table[by[0]].map(totals).fillna(-np.inf)
    table = table.sort_values(["_rank", *by], ascending=[False, *[True] * len(by)], kind="stable")
    table = table.drop(columns="_rank").reset_index(drop=True)
    horizontal = bool(table[by[0]].str.len().gt(LONG_LABEL_CHARS).any()) if len(table) else False
    return BreakdownView(table, spec.by, value_column, spec.measure, horizontal)


def _label_map(
    spec: BreakdownSpec, column: str, lookups: Mapping[str, pd.DataFrame]
) -> dict[str, str]:
    source = spec.labels.get(column)
    if source is None:
        return {}
    table, key_column, label_column = source
    other = lookups.get(table)
    if other is None or key_column not in other.columns or label_column not in other.columns:
        return {}
    names = {}
    for key, label in zip(other[key_column], other[label_column], strict=True):
        key, label = key_text(key), key_text(label)
        if key is not None and label is not None:
            names[key] = label
    return names


def _group_labels(
    values: pd.Series | None, n: int, names: Mapping[str, str]
) -> np.ndarray[Any, Any]:
    if values is None:
        return np.full(n, NONE_LABEL, dtype=object)

    def label(value: Any) -> str:
        text = key_text(value)
        return NONE_LABEL if text is None else names.get(text, text)

    cells = values.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(pd.Series(cells, dtype=object), use_na_sentinel=False)
    except TypeError:  # JSON objects or arrays: label each row
        return np.array([label(v) for v in cells], dtype=object)
    return np.array([label(v) for v in uniques], dtype=object)[codes]


def figure(view: BreakdownView, *, height_px: int = 320) -> go.Figure:
    """Draw a breakdown as bars: one bar per first-column group, split by the second column.

    Counts and sums of the second column's groups are stacked; oldest ages are grouped side
    by side (ages do not add up). Bars lie sideways, first group on top, when
    :attr:`BreakdownView.horizontal`.
    """
    by, value = view.by, view.value_column
    series = (
        [(value, view.table)]
        if len(by) == 1
        else [(str(name), part) for name, part in view.table.groupby(by[1], sort=True)]
    )
    order = list(dict.fromkeys(view.table[by[0]]))
    # One list of traces and one layout, checked once by go.Figure (each add_trace and
    # update_layout call checks the whole figure again).
    traces: list[dict[str, Any]] = []
    for name, part in series:
        labels, values = part[by[0]].astype(str), part[value]
        if view.horizontal:
            traces.append(
                {"type": "bar", "x": values, "y": labels, "name": name, "orientation": "h"}
            )
        else:
            traces.append({"type": "bar", "x": labels, "y": values, "name": name})
    category = {"type": "category", "categoryorder": "array", "categoryarray": order}
    layout: dict[str, Any] = (
        {"xaxis": {"title": value}, "yaxis": {**category, "title": None, "autorange": "reversed"}}
        if view.horizontal
        else {"xaxis": {**category, "title": by[0]}, "yaxis": {"title": value}}
    )
    layout.update(
        barmode="group" if view.measure == "oldest_age" else "stack",
        height=height_px,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        showlegend=len(by) == 2,
        legend={"title": {"text": by[1]}} if len(by) == 2 else {},
    )
    return go.Figure(data=traces, layout=layout)
