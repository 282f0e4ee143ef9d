"""Map widget: a table's rows as points on plain lon/lat axes, over optional GeoJSON shapes.

No tile server and no network: polygons are filled ``go.Scatter`` shapes and points are
markers, with the y axis stretched by 1/cos(latitude) so distances look true at the map's
centre. Points are coloured by a categorical column and sized by a numeric one.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rtdata.views.widgets._filter import WidgetCondition
from rtdata.views.widgets._spec import (
    Piece,
    SpecError,
    check_name,
    check_positive,
    check_positive_int,
    compile_filter,
    compile_template,
    parse_spec_filter,
    render,
)

__all__ = [
    "MAX_MARKERS",
    "PACKAGE_DIR",
    "PALETTE",
    "MapSpec",
    "MapView",
    "compute",
    "figure",
    "load_geojson",
]

MAX_MARKERS: Final = 5000
"""Largest ``max_markers`` a spec may ask for."""

PALETTE: Final = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
)
"""Colours of category values without a colour of their own, picked by a hash of the value,
so a value keeps its colour as others come and go."""

PACKAGE_DIR: Final = Path(__file__).resolve().parents[2]
"""The ``rtdata`` package folder: a relative ``geojson`` path is resolved here by default."""

_NO_VALUE: Final = "(none)"


@dataclass(frozen=True, slots=True)
class MapSpec:
    """What a map draws; checked on construction.

    Attributes:
        table: Table whose rows are drawn.
        lat_column: Column of latitudes in degrees (-90 to 90).
        lon_column: Column of longitudes in degrees (-180 to 180).
        colour_column: Categorical column that picks each marker's colour; ``None`` for one
            colour.
        colours: Colour per value of ``colour_column`` (``(("open", "#d62728"),)``); other
            values take a :data:`PALETTE` colour.
        size_column: Numeric column scaled to marker diameters from ``min_size_px`` to
            ``max_size_px``; ``None`` draws every marker ``min_size_px``.
        min_size_px: Smallest marker diameter in pixels.
        max_size_px: Largest marker diameter in pixels.
        hover: Hover text template, as in the feed (``"{name} · {level:.1f}"``); empty shows
            the coordinates only.
        filter: Condition on the rows in the widget filter grammar (with ``now()`` and
            ``col(name)`` values: :mod:`rtdata.views.widgets._filter`); empty keeps all.
        time_column: Column of each row's time (ISO 8601): with ``max_age_s``, older rows are
            left out, and without ``size_column``, the newest rows are drawn first.
        max_age_s: Draw rows whose ``time_column`` is at most this many seconds before
            ``now``; ``None`` draws all.
        max_markers: Most markers drawn (1 to :data:`MAX_MARKERS`): the largest first with a
            size column, else the newest with a time column, else the first rows.
        geojson: Path of a GeoJSON FeatureCollection of Polygon or MultiPolygon shapes drawn
            under the points; relative paths resolve against ``compute``'s ``base_dir``.
        label_property: Feature property whose value labels each shape; ``None`` for none.
        height_px: Figure height in pixels.
    """

    table: str
    lat_column: str
    lon_column: str
    colour_column: str | None = None
    colours: tuple[tuple[str, str], ...] = ()
    size_column: str | None = None
    min_size_px: float = 6.0
    max_size_px: float = 20.0
    hover: str = ""
    filter: str = ""
    time_column: str | None = None
    max_age_s: float | None = None
    max_markers: int = 2000
    geojson: str | None = None
    label_property: str | None = "name"
    height_px: int = 520
    _pieces: tuple[Piece, ...] = field(init=False, repr=False, compare=False)
    _conditions: tuple[WidgetCondition, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("table", "lat_column", "lon_column"):
            check_name(name, getattr(self, name))
        for name in ("colour_column", "size_column", "time_column", "label_property"):
            if getattr(self, name) is not None:
                check_name(name, getattr(self, name))
        colours = tuple(tuple(pair) for pair in self.colours)
        for pair in colours:
            if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
                raise SpecError(
                    "colours", f"colours must be (value, colour) pairs of text, not {pair!r}"
                )
        if colours and self.colour_column is None:
            raise SpecError("colours", f"colours {colours!r} need a colour_column")
        object.__setattr__(self, "colours", colours)
        low = check_positive("min_size_px", self.min_size_px)
        high = check_positive("max_size_px", self.max_size_px)
        if low > high or high > 60:
            raise SpecError(
                "max_size_px",
                f"max_size_px must be from min_size_px to 60, not {self.max_size_px!r}",
            )
        if self.max_age_s is not None:
            check_positive("max_age_s", self.max_age_s)
            if self.time_column is None:
                raise SpecError("max_age_s", f"max_age_s {self.max_age_s!r} needs a time_column")
        check_positive_int("max_markers", self.max_markers, most=MAX_MARKERS)
        check_positive_int("height_px", self.height_px, most=4000)
        if self.geojson is not None and (
            not isinstance(self.geojson, str)
            or Path(self.geojson).suffix.lower() not in (".geojson", ".json")
        ):
            raise SpecError(
                "geojson", f"geojson must be a .geojson or .json path, not {self.geojson!r}"
            )
        object.__setattr__(self, "_pieces", compile_template("hover", self.hover))
        object.__setattr__(self, "_conditions", parse_spec_filter("filter", self.filter))


@dataclass(frozen=True, slots=True)
class MapView:
    """What a map draws.

    Attributes:
        spec: The spec computed.
        points: The markers drawn, largest (or newest) first: ``lon``, ``lat``, ``category``
            (text), ``colour``, ``size_px`` and ``hover``.
        legend: ``(category, colour, markers drawn)`` per category, most markers first.
        shapes: The GeoJSON drawn under the points, or ``None``.
        bounds: ``(lon_min, lat_min, lon_max, lat_max)`` fitting the points and the shapes,
            padded by 5 %; ``None`` with neither.
        rows: Rows considered (after the filter and the age bound).
        invalid: Rows left out for want of valid coordinates.
        left_out: Rows with valid coordinates beyond ``spec.max_markers``.
    """

    spec: MapSpec
    points: pd.DataFrame
    legend: tuple[tuple[str, str, int], ...]
    shapes: Mapping[str, Any] | None
    bounds: tuple[float, float, float, float] | None
    rows: int
    invalid: int
    left_out: int


def load_geojson(path: Path) -> Mapping[str, Any]:
    """Read a GeoJSON file, cached per path, modification time and size.

    Raises:
        FileNotFoundError: There is no such file.
        ValueError: The file is not a JSON object.
    """
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load(path: str, _mtime_ns: int, _size: int) -> Mapping[str, Any]:
    parsed = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(parsed, dict):
        raise SpecError("geojson", f"geojson {path!r} is not a JSON object")
    return parsed


def compute(
    spec: MapSpec, rows: pd.DataFrame, now: datetime, *, base_dir: Path = PACKAGE_DIR
) -> MapView:
    """Compute the markers, legend and bounds of ``spec``.

    Args:
        spec: The map.
        rows: Current rows of ``spec.table``; may be empty, without columns.
        now: Current time, timezone-aware (``spec.max_age_s`` counts back from it).
        base_dir: Folder a relative ``spec.geojson`` is read from (a scenario's folder).

    Raises:
        FileNotFoundError: ``spec.geojson`` names no file.
    """
    shapes = None
    if spec.geojson is not None:
        path = Path(spec.geojson)
        shapes = load_geojson(path if path.is_absolute() else base_dir / path)
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in rows.to_dict("records")
    ]
    if spec._conditions:
        keep = compile_filter(spec._conditions, records, now)
        records = [r for r in records if keep(r)]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(index=range(0))
    n = len(frame)

    def column(name: str | None) -> pd.Series[Any]:
        if name is not None and name in frame:
            return frame[name].reset_index(drop=True)
        return pd.Series([None] * n, dtype=object)

    lat = pd.to_numeric(column(spec.lat_column), errors="coerce").astype("float64")
    lon = pd.to_numeric(column(spec.lon_column), errors="coerce").astype("float64")
    time = pd.to_datetime(column(spec.time_column), utc=True, format="ISO8601", errors="coerce")
    recent = pd.Series(True, index=lat.index)
    if spec.max_age_s is not None:
        recent = time >= pd.Timestamp(now) - timedelta(seconds=spec.max_age_s)
    valid = lat.between(-90, 90) & lon.between(-180, 180)  # NaN is never between
    considered = int(recent.sum())
    invalid = int((recent & ~valid).sum())
    size_value = pd.to_numeric(column(spec.size_column), errors="coerce").astype("float64")
    located = pd.DataFrame(
        {"lon": lon, "lat": lat, "size_value": size_value, "time": time, "row": range(n)}
    )[recent & valid]
    if spec.size_column is not None:
        order = located.sort_values(["size_value", "row"], ascending=[False, True])
    elif spec.time_column is not None:
        order = located.sort_values(["time", "row"], ascending=[False, True])
    else:
        order = located
    drawn = order.head(spec.max_markers)
    colour_values = column(spec.colour_column).to_numpy(dtype=object)
    categories = [_category(colour_values[i]) for i in drawn["row"]]
    named = dict(spec.colours)
    colours = [named.get(c) or _palette(c) for c in categories]
    points = pd.DataFrame(
        {
            "lon": drawn["lon"].to_numpy(),
            "lat": drawn["lat"].to_numpy(),
            "category": pd.Series(categories, dtype=object),
            "colour": pd.Series(colours, dtype=object),
            "size_px": _sizes(drawn["size_value"].to_numpy(), spec),
            "hover": pd.Series(
                [
                    _hover(spec, records[i], lo, la)
                    for i, lo, la in zip(drawn["row"], drawn["lon"], drawn["lat"], strict=True)
                ],
                dtype=object,
            ),
        }
    )
    counts = pd.Series(categories, dtype=object).value_counts(sort=False)
    legend = sorted(
        ((str(c), named.get(str(c)) or _palette(str(c)), int(k)) for c, k in counts.items()),
        key=lambda item: (-item[2], item[0]),
    )
    return MapView(
        spec=spec,
        points=points,
        legend=tuple(legend),
        shapes=shapes,
        bounds=_bounds(points, shapes),
        rows=considered,
        invalid=invalid,
        left_out=len(located) - len(drawn),
    )


def figure(view: MapView) -> go.Figure:
    """Draw a view: the shapes filled on plain lon/lat axes, one marker trace per category
    (named with its count), the view fitted to :attr:`MapView.bounds`."""
    # One list of traces and one layout, checked once by go.Figure (each add_trace and
    # update_layout call checks the whole figure again).
    traces = _shape_traces(view.shapes, view.spec.label_property) if view.shapes else []
    # Points are picked from numpy arrays, not the frame: plotly converts each pandas column
    # it is given, slowly, and so does filtering.
    points = {c: view.points[c].to_numpy() for c in ("lon", "lat", "size_px", "hover")}
    category_of = view.points["category"].to_numpy(dtype=object)
    for category, colour, count in view.legend:
        mine = category_of == category
        traces.append(
            {
                "type": "scatter",
                "x": points["lon"][mine],
                "y": points["lat"][mine],
                "mode": "markers",
                "name": f"{category} ({count})",
                "marker": {
                    "color": colour,
                    "size": points["size_px"][mine],
                    "opacity": 0.85,
                    "line": {"color": "white", "width": 1},
                },
                "text": points["hover"][mine],
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    layout: dict[str, Any] = {"constrain": "domain", "visible": False}
    y_layout: dict[str, Any] = {"visible": False, "scaleanchor": "x"}
    if view.bounds is not None:
        lon_min, lat_min, lon_max, lat_max = view.bounds
        layout["range"] = [lon_min, lon_max]
        y_layout["range"] = [lat_min, lat_max]
        mid = math.radians(max(-80.0, min(80.0, (lat_min + lat_max) / 2)))
        y_layout["scaleratio"] = 1 / math.cos(mid)
    return go.Figure(
        data=traces,
        layout={
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "height": view.spec.height_px,
            "plot_bgcolor": "white",
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
            "hovermode": "closest",
            "xaxis": layout,
            "yaxis": y_layout,
        },
    )


def _category(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _NO_VALUE
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _palette(category: str) -> str:
    return PALETTE[zlib.crc32(category.encode()) % len(PALETTE)]


def _sizes(values: np.ndarray[Any, Any], spec: MapSpec) -> np.ndarray[Any, Any]:
    """Scale values linearly to ``min_size_px``..``max_size_px``; NaN is the smallest."""
    sizes = np.full(len(values), spec.min_size_px, dtype=float)
    finite = np.isfinite(values)
    if spec.size_column is None or not finite.any():
        return sizes
    low, high = float(values[finite].min()), float(values[finite].max())
    share = np.zeros(len(values)) if high == low else (values - low) / (high - low)
    scaled = spec.min_size_px + share * (spec.max_size_px - spec.min_size_px)
    sizes[finite] = scaled[finite]
    return sizes


def _hover(spec: MapSpec, record: Mapping[str, Any], lon: float, lat: float) -> str:
    if not spec.hover:
        return f"{lat:.5f}, {lon:.5f}"
    return render(spec._pieces, record, {}, "?")


def _rings(shapes: Mapping[str, Any]) -> list[tuple[list[Any], dict[str, Any]]]:
    """Outer rings of every Polygon and MultiPolygon feature, with the feature."""
    rings = []
    features = shapes.get("features", [])
    for feature in features if isinstance(features, list) else []:
        if not isinstance(feature, dict):
            continue
        geometry = feature.get("geometry") or {}
        polygons = geometry.get("coordinates") or []
        if geometry.get("type") == "Polygon":
            polygons = [polygons]
        elif geometry.get("type") != "MultiPolygon":
            continue
        for polygon in polygons:
            if polygon and polygon[0]:
                rings.append((polygon[0], feature))
    return rings


def _shape_traces(shapes: Mapping[str, Any], label_property: str | None) -> list[dict[str, Any]]:
    lons: list[float | None] = []
    lats: list[float | None] = []
    label_lon, label_lat, label_text = [], [], []
    for ring, feature in _rings(shapes):
        lons.extend([p[0] for p in ring] + [None])
        lats.extend([p[1] for p in ring] + [None])
        if label_property is not None:
            label_lon.append(float(np.mean([p[0] for p in ring])))
            label_lat.append(float(np.mean([p[1] for p in ring])))
            label_text.append(str((feature.get("properties") or {}).get(label_property, "")))
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": lons,
            "y": lats,
            "mode": "lines",
            "fill": "toself",  # each None-separated ring is filled on its own
            "fillcolor": "rgba(120,144,156,0.12)",
            "line": {"color": "rgba(96,125,139,0.6)", "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": "shapes",
        }
    ]
    if label_text:
        traces.append(
            {
                "type": "scatter",
                "x": label_lon,
                "y": label_lat,
                "mode": "text",
                "text": label_text,
                "textfont": {"size": 9, "color": "rgba(69,90,100,0.8)"},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "shape names",
            }
        )
    return traces


def _bounds(
    points: pd.DataFrame, shapes: Mapping[str, Any] | None
) -> tuple[float, float, float, float] | None:
    lons = list(points["lon"])
    lats = list(points["lat"])
    if shapes is not None:
        bbox = (shapes.get("properties") or {}).get("bbox") or shapes.get("bbox")
        if isinstance(bbox, list) and len(bbox) == 4:
            lons += [float(bbox[0]), float(bbox[2])]
            lats += [float(bbox[1]), float(bbox[3])]
        else:
            for ring, _ in _rings(shapes):
                lons += [float(p[0]) for p in ring]
                lats += [float(p[1]) for p in ring]
    if not lons:
        return None
    lon_min, lon_max, lat_min, lat_max = min(lons), max(lons), min(lats), max(lats)
    pad_lon = max((lon_max - lon_min) * 0.05, 0.005)
    pad_lat = max((lat_max - lat_min) * 0.05, 0.005)
    return (lon_min - pad_lon, lat_min - pad_lat, lon_max + pad_lon, lat_max + pad_lat)
