"""Tile widget: one number over a table's rows, with its delta, sparkline and alert level.

A tile aggregates one column (``count``, ``sum``, ``avg``, ``min`` or ``max``) over the rows
matching a widget filter, optionally only rows whose time column falls today (UTC) or in the
last ``window_s`` seconds before ``now``.

The delta and sparkline come from a :class:`TileHistory`, the values the dashboard computed
before: it recomputes every tile about once a second, and a tile's past value cannot be
rebuilt from the event buffer in general (the buffer is bounded, snapshot rows carry no
history, and a time window or a filter comparing with ``now()`` moves with ``now`` even when
no row changes). So the history is what was seen, shared by every session: a tile shown for
the first time has no delta yet.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rtdata.views.widgets._common import check_filter, check_name, filter_mask, timestamps
from rtdata.views.widgets._spec import SpecError

__all__ = [
    "Aggregate",
    "Level",
    "TileHistory",
    "TilePoint",
    "TileSpec",
    "TileView",
    "compute",
    "figure",
]

Aggregate = Literal["count", "sum", "avg", "min", "max"]
"""How a tile turns rows into one number."""

Level = Literal["ok", "warn", "critical"]
"""A tile's alert level, for the UI to colour."""

Worse = Literal["higher", "lower"]
"""Which direction of a tile's value is worse."""

TilePoint = tuple[datetime, float]
"""One past value of a tile: when it was computed (UTC) and the value."""


@dataclass(frozen=True, slots=True)
class TileSpec:
    """What one tile shows, by table and column names only.

    Attributes:
        label: Text on the tile.
        table: The table whose current rows are aggregated.
        aggregate: ``count`` (rows, or the numeric values of ``column`` when given), ``sum``,
            ``avg``, ``min`` or ``max`` of ``column``.
        column: The aggregated column; required for every aggregate but ``count``. Values
            that are not numbers are ignored.
        filter: Widget filter grammar (``status=eq.open,priority=lte.2``; also
            ``expires_at=lt.now()`` or ``closed_at=gt.col(expires_at)``:
            :mod:`rtdata.views.widgets._filter`); ``None`` keeps every row.
        time_column: A column of ISO-8601 times that ``today`` or ``window_s`` look at.
        today: Keep only rows whose ``time_column`` falls on ``now``'s UTC date.
        window_s: Keep only rows whose ``time_column`` is at most this many seconds before
            ``now`` (and not after it).
        warn: The value from which the level is ``warn`` (inclusive).
        critical: The value from which the level is ``critical`` (inclusive).
        worse: ``higher`` when a larger value is worse (a backlog), ``lower`` when a smaller
            one is (free capacity).

    Raises:
        ValueError: A field is invalid; the message names the field and value.
    """

    label: str
    table: str
    aggregate: Aggregate = "count"
    column: str | None = None
    filter: str | None = None
    time_column: str | None = None
    today: bool = False
    window_s: float | None = None
    warn: float | None = None
    critical: float | None = None
    worse: Worse = "higher"

    def __post_init__(self) -> None:
        check_name("label", self.label)
        check_name("table", self.table)
        if self.aggregate not in get_args(Aggregate):
            raise SpecError(
                "aggregate", f"aggregate={self.aggregate!r} must be one of {get_args(Aggregate)}"
            )
        check_name("column", self.column, optional=self.aggregate == "count")
        check_filter("filter", self.filter)
        check_name("time_column", self.time_column, optional=True)
        if self.today and self.window_s is not None:
            raise SpecError("today", f"today={self.today!r}: choose today or window_s, not both")
        if self.window_s is not None and not self.window_s > 0:
            raise SpecError("window_s", f"window_s={self.window_s!r} must be positive")
        if (self.today or self.window_s is not None) and self.time_column is None:
            raise SpecError(
                "time_column", "time_column=None: today and window_s need a time column"
            )
        if self.worse not in get_args(Worse):
            raise SpecError("worse", f"worse={self.worse!r} must be 'higher' or 'lower'")
        if self.warn is not None and self.critical is not None:
            in_order = (
                self.warn <= self.critical
                if self.worse == "higher"
                else (self.warn >= self.critical)
            )
            if not in_order:
                raise SpecError(
                    "critical",
                    f"critical={self.critical!r} must be at least as bad as warn={self.warn!r} "
                    f"when {self.worse} is worse",
                )


@dataclass(frozen=True, slots=True)
class TileView:
    """One tile, ready to draw.

    Attributes:
        label: Text on the tile.
        value: The number now (an ``int`` for ``count``, ``0`` for the ``sum`` of no
            values), or ``None`` for the ``avg``, ``min`` or ``max`` of no values.
        delta: ``value`` minus the oldest value in the history, or ``None`` without history
            or without a value.
        sparkline: The history and then the value now, oldest first.
        level: ``critical`` or ``warn`` when ``value`` reaches that threshold in the worse
            direction, else ``ok`` (also when there is no value).
    """

    label: str
    value: float | None
    delta: float | None
    sparkline: tuple[TilePoint, ...]
    level: Level


