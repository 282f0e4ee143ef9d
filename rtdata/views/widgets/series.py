"""Series widget: numeric columns over time, per entity and per cohort, against normal bands.

Readings come from a table's current rows, or from the records of its change events (every
insert, update and snapshot row is a reading). A band is inclusive: a value on an edge is
normal, a missing bound never fires, and a missing value is never out of range.

Every drawn series is downsampled to at most ``max_points`` points, keeping each bin's lowest
and highest value, so spikes survive and the figure stays small however many readings there
are; alerts are computed from every reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rtdata.views.widgets._common import record_values
from rtdata.views.widgets._figures import axis_ids, stacked_axes
from rtdata.views.widgets._spec import SpecError, check_name, check_names, check_positive_int

__all__ = [
    "ALERT_COLUMNS",
    "EVENT_COLUMNS",
    "LINE_COLUMNS",
    "MAX_POINTS",
    "Band",
    "SeriesSpec",
    "SeriesView",
    "compute",
    "event_fields",
    "figure",
]

MAX_POINTS: Final = 5000
"""Largest ``max_points`` a spec may ask for."""

LINE_COLUMNS: Final = ("series", "column", "time", "value", "out_of_range")
"""Columns of :attr:`SeriesView.lines` and :attr:`SeriesView.cohorts`."""

ALERT_COLUMNS: Final = ("time", "entity", "cohort", "column", "value", "lower", "upper")
"""Columns of :attr:`SeriesView.alerts`."""

_READING_OPS: Final = ("INSERT", "UPDATE", "SNAPSHOT")
_BAND_COLOUR: Final = "rgba(26, 158, 63, 0.12)"
_ALERT_COLOUR: Final = "#d62728"


@dataclass(frozen=True, slots=True)
class Band:
    """Normal band of one column: inclusive bounds, either optional.

    Attributes:
        column: The numeric column.
        lower: Lowest normal value, or ``None`` for no lower bound.
        upper: Highest normal value, or ``None`` for no upper bound.
    """

    column: str
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        check_name("band column", self.column)
        for name, bound in (("lower", self.lower), ("upper", self.upper)):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int | float)
                or not math.isfinite(bound)
            ):
                raise SpecError(
                    "bands", f"band {self.column!r} {name} must be a number, not {bound!r}"
                )
        if self.lower is None and self.upper is None:
            raise SpecError("bands", f"band {self.column!r} needs a lower or an upper bound")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise SpecError(
                "bands", f"band {self.column!r} lower {self.lower!r} is above upper {self.upper!r}"
            )


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What a series widget draws; checked on construction.

    Attributes:
        table: Table whose rows (or change records) are the readings.
        time_column: Column of each reading's time (ISO 8601 text).
        columns: Numeric columns drawn, one subplot each.
        entity_column: Column naming what a reading is of (a sensor id); ``None`` draws one
            series per column.
        cohort_column: Column grouping entities (a site id); ``None`` for no cohort series.
        entities: Without a chosen entity, draw the entities with the newest readings, this
            many (1 to 50).
        bands: Normal band per column; at most one per column, each in ``columns``.
        from_events: Read the records of the table's change events instead of its rows.
        bucket_s: Cohort bucket length in seconds; buckets are aligned to the epoch.
        window_s: Keep readings at most this many seconds before ``now``; ``None`` keeps all.
        max_points: Most points per drawn series (10 to :data:`MAX_POINTS`).
        alert_limit: Most alerts listed (1 to 1000).
    """

    table: str
    time_column: str
    columns: tuple[str, ...]
    entity_column: str | None = None
    cohort_column: str | None = None
    entities: int = 5
    bands: tuple[Band, ...] = ()
    from_events: bool = False
    bucket_s: int = 60
    window_s: float | None = None
    max_points: int = 500
    alert_limit: int = 50

    def __post_init__(self) -> None:
        check_name("table", self.table)
        check_name("time_column", self.time_column)
        columns = check_names("columns", self.columns, allow_empty=False)
        object.__setattr__(self, "columns", columns)
        for name in ("entity_column", "cohort_column"):
            if getattr(self, name) is not None:
                check_name(name, getattr(self, name))
        check_positive_int("entities", self.entities, most=50)
        check_positive_int("bucket_s", self.bucket_s, most=86_400)
        check_positive_int("alert_limit", self.alert_limit, most=1000)
        if isinstance(self.max_points, bool) or not isinstance(self.max_points, int):
            raise SpecError("max_points", f"max_points must be an integer, not {self.max_points!r}")
        if not 10 <= self.max_points <= MAX_POINTS:
            raise SpecError(
                "max_points", f"max_points must be from 10 to {MAX_POINTS}, not {self.max_points}"
            )
        if self.window_s is not None and (
            isinstance(self.window_s, bool)
            or not isinstance(self.window_s, int | float)
            or not self.window_s > 0
        ):
            raise SpecError(
                "window_s", f"window_s must be a positive number or None, not {self.window_s!r}"
            )
        bands = tuple(self.bands)
        seen = set()
        for band in bands:
            if not isinstance(band, Band):
                raise SpecError("bands", f"bands must hold Band values, not {band!r}")
            if band.column not in columns:
                raise SpecError(
                    "bands", f"bands: column {band.column!r} is not in columns {columns!r}"
                )
            if band.column in seen:
                raise SpecError("bands", f"bands: column {band.column!r} has two bands")
            seen.add(band.column)
        object.__setattr__(self, "bands", bands)


