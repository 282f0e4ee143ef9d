"""Patient vitals: readings against normal bands, per-patient and per-hospital series, alerts.

Every function takes the normal bands as ``ranges`` (vital → inclusive ``(low, high)``), with
:data:`VITAL_RANGES` as the default, so bands read from configuration can replace them. A value
on a band's edge is normal; a missing value is never out of range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "ALERT_COLUMNS",
    "COHORT_COLUMNS",
    "VITALS",
    "VITAL_COLUMNS",
    "VITAL_RANGES",
    "VITAL_UNITS",
    "HealthView",
    "alert_feed",
    "cohort_figure",
    "cohort_series",
    "health_view",
    "out_of_range",
    "patient_ids",
    "patient_series",
    "vitals_figure",
    "vitals_frame",
]

VITALS: Final = ("heart_rate", "systolic", "diastolic", "spo2", "temperature")
"""The vital columns of ``vital_signs``, in display order."""

VITAL_UNITS: Final[Mapping[str, str]] = MappingProxyType(
    {"heart_rate": "bpm", "systolic": "mmHg", "diastolic": "mmHg", "spo2": "%", "temperature": "°C"}
)
"""Unit of each vital."""

VITAL_RANGES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "heart_rate": (50.0, 120.0),
        "systolic": (90.0, 160.0),
        "diastolic": (60.0, 100.0),
        "spo2": (92.0, 100.0),
        "temperature": (35.5, 38.5),
    }
)
"""Default normal band of each vital: inclusive ``(low, high)``, units of :data:`VITAL_UNITS`."""

VITAL_COLUMNS: Final = ("recorded_at", "patient_id", "hospital_id", *VITALS)
"""Columns of :func:`vitals_frame`."""

ALERT_COLUMNS: Final = ("recorded_at", "patient_id", "hospital_id", "vital", "value", "low", "high")
"""Columns of :func:`out_of_range` and :func:`alert_feed`."""

COHORT_COLUMNS: Final = ("hospital_id", "time", "median", "p10", "p90", "readings")
"""Columns of :func:`cohort_series`."""

_BAND_COLOUR: Final = "rgba(26, 158, 63, 0.12)"  # the dashboard's "connected" green, faint
_ALERT_COLOUR: Final = "#d62728"
_MAX_PATIENT_POINTS: Final = 2000


def vitals_frame(vital_signs: pd.DataFrame) -> pd.DataFrame:
    """Return typed readings, oldest first, from rows of the ``vital_signs`` table.

    ``recorded_at`` becomes a tz-aware UTC datetime (rows without a parsable one are dropped),
    ``patient_id`` text, ``hospital_id`` a nullable integer and every vital a float (NaN when
    missing or not a number). Columns are :data:`VITAL_COLUMNS`; other columns are dropped.

    Args:
        vital_signs: Rows as :meth:`rtdata.Collector.table` returns them; may be empty or lack
            columns.
    """
    n = len(vital_signs)

    def column(name: str) -> pd.Series[Any]:
        if name in vital_signs:
            return vital_signs[name].reset_index(drop=True)
        return pd.Series([None] * n, dtype="object")

    frame = pd.DataFrame(
        {
            "recorded_at": pd.to_datetime(
                column("recorded_at"), utc=True, format="ISO8601", errors="coerce"
            ),
            "patient_id": column("patient_id").astype("str"),
            "hospital_id": pd.to_numeric(column("hospital_id"), errors="coerce").astype("Int64"),
            **{
                vital: pd.to_numeric(column(vital), errors="coerce").astype("float64")
                for vital in VITALS
            },
        }
    )
    frame = frame[frame["recorded_at"].notna()]
    return frame.sort_values(["recorded_at", "patient_id"], kind="stable").reset_index(drop=True)


def patient_ids(vitals: pd.DataFrame) -> list[str]:
    """Return the distinct patients of typed readings (:func:`vitals_frame`), sorted."""
    return sorted(vitals["patient_id"].unique().tolist()) if not vitals.empty else []


def out_of_range(
    vitals: pd.DataFrame, ranges: Mapping[str, tuple[float, float]] = VITAL_RANGES
) -> pd.DataFrame:
    """Return one row per reading and vital outside its normal band, oldest first.

    Band edges are normal (``low <= value <= high``); missing values are skipped.

    Args:
        vitals: Typed readings (:func:`vitals_frame`).
        ranges: Normal band per vital; vitals without a band are not checked.

    Returns:
        Columns :data:`ALERT_COLUMNS`: the reading's ``recorded_at``, ``patient_id`` and
        ``hospital_id``, the ``vital`` name, its ``value`` and the band's ``low`` and ``high``.
    """
    parts = []
    for vital, (low, high) in ranges.items():
        if vital not in vitals:
            continue
        values = vitals[vital]
        outside = (values < low) | (values > high)  # NaN compares False: never outside
        if not outside.any():
            continue
        rows = vitals.loc[outside, ["recorded_at", "patient_id", "hospital_id"]]
        parts.append(rows.assign(vital=vital, value=values[outside], low=low, high=high))
    if not parts:
        return _empty_alerts()
    found = pd.concat(parts)
    # The index is the reading's position, so a stable sort keeps vitals in band order.
    found = found.sort_index(kind="stable").sort_values("recorded_at", kind="stable")
    return found.reset_index(drop=True)[list(ALERT_COLUMNS)]


def alert_feed(
    vitals: pd.DataFrame,
    ranges: Mapping[str, tuple[float, float]] = VITAL_RANGES,
    limit: int = 50,
) -> pd.DataFrame:
    """Return the ``limit`` newest out-of-range readings, newest first.

    Args:
        vitals: Typed readings (:func:`vitals_frame`).
        ranges: Normal band per vital.
        limit: Most rows returned.

    Returns:
        Rows of :func:`out_of_range`, newest first.
    """
    found = out_of_range(vitals, ranges)
    newest = found.sort_values("recorded_at", ascending=False, kind="stable")  # vitals in order
    return newest.head(limit).reset_index(drop=True)


def patient_series(
    vitals: pd.DataFrame, patient_id: str, vital: str, *, max_points: int = _MAX_PATIENT_POINTS
) -> pd.DataFrame:
    """Return one patient's readings of one vital, oldest first: ``recorded_at`` and ``value``.

    Args:
        vitals: Typed readings (:func:`vitals_frame`).
        patient_id: The patient.
        vital: One of :data:`VITALS`.
        max_points: Keep only the newest this many readings, to bound the chart's payload.
    """
    if vitals.empty or vital not in vitals:
        return pd.DataFrame(
            {"recorded_at": pd.Series(dtype="datetime64[ns, UTC]"), "value": pd.Series(dtype=float)}
        )
    rows = vitals.loc[vitals["patient_id"] == patient_id, ["recorded_at", vital]]
    rows = rows[rows[vital].notna()].tail(max_points)
    return rows.rename(columns={vital: "value"}).reset_index(drop=True)


def cohort_series(vitals: pd.DataFrame, vital: str, bucket: str = "1min") -> pd.DataFrame:
    """Aggregate one vital per hospital and time bucket: median, 10th and 90th percentiles.

    One row per hospital and non-empty bucket, so the chart gets hospitals × buckets points
    however many readings there are.

    Args:
        vitals: Typed readings (:func:`vitals_frame`).
        vital: One of :data:`VITALS`.
        bucket: Bucket length as a pandas frequency (``"1min"``, ``"10s"``...); buckets are
            aligned to the epoch.

    Returns:
        Columns :data:`COHORT_COLUMNS`: ``time`` is the bucket start (UTC) and ``readings``
        the number of values aggregated; sorted by hospital then time.
    """
    if vitals.empty or vital not in vitals:
        return _empty_cohort()
    rows = vitals.loc[vitals[vital].notna() & vitals["hospital_id"].notna()]
    if rows.empty:
        return _empty_cohort()
    values = pd.DataFrame(
        {
            "hospital_id": rows["hospital_id"].astype("int64"),
            "time": rows["recorded_at"].dt.floor(bucket),
            "value": rows[vital],
        }
    )
    grouped = values.groupby(["hospital_id", "time"], sort=True)["value"]
    result = grouped.agg(median="median", readings="count")
    result["p10"] = grouped.quantile(0.1)
    result["p90"] = grouped.quantile(0.9)
    return result.reset_index()[list(COHORT_COLUMNS)]


def vitals_figure(
    series: pd.DataFrame,
    vital: str,
    ranges: Mapping[str, tuple[float, float]] = VITAL_RANGES,
    *,
    title: str = "",
) -> go.Figure:
    """Draw a patient's series (:func:`patient_series`) as a line over its shaded normal band.

    Readings outside the band are drawn again as red markers.

    Args:
        series: Columns ``recorded_at`` and ``value``.
        vital: The vital drawn (names the axis and selects the band).
        ranges: Normal band per vital; without one for ``vital`` nothing is shaded or marked.
        title: Chart title.
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=series["recorded_at"], y=series["value"], mode="lines+markers", name=vital)
    )
    band = ranges.get(vital)
    if band is not None:
        low, high = band
        _shade(fig, low, high)
        outside = series[(series["value"] < low) | (series["value"] > high)]
        fig.add_trace(
            go.Scatter(
                x=outside["recorded_at"],
                y=outside["value"],
                mode="markers",
                name="out of range",
                marker={"color": _ALERT_COLOUR, "size": 10},
            )
        )
    return _layout(fig, vital, title)