def compute(
    spec: TileSpec, rows: pd.DataFrame, now: datetime, history: Sequence[TilePoint] = ()
) -> TileView:
    """Compute a tile over the current rows of its table.

    Args:
        spec: The tile.
        rows: The table's current rows (an empty frame, with or without columns, is fine).
        now: The current time, tz-aware UTC.
        history: The tile's earlier values, oldest first (:meth:`TileHistory.points`).

    Returns:
        The tile; record its ``value`` with :meth:`TileHistory.record` for the next delta.
    """
    value = _value(spec, rows, now)
    points = tuple(history)
    delta = None if value is None or not points else value - points[0][1]
    sparkline = points if value is None else (*points, (now, float(value)))
    return TileView(spec.label, value, delta, sparkline, _level(spec, value))


def _value(spec: TileSpec, rows: pd.DataFrame, now: datetime) -> float | None:
    frame = rows[filter_mask(rows, spec.filter, now)] if len(rows) else rows
    if spec.time_column is not None and (spec.today or spec.window_s is not None):
        if spec.time_column not in frame.columns:
            frame = frame.iloc[0:0]
        else:
            stamps = timestamps(frame[spec.time_column])
            moment = pd.Timestamp(now).tz_convert("UTC")
            if spec.window_s is None:
                keep = stamps.dt.date == moment.date()
            else:
                keep = (stamps <= moment) & (stamps >= moment - timedelta(seconds=spec.window_s))
            frame = frame[keep.to_numpy(dtype=bool)]
    if spec.column is None:
        return len(frame)
    if spec.column not in frame.columns:
        values = np.empty(0, dtype=float)
    else:
        numbers = pd.to_numeric(frame[spec.column], errors="coerce").to_numpy(dtype=float)
        values = numbers[~np.isnan(numbers)]
    if spec.aggregate == "count":
        return len(values)
    if spec.aggregate == "sum":
        return float(values.sum())
    if not len(values):
        return None
    if spec.aggregate == "avg":
        return float(values.mean())
    return float(values.min() if spec.aggregate == "min" else values.max())


def _level(spec: TileSpec, value: float | None) -> Level:
    if value is None:
        return "ok"

    def reached(threshold: float | None) -> bool:
        if threshold is None:
            return False
        return value >= threshold if spec.worse == "higher" else value <= threshold

    if reached(spec.critical):
        return "critical"
    return "warn" if reached(spec.warn) else "ok"


_SPARK_HEIGHT_PX: Final = 60


def figure(view: TileView) -> go.Figure:
    """Draw a tile's sparkline: one line over its history, no axes, no legend."""
    times = [at for at, _ in view.sparkline]
    values = [value for _, value in view.sparkline]
    fig = go.Figure(go.Scatter(x=times, y=values, mode="lines", name=view.label))
    fig.update_layout(
        height=_SPARK_HEIGHT_PX,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return fig


class TileHistory:
    """Recent values of every tile, for deltas and sparklines; shared by all sessions.

    Invariants: ``_lock`` protects ``_points``. A tile keeps the points of the last
    ``window_s`` seconds (relative to the newest ``at`` recorded for it), at most
    ``max_points``; a point closer than ``window_s / max_points`` to the one before replaces
    it, so a tile recomputed by many sessions still spans the whole window.

    Args:
        window_s: How far back deltas and sparklines reach.
        max_points: Points kept per tile.

    Raises:
        ValueError: ``window_s`` or ``max_points`` is not positive.
    """

    def __init__(self, window_s: float = 300.0, max_points: int = 60) -> None:
        if not window_s > 0:
            raise SpecError("window_s", f"window_s={window_s!r} must be positive")
        if max_points < 1:
            raise SpecError("max_points", f"max_points={max_points!r} must be positive")
        self.window_s = window_s
        self.max_points = max_points
        self._lock = threading.Lock()
        self._points: dict[Hashable, list[TilePoint]] = {}

    def points(self, key: Hashable, now: datetime) -> tuple[TilePoint, ...]:
        """Return the points of tile ``key`` within ``window_s`` before ``now``, oldest first."""
        oldest = now - timedelta(seconds=self.window_s)
        with self._lock:
            return tuple(p for p in self._points.get(key, ()) if oldest <= p[0] <= now)

    def record(self, key: Hashable, at: datetime, value: float | None) -> None:
        """Add the value of tile ``key`` (a :class:`TileSpec` is a good key) at time ``at``.

        ``None`` (no value) is not recorded.
        """
        if value is None:
            return
        step_s = self.window_s / self.max_points
        oldest = at - timedelta(seconds=self.window_s)
        with self._lock:
            points = [p for p in self._points.get(key, ()) if p[0] >= oldest]
            if points and (at - points[-1][0]).total_seconds() < step_s:
                points[-1] = (points[-1][0], float(value))
            else:
                points.append((at, float(value)))
            self._points[key] = points[-self.max_points :]
