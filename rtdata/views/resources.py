"""Hospital operations from live table state: free beds and ambulances, and the waiting list.

Computed from the current rows of ``hospital_resources`` and ``waitlist_entries`` (see the
migration ``0002_operations.sql``), with hospital names from ``hospitals``. Every count is exact:
nothing is sampled or estimated. A table without the expected columns counts as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import pandas as pd
from pandas.io.formats.style import Styler

from rtdata.views.hospitals import hospital_labels

__all__ = [
    "NEAR_CAPACITY_PCT",
    "RESOURCE_COLUMNS",
    "WAITLIST_COLUMNS",
    "ResourcesView",
    "WaitlistView",
    "format_age",
    "highlight_near_capacity",
    "resource_table",
    "resources_view",
    "waitlist_table",
    "waitlist_view",
]

NEAR_CAPACITY_PCT: Final = 90.0
"""A hospital whose bed or ICU occupancy is at least this (percent) is near capacity."""

RESOURCE_COLUMNS: Final = (
    "hospital_id",
    "hospital",
    "beds_available",
    "beds_total",
    "beds_free",
    "bed_occupancy_pct",
    "icu_beds_available",
    "icu_beds_total",
    "icu_beds_free",
    "icu_occupancy_pct",
    "ambulances_available",
    "ambulances_total",
    "ambulances_free",
    "near_capacity",
    "updated_at",
)
"""Columns of :func:`resource_table`."""

WAITLIST_COLUMNS: Final = ("waiting", "urgent", "oldest_wait_min")
"""Columns of :func:`waitlist_table` after its group column (``hospital`` or ``specialty``)."""

_COUNTS: Final = (
    "beds_available",
    "beds_total",
    "icu_beds_available",
    "icu_beds_total",
    "ambulances_available",
    "ambulances_total",
)
_WAITLIST_NEEDS: Final = frozenset({"hospital_id", "specialty", "priority", "status", "created_at"})
_HIGHLIGHT: Final = "background-color: rgba(214, 39, 40, 0.25); font-weight: 700"


# ---------------------------------------------------------------- resources


def resource_table(resources: pd.DataFrame, hospitals: pd.DataFrame) -> pd.DataFrame:
    """Return one row per hospital: available against total, occupancy and a capacity flag.

    ``beds_free``, ``icu_beds_free`` and ``ambulances_free`` show available against total as
    text (``"74 / 420"``), next to the numbers. Occupancy is ``100 * (total - available) /
    total`` percent (NaN when the total is 0); a hospital is ``near_capacity`` when its bed or
    ICU occupancy is at least :data:`NEAR_CAPACITY_PCT`. Rows are ordered by hospital id, so
    they keep their place as values change.

    Args:
        resources: Rows of ``hospital_resources``.
        hospitals: Rows of ``hospitals`` (``id`` and ``name``); a hospital missing there is
            named ``hospital <id>``.
    """
    if resources.empty or not {"hospital_id", *_COUNTS, "updated_at"} <= set(resources.columns):
        return _empty_resources()
    frame = resources[["hospital_id", *_COUNTS, "updated_at"]].copy()
    for name in ("hospital_id", *_COUNTS):
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    frame = frame.dropna(subset=["hospital_id", *_COUNTS]).astype(
        dict.fromkeys(("hospital_id", *_COUNTS), "int64")
    )
    frame["hospital"] = hospital_labels(frame["hospital_id"], hospitals)
    for name in ("beds", "icu_beds", "ambulances"):
        available, total = frame[f"{name}_available"], frame[f"{name}_total"]
        frame[f"{name}_free"] = [f"{a:,} / {t:,}" for a, t in zip(available, total, strict=True)]
    frame["bed_occupancy_pct"] = _occupancy_pct(frame["beds_available"], frame["beds_total"])
    frame["icu_occupancy_pct"] = _occupancy_pct(
        frame["icu_beds_available"], frame["icu_beds_total"]
    )
    frame["near_capacity"] = (frame["bed_occupancy_pct"] >= NEAR_CAPACITY_PCT) | (
        frame["icu_occupancy_pct"] >= NEAR_CAPACITY_PCT
    )
    frame["updated_at"] = pd.to_datetime(
        frame["updated_at"], utc=True, format="ISO8601", errors="coerce"
    )
    ordered = frame.sort_values("hospital_id", kind="stable").reset_index(drop=True)
    return ordered[list(RESOURCE_COLUMNS)]


def highlight_near_capacity(table: pd.DataFrame) -> Styler:
    """Style a :func:`resource_table` so that rows near capacity stand out (red, bold)."""

    def row_style(row: pd.Series) -> list[str]:
        return [_HIGHLIGHT if row["near_capacity"] else ""] * len(row)

    return table.style.apply(row_style, axis=1)


@dataclass(frozen=True, slots=True)
class ResourcesView:
    """The Health page's Resources section.

    Attributes:
        table: :func:`resource_table`.
        kpis: Label -> text of the network totals: free beds, free ICU beds and free
            ambulances as ``available / total``, and hospitals near capacity as
            ``n of hospitals``; ``–`` when the table is empty.
    """

    table: pd.DataFrame
    kpis: dict[str, str]


def resources_view(resources: pd.DataFrame, hospitals: pd.DataFrame) -> ResourcesView:
    """Compute the Resources section from ``hospital_resources`` and ``hospitals`` rows."""
    table = resource_table(resources, hospitals)
    if table.empty:
        labels = ("Free beds", "Free ICU beds", "Free ambulances", "Near capacity")
        return ResourcesView(table, dict.fromkeys(labels, "–"))

    def free(name: str) -> str:
        return f"{table[f'{name}_available'].sum():,} / {table[f'{name}_total'].sum():,}"

    return ResourcesView(
        table,
        {
            "Free beds": free("beds"),
            "Free ICU beds": free("icu_beds"),
            "Free ambulances": free("ambulances"),
            "Near capacity": f"{int(table['near_capacity'].sum())} of {len(table)}",
        },
    )


# ---------------------------------------------------------------- waiting list


def waitlist_table(
    entries: pd.DataFrame, hospitals: pd.DataFrame, by: str, now: datetime
) -> pd.DataFrame:
    """Count waiting entries per hospital or per specialty, with the urgent ones and the oldest.

    Only entries whose status is ``waiting`` count; ``urgent`` is those with priority 1 and
    ``oldest_wait_min`` the minutes since the oldest one's ``created_at``. Rows are ordered by
    group name.

    Args:
        entries: Rows of ``waitlist_entries``.
        hospitals: Rows of ``hospitals``, for names.
        by: ``"hospital"`` or ``"specialty"``.
        now: The time ages are measured to.

    Raises:
        ValueError: ``by`` is neither ``"hospital"`` nor ``"specialty"``.
    """
    if by not in ("hospital", "specialty"):
        raise ValueError(f"by must be 'hospital' or 'specialty', got {by!r}")
    waiting = _waiting(entries)
    if waiting.empty:
        return pd.DataFrame(
            {
                by: pd.Series(dtype="str"),
                "waiting": pd.Series(dtype="int64"),
                "urgent": pd.Series(dtype="int64"),
                "oldest_wait_min": pd.Series(dtype="float64"),
            }
        )
    if by == "hospital":
        waiting = waiting.assign(hospital=hospital_labels(waiting["hospital_id"], hospitals))
    waiting = waiting.assign(urgent=waiting["priority"] == 1)
    grouped = waiting.groupby(by, sort=True).agg(
        waiting=("status", "size"), urgent=("urgent", "sum"), oldest=("created_at", "min")
    )
    ages_s = (pd.Timestamp(now) - grouped["oldest"]).dt.total_seconds()
    return pd.DataFrame(
        {
            by: grouped.index.astype("str"),
            "waiting": grouped["waiting"].astype("int64").to_numpy(),
            "urgent": grouped["urgent"].astype("int64").to_numpy(),
            "oldest_wait_min": (ages_s / 60.0).to_numpy(),
        }
    )


@dataclass(frozen=True, slots=True)
class WaitlistView:
    """The Health page's Waiting list section.

    Attributes:
        by_hospital: :func:`waitlist_table` by hospital.
        by_specialty: :func:`waitlist_table` by specialty.
        kpis: Label -> text: entries waiting, urgent ones, and the oldest wait
            (:func:`format_age`).
    """

    by_hospital: pd.DataFrame
    by_specialty: pd.DataFrame
    kpis: dict[str, str]


def waitlist_view(entries: pd.DataFrame, hospitals: pd.DataFrame, now: datetime) -> WaitlistView:
    """Compute the Waiting list section from ``waitlist_entries`` and ``hospitals`` rows."""
    waiting = _waiting(entries)
    oldest = None if waiting.empty else pd.Timestamp(now) - waiting["created_at"].min()
    return WaitlistView(
        by_hospital=waitlist_table(entries, hospitals, "hospital", now),
        by_specialty=waitlist_table(entries, hospitals, "specialty", now),
        kpis={
            "Waiting": f"{len(waiting):,}",
            "Urgent": f"{int((waiting['priority'] == 1).sum()):,}",
            "Oldest wait": format_age(None if oldest is None else oldest.total_seconds()),
        },
    )


def format_age(age_s: float | None) -> str:
    """Format an age for a KPI: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``; ``–`` for none.

    Each unit is rounded down, so an age is never shown larger than it is.
    """
    if age_s is None:
        return "–"
    seconds = max(int(age_s), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86_400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"


# ---------------------------------------------------------------- helpers


def _waiting(entries: pd.DataFrame) -> pd.DataFrame:
    """Waiting entries, typed: ``created_at`` UTC, ``priority`` and ``hospital_id`` numbers."""
    if entries.empty or not set(entries.columns) >= _WAITLIST_NEEDS:
        return pd.DataFrame(columns=sorted(_WAITLIST_NEEDS))
    rows = entries[entries["status"] == "waiting"]
    typed = pd.DataFrame(
        {
            "hospital_id": pd.to_numeric(rows["hospital_id"], errors="coerce"),
            "specialty": rows["specialty"].astype("str"),
            "priority": pd.to_numeric(rows["priority"], errors="coerce"),
            "status": rows["status"],
            "created_at": pd.to_datetime(
                rows["created_at"], utc=True, format="ISO8601", errors="coerce"
            ),
        }
    )
    return typed.dropna(subset=["hospital_id", "created_at"])


def _occupancy_pct(available: pd.Series, total: pd.Series) -> pd.Series:
    used = (total - available).astype("float64")
    return (100.0 * used / total.where(total > 0)).astype("float64")


def _empty_resources() -> pd.DataFrame:
    dtypes = {
        "hospital_id": "int64",
        "hospital": "str",
        **dict.fromkeys(_COUNTS, "int64"),
        **dict.fromkeys(("beds_free", "icu_beds_free", "ambulances_free"), "str"),
        "bed_occupancy_pct": "float64",
        "icu_occupancy_pct": "float64",
        "near_capacity": "bool",
        "updated_at": "datetime64[ns, UTC]",
    }
    return pd.DataFrame({name: pd.Series(dtype=dtypes[name]) for name in RESOURCE_COLUMNS})
