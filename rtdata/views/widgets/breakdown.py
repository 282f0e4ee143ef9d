"""Breakdown widget: counts, sums, oldest ages or shares of a table's rows grouped by one or two
columns.

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
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go

from rtdata.views.widgets._common import age_s, check_filter, check_name, filter_mask, key_text
from rtdata.views.widgets._spec import SpecError, SpecMissing

__all__ = [
    "LONG_LABEL_CHARS",
    "NONE_LABEL",
    "SHARE_COLUMNS",
    "BreakdownSpec",
    "BreakdownView",
    "Measure",
    "compute",
    "figure",
]

Measure = Literal["count", "sum", "oldest_age", "share"]
"""What a breakdown measures per group."""

NONE_LABEL: Final = "(none)"
"""The group label of rows whose group column is missing or null."""

LONG_LABEL_CHARS: Final = 12
"""Bars are drawn sideways when a first-column label is longer than this many characters."""

_VALUE_COLUMNS: Final[Mapping[str, str]] = {
    "count": "count",
    "sum": "sum",
    "oldest_age": "oldest_age_s",
    "share": "share_pct",
}

SHARE_COLUMNS: Final = ("share_pct", "matching", "count")
"""The value columns of a ``share`` breakdown: the percentage, the rows that match
``share_filter``, and the rows it is out of."""


@dataclass(frozen=True, slots=True)
class BreakdownSpec:
    """One breakdown, by table and column names only.

    Attributes:
        table: The table whose current rows are grouped.
        by: One or two group columns; the second one splits each bar.
        measure: ``count`` rows, ``sum`` of ``column`` (values that are not numbers are
            ignored), ``oldest_age``: the largest ``now`` minus ``column`` (ISO-8601 times)
            in seconds, or ``share``: the percentage (0 to 100) of the group's rows that match
            ``share_filter``.
        column: The summed or timed column; required for ``sum`` and ``oldest_age``, refused
            with ``share``.
        filter: Widget filter grammar (the realtime grammar with ``now()`` and ``col(name)``
            values: :mod:`rtdata.views.widgets._filter`); ``None`` keeps every row. With
            ``share``, the rows it keeps are the ones each share is out of.
        labels: For a group column holding ids of another table:
            ``(table, key_column, label_column)`` of that table, resolved from the lookups
            passed to :func:`compute`.
        share_filter: With ``share`` only, and required then: the widget filter a row must
            match to count towards its group's share (``"status=eq.approved"``,
            ``"resolved_at=lte.col(due_at)"``).

    Raises:
        ValueError: A field is invalid; the message names the field and value.
    """

    table: str
    by: tuple[str, ...]
    measure: Measure = "count"
    column: str | None = None
    filter: str | None = None
    labels: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    share_filter: str | None = None

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
        share = self.measure == "share"
        if share and self.column is not None:
            raise SpecError(
                "column",
                f"column={self.column!r} is not used by measure='share': share_filter picks "
                "the rows that count",
            )
        check_name("column", self.column, optional=self.measure in ("count", "share"))
        check_filter("filter", self.filter)
        if share and self.share_filter is None:
            raise SpecMissing(
                "share_filter",
                "measure='share' needs share_filter, the filter a row must match to count, "
                "such as 'status=eq.done'",
            )
        if share and (not isinstance(self.share_filter, str) or not self.share_filter.strip()):
            raise SpecError(
                "share_filter",
                f"share_filter={self.share_filter!r} must be the filter a row must match to "
                "count, such as 'status=eq.done'",
            )
        if not share and self.share_filter is not None:
            raise SpecError(
                "share_filter",
                f"share_filter={self.share_filter!r} needs measure='share', not {self.measure!r}",
            )
        check_filter("share_filter", self.share_filter)
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

    Only groups with rows are listed (after the spec's ``filter``): a share is never of no
    rows.

    Attributes:
        table: One row per group (per pair of groups with two columns): the group columns,
            named as in ``by`` and holding labels as text (:data:`NONE_LABEL` for null), and
            ``value_column`` (with ``share``, :data:`SHARE_COLUMNS`). First-column groups come
            largest first (by their total, oldest age, or share of all their rows), ties and
            second-column groups by label.
        by: The group columns.
        value_column: ``count``, ``sum``, ``oldest_age_s`` or ``share_pct``.
        measure: The spec's measure.
        horizontal: Whether bars should be drawn sideways (a label longer than
            :data:`LONG_LABEL_CHARS`).
        share_filter: The spec's ``share_filter`` (``None`` unless the measure is ``share``).
    """

    table: pd.DataFrame
    by: tuple[str, ...]
    value_column: str
    measure: Measure
    horizontal: bool
    share_filter: str | None = None


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
    if spec.measure == "share":
        return _shares(spec, frame, filter_mask(matched, spec.share_filter, now))
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
    return BreakdownView(table, spec.by, value_column, spec.measure, _sideways(table, by[0]))


