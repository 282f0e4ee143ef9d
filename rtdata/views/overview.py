"""Overview numbers: active emergencies, pending verifications, users, events per minute."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd

from rtdata.config import Tile
from rtdata.events import EventKind, EventSource
from rtdata.filters import matches, parse_filter

__all__ = [
    "ACTIVE_EMERGENCY_STATUSES",
    "EVENTS_WINDOW",
    "OverviewCounts",
    "TileHistory",
    "TileValue",
    "active_emergencies",
    "events_per_minute",
    "latest_vitals",
    "overview_counts",
    "pending_verifications",
    "tile_count",
    "tile_values",
]

EVENTS_WINDOW: Final = timedelta(seconds=60)
"""Window of :func:`events_per_minute`."""

ACTIVE_EMERGENCY_STATUSES: Final = ("pending", "accepted", "en_route", "on_scene")
"""Statuses of an emergency that still needs someone."""

_VITAL_COLUMNS: Final = [
    "recorded_at",
    "patient_id",
    "heart_rate",
    "systolic",
    "diastolic",
    "spo2",
    "temperature",
]


@dataclass(frozen=True, slots=True)
class OverviewCounts:
    """The Overview page's numbers.

    Attributes:
        active_emergencies: Emergencies in an active status (:data:`ACTIVE_EMERGENCY_STATUSES`).
        pending_verifications: Verification requests still pending.
        total_users: Rows of ``profiles``.
        events_per_minute: Realtime changes received in the last 60 s.
        latest_vitals: The newest vital-sign readings, newest first.
    """

    active_emergencies: int
    pending_verifications: int
    total_users: int
    events_per_minute: int
    latest_vitals: pd.DataFrame


def active_emergencies(emergencies: pd.DataFrame) -> int:
    """Count emergencies whose ``status`` is active."""
    if emergencies.empty or "status" not in emergencies:
        return 0
    return int(emergencies["status"].isin(ACTIVE_EMERGENCY_STATUSES).sum())


def pending_verifications(requests: pd.DataFrame) -> int:
    """Count verification requests whose ``status`` is ``pending``."""
    if requests.empty or "status" not in requests:
        return 0
    return int((requests["status"] == "pending").sum())


def events_per_minute(events: pd.DataFrame, now: datetime) -> int:
    """Count realtime postgres_changes events received in the 60 s before ``now``."""
    if events.empty:
        return 0
    recent = events[
        (events["received_at"] > pd.Timestamp(now - EVENTS_WINDOW))
        & (events["received_at"] <= pd.Timestamp(now))
        & (events["kind"] == EventKind.POSTGRES_CHANGES)
        & (events["source"] == EventSource.REALTIME)
    ]
    return len(recent)


def latest_vitals(vitals: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """Return the ``limit`` newest vital-sign readings, newest first."""
    if vitals.empty or "recorded_at" not in vitals:
        return pd.DataFrame(columns=_VITAL_COLUMNS)
    columns = [c for c in _VITAL_COLUMNS if c in vitals]
    ordered = vitals.assign(
        recorded_at=pd.to_datetime(vitals["recorded_at"], utc=True, format="ISO8601")
    )
    return (
        ordered.sort_values("recorded_at", ascending=False)
        .head(limit)[columns]
        .reset_index(drop=True)
    )


def overview_counts(
    tables: dict[str, pd.DataFrame], events: pd.DataFrame, now: datetime
) -> OverviewCounts:
    """Compute every Overview number from table state and recent events."""
    empty = pd.DataFrame()
    return OverviewCounts(
        active_emergencies=active_emergencies(tables.get("emergency_requests", empty)),
        pending_verifications=pending_verifications(tables.get("verification_requests", empty)),
        total_users=len(tables.get("profiles", empty)),
        events_per_minute=events_per_minute(events, now),
        latest_vitals=latest_vitals(tables.get("vital_signs", empty)),
    )


# ---------------------------------------------------------------- KPI tiles


@dataclass(frozen=True, slots=True)
class TileValue:
    """One tile as drawn.

    Attributes:
        label: Tile text.
        value: The count now.
        delta: Change since the oldest value within the history window, or ``None``.
        sparkline: Recent values, oldest first.
    """

    label: str
    value: int
    delta: int | None
    sparkline: list[int]


def tile_count(tile: Tile, rows: pd.DataFrame, now: datetime) -> int:
    """Count the rows of a tile's table that match its filter (and are from today, if asked).

    Filter values are cast by the type of the column's first non-null value.

    Raises:
        rtdata.filters.FilterError: The tile's filter does not parse.
    """
    if rows.empty:
        return 0
    conditions = parse_filter(tile.filter)
    frame = rows
    if tile.today_column is not None:
        if tile.today_column not in frame:
            return 0
        stamps = pd.to_datetime(
            frame[tile.today_column], utc=True, format="ISO8601", errors="coerce"
        )
        frame = frame[stamps.dt.date == pd.Timestamp(now).tz_convert("UTC").date()]
    if not conditions:
        return len(frame)
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in frame.to_dict("records")
    ]
    samples = {
        c.column: next((r[c.column] for r in records if r.get(c.column) is not None), None)
        for c in conditions
    }

    def cast(column: str, text: str) -> Any:
        sample = samples.get(column)
        if isinstance(sample, bool):
            return text.lower() in ("true", "t", "1")
        if isinstance(sample, int):
            return int(text)
        if isinstance(sample, float):
            return float(text)
        return text

    return sum(bool(matches(conditions, r, cast)) for r in records)


class TileHistory:
    """Recent values of every tile, for deltas and sparklines; shared by all sessions.

    Invariants: ``_lock`` protects ``_points``; values are kept for ``window_s`` seconds.

    Args:
        window_s: How far back deltas and sparklines reach.
        max_points: Points kept per tile.
    """

    def __init__(self, window_s: float = 300.0, max_points: int = 60) -> None:
        self.window_s = window_s
        self.max_points = max_points
        self._lock = threading.Lock()
        self._points: dict[str, list[tuple[float, int]]] = {}

    def record(self, label: str, at_s: float, value: int) -> TileValue:
        """Add a value of ``label`` at time ``at_s`` (epoch seconds) and return the tile."""
        with self._lock:
            points = [p for p in self._points.get(label, []) if at_s - p[0] <= self.window_s]
            if not points or at_s - points[-1][0] >= self.window_s / self.max_points:
                points.append((at_s, value))
            else:
                points[-1] = (points[-1][0], value)
            self._points[label] = points[-self.max_points :]
            values = [v for _, v in self._points[label]]
        delta = value - values[0] if len(values) > 1 else None
        return TileValue(label, value, delta, values)


def tile_values(
    tiles: tuple[Tile, ...], tables: dict[str, pd.DataFrame], now: datetime, history: TileHistory
) -> list[TileValue]:
    """Compute every tile now and record it in ``history``."""
    at_s = now.timestamp()
    return [
        history.record(
            tile.label, at_s, tile_count(tile, tables.get(tile.table, pd.DataFrame()), now)
        )
        for tile in tiles
    ]
