"""Map widget: rows of one or more tables as points on plain lon/lat axes, over optional GeoJSON
shapes.

No tile server and no network: polygons are filled ``go.Scatter`` shapes and points are
markers, with the y axis stretched by 1/cos(latitude) so distances look true at the map's
centre. A map draws one or more layers, each a table's rows coloured by a categorical column and
sized by a numeric one, over one set of shapes and one view that fits them all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go

from rtdata.views.widgets._map_layer import (
    MAX_MARKERS,
    PALETTE,
    LayerView,
    MapLayer,
    layer_view,
)
from rtdata.views.widgets._shapes import bounds, load_geojson, shape_traces
from rtdata.views.widgets._spec import SpecError, SpecMissing, check_name, check_positive_int

__all__ = [
    "MAX_LAYERS",
    "MAX_MARKERS",
    "PACKAGE_DIR",
    "PALETTE",
    "SYMBOLS",
    "LayerView",
    "MapLayer",
    "MapSpec",
    "MapView",
    "compute",
    "figure",
    "load_geojson",
]

MAX_LAYERS: Final = 8
"""Most layers a map may draw."""

SYMBOLS: Final = ("circle", "diamond", "square", "triangle-up", "star", "hexagon", "cross", "x")
"""Marker symbol of each layer, by its place in the map (one per layer up to
:data:`MAX_LAYERS`): layers stay apart where their colours meet."""

PACKAGE_DIR: Final = Path(__file__).resolve().parents[2]
"""The ``rtdata`` package folder: a relative ``geojson`` path is resolved here by default."""

_NO_ROWS: Final = pd.DataFrame()

# The fields a map takes either once (a map of one layer) or per layer, never both.
_LAYER_FIELDS: Final = tuple(f.name for f in fields(MapLayer) if f.init and f.name != "title")
_REQUIRED: Final = tuple(f.name for f in fields(MapLayer) if f.init and f.default is MISSING)


@dataclass(frozen=True, slots=True)
class MapSpec:
    """What a map draws: one layer given by the table fields, or several ``layers``, over
    shared shapes; checked on construction.

    The table fields (``table`` to ``max_markers``) are those of :class:`MapLayer`, without its
    ``title``: they make a map of one layer, and must stay unset beside ``layers``.

    Attributes:
        table: Table of the one layer; ``None`` with ``layers``.
        lat_column: Latitude column of the one layer; ``None`` with ``layers``.
        lon_column: Longitude column of the one layer; ``None`` with ``layers``.
        colour_column: See :class:`MapLayer`.
        colours: See :class:`MapLayer`.
        size_column: See :class:`MapLayer`.
        min_size_px: See :class:`MapLayer`.
        max_size_px: See :class:`MapLayer`.
        hover: See :class:`MapLayer`.
        filter: See :class:`MapLayer`.
        time_column: See :class:`MapLayer`.
        max_age_s: See :class:`MapLayer`.
        max_markers: See :class:`MapLayer`.
        geojson: Path of a GeoJSON FeatureCollection of Polygon or MultiPolygon shapes drawn
            under the points; relative paths resolve against ``compute``'s ``base_dir``.
        label_property: Feature property whose value labels each shape; ``None`` for none.
        height_px: Figure height in pixels.
        layers: The layers, drawn in order (the first at the bottom), 1 to :data:`MAX_LAYERS`,
            each a :class:`MapLayer` or a mapping of its fields (as ``rtdata.toml`` gives
            them), with distinct names; empty for the one layer of the table fields.
    """

    table: str | None = None
    lat_column: str | None = None
    lon_column: str | None = None
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
    layers: tuple[MapLayer, ...] = ()
    _drawn: tuple[MapLayer, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given = self.layers
        if isinstance(given, str | Mapping) or not isinstance(given, tuple | list):
            raise SpecError("layers", f"layers must be an array of layer tables, not {given!r}")
        if given:
            for name in _LAYER_FIELDS:
                if getattr(self, name) != _DEFAULTS[name]:
                    raise SpecError(
                        name, f"{name} belongs in each of layers: a map with layers has no {name}"
                    )
            if len(given) > MAX_LAYERS:
                raise SpecError(
                    "layers", f"layers must hold 1 to {MAX_LAYERS} layers, not {len(given)}"
                )
            drawn = tuple(_layer(i, raw) for i, raw in enumerate(given))
            named: dict[str, int] = {}
            for i, layer in enumerate(drawn):
                if layer.name in named:
                    raise SpecError(
                        f"layers[{i}].title",
                        f"layers[{i}]: layers[{named[layer.name]}] is named {layer.name!r} too; "
                        "give one of them a title",
                    )
                named[layer.name] = i
            object.__setattr__(self, "layers", drawn)
        else:
            missing = [n for n in _REQUIRED if getattr(self, n) is None]
            if missing:
                raise SpecMissing(
                    missing[0],
                    f"a map needs table, lat_column and lon_column, or layers: "
                    f"missing {', '.join(missing)}",
                )
            drawn = (MapLayer(**{n: getattr(self, n) for n in _LAYER_FIELDS}),)
        object.__setattr__(self, "_drawn", drawn)
        if self.label_property is not None:
            check_name("label_property", self.label_property)
        check_positive_int("height_px", self.height_px, most=4000)
        if self.geojson is not None and (
            not isinstance(self.geojson, str)
            or Path(self.geojson).suffix.lower() not in (".geojson", ".json")
        ):
            raise SpecError(
                "geojson", f"geojson must be a .geojson or .json path, not {self.geojson!r}"
            )

    @property
    def drawn_layers(self) -> tuple[MapLayer, ...]:
        """The layers drawn, bottom first: ``layers``, or the one layer of the table fields."""
        return self._drawn


_DEFAULTS: Final[Mapping[str, Any]] = {f.name: f.default for f in fields(MapSpec) if f.init}


def _layer(index: int, raw: object) -> MapLayer:
    """``layers[index]`` as a layer: a :class:`MapLayer` as is, a mapping by its fields."""
    where = f"layers[{index}]"
    if isinstance(raw, MapLayer):
        return raw
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"{where} must be a table of layer fields, not {raw!r}")
    known = {f.name for f in fields(MapLayer) if f.init}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}", f"{where}: {unknown[0]!r} is not a layer field")
    missing = [n for n in _REQUIRED if n not in raw]
    if missing:
        raise SpecMissing(where, f"{where}: missing {', '.join(missing)} (required by a layer)")
    try:
        return MapLayer(**raw)
    except SpecError as exc:
        raise SpecError(f"{where}.{exc.field}", f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class MapView:
    """What a map draws.

    Attributes:
        spec: The spec computed.
        layers: One view per layer of :attr:`MapSpec.drawn_layers`, in the same order.
        shapes: The GeoJSON drawn under the points, or ``None``.
        bounds: ``(lon_min, lat_min, lon_max, lat_max)`` fitting every layer's points and the
            shapes, padded by 5 %; ``None`` with neither.
    """

    spec: MapSpec
    layers: tuple[LayerView, ...]
    shapes: Mapping[str, Any] | None
    bounds: tuple[float, float, float, float] | None


def compute(
    spec: MapSpec,
    rows: pd.DataFrame | Mapping[str, pd.DataFrame],
    now: datetime,
    *,
    base_dir: Path = PACKAGE_DIR,
) -> MapView:
    """Compute the markers, legends and bounds of ``spec``.

    Args:
        spec: The map.
        rows: Current rows of each layer's table, by table name (a table missing from it
            draws nothing); or one frame, the rows of every layer's table (a map of one
            table). A frame may be empty, without columns.
        now: Current time, timezone-aware (a layer's ``max_age_s`` counts back from it).
        base_dir: Folder a relative ``spec.geojson`` is read from (a scenario's folder).

    Raises:
        FileNotFoundError: ``spec.geojson`` names no file.
    """
    shapes = None
    if spec.geojson is not None:
        path = Path(spec.geojson)
        shapes = load_geojson(path if path.is_absolute() else base_dir / path)
    tables = rows if isinstance(rows, Mapping) else {lay.table: rows for lay in spec.drawn_layers}
    layers = tuple(
        layer_view(layer, tables.get(layer.table, _NO_ROWS), now) for layer in spec.drawn_layers
    )
    lons = [lon for view in layers for lon in view.points["lon"].tolist()]
    lats = [lat for view in layers for lat in view.points["lat"].tolist()]
    return MapView(spec=spec, layers=layers, shapes=shapes, bounds=bounds(lons, lats, shapes))


def figure(view: MapView) -> go.Figure:
    """Draw a view: the shapes filled on plain lon/lat axes, then each layer's markers in
    order, one trace per category (named with its count) in the layer's
    :data:`SYMBOLS` shape, the view fitted to :attr:`MapView.bounds`.

    With more than one layer, each layer's traces form a legend group titled by the layer's
    name (plotly stacks a group's entries, and lays the groups side by side), and a click on
    an entry hides that entry alone; a map of one layer has no groups, its entries in a row.
    """
    # One list of traces and one layout, checked once by go.Figure (each add_trace and
    # update_layout call checks the whole figure again).
    traces = shape_traces(view.shapes, view.spec.label_property) if view.shapes else []
    grouped = len(view.layers) > 1
    for index, layer in enumerate(view.layers):
        # Points are picked from numpy arrays, not the frame: plotly converts each pandas
        # column it is given, slowly, and so does filtering.
        points = {c: layer.points[c].to_numpy() for c in ("lon", "lat", "size_px", "hover")}
        category_of = layer.points["category"].to_numpy(dtype=object)
        group: dict[str, Any] = {}
        if grouped:
            group = {"legendgroup": f"layer{index}", "legendgrouptitle": {"text": layer.layer.name}}
        for category, colour, count in layer.legend:
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
                        "symbol": SYMBOLS[index % len(SYMBOLS)],
                        "opacity": 0.85,
                        "line": {"color": "white", "width": 1},
                    },
                    "text": points["hover"][mine],
                    "hovertemplate": "%{text}<extra></extra>",
                    **group,
                }
            )
    legend: dict[str, Any] = {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0}
    if grouped:
        legend["groupclick"] = "toggleitem"
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
            "legend": legend,
            "hovermode": "closest",
            "xaxis": layout,
            "yaxis": y_layout,
        },
    )
