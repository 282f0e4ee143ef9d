"""Emergencies: the open list, its filters, new-critical alerts, response times and an offline map.

Everything here is pure: table frames and event snapshots in, frames and figures out, with the
clock as a parameter. The map draws the shipped district polygons as filled shapes on plain
lon/lat axes, so it needs no tile server and no network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd
import plotly.graph_objects as go

from rtdata.events import EventSource
from rtdata.views.hospitals import hospital_labels
from rtdata.views.response import response_by, status_entries

__all__ = [
    "MAX_MARKERS",
    "OPEN_COLUMNS",
    "OPEN_STATUSES",
    "PRIORITY_MARKER_SIZE_PX",
    "RESPONSE_COLUMNS",
    "RESPONSE_WINDOW_EVENTS",
    "STATUS_COLOURS",
    "emergency_map",
    "filter_open",
    "format_age",
    "load_districts",
    "new_critical",
    "open_emergencies",
    "response_times",
]

TABLE: Final = "emergency_requests"

OPEN_STATUSES: Final = ("pending", "accepted", "en_route", "on_scene")
"""Statuses of an emergency that is still open, in lifecycle order."""

OPEN_COLUMNS: Final = (
    "id",
    "priority",
    "status",
    "hospital",
    "emergency_type",
    "patient_name",
    "age_s",
    "age",
    "pickup_address",
    "lat",
    "lon",
)
"""Columns of :func:`open_emergencies`."""

RESPONSE_COLUMNS: Final = (
    "hospital",
    "accepted_n",
    "pending_to_accepted_median_min",
    "pending_to_accepted_p90_min",
    "completed_n",
    "accepted_to_completed_median_min",
    "accepted_to_completed_p90_min",
)
"""Columns of :func:`response_times`."""

RESPONSE_WINDOW_EVENTS: Final = 20_000
"""The live page measures response times over this many newest emergency changes: enough for a
live board, and cheap enough to recompute every second (the history serves longer windows)."""

STATUS_COLOURS: Final = {
    "pending": "#d62728",
    "accepted": "#ff7f0e",
    "en_route": "#1f77b4",
    "on_scene": "#9467bd",
}
"""Marker colour of each open status on the map."""

PRIORITY_MARKER_SIZE_PX: Final = {1: 20, 2: 15, 3: 12, 4: 9, 5: 7}
"""Marker diameter per priority: critical (1) biggest."""

MAX_MARKERS: Final = 2000
"""Above this many emergencies the map draws one marker per grid cell and status instead."""

_GRID_DEG: Final = 0.01  # aggregation cell, about 1.1 km north-south in Lisbon
_MAP_LAT_DEG: Final = 38.745  # centre latitude of the city: keeps lon/lat distances true there
_DISTRICTS_RESOURCE: Final = "scenarios/hospital/assets/lisbon_districts.geojson"


# ---------------------------------------------------------------- the open list


def format_age(age_s: float) -> str:
    """Return an age in seconds as short text: ``"45s"``, ``"3m 05s"``, ``"2h 07m"``."""
    if not math.isfinite(age_s):
        return ""
    seconds = max(0, int(age_s))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def open_emergencies(
    emergencies: pd.DataFrame, hospitals: pd.DataFrame, now: datetime
) -> pd.DataFrame:
    """Return the open emergencies, most urgent first.

    Open means a status in :data:`OPEN_STATUSES`. Rows are sorted by priority (1 = critical
    first), then by age, oldest first; the index is reset.

    Args:
        emergencies: Current rows of ``emergency_requests``.
        hospitals: Current rows of ``hospitals`` (for names; an id without a row shows as
            ``hospital <id>``).
        now: Current time, timezone-aware; ``age_s`` is ``now - created_at`` in seconds (NaN
            without ``created_at``) and ``age`` the same as text.

    Returns:
        A frame with the columns :data:`OPEN_COLUMNS`.
    """
    if emergencies.empty or "status" not in emergencies:
        return pd.DataFrame(columns=list(OPEN_COLUMNS))
    rows = emergencies[emergencies["status"].isin(OPEN_STATUSES)]
    out = pd.DataFrame(index=rows.index)
    for column in OPEN_COLUMNS:
        out[column] = rows.get(column)
    hospital_ids = rows["hospital_id"] if "hospital_id" in rows else [None] * len(rows)
    out["hospital"] = hospital_labels(hospital_ids, hospitals)
    if "created_at" in rows:
        created = pd.to_datetime(rows["created_at"], utc=True, format="ISO8601", errors="coerce")
        out["age_s"] = (pd.Timestamp(now) - created).dt.total_seconds()
    else:
        out["age_s"] = np.nan
    out["age_s"] = out["age_s"].astype(float)
    out["age"] = [format_age(a) for a in out["age_s"]]
    out["priority"] = pd.to_numeric(out["priority"], errors="coerce")
    out["lat"] = pd.to_numeric(out["lat"], errors="coerce")
    out["lon"] = pd.to_numeric(out["lon"], errors="coerce")
    ordered = out.sort_values(
        ["priority", "age_s", "id"], ascending=[True, False, True], na_position="last"
    )
    return ordered.reset_index(drop=True)


def filter_open(
    df: pd.DataFrame, hospitals: Sequence[str] | None, statuses: Sequence[str] | None
) -> pd.DataFrame:
    """Keep the rows of an :func:`open_emergencies` frame at these hospitals and statuses.

    ``None`` or an empty selection keeps every value, the way an empty multiselect reads.
    The order is kept and the index reset.
    """
    mask = pd.Series(True, index=df.index)
    if hospitals:
        mask &= df["hospital"].isin(list(hospitals))
    if statuses:
        mask &= df["status"].isin(list(statuses))
    return df[mask].reset_index(drop=True)


# ---------------------------------------------------------------- events


def _loads(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {}


def new_critical(events: pd.DataFrame, since: datetime) -> pd.DataFrame:
    """Return critical emergencies (priority 1) inserted live after ``since``, oldest first.

    Only realtime ``INSERT`` events of ``emergency_requests`` received strictly after ``since``
    count: snapshot and resync rows are not news.

    Args:
        events: An event buffer snapshot.
        since: Receive time of the last alert already shown, timezone-aware.

    Returns:
        A frame with ``received_at`` and the inserted rows' ``id``, ``patient_name``,
        ``emergency_type``, ``hospital_id`` and ``pickup_address``.
    """
    columns = [
        "received_at",
        "id",
        "patient_name",
        "emergency_type",
        "hospital_id",
        "pickup_address",
    ]
    if events.empty:
        return pd.DataFrame(columns=columns)
    inserts = events[
        (events["table"] == TABLE)
        & (events["op"] == "INSERT")
        & (events["source"] == EventSource.REALTIME)
        & (events["received_at"] > pd.Timestamp(since))
    ]
    found = []
    for received_at, text in zip(inserts["received_at"], inserts["record"], strict=True):
        record = _loads(text)
        if record.get("priority") == 1:
            found.append({"received_at": received_at, **{c: record.get(c) for c in columns[1:]}})
    frame = pd.DataFrame(found, columns=columns)
    return frame.sort_values("received_at", kind="stable").reset_index(drop=True)


def response_times(events: pd.DataFrame, hospitals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return per-hospital median and 90th-percentile minutes from pending to accepted and
    from accepted to completed.

    Times are the events' commit times (the database's clock, the same for every event; the
    receive time stands in where a commit time is missing). An emergency enters a status at its
    ``INSERT`` or at an ``UPDATE`` whose ``old_record`` has a different status
    (``emergency_requests`` is ``REPLICA IDENTITY FULL``, so ``old_record`` holds the old
    status); an ``UPDATE`` without an old status counts as an entry too. Only emergencies whose
    both ends are in ``events`` contribute, so an emergency created before the buffer's window
    is left out rather than measured short. Quantiles interpolate linearly.

    Args:
        events: An event buffer snapshot (other tables and kinds are ignored).
        hospitals: Rows of ``hospitals`` for names; without them ``hospital`` is
            ``hospital <id>``.

    Returns:
        A frame with the columns :data:`RESPONSE_COLUMNS`, one row per hospital with at least
        one measured emergency, sorted by hospital; counts are emergencies measured.
    """
    # One definition of "entered a status" for the dashboard and the notebooks.
    entries = status_entries(events)
    if entries.empty:
        return pd.DataFrame(columns=list(RESPONSE_COLUMNS))
    known = hospitals if hospitals is not None else pd.DataFrame()
    labelled = entries.assign(hospital=hospital_labels(entries["hospital_id"], known))
    return response_by(labelled, "hospital").loc[:, list(RESPONSE_COLUMNS)].reset_index(drop=True)


