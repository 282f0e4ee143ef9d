"""One layer of a map: a table's rows as markers, coloured by a column and sized by another.

Private to :mod:`rtdata.views.widgets`; :mod:`rtdata.views.widgets.map` exports its public
names and documents the behaviour.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from rtdata.views.widgets._common import filter_mask
from rtdata.views.widgets._spec import (
    Piece,
    SpecError,
    check_name,
    check_positive,
    check_positive_int,
    compile_template,
    parse_spec_filter,
    render,
)

MAX_MARKERS: Final = 5000
"""Largest ``max_markers`` a layer may ask for."""

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

_NO_VALUE: Final = "(none)"


@dataclass(frozen=True, slots=True)
class MapLayer:
    """One table's rows on a map; checked on construction.

    Attributes:
        table: Table whose rows are drawn.
        lat_column: Column of latitudes in degrees (-90 to 90).
        lon_column: Column of longitudes in degrees (-180 to 180).
        title: Name of the layer in the legend; ``None`` names it by ``table``.
        colour_column: Categorical column that picks each marker's colour; ``None`` draws one
            colour, the layer's markers named by the layer.
        colours: Colour per value of ``colour_column``, as pairs (``(("open", "#d62728"),)``)
            or a mapping; other values take a :data:`PALETTE` colour.
        size_column: Numeric column scaled to marker diameters from ``min_size_px`` to
            ``max_size_px``; ``None`` draws every marker ``min_size_px``.
        min_size_px: Smallest marker diameter in pixels.
        max_size_px: Largest marker diameter in pixels (at most 60).
        hover: Hover text template, as in the feed (``"{name} · {level:.1f}"``); empty shows
            the coordinates only.
        filter: Condition on the rows in the widget filter grammar (with ``now()`` and
            ``col(name)`` values: :mod:`rtdata.views.widgets._filter`), tested as the server
            would (a null cell is NULL; a column the rows lack matches no row); empty keeps
            all.
        time_column: Column of each row's time (ISO 8601): with ``max_age_s``, older rows are
            left out, and without ``size_column``, the newest rows are drawn first.
        max_age_s: Draw rows whose ``time_column`` is at most this many seconds before
            ``now``; ``None`` draws all.
        max_markers: Most markers drawn (1 to :data:`MAX_MARKERS`): the largest first with a
            size column, else the newest with a time column, else the first rows.
    """

    table: str
    lat_column: str
    lon_column: str
    title: str | None = None
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
    _pieces: tuple[Piece, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("table", "lat_column", "lon_column"):
            check_name(name, getattr(self, name))
        for name in ("title", "colour_column", "size_column", "time_column"):
            if getattr(self, name) is not None:
                check_name(name, getattr(self, name))
        given = self.colours
        colours = tuple(
            tuple(pair) for pair in (given.items() if isinstance(given, Mapping) else given)
        )
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
        object.__setattr__(self, "_pieces", compile_template("hover", self.hover))
        parse_spec_filter("filter", self.filter)

    @property
    def name(self) -> str:
        """The layer's name in the legend: its title, else its table."""
        return self.title or self.table


@dataclass(frozen=True, slots=True)
class LayerView:
    """What a map draws of one layer.

    Attributes:
        layer: The layer computed.
        points: The markers drawn, largest (or newest) first: ``lon``, ``lat``, ``category``
            (text), ``colour``, ``size_px`` and ``hover``.
        legend: ``(category, colour, markers drawn)`` per category, most markers first.
        rows: Rows considered (after the filter and the age bound).
        invalid: Rows left out for want of valid coordinates.
        left_out: Rows with valid coordinates beyond ``layer.max_markers``.
    """

    layer: MapLayer
    points: pd.DataFrame
    legend: tuple[tuple[str, str, int], ...]
    rows: int
    invalid: int
    left_out: int


