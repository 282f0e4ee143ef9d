"""Map widget: points of one or more layers on plain lon/lat axes over GeoJSON shapes, bounded
and counted."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.scenarios import DEFAULT_SCENARIO
from rtdata.views.widgets._spec import SpecMissing
from rtdata.views.widgets.map import (
    MAX_LAYERS,
    PALETTE,
    SYMBOLS,
    MapLayer,
    MapSpec,
    compute,
    figure,
    load_geojson,
)
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
    (layer,) = view.layers
    points = layer.points
    assert points["lon"].tolist() == [0.5, 0.2, 2.5]  # largest first
    assert points["size_px"].tolist() == [20.0, 13.0, 6.0]
    assert points["colour"].tolist()[:2] == ["#d62728", "#d62728"]
    assert points["colour"].iloc[2] in PALETTE
    assert points["hover"].tolist() == ["a: 10 jobs (?)", "c: 5 jobs (?)", "b: 0 jobs (?)"]
    assert layer.legend == (("busy", "#d62728", 2), ("idle", points["colour"].iloc[2], 1))
    assert (layer.rows, layer.invalid, layer.left_out) == (6, 3, 0)
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
    alone = compute(spec, rows[rows["state"] == "idle"], at(100)).layers[0].legend
    together = compute(spec, rows, at(100)).layers[0].legend
    assert alone[0] in together


def test_filter_age_and_newest_first() -> None:
    spec = MapSpec(
        "agents", "lat", "lon", filter="state=eq.busy", time_column="seen_at", max_age_s=30
    )
    (view,) = compute(spec, agents(), at(100)).layers
    assert view.points["lon"].tolist() == [0.2]  # seen at 90; the one seen at 0 is too old
    assert (view.rows, view.invalid) == (3, 2)  # busy, recent; two without coordinates
    (newest,) = compute(
        MapSpec("agents", "lat", "lon", time_column="seen_at", max_markers=1), agents(), at(100)
    ).layers
    assert newest.points["lon"].tolist() == [0.2]
    assert newest.left_out == 2


def test_a_filter_on_text_with_a_null_first_keeps_its_matches() -> None:
    # pandas reads a text column with a missing first value as NaN there: still NULL, so the
    # filter's value stays text and the matching rows are drawn.
    rows = pd.DataFrame.from_records(
        [{"lat": 1.0, "lon": 1.0, "state": None}, {"lat": 2.0, "lon": 2.0, "state": "busy"}]
    )
    (layer,) = compute(MapSpec("a", "lat", "lon", filter="state=eq.busy"), rows, at(0)).layers
    assert layer.points["lat"].tolist() == [2.0]
    (nulls,) = compute(MapSpec("a", "lat", "lon", filter="state=is.null"), rows, at(0)).layers
    assert nulls.points["lat"].tolist() == [1.0]


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
    (layer,) = view.layers
    assert layer.points.empty
    assert layer.legend == ()
    assert view.bounds is None
    assert layer.left_out == 0
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
    (layer,) = view.layers
    assert len(layer.points) == spec.max_markers
    assert layer.points["hover"].iloc[0] == str(n - 1)  # the largest first
    assert (layer.invalid, layer.left_out) == (10, n - 10 - spec.max_markers)
    assert sum(count for _, _, count in layer.legend) == spec.max_markers
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


def sites() -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {"code": "n", "lat": 10.0, "lon": -3.0, "kind": "depot"},
            {"code": "s", "lat": -2.0, "lon": 4.0, "kind": "depot"},
            {"code": "w", "lat": 1.0, "lon": 1.0, "kind": "shop"},
        ]
    )


def _colour_of(category: str) -> str:
    """The palette colour the map gives a category without a colour of its own."""
    return PALETTE[zlib.crc32(category.encode()) % len(PALETTE)]


def two_layers(**kwargs: object) -> MapSpec:
    return MapSpec(
        layers=(
            MapLayer("sites", "lat", "lon", title="Sites", colour_column="kind"),
            MapLayer("agents", "lat", "lon", colour_column="state", filter="state=eq.busy"),
        ),
        **kwargs,  # type: ignore[arg-type]
    )


def test_each_layer_is_the_map_of_its_own_table_fitted_together(shapes: Path) -> None:
    spec = two_layers(geojson=str(shapes))
    view = compute(spec, {"sites": sites(), "agents": agents()}, at(100))
    assert [v.layer.name for v in view.layers] == ["Sites", "agents"]
    first, second = view.layers
    assert first.points["lon"].tolist() == [-3.0, 4.0, 1.0]
    assert first.legend == (("depot", _colour_of("depot"), 2), ("shop", _colour_of("shop"), 1))
    assert second.points["lon"].tolist() == [0.5, 0.2]  # busy, with valid coordinates
    assert (second.rows, second.invalid) == (4, 2)
    lon_min, lat_min, lon_max, lat_max = view.bounds or (0, 0, 0, 0)
    assert lon_min < -3  # the sites' west
    assert lat_min < -2  # the sites' south
    assert lon_max > 5  # the shapes' east
    assert lat_max > 10  # the sites' north
    missing = compute(spec, {"sites": sites()}, at(100))  # a table with no rows yet
    assert missing.layers[1].points.empty
    assert missing.layers[1].rows == 0


def test_the_figure_groups_each_layer_under_its_name_in_its_own_symbol() -> None:
    view = compute(two_layers(), {"sites": sites(), "agents": agents()}, at(100))
    markers = figure(view).data
    assert [(m.name, m.legendgroup, m.legendgrouptitle.text) for m in markers] == [
        ("depot (2)", "layer0", "Sites"),
        ("shop (1)", "layer0", "Sites"),
        ("busy (2)", "layer1", "agents"),
    ]
    assert [m.marker.symbol for m in markers] == [SYMBOLS[0], SYMBOLS[0], SYMBOLS[1]]
    assert figure(view).layout.legend.groupclick == "toggleitem"  # a click hides one entry
    alone = figure(compute(MapSpec("sites", "lat", "lon", colour_column="kind"), sites(), at(0)))
    # One layer: no groups, whose entries plotly would stack (a row of entries, as before).
    assert [(m.name, m.legendgroup) for m in alone.data] == [
        ("depot (2)", None),
        ("shop (1)", None),
    ]
    assert alone.layout.legend.groupclick is None
    assert alone.data[0].marker.symbol == SYMBOLS[0]
    (plain,) = figure(compute(MapSpec("sites", "lat", "lon"), sites(), at(0))).data
    assert plain.name == "sites (3)"  # no colour column: the markers are named by the layer


def test_a_map_of_one_table_is_a_map_of_that_one_layer() -> None:
    fields = {"colour_column": "state", "colours": (("busy", "#d62728"),), "size_column": "load"}
    single = MapSpec("agents", "lat", "lon", **fields)  # type: ignore[arg-type]
    layered = MapSpec(layers=(MapLayer("agents", "lat", "lon", **fields),))  # type: ignore[arg-type]
    assert single.drawn_layers == layered.drawn_layers
    assert single.layers == ()
    one, other = (compute(s, agents(), at(100)).layers[0] for s in (single, layered))
    pd.testing.assert_frame_equal(one.points, other.points)


def test_layers_given_as_tables_become_layers() -> None:
    spec = MapSpec(
        layers=(
            {"table": "a", "lat_column": "y", "lon_column": "x"},
            {
                "table": "b",
                "lat_column": "y",
                "lon_column": "x",
                "colour_column": "c",
                "colours": {"on": "#000000"},
            },
        )
    )
    assert spec.layers == (
        MapLayer("a", "y", "x"),
        MapLayer("b", "y", "x", colour_column="c", colours=(("on", "#000000"),)),
    )
    assert spec.drawn_layers == spec.layers


_CELL = st.one_of(
    st.none(), st.floats(-200, 200), st.just(float("nan")), st.sampled_from(["x", "1.5", ""])
)
_ROW = st.fixed_dictionaries(
    {"lat": _CELL, "lon": _CELL, "state": st.sampled_from(["a", "b", None]), "w": _CELL}
)


@settings(max_examples=60, deadline=None)
@given(
    left=st.lists(_ROW, max_size=12),
    right=st.lists(_ROW, max_size=12),
    most=st.integers(1, 6),
)
def test_layers_draw_what_their_own_maps_draw(
    left: list[dict[str, object]], right: list[dict[str, object]], most: int
) -> None:
    rows = {"l": pd.DataFrame.from_records(left), "r": pd.DataFrame.from_records(right)}
    layers = (
        MapLayer("l", "lat", "lon", colour_column="state", size_column="w", max_markers=most),
        MapLayer("r", "lat", "lon", filter="state=eq.a", max_markers=most),
    )
    view = compute(MapSpec(layers=layers), rows, at(0))
    lons: list[float] = []
    lats: list[float] = []
    for layer, got in zip(layers, view.layers, strict=True):
        table = rows[layer.table]
        alone = MapSpec(**{k: getattr(layer, k) for k in _ONE_LAYER})  # type: ignore[arg-type]
        expected = compute(alone, table, at(0)).layers[0]
        pd.testing.assert_frame_equal(got.points, expected.points)
        assert (got.rows, got.invalid, got.left_out) == (
            expected.rows,
            expected.invalid,
            expected.left_out,
        )
        # Reference counts from the rows themselves.
        kept = [r for r in table.to_dict("records") if layer.filter == "" or r["state"] == "a"]
        valid = [r for r in kept if _degrees(r["lat"], 90) and _degrees(r["lon"], 180)]
        assert got.rows == len(kept)
        assert got.invalid == len(kept) - len(valid)
        assert len(got.points) == min(most, len(valid))
        lons += got.points["lon"].tolist()
        lats += got.points["lat"].tolist()
    if lons:
        lon_min, lat_min, lon_max, lat_max = view.bounds or (0, 0, 0, 0)
        assert lon_min < min(lons) <= max(lons) < lon_max
        assert lat_min < min(lats) <= max(lats) < lat_max
    else:
        assert view.bounds is None


_ONE_LAYER = ("table", "lat_column", "lon_column", "colour_column", "size_column", "filter")
_ONE_LAYER += ("max_markers",)


def _degrees(value: object, most: float) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    try:
        number = float(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return -most <= number <= most


def test_bounds_are_padded_by_five_percent_or_five_thousandths_of_a_degree() -> None:
    rows = pd.DataFrame({"lat": [0.0, 10.0], "lon": [0.0, 20.0]})
    assert compute(MapSpec("a", "lat", "lon"), rows, at(0)).bounds == pytest.approx(
        (-1.0, -0.5, 21.0, 10.5)
    )
    one = pd.DataFrame({"lat": [1.0], "lon": [2.0]})
    assert compute(MapSpec("a", "lat", "lon"), one, at(0)).bounds == pytest.approx(
        (1.995, 0.995, 2.005, 1.005)
    )


LAYER = {"table": "a", "lat_column": "lat", "lon_column": "lon"}


@pytest.mark.parametrize(
    ("kwargs", "field", "error"),
    [
        ({}, "table", SpecMissing),
        ({"table": "a", "lat_column": "lat"}, "lon_column", SpecMissing),
        ({"layers": ()}, "table", SpecMissing),
        ({"layers": "a"}, "layers", ValueError),
        ({"layers": ({**LAYER},) * (MAX_LAYERS + 1)}, "layers", ValueError),
        ({"layers": (LAYER,), "table": "a"}, "table", ValueError),
        ({"layers": (LAYER,), "hover": "{x}"}, "hover", ValueError),
        ({"layers": (LAYER, "b")}, "layers[1]", ValueError),
        ({"layers": (LAYER, {**LAYER, "lat_column": ""})}, "layers[1].lat_column", ValueError),
        ({"layers": ({**LAYER, "lat_colum": "y"},)}, "layers[0].lat_colum", ValueError),
        ({"layers": ({"table": "a", "lat_column": "y"},)}, "layers[0]", SpecMissing),
        ({"layers": (LAYER, LAYER)}, "layers[1].title", ValueError),
        ({"layers": ({**LAYER, "title": ""},)}, "layers[0].title", ValueError),
        ({"layers": (LAYER,), "height_px": 0}, "height_px", ValueError),
    ],
)
def test_layer_errors_name_the_layer_and_its_field(
    kwargs: dict[str, object], field: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        MapSpec(**kwargs)  # type: ignore[arg-type]
    assert getattr(caught.value, "field", None) == field
    assert field.split(".")[0].split("[")[0] in str(caught.value) or "map needs" in str(
        caught.value
    )
