"""The wall-display look of every figure the pages draw, and the shared bar figure (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
import pytest

from rtdata.lifecycle import ConnectionState, Transition
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.views import charts, realtime_health
from rtdata.views.widgets import breakdown, roster, series, tiles
from rtdata.views.widgets import map as map_widget
from tests.unit.widget_data import at, presence, snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S_NS = 1_000_000_000
T0_NS = int(T0.timestamp()) * S_NS
SHAPES = get_scenario(DEFAULT_SCENARIO).assets / "lisbon_districts.geojson"
"""Real GeoJSON shapes with labels, for the map (the widget draws any pack's)."""


def _series(seconds: int = 120) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.date_range(T0, periods=seconds, freq="1s"),
            "events_total": 3,
            "latency_p50_ms": 10.0,
            "latency_p95_ms": 20.0,
            "latency_p99_ms": 30.0,
            "latency_samples": 3,
            "probe_rtt_ms": [25.0 if i % 5 == 0 else math.nan for i in range(seconds)],
            "state": "subscribed",
            "reconnects": 0,
            "events:readings": 2,
        }
    )


def _timeline() -> pd.DataFrame:
    s = ConnectionState
    steps = [(0, s.IDLE, s.CONNECTING), (2, s.CONNECTING, s.SUBSCRIBED), (9, s.SUBSCRIBED, s.IDLE)]
    transitions = [Transition(T0_NS + at * S_NS, a, b, "test") for at, a, b in steps]
    return realtime_health.state_timeline(transitions, T0 + timedelta(seconds=20))


READINGS = series.SeriesSpec(
    table="readings",
    time_column="read_at",
    columns=("level", "temp"),
    entity_column="sensor_id",
    cohort_column="site_id",
    bands=(series.Band("level", 50, 120), series.Band("temp", 35.5, 38.5)),
)


def _readings(by: Literal["entity", "cohort"]) -> go.Figure:
    rows = [
        {
            "read_at": (T0 + timedelta(seconds=10 * i)).isoformat(),
            "sensor_id": "S-1",
            "site_id": 1 + i % 2,
            "level": 150 if i % 4 == 0 else 70,
            "temp": 36.8,
        }
        for i in range(30)
    ]
    view = series.compute(READINGS, pd.DataFrame(rows), pd.DataFrame(), T0 + timedelta(hours=1))
    return series.figure(view, by=by)


def _map() -> go.Figure:
    spec = map_widget.MapSpec(
        "jobs",
        "lat",
        "lon",
        colour_column="status",
        colours=(("pending", "#d62728"), ("en_route", "#1f77b4")),
        size_column="priority",
        hover="#{id} {kind} · {status} · {address}",
        geojson=str(SHAPES),
    )
    rows = pd.DataFrame(
        {
            "id": [1, 2],
            "kind": ["repair", "delivery"],
            "priority": [1, 4],
            "status": ["pending", "en_route"],
            "address": ["Rua Augusta 1", "Rua do Ouro 2"],
            "lat": [38.72, 38.74],
            "lon": [-9.14, -9.17],
        }
    )
    return map_widget.figure(map_widget.compute(spec, rows, T0))


def _roster() -> go.Figure:
    spec = roster.RosterSpec(channels=("online",), group_by=("role",), window_s=600)
    events = snapshot(
        presence(0, "online", "sync", None, []),
        presence(1, "online", "join", "a", [{"role": "nurse", "presence_ref": "1"}]),
        presence(2, "online", "join", "b", [{"role": "driver", "presence_ref": "2"}]),
        presence(90, "online", "leave", "b", [{"role": "driver", "presence_ref": "2"}]),
    )
    return roster.figure(roster.compute(spec, events, at(300)))


def _breakdown() -> go.Figure:
    spec = breakdown.BreakdownSpec("jobs", ("site", "status"))
    rows = pd.DataFrame({"site": ["north", "north", "south"], "status": ["open", "done", "open"]})
    return breakdown.figure(breakdown.compute(spec, rows, T0))


def _sparkline() -> go.Figure:
    history = [(T0 + timedelta(seconds=i), float(i % 3)) for i in range(10)]
    spec = tiles.TileSpec("Open jobs", "jobs")
    return tiles.figure(
        tiles.compute(spec, pd.DataFrame({"id": [1, 2]}), T0 + timedelta(seconds=10), history)
    )


FIGURES = {
    "map": _map,
    "state timeline": lambda: realtime_health.timeline_figure(_timeline()),
    "latency": lambda: realtime_health.latency_figure(_series()),
    "throughput": lambda: realtime_health.throughput_figure(_series()),
    "probe": lambda: realtime_health.probe_figure(_series()),
    "no probe yet": lambda: realtime_health.probe_figure(_series().iloc[0:0]),
    "series by entity": lambda: _readings("entity"),
    "series by cohort": lambda: _readings("cohort"),
    "roster": _roster,
    "breakdown": _breakdown,
    "tile sparkline": _sparkline,
    "bar": lambda: charts.bar_figure(
        pd.DataFrame({"role": ["nurse"], "online": [2]}), "role", "online"
    ),
}