def layer_view(layer: MapLayer, rows: pd.DataFrame, now: datetime) -> LayerView:
    """Compute what ``layer`` draws of ``rows`` (its table's current rows; may be empty,
    without columns) at ``now``."""
    # The filter is tested once per distinct value of its columns, null cells as SQL NULL
    # (pandas reads a missing text as NaN).
    frame = rows[filter_mask(rows, layer.filter, now)] if layer.filter and len(rows) else rows
    frame = frame.reset_index(drop=True)
    n = len(frame)

    def column(name: str | None) -> pd.Series[Any]:
        if name is not None and name in frame:
            return frame[name].reset_index(drop=True)
        return pd.Series([None] * n, dtype=object)

    lat = pd.to_numeric(column(layer.lat_column), errors="coerce").astype("float64")
    lon = pd.to_numeric(column(layer.lon_column), errors="coerce").astype("float64")
    time = pd.to_datetime(column(layer.time_column), utc=True, format="ISO8601", errors="coerce")
    recent = pd.Series(True, index=lat.index)
    if layer.max_age_s is not None:
        recent = time >= pd.Timestamp(now) - timedelta(seconds=layer.max_age_s)
    valid = lat.between(-90, 90) & lon.between(-180, 180)  # NaN is never between
    considered = int(recent.sum())
    invalid = int((recent & ~valid).sum())
    size_value = pd.to_numeric(column(layer.size_column), errors="coerce").astype("float64")
    located = pd.DataFrame(
        {"lon": lon, "lat": lat, "size_value": size_value, "time": time, "row": range(n)}
    )[recent & valid]
    if layer.size_column is not None:
        order = located.sort_values(["size_value", "row"], ascending=[False, True])
    elif layer.time_column is not None:
        order = located.sort_values(["time", "row"], ascending=[False, True])
    else:
        order = located
    drawn = order.head(layer.max_markers)
    if layer.colour_column is None:
        categories = [layer.name] * len(drawn)
    else:
        colour_values = column(layer.colour_column).to_numpy(dtype=object)
        categories = [_category(colour_values[i]) for i in drawn["row"]]
    named = dict(layer.colours)
    colours = [named.get(c) or _palette(c) for c in categories]
    # Only the drawn rows are read as records, for their hover texts.
    records = frame.iloc[drawn["row"].to_numpy()].to_dict("records") if layer.hover else []
    hover = (
        [render(layer._pieces, {str(k): v for k, v in r.items()}, {}, "?") for r in records]
        if layer.hover
        else [f"{la:.5f}, {lo:.5f}" for lo, la in zip(drawn["lon"], drawn["lat"], strict=True)]
    )
    points = pd.DataFrame(
        {
            "lon": drawn["lon"].to_numpy(),
            "lat": drawn["lat"].to_numpy(),
            "category": pd.Series(categories, dtype=object),
            "colour": pd.Series(colours, dtype=object),
            "size_px": _sizes(drawn["size_value"].to_numpy(), layer),
            "hover": pd.Series(hover, dtype=object),
        }
    )
    counts = pd.Series(categories, dtype=object).value_counts(sort=False)
    legend = sorted(
        ((str(c), named.get(str(c)) or _palette(str(c)), int(k)) for c, k in counts.items()),
        key=lambda item: (-item[2], item[0]),
    )
    return LayerView(
        layer=layer,
        points=points,
        legend=tuple(legend),
        rows=considered,
        invalid=invalid,
        left_out=len(located) - len(drawn),
    )


def _category(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _NO_VALUE
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _palette(category: str) -> str:
    return PALETTE[zlib.crc32(category.encode()) % len(PALETTE)]


def _sizes(values: np.ndarray[Any, Any], layer: MapLayer) -> np.ndarray[Any, Any]:
    """Scale values linearly to ``min_size_px``..``max_size_px``; NaN is the smallest."""
    sizes = np.full(len(values), layer.min_size_px, dtype=float)
    finite = np.isfinite(values)
    if layer.size_column is None or not finite.any():
        return sizes
    low, high = float(values[finite].min()), float(values[finite].max())
    share = np.zeros(len(values)) if high == low else (values - low) / (high - low)
    scaled = layer.min_size_px + share * (layer.max_size_px - layer.min_size_px)
    sizes[finite] = scaled[finite]
    return sizes