# ---------------------------------------------------------------- the map


@lru_cache(maxsize=1)
def _districts_text() -> str:
    return (resources.files("rtdata") / _DISTRICTS_RESOURCE).read_text(encoding="utf-8")


def load_districts() -> dict[str, Any]:
    """Return the shipped Lisbon districts GeoJSON (approximate polygons) as a new dict."""
    parsed: dict[str, Any] = json.loads(_districts_text())
    return parsed


def _district_shapes(districts: dict[str, Any]) -> list[go.Scatter]:
    lons: list[float | None] = []
    lats: list[float | None] = []
    label_lon, label_lat, label_text = [], [], []
    for feature in districts.get("features", []):
        geometry = feature.get("geometry") or {}
        polygons = geometry.get("coordinates", [])
        if geometry.get("type") == "Polygon":
            polygons = [polygons]
        elif geometry.get("type") != "MultiPolygon":
            continue
        for polygon in polygons:
            ring = polygon[0]
            lons.extend([p[0] for p in ring] + [None])
            lats.extend([p[1] for p in ring] + [None])
            label_lon.append(float(np.mean([p[0] for p in ring[:-1]])))
            label_lat.append(float(np.mean([p[1] for p in ring[:-1]])))
            label_text.append(str(feature.get("properties", {}).get("name", "")))
    return [
        go.Scatter(
            x=lons,
            y=lats,
            mode="lines",
            fill="toself",  # each None-separated ring is filled on its own
            fillcolor="rgba(120,144,156,0.12)",
            line={"color": "rgba(96,125,139,0.6)", "width": 1},
            hoverinfo="skip",
            showlegend=False,
            name="districts",
        ),
        go.Scatter(
            x=label_lon,
            y=label_lat,
            mode="text",
            text=label_text,
            textfont={"size": 9, "color": "rgba(69,90,100,0.8)"},
            hoverinfo="skip",
            showlegend=False,
            name="district names",
        ),
    ]