@dataclass(frozen=True, slots=True)
class SeriesView:
    """What a series widget draws.

    Attributes:
        spec: The spec computed.
        lines: Per-entity series (one per column without an entity column), downsampled:
            :data:`LINE_COLUMNS`, ``series`` the entity id as text, sorted by series, column
            and time.
        cohorts: Median per cohort, column and time bucket (``time`` the bucket start),
            downsampled, same columns; empty without a cohort column.
        alerts: The newest out-of-range readings, newest first (then by entity and column
            order), at most ``spec.alert_limit``:
            :data:`ALERT_COLUMNS` (``entity`` and ``cohort`` ``None`` without their column).
        alerts_total: Out-of-range readings in all.
        entities: Entities drawn in ``lines``, newest reading first.
        available: Every entity with a reading, newest reading first.
        readings: Non-null values read, over all columns.
    """

    spec: SeriesSpec
    lines: pd.DataFrame
    cohorts: pd.DataFrame
    alerts: pd.DataFrame
    alerts_total: int
    entities: tuple[str, ...]
    available: tuple[str, ...]
    readings: int


EVENT_COLUMNS: Final = ("received_at", "kind", "table", "op")
"""The event columns :func:`compute` reads besides the record fields of :func:`event_fields`:
a snapshot of only these and those fields is all it needs."""


def event_fields(spec: SeriesSpec) -> tuple[str, ...]:
    """The record fields :func:`compute` reads from the events (when ``spec.from_events``):
    a snapshot asked for them spares decoding the records (see
    :meth:`rtdata.EventBuffer.snapshot`)."""
    names = (spec.time_column, spec.entity_column, spec.cohort_column, *spec.columns)
    return tuple(dict.fromkeys(name for name in names if name))