def _shares(
    spec: BreakdownSpec, frame: pd.DataFrame, matches: npt.NDArray[np.bool_]
) -> BreakdownView:
    """The share of each group's rows that ``matches``, in percent, with its counts."""
    by = list(spec.by)
    frame["matching"] = matches.astype("int64")
    frame["count"] = np.ones(len(frame), dtype="int64")
    table = frame.groupby(by, sort=False)[["matching", "count"]].sum().reset_index()
    table["share_pct"] = _percent(table["matching"], table["count"])
    totals = table.groupby(by[0], sort=False)[["matching", "count"]].sum()
    table["_rank"] = table[by[0]].map(_percent(totals["matching"], totals["count"]))
    table = table.sort_values(["_rank", *by], ascending=[False, *[True] * len(by)], kind="stable")
    columns = [*by, *SHARE_COLUMNS]
    table = table[columns].reset_index(drop=True).astype({"matching": "int64", "count": "int64"})
    horizontal = _sideways(table, by[0])
    return BreakdownView(table, spec.by, "share_pct", "share", horizontal, spec.share_filter)


def _percent(part: pd.Series[Any], whole: pd.Series[Any]) -> pd.Series[Any]:
    """``part`` in percent of ``whole``; NaN (no share) where ``whole`` is 0."""
    return (100.0 * part / whole.where(whole > 0)).astype(float)


def _sideways(table: pd.DataFrame, first: str) -> bool:
    return bool(table[first].str.len().gt(LONG_LABEL_CHARS).any()) if len(table) else False


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

    Counts and sums of the second column's groups are stacked; oldest ages and shares are
    grouped side by side (neither adds up). Bars lie sideways, first group on top, when
    :attr:`BreakdownView.horizontal`. Shares are drawn on a 0-100 % axis titled by the share
    filter, each bar labelled with its percentage and hovering with the rows it is out of.
    """
    by, value = view.by, view.value_column
    share = view.measure == "share"
    series = (
        [(value, view.table)]
        if len(by) == 1
        else [(str(name), part) for name, part in view.table.groupby(by[1], sort=True)]
    )
    order = list(dict.fromkeys(view.table[by[0]]))
    # One list of traces and one layout, checked once by go.Figure (each add_trace and
    # update_layout call checks the whole figure again).
    traces: list[dict[str, Any]] = []
    along = "x" if view.horizontal else "y"
    for name, part in series:
        labels, values = part[by[0]].astype(str), part[value]
        if view.horizontal:
            trace = {"type": "bar", "x": values, "y": labels, "name": name, "orientation": "h"}
        else:
            trace = {"type": "bar", "x": labels, "y": values, "name": name}
        if share:
            extra = name if len(by) == 2 else ""
            trace |= {
                "customdata": part[["matching", "count"]].to_numpy(),
                "texttemplate": f"%{{{along}:.0f}}%",
                "hovertemplate": f"%{{{along}:.1f}}% of %{{customdata[1]}} rows "
                f"(%{{customdata[0]}} matching)<extra>{extra}</extra>",
            }
        traces.append(trace)
    category = {"type": "category", "categoryorder": "array", "categoryarray": order}
    measured: dict[str, Any] = {"title": value}
    if share:
        measured = {
            "title": f"% of rows with {view.share_filter}",
            "range": [0, 100],
            "ticksuffix": "%",
        }
    layout: dict[str, Any] = (
        {"xaxis": measured, "yaxis": {**category, "title": None, "autorange": "reversed"}}
        if view.horizontal
        else {"xaxis": {**category, "title": by[0]}, "yaxis": measured}
    )
    layout.update(
        barmode="group" if view.measure in ("oldest_age", "share") else "stack",
        height=height_px,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        showlegend=len(by) == 2,
        legend={"title": {"text": by[1]}} if len(by) == 2 else {},
    )
    return go.Figure(data=traces, layout=layout)