def cohort_figure(
    cohort: pd.DataFrame,
    vital: str,
    ranges: Mapping[str, tuple[float, float]] = VITAL_RANGES,
    *,
    title: str = "",
) -> go.Figure:
    """Draw :func:`cohort_series` as one median line per hospital over the shaded normal band.

    The 10th–90th percentile spread is in each point's hover text; buckets whose median is
    outside the band get a red marker.

    Args:
        cohort: Rows of :func:`cohort_series`.
        vital: The vital drawn.
        ranges: Normal band per vital.
        title: Chart title.
    """
    fig = go.Figure()
    for hospital_id, rows in cohort.groupby("hospital_id", sort=True):
        fig.add_trace(
            go.Scatter(
                x=rows["time"],
                y=rows["median"],
                mode="lines",
                name=f"hospital {hospital_id}",
                customdata=rows[["p10", "p90", "readings"]].to_numpy(),
                hovertemplate=(
                    "median %{y}<br>p10 %{customdata[0]} · p90 %{customdata[1]}"
                    "<br>%{customdata[2]} readings<extra>%{fullData.name}</extra>"
                ),
            )
        )
    band = ranges.get(vital)
    if band is not None:
        low, high = band
        _shade(fig, low, high)
        outside = cohort[(cohort["median"] < low) | (cohort["median"] > high)]
        fig.add_trace(
            go.Scatter(
                x=outside["time"],
                y=outside["median"],
                mode="markers",
                name="median out of range",
                marker={"color": _ALERT_COLOUR, "size": 9},
            )
        )
    return _layout(fig, vital, title)