def compute(
    spec: SeriesSpec,
    rows: pd.DataFrame,
    events: pd.DataFrame,
    now: datetime,
    *,
    entity: str | None = None,
) -> SeriesView:
    """Compute the series, cohorts and alerts of ``spec`` at ``now``.

    Args:
        spec: The widget.
        rows: Current rows of ``spec.table`` (ignored when ``spec.from_events``); may be
            empty, without columns.
        events: A buffer snapshot (used only when ``spec.from_events``); may be empty.
        now: Current time, timezone-aware: readings after it are left out, and
            ``spec.window_s`` counts back from it.
        entity: Draw only this entity (as text) instead of the newest ones.
    """
    readings = _readings(spec, rows, events, now)
    long = _long(spec, readings)
    available = _newest_entities(readings) if spec.entity_column is not None else ()
    if entity is not None:
        shown: tuple[str, ...] = (entity,) if spec.entity_column is not None else ()
    else:
        shown = available[: spec.entities]
    if spec.entity_column is not None:
        mine = long[long["entity"].isin(shown)]
        lines = mine.assign(series=mine["entity"])
    else:
        lines = long.assign(series=pd.Series(spec.table, index=long.index, dtype=object))
    lines = _downsample(lines[list(LINE_COLUMNS)], spec.max_points)
    cohorts = _cohorts(spec, long)
    outside = long[long["out_of_range"]]
    order = outside.assign(position=outside["column"].map(spec.columns.index))
    alerts = order.sort_values(
        ["time", "entity", "position"], ascending=[False, True, True], kind="stable"
    ).head(spec.alert_limit)
    alerts = alerts.reset_index(drop=True)[list(ALERT_COLUMNS)]
    return SeriesView(
        spec=spec,
        lines=lines,
        cohorts=cohorts,
        alerts=alerts,
        alerts_total=len(outside),
        entities=shown,
        available=available,
        readings=len(long),
    )


