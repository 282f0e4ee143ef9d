"""Overview numbers: active emergencies, pending verifications, users, events per minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import pandas as pd

__all__ = [
    "ACTIVE_EMERGENCY_STATUSES",
    "EVENTS_WINDOW",
    "OverviewCounts",
    "active_emergencies",
    "events_per_minute",
    "latest_vitals",
    "overview_counts",
    "pending_verifications",
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
        & (events["kind"] == "postgres_changes")
        & (events["source"] == "realtime")
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