def _colours(spec: Any) -> Iterator[str]:
    """Every colour text under a key ending in ``color``, at any depth."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key.endswith("color") and isinstance(value, str):
                yield value
            elif key.endswith("color") and isinstance(value, list | tuple):
                yield from (v for v in value if isinstance(v, str))
            else:
                yield from _colours(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _colours(value)


def _on_black(colour: str) -> tuple[float, float]:
    """Contrast against black of ``colour`` as blended on it, and its alpha."""
    parsed = charts.parse_colour(colour)
    assert parsed is not None, f"unparsed colour {colour!r}"
    *rgb, alpha = parsed
    blended = tuple(round(c * alpha) for c in rgb)
    return charts.contrast_ratio(blended, (0, 0, 0)), alpha


@pytest.mark.parametrize("build", FIGURES.values(), ids=FIGURES.keys())
def test_wall_figure_is_dark_large_and_high_contrast(build: Any) -> None:
    figure = build()
    before = figure.to_json()
    wall = charts.wall_figure(figure)
    assert figure.to_json() == before, "the shared figure must not change"
    layout = wall.layout
    assert layout.paper_bgcolor == layout.plot_bgcolor == charts.WALL_BACKGROUND
    assert (layout.font.size, layout.font.color) == (charts.WALL_FONT_PX, charts.WALL_TEXT)
    assert layout.legend.font.size == 22
    for axis in (layout.xaxis, layout.yaxis):
        assert axis.tickfont.size == 22
        assert axis.tickfont.color == charts.WALL_TEXT
    if layout.title.text:
        assert layout.title.font.size == 28
    assert layout.template.layout.paper_bgcolor == charts.WALL_BACKGROUND
    if figure.layout.height is not None:
        assert layout.height >= charts.WALL_MIN_HEIGHT_PX
    spec = wall.to_dict()
    colours = [*_colours(spec["data"]), *_colours(spec["layout"].get("shapes", []))]
    for colour in colours:
        contrast, alpha = _on_black(colour)
        if alpha >= 0.5:
            assert contrast >= charts.WALL_MIN_CONTRAST, colour
        else:
            assert alpha >= 0.3, colour
    for annotation in spec["layout"].get("annotations", []):
        assert annotation["font"]["color"] == charts.WALL_TEXT


def test_wall_figure_lifts_dark_colours_and_keeps_good_ones() -> None:
    figure = _map()
    figure.add_trace(
        go.Scatter(x=[-9.15], y=[38.73], mode="markers", name="depots", marker_color="#212121")
    )
    wall = charts.wall_figure(figure)
    (crosses,) = [trace for trace in wall.data if trace.name == "depots"]
    assert crosses.marker.color != "#212121"  # black markers vanish on a black wall
    assert _on_black(crosses.marker.color)[0] >= charts.WALL_MIN_CONTRAST
    (names,) = [trace for trace in wall.data if trace.name == "shape names"]
    assert _on_black(names.textfont.color)[0] >= charts.WALL_MIN_CONTRAST
    assert charts.wall_colour("#1a9e3f") == "#1a9e3f"  # already readable: unchanged
    assert charts.wall_colour("rgba(26, 158, 63, 0.12)") == "rgba(26,158,63,0.3)"
    assert charts.wall_colour("rgba(26, 158, 63, 0.4)") == "rgba(26, 158, 63, 0.4)"
    assert charts.wall_colour("viridis") == "viridis"  # not a colour it knows: untouched
    red, green, blue, _ = charts.parse_colour(charts.wall_colour("#d62728")) or (0, 0, 0, 0)
    assert red > max(green, blue)  # lightened, still red


def test_wall_colorway_is_at_least_seven_to_one() -> None:
    assert list(charts.WALL_TEMPLATE.layout.colorway) == list(charts.WALL_COLORWAY)
    assert min(_on_black(c)[0] for c in charts.WALL_COLORWAY) >= 7


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("#fff", (255, 255, 255, 1.0)),
        ("#1A9E3F", (26, 158, 63, 1.0)),
        ("rgb(1, 2, 3)", (1, 2, 3, 1.0)),
        ("rgba(1,2,3,0.25)", (1, 2, 3, 0.25)),
        ("White", (255, 255, 255, 1.0)),
        ("#12345", None),
        ("rgba(a,b,c,d)", None),
        ("hsl(0, 50%, 50%)", None),
    ],
)
def test_parse_colour(text: str, parsed: tuple[int, int, int, float] | None) -> None:
    assert charts.parse_colour(text) == parsed


def test_contrast_ratio_bounds() -> None:
    assert charts.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert charts.contrast_ratio((120, 30, 200), (120, 30, 200)) == pytest.approx(1.0)
    # WCAG's own example: #777 on white is just under 4.5:1.
    assert charts.contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(4.48, 0.01)


def test_bar_figure_draws_categories() -> None:
    frame = pd.DataFrame({"site_id": [1, 12], "online": [4, 1]})
    figure = charts.bar_figure(frame, "site_id", "online", y_title="online now")
    (bar,) = figure.data
    assert list(bar.x) == ["1", "12"]
    assert list(bar.y) == [4, 1]
    assert figure.layout.xaxis.type == "category"
    assert figure.layout.yaxis.title.text == "online now"
    assert len(charts.bar_figure(frame.iloc[0:0], "site_id", "online").data[0].x) == 0


def test_horizontal_bar_figure_puts_labels_on_the_left_first_row_on_top() -> None:
    frame = pd.DataFrame({"site": ["Estação de Santa Apolónia", "São José"], "online": [4, 1]})
    figure = charts.bar_figure(frame, "site", "online", horizontal=True, y_title="online")
    (bar,) = figure.data
    assert bar.orientation == "h"
    assert list(bar.y) == ["Estação de Santa Apolónia", "São José"]
    assert list(bar.x) == [4, 1]
    assert figure.layout.yaxis.type == "category"
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.xaxis.title.text == "online"


def test_wall_figure_moves_a_legend_below_the_plot_to_the_bottom_edge() -> None:
    for name in ("latency", "roster", "series by entity"):
        legend = charts.wall_figure(FIGURES[name]()).layout.legend
        assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom"), name
    above = charts.wall_figure(_map()).layout.legend  # the map's legend sits above it
    assert (above.yref, above.y) == (None, 1.0)