def figure(
    view: SeriesView,
    *,
    by: Literal["entity", "cohort"] = "entity",
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Draw a view: one subplot per column, a line per series over the shaded normal band,
    and red markers on the points outside it. A view without a series draws empty plots,
    without bands.

    Args:
        view: A computed view.
        by: Draw the per-entity ``lines`` or the per-cohort medians.
        names: Legend text of each series id (an entity's or a cohort's label); an id
            without one is shown as itself. Series stay apart by id, two with the same text
            too, and are listed (and coloured) by their legend text, then id.
    """
    spec = view.spec
    data = view.lines if by == "entity" else view.cohorts
    bands = {band.column: band for band in spec.bands}
    shown = names or {}
    ids = data["series"].unique().tolist() if not data.empty else []
    ids.sort(key=lambda id_: (shown.get(id_, id_), id_))
    # Built as one list of traces and one layout, checked once by go.Figure: make_subplots,
    # add_trace and add_hrect check the whole figure again on every call.
    layout = stacked_axes(len(spec.columns), 0.04, shared_x=True, y_titles=spec.columns)
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    # Points are picked from numpy arrays, not frames: plotly converts each pandas column it
    # is given, slowly (tz-aware times to their wall-clock time, UTC here, as done below).
    column_of = data["column"].to_numpy(dtype=object)
    series_of = data["series"].to_numpy(dtype=object)
    times = data["time"]
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_localize(None)
    time = times.to_numpy()
    value = data["value"].to_numpy()
    outside = data["out_of_range"].to_numpy(dtype=bool)
    for row, column in enumerate(spec.columns, start=1):
        x, y = axis_ids(row)
        mine = column_of == column
        for index, id_ in enumerate(ids):
            points = mine & (series_of == id_)
            colour = _COLOURS[index % len(_COLOURS)]
            traces.append(
                {
                    "type": "scatter",
                    "x": time[points],
                    "y": value[points],
                    # one point draws no line
                    "mode": "lines" if np.count_nonzero(points) > 1 else "markers",
                    "name": shown.get(id_, id_),
                    "legendgroup": id_,
                    "showlegend": row == 1,
                    "line": {"color": colour},
                    "marker": {"color": colour},
                    "xaxis": x,
                    "yaxis": y,
                }
            )
        band = bands.get(column)
        if band is not None and ids:  # without a series, no band fills the empty plot
            shapes.append(_shade(band, value[mine], x, y))
        traces.append(
            {
                "type": "scatter",
                "x": time[mine & outside],
                "y": value[mine & outside],
                "mode": "markers",
                "name": "out of range",
                "legendgroup": "out of range",
                "showlegend": row == 1,
                "marker": {"color": _ALERT_COLOUR, "size": 8},
                "xaxis": x,
                "yaxis": y,
            }
        )
    if shapes:
        layout["shapes"] = shapes
    layout.update(
        height=max(260, 200 * len(spec.columns)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "y": -0.15},
    )
    return go.Figure(data=traces, layout=layout)


_COLOURS: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _shade(band: Band, values: np.ndarray[Any, Any], x: str, y: str) -> dict[str, Any]:
    """The shape shading a band across the width of the subplot of axes ``x`` and ``y``; an
    open side reaches just past the data (or the other bound)."""
    known = [b for b in (band.lower, band.upper) if b is not None]
    finite = values[pd.notna(values)]
    low_data = float(finite.min()) if len(finite) else min(known)
    high_data = float(finite.max()) if len(finite) else max(known)
    span = max(high_data - low_data, abs(max(known)) * 0.1, 1.0)
    lower = band.lower if band.lower is not None else min(low_data, *known) - span
    upper = band.upper if band.upper is not None else max(high_data, *known) + span
    return {
        "type": "rect",
        "xref": f"{x} domain",
        "x0": 0,
        "x1": 1,
        "yref": y,
        "y0": lower,
        "y1": upper,
        "fillcolor": _BAND_COLOUR,
        "line": {"width": 0},
        "layer": "below",
    }


def _readings(
    spec: SeriesSpec, rows: pd.DataFrame, events: pd.DataFrame, now: datetime
) -> pd.DataFrame:
    """Typed readings up to ``now`` within the window, oldest first: ``time``, ``entity``,
    ``cohort`` (text or ``None``) and each column as float."""
    source = _event_rows(spec, events, now) if spec.from_events else rows
    if source.empty or spec.time_column not in source:
        source = pd.DataFrame({spec.time_column: pd.Series(dtype=object)})
    n = len(source)

    def column(name: str | None) -> pd.Series[Any]:
        if name is not None and name in source:
            return source[name].reset_index(drop=True)
        return pd.Series([None] * n, dtype=object)

    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(
                column(spec.time_column), utc=True, format="ISO8601", errors="coerce"
            ),
            "entity": _ids(column(spec.entity_column)),
            "cohort": _ids(column(spec.cohort_column)),
            **{
                name: pd.to_numeric(column(name), errors="coerce").astype("float64")
                for name in spec.columns
            },
        }
    )
    stamp = pd.Timestamp(now)
    keep = frame["time"].notna() & (frame["time"] <= stamp)
    if spec.window_s is not None:
        keep &= frame["time"] >= stamp - timedelta(seconds=spec.window_s)
    return frame[keep].sort_values("time", kind="stable").reset_index(drop=True)


def _event_rows(spec: SeriesSpec, events: pd.DataFrame, now: datetime) -> pd.DataFrame:
    if events.empty or not {"kind", "table", "op", "received_at"} <= set(events):
        return pd.DataFrame()
    mask = (
        (events["kind"] == "postgres_changes")
        & (events["table"] == spec.table)
        & events["op"].isin(_READING_OPS)
        & (events["received_at"] <= pd.Timestamp(now))
    )
    chosen = events[np.asarray(mask, dtype=bool)]
    # Column by column: a frame of whole records, or of filtered copies of them, cost more
    # than decoding. A record without a column gives a null, as does a record that is none.
    # As objects: _readings types each column itself, which costs less than inferring here.
    return pd.DataFrame(
        {c: pd.Series(record_values(chosen, c), dtype=object) for c in event_fields(spec)}
    )


def _ids(values: pd.Series[Any]) -> pd.Series[Any]:
    """Ids as text (``None`` when missing); an integral float (an int column with gaps) loses
    its ``.0``."""
    array = values.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(array)  # one text per distinct id; missing is -1
    except TypeError:  # an unhashable id (a JSON list or object): each its own text
        return pd.Series([_id_text(v) for v in array], dtype=object)
    if any(isinstance(v, bool) for v in uniques):  # True and 1 hash alike, but read apart
        return pd.Series([_id_text(v) for v in array], dtype=object)
    texts = np.array([*(_id_text(v) for v in uniques), None], dtype=object)
    return pd.Series(texts[codes], dtype=object)


def _id_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _long(spec: SeriesSpec, readings: pd.DataFrame) -> pd.DataFrame:
    """One row per non-null value: time, entity, cohort, column, value, bounds, out_of_range."""
    bands = {band.column: band for band in spec.bands}
    parts = []
    for name in spec.columns:
        values = readings[name]
        present = values.notna()
        part = readings.loc[present, ["time", "entity", "cohort"]]
        # Names as objects: a text column pandas infers is Arrow-backed, and grouping by it
        # costs several times more.
        column = pd.Series(name, index=part.index, dtype=object)
        part = part.assign(column=column, value=values[present])
        band = bands.get(name)
        lower = np.nan if band is None or band.lower is None else band.lower
        upper = np.nan if band is None or band.upper is None else band.upper
        outside = (part["value"] < lower) | (part["value"] > upper)  # NaN bound: False
        parts.append(part.assign(lower=lower, upper=upper, out_of_range=outside.astype(bool)))
    long = pd.concat(parts, ignore_index=True)
    long["lower"] = long["lower"].astype("float64")
    long["upper"] = long["upper"].astype("float64")
    long["out_of_range"] = long["out_of_range"].astype(bool)
    return long


def _newest_entities(readings: pd.DataFrame) -> tuple[str, ...]:
    known = readings[readings["entity"].notna()]
    if known.empty:
        return ()
    last = known.groupby("entity", sort=False)["time"].max()
    ordered = last.reset_index().sort_values(["time", "entity"], ascending=[False, True])
    return tuple(str(e) for e in ordered["entity"])


def _cohorts(spec: SeriesSpec, long: pd.DataFrame) -> pd.DataFrame:
    if spec.cohort_column is None:
        return _empty_lines()
    known = long[long["cohort"].notna()]
    if known.empty:
        return _empty_lines()
    buckets = known.assign(time=known["time"].dt.floor(f"{spec.bucket_s}s"))
    medians = buckets.groupby(["cohort", "column", "time"], sort=True)["value"].median()
    frame = medians.reset_index().rename(columns={"cohort": "series"})
    bands = {band.column: band for band in spec.bands}
    lower = frame["column"].map(lambda c: _bound(bands.get(c), "lower")).astype("float64")
    upper = frame["column"].map(lambda c: _bound(bands.get(c), "upper")).astype("float64")
    frame["out_of_range"] = ((frame["value"] < lower) | (frame["value"] > upper)).astype(bool)
    return _downsample(frame[list(LINE_COLUMNS)], spec.max_points)


def _bound(band: Band | None, side: str) -> float:
    value = None if band is None else getattr(band, side)
    return np.nan if value is None else float(value)


def _downsample(lines: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Keep at most ``max_points`` points per series and column: a longer one is cut into
    ``max_points // 2`` bins of consecutive points, each kept as its lowest and highest."""
    if lines.empty:
        return _empty_lines()
    ordered = lines.sort_values(["series", "column", "time"], kind="stable").reset_index(drop=True)
    groups = ordered.groupby(["series", "column"], sort=False)
    position = groups.cumcount().to_numpy()
    size = groups["time"].transform("size").to_numpy()
    bins = max_points // 2
    long_series = size > max_points
    if not long_series.any():
        return ordered
    binned = ordered[long_series].assign(bin=position[long_series] * bins // size[long_series])
    by_bin = binned.groupby(["series", "column", "bin"], sort=False)["value"]
    keep = np.union1d(by_bin.idxmin().to_numpy(), by_bin.idxmax().to_numpy())
    short = np.flatnonzero(~long_series)
    return ordered.loc[np.union1d(short, keep)].reset_index(drop=True)


def _empty_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series": pd.Series(dtype=object),
            "column": pd.Series(dtype=object),
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "value": pd.Series(dtype="float64"),
            "out_of_range": pd.Series(dtype=bool),
        }
    )
