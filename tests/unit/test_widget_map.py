"""Map widget: points on plain lon/lat axes over GeoJSON shapes, bounded and counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rtdata.scenarios import DEFAULT_SCENARIO
from rtdata.views.widgets.map import PALETTE, MapSpec, compute, figure, load_geojson
from tests.unit.widget_data import at, iso

SQUARE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "yard"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "pier"},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[2, 0], [2, 1], [3, 1], [2, 0]]],
                    [[[4, 4], [4, 5], [5, 5], [4, 4]]],
                ],
            },
        },
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [9, 9]}},
    ],
}


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps(SQUARE), encoding="utf-8")
    return path


def agents() -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {
                "id": 1,
                "lat": 0.5,
                "lon": 0.5,
                "state": "busy",
                "load": 10,
                "seen_at": iso(0),
                "name": "a",
            },
            {
                "id": 2,
                "lat": 0.6,
                "lon": 2.5,
                "state": "idle",
                "load": 0,
                "seen_at": iso(50),
                "name": "b",
            },
            {
                "id": 3,
                "lat": 0.7,
                "lon": 0.2,
                "state": "busy",
                "load": 5,
                "seen_at": iso(90),
                "name": "c",
            },
            {"id": 4, "lat": None, "lon": 0.2, "state": "busy", "load": 5, "seen_at": iso(90)},
            {"id": 5, "lat": 95.0, "lon": 0.2, "state": "busy", "load": 5, "seen_at": iso(90)},
            {"id": 6, "lat": "x", "lon": 0.2, "state": None, "load": None, "seen_at": iso(90)},
        ]
    )


def test_points_colours_sizes_hover_and_counts(shapes: Path) -> None:
    spec = MapSpec(
        "agents",
        "lat",
        "lon",
        colour_column="state",
        colours=(("busy", "#d62728"),),
        size_column="load",
        min_size_px=6,
        max_size_px=20,
        hover="{name}: {load} jobs ({missing_field})",
        geojson=str(shapes),
    )
    view = compute(spec, agents(), at(100))
    points = view.points
    assert points["lon"].tolist() == [0.5, 0.2, 2.5]  # largest first
    assert points["size_px"].tolist() == [20.0, 13.0, 6.0]
    assert points["colour"].tolist()[:2] == ["#d62728", "#d62728"]
    assert points["colour"].iloc[2] in PALETTE
    assert points["hover"].tolist() == ["a: 10 jobs (?)", "c: 5 jobs (?)", "b: 0 jobs (?)"]
    assert view.legend == (("busy", "#d62728", 2), ("idle", points["colour"].iloc[2], 1))
    assert (view.rows, view.invalid, view.left_out) == (6, 3, 0)
    lon_min, lat_min, lon_max, lat_max = view.bounds or (0, 0, 0, 0)
    assert lon_min < 0 < 5 < lon_max  # the shapes' extent, padded
    assert lat_min < 0 < 5 < lat_max


def test_figure_draws_shapes_labels_and_one_trace_per_category(shapes: Path) -> None:
    spec = MapSpec("agents", "lat", "lon", colour_column="state", geojson=str(shapes))
    fig = figure(compute(spec, agents(), at(100)))
    shapes_trace, labels, *markers = fig.data
    assert shapes_trace.fill == "toself"
    assert list(shapes_trace.x).count(None) == 3  # three rings; the point feature is skipped
    assert list(labels.text) == ["yard", "pier", "pier"]
    assert [m.name for m in markers] == ["busy (2)", "idle (1)"]
    assert fig.layout.xaxis.range is not None
    assert fig.layout.yaxis.scaleanchor == "x"


def test_colours_are_stable_whatever_else_is_drawn() -> None:
    spec = MapSpec("agents", "lat", "lon", colour_column="state")
    rows = agents()
    alone = compute(spec, rows[rows["state"] == "idle"], at(100)).legend
    together = compute(spec, rows, at(100)).legend
    assert alone[0] in together


def test_filter_age_and_newest_first() -> None:
    spec = MapSpec(
        "agents", "lat", "lon", filter="state=eq.busy", time_column="seen_at", max_age_s=30
    )
    view = compute(spec, agents(), at(100))
    assert view.points["lon"].tolist() == [0.2]  # seen at 90; the one seen at 0 is too old
    assert (view.rows, view.invalid) == (3, 2)  # busy, recent; two without coordinates
    newest = compute(
        MapSpec("agents", "lat", "lon", time_column="seen_at", max_markers=1), agents(), at(100)
    )
    assert newest.points["lon"].tolist() == [0.2]
    assert newest.left_out == 2


def test_package_relative_geojson_and_the_cache(tmp_path: Path) -> None:
    shipped = str(Path("scenarios", DEFAULT_SCENARIO, "assets", "lisbon_districts.geojson"))
    view = compute(MapSpec("a", "lat", "lon", geojson=shipped), pd.DataFrame(), at(0))
    assert view.shapes is not None
    assert view.bounds is not None
    path = tmp_path / "x.geojson"
    path.write_text(json.dumps(SQUARE), encoding="utf-8")
    assert load_geojson(path) is load_geojson(path)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    assert load_geojson(path)["features"] == []  # a changed file is read again
    relative = compute(
        MapSpec("a", "lat", "lon", geojson="x.geojson"), pd.DataFrame(), at(0), base_dir=tmp_path
    )
    assert relative.bounds is None  # no shapes, no points
    with pytest.raises(FileNotFoundError):
        compute(MapSpec("a", "lat", "lon", geojson="nowhere.geojson"), pd.DataFrame(), at(0))


@pytest.mark.parametrize(
    "rows",
    [pd.DataFrame(), pd.DataFrame(columns=["lat", "lon", "state"]), pd.DataFrame({"other": [1]})],
)
def test_empty_inputs(rows: pd.DataFrame) -> None:
    spec = MapSpec(
        "a", "lat", "lon", colour_column="state", size_column="load", filter="state=eq.x"
    )
    view = compute(spec, rows, at(0))
    assert view.points.empty
    assert view.legend == ()
    assert view.bounds is None
    assert view.left_out == 0
    assert len(figure(view).data) == 0


def test_two_hundred_thousand_rows_draw_a_bounded_number_of_markers() -> None:
    n = 200_000
    rng = np.random.default_rng(7)
    rows = pd.DataFrame(
        {
            "lat": rng.uniform(-1, 1, n),
            "lon": rng.uniform(-1, 1, n),
            "state": rng.choice(["a", "b", "c"], n),
            "load": np.arange(n),
        }
    )
    rows.loc[:9, "lat"] = None
    spec = MapSpec("a", "lat", "lon", colour_column="state", size_column="load", hover="{load}")
    view = compute(spec, rows, at(0))
    assert len(view.points) == spec.max_markers
    assert view.points["hover"].iloc[0] == str(n - 1)  # the largest first
    assert (view.invalid, view.left_out) == (10, n - 10 - spec.max_markers)
    assert sum(count for _, _, count in view.legend) == spec.max_markers
    assert len(figure(view).to_json()) < 400_000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"table": ""}, "table"),
        ({"lat_column": 1}, "lat_column"),
        ({"colour_column": ""}, "colour_column"),
        ({"colours": (("a", "#fff"),)}, "colours"),
        ({"colour_column": "s", "colours": (("a",),)}, "colours"),
        ({"min_size_px": 0}, "min_size_px"),
        ({"max_size_px": 2}, "max_size_px"),
        ({"max_size_px": 500}, "max_size_px"),
        ({"max_age_s": 10}, "max_age_s"),
        ({"max_markers": 0}, "max_markers"),
        ({"max_markers": 10**6}, "max_markers"),
        ({"geojson": "shapes.txt"}, "geojson"),
        ({"hover": "{name.__dict__}"}, "hover"),
        ({"filter": "state=oops.1"}, "filter"),
    ],
)
def test_spec_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"table": "a", "lat_column": "lat", "lon_column": "lon"}
    with pytest.raises(ValueError, match=field):
        MapSpec(**{**fields, **kwargs})  # type: ignore[arg-type]