@dataclass(frozen=True, slots=True)
class HealthView:
    """Everything the Health page draws for one patient and vital.

    Attributes:
        patient_figure: The patient's readings (:func:`vitals_figure`).
        cohort_figure: Per-hospital aggregate (:func:`cohort_figure`).
        alerts: Newest abnormal readings (:func:`alert_feed`).
        readings: Readings of the selected patient and vital.
        abnormal_readings: Out-of-range values of the selected patient, all vitals.
    """

    patient_figure: go.Figure
    cohort_figure: go.Figure
    alerts: pd.DataFrame
    readings: int
    abnormal_readings: int


def health_view(
    vitals: pd.DataFrame,
    patient_id: str | None,
    vital: str,
    ranges: Mapping[str, tuple[float, float]] = VITAL_RANGES,
    *,
    bucket: str = "1min",
    only_patient: bool = False,
    limit: int = 50,
) -> HealthView:
    """Compute the Health page for ``patient_id`` (``None``: no patient yet) and ``vital``.

    Args:
        vitals: Typed readings (:func:`vitals_frame`).
        patient_id: The selected patient, or ``None``.
        vital: The selected vital.
        ranges: Normal band per vital.
        bucket: Cohort bucket length (see :func:`cohort_series`).
        only_patient: Limit the alert feed to the selected patient.
        limit: Most alert rows.
    """
    mine = vitals[vitals["patient_id"] == patient_id] if not vitals.empty else vitals
    series = patient_series(mine, patient_id or "", vital)
    unit = VITAL_UNITS.get(vital, "")
    return HealthView(
        patient_figure=vitals_figure(
            series, vital, ranges, title=f"{patient_id or 'no patient'}: {vital} ({unit})"
        ),
        cohort_figure=cohort_figure(
            cohort_series(vitals, vital, bucket),
            vital,
            ranges,
            title=f"{vital} ({unit}) per hospital: median per {bucket}",
        ),
        alerts=alert_feed(mine if only_patient else vitals, ranges, limit),
        readings=len(series),
        abnormal_readings=len(out_of_range(mine, ranges)),
    )


def _shade(fig: go.Figure, low: float, high: float) -> None:
    fig.add_hrect(y0=low, y1=high, fillcolor=_BAND_COLOUR, line_width=0, layer="below")


def _layout(fig: go.Figure, vital: str, title: str) -> go.Figure:
    unit = VITAL_UNITS.get(vital, "")
    fig.update_layout(
        title=title or None,
        yaxis_title=f"{vital} ({unit})" if unit else vital,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        height=320,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _empty_alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "recorded_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "patient_id": pd.Series(dtype="str"),
            "hospital_id": pd.Series(dtype="Int64"),
            "vital": pd.Series(dtype="str"),
            "value": pd.Series(dtype="float64"),
            "low": pd.Series(dtype="float64"),
            "high": pd.Series(dtype="float64"),
        }
    )


def _empty_cohort() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hospital_id": pd.Series(dtype="int64"),
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "median": pd.Series(dtype="float64"),
            "p10": pd.Series(dtype="float64"),
            "p90": pd.Series(dtype="float64"),
            "readings": pd.Series(dtype="int64"),
        }
    )