def _emergency_markers(open_df: pd.DataFrame) -> list[go.Scatter]:
    traces = []
    located = open_df.dropna(subset=["lat", "lon"])
    aggregate = len(located) > MAX_MARKERS
    for status in OPEN_STATUSES:
        rows = located[located["status"] == status]
        if rows.empty:
            continue
        colour = STATUS_COLOURS[status]
        if aggregate:
            cells = rows.assign(
                cell_lat=(rows["lat"] / _GRID_DEG).round() * _GRID_DEG,
                cell_lon=(rows["lon"] / _GRID_DEG).round() * _GRID_DEG,
            )
            grouped = cells.groupby(["cell_lat", "cell_lon"], as_index=False).agg(
                n=("id", "size"), top_priority=("priority", "min")
            )
            traces.append(
                go.Scatter(
                    x=grouped["cell_lon"].round(5),
                    y=grouped["cell_lat"].round(5),
                    mode="markers",
                    name=f"{status} ({len(rows)})",
                    marker={
                        "color": colour,
                        "size": 6 + 3 * np.sqrt(grouped["n"].to_numpy(dtype=float)),
                        "opacity": 0.7,
                    },
                    customdata=grouped[["n", "top_priority"]].to_numpy(),
                    hovertemplate=(
                        f"%{{customdata[0]}} {status} emergencies here<br>"
                        "most urgent priority %{customdata[1]}<extra></extra>"
                    ),
                )
            )
            continue
        sizes = [
            PRIORITY_MARKER_SIZE_PX.get(int(p), 7) if pd.notna(p) else 7 for p in rows["priority"]
        ]
        traces.append(
            go.Scatter(
                x=rows["lon"],
                y=rows["lat"],
                mode="markers",
                name=f"{status} ({len(rows)})",
                marker={
                    "color": colour,
                    "size": sizes,
                    "opacity": 0.85,
                    "line": {"color": "white", "width": 1},
                },
                customdata=rows[
                    ["id", "emergency_type", "priority", "status", "age", "pickup_address"]
                ].to_numpy(dtype=object),
                hovertemplate=(
                    "<b>#%{customdata[0]}</b> %{customdata[1]}<br>"
                    "priority %{customdata[2]} · %{customdata[3]} · %{customdata[4]}<br>"
                    "%{customdata[5]}<extra></extra>"
                ),
            )
        )
    return traces


def emergency_map(
    open_df: pd.DataFrame,
    districts_geojson: dict[str, Any],
    hospitals: pd.DataFrame,
    height_px: int = 520,
) -> go.Figure:
    """Build an offline map of open emergencies over the district polygons.

    Districts are filled shapes on plain lon/lat axes (no tiles, no network), with the y axis
    scaled by 1/cos(38.745°) so distances look true in Lisbon. Emergencies are coloured by
    status (:data:`STATUS_COLOURS`) and sized by priority (:data:`PRIORITY_MARKER_SIZE_PX`);
    above :data:`MAX_MARKERS` of them, one marker per 0.01° grid cell and status stands for
    all its emergencies. Hospitals are black crosses.

    Args:
        open_df: A frame from :func:`open_emergencies` (possibly filtered).
        districts_geojson: A GeoJSON FeatureCollection of Polygon or MultiPolygon districts.
        hospitals: Rows of ``hospitals`` with ``name``, ``lat`` and ``lon``.
        height_px: Height of the figure; the width follows the city's shape.
    """
    fig = go.Figure(_district_shapes(districts_geojson))
    fig.add_traces(_emergency_markers(open_df))
    if not hospitals.empty and {"name", "lat", "lon"} <= set(hospitals.columns):
        fig.add_trace(
            go.Scatter(
                x=hospitals["lon"],
                y=hospitals["lat"],
                mode="markers",
                name="hospitals",
                marker={
                    "symbol": "cross",
                    "size": 13,
                    "color": "#212121",
                    "line": {"color": "white", "width": 1},
                },
                text=hospitals["name"],
                hovertemplate="<b>%{text}</b><extra>hospital</extra>",
            )
        )
    bbox = districts_geojson.get("properties", {}).get("bbox")
    x_range = None if bbox is None else [bbox[0], bbox[2]]
    y_range = None if bbox is None else [bbox[1], bbox[3]]
    fig.update_layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=height_px,
        plot_bgcolor="white",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hovermode="closest",
        xaxis={"range": x_range, "visible": False, "constrain": "domain"},
        yaxis={
            "range": y_range,
            "visible": False,
            "scaleanchor": "x",
            "scaleratio": 1 / math.cos(math.radians(_MAP_LAT_DEG)),
        },
    )
    return fig
