"""The wall-display look of every figure the pages draw, and the shared bar figure (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest

from rtdata.lifecycle import ConnectionState, Transition
from rtdata.views import charts, health, presence, realtime_health
from rtdata.views import emergencies as em

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S_NS = 1_000_000_000
T0_NS = int(T0.timestamp()) * S_NS


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
            "events:vital_signs": 2,
        }
    )


def _timeline() -> pd.DataFrame:
    s = ConnectionState
    steps = [(0, s.IDLE, s.CONNECTING), (2, s.CONNECTING, s.SUBSCRIBED), (9, s.SUBSCRIBED, s.IDLE)]
    transitions = [Transition(T0_NS + at * S_NS, a, b, "test") for at, a, b in steps]
    return realtime_health.state_timeline(transitions, T0 + timedelta(seconds=20))


def _vitals() -> pd.DataFrame:
    rows = [
        {
            "id": i,
            "patient_id": "P-1",
            "hospital_id": 1 + i % 2,
            "heart_rate": 150 if i % 4 == 0 else 70,
            "systolic": 120,
            "diastolic": 80,
            "spo2": 98,
            "temperature": 36.8,
            "recorded_at": (T0 + timedelta(seconds=10 * i)).isoformat(),
        }
        for i in range(30)
    ]
    return health.vitals_frame(pd.DataFrame(rows))


def _map() -> go.Figure:
    hospitals = pd.DataFrame({"name": ["Santa Maria"], "lat": [38.7496], "lon": [-9.1604]})
    open_rows = pd.DataFrame(
        {
            "id": [1, 2],
            "emergency_type": ["cardiac", "fall"],
            "priority": [1, 4],
            "status": ["pending", "en_route"],
            "age": ["1 min", "2 min"],
            "pickup_address": ["Rua Augusta 1, Belém", "Rua do Ouro 2, Ajuda"],
            "lat": [38.72, 38.74],
            "lon": [-9.14, -9.17],
        }
    )
    return em.emergency_map(open_rows, em.load_districts(), hospitals)


FIGURES = {
    "emergency map": _map,
    "state timeline": lambda: realtime_health.timeline_figure(_timeline()),
    "latency": lambda: realtime_health.latency_figure(_series()),
    "throughput": lambda: realtime_health.throughput_figure(_series()),
    "probe": lambda: realtime_health.probe_figure(_series()),
    "no probe yet": lambda: realtime_health.probe_figure(_series().iloc[0:0]),
    "patient vitals": lambda: health.health_view(_vitals(), "P-1", "heart_rate").patient_figure,
    "cohort vitals": lambda: health.health_view(_vitals(), "P-1", "heart_rate").cohort_figure,
    "joins and leaves": lambda: presence.joins_leaves_figure(
        pd.DataFrame(
            {"bucket_start": [T0, T0 + timedelta(minutes=1)], "joins": [3, 1], "leaves": [0, 2]}
        )
    ),
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
    wall = charts.wall_figure(_map())
    (crosses,) = [trace for trace in wall.data if trace.name == "hospitals"]
    assert crosses.marker.color != "#212121"  # black crosses vanish on a black wall
    assert _on_black(crosses.marker.color)[0] >= charts.WALL_MIN_CONTRAST
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
    frame = pd.DataFrame({"hospital_id": [1, 12], "online": [4, 1]})
    figure = charts.bar_figure(frame, "hospital_id", "online", y_title="online now")
    (bar,) = figure.data
    assert list(bar.x) == ["1", "12"]
    assert list(bar.y) == [4, 1]
    assert figure.layout.xaxis.type == "category"
    assert figure.layout.yaxis.title.text == "online now"
    assert len(charts.bar_figure(frame.iloc[0:0], "hospital_id", "online").data[0].x) == 0


def test_horizontal_bar_figure_puts_labels_on_the_left_first_row_on_top() -> None:
    frame = pd.DataFrame({"hospital": ["Hospital de Santa Maria", "São José"], "online": [4, 1]})
    figure = charts.bar_figure(frame, "hospital", "online", horizontal=True, y_title="online")
    (bar,) = figure.data
    assert bar.orientation == "h"
    assert list(bar.y) == ["Hospital de Santa Maria", "São José"]
    assert list(bar.x) == [4, 1]
    assert figure.layout.yaxis.type == "category"
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.xaxis.title.text == "online"


def test_wall_figure_moves_a_legend_below_the_plot_to_the_bottom_edge() -> None:
    for name in ("latency", "joins and leaves", "patient vitals"):
        legend = charts.wall_figure(FIGURES[name]()).layout.legend
        assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom"), name
    above = charts.wall_figure(_map()).layout.legend  # the map's legend sits above it
    assert (above.yref, above.y) == (None, 1.0)
