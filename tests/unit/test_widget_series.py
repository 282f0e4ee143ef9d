"""Series widget: per-entity and per-cohort series against bands, alerts, downsampling."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rtdata.views.widgets.series import (
    ALERT_COLUMNS,
    LINE_COLUMNS,
    Band,
    SeriesSpec,
    compute,
    figure,
)
from tests.unit.widget_data import at, change, iso, large_events, snapshot

SPEC = SeriesSpec(
    table="readings",
    time_column="read_at",
    columns=("level", "temp"),
    entity_column="sensor_id",
    cohort_column="site_id",
    bands=(Band("level", 0, 10), Band("temp", upper=30)),
)


def readings() -> pd.DataFrame:
    rows = [
        {"read_at": iso(0), "sensor_id": 1, "site_id": "north", "level": 5, "temp": 20},
        {"read_at": iso(60), "sensor_id": 1, "site_id": "north", "level": 10, "temp": 31},
        {"read_at": iso(60), "sensor_id": 2, "site_id": "north", "level": -1, "temp": None},
        {"read_at": iso(120), "sensor_id": 3, "site_id": "south", "level": 0, "temp": 30},
        {"read_at": "not a time", "sensor_id": 4, "site_id": "south", "level": 99, "temp": 99},
        {"read_at": iso(500), "sensor_id": 5, "site_id": "south", "level": 99, "temp": 99},
    ]
    return pd.DataFrame.from_records(rows)


def test_bands_are_inclusive_and_alerts_newest_first() -> None:
    view = compute(SPEC, readings(), snapshot(), at(300))
    alerts = view.alerts
    assert tuple(alerts.columns) == ALERT_COLUMNS
    # 10 and 0 are on the level band's edges, 30 on temp's upper edge: normal.
    assert alerts[["entity", "column", "value"]].to_dict("records") == [
        {"entity": "1", "column": "temp", "value": 31.0},
        {"entity": "2", "column": "level", "value": -1.0},
    ]
    assert alerts["time"].tolist() == [pd.Timestamp(at(60))] * 2
    assert alerts["lower"].isna().tolist() == [True, False]  # temp has no lower bound
    assert view.alerts_total == 2
    assert view.readings == 7  # the row after now and the row without a time are left out


def test_newest_entities_or_a_chosen_one() -> None:
    view = compute(SPEC, readings(), snapshot(), at(300))
    assert view.available == ("3", "1", "2")
    assert tuple(view.lines.columns) == LINE_COLUMNS
    assert set(view.lines["series"]) == {"1", "2", "3"}
    one = compute(SeriesSpec(**{**_fields(SPEC), "entities": 1}), readings(), snapshot(), at(300))
    assert one.entities == ("3",)
    chosen = compute(SPEC, readings(), snapshot(), at(300), entity="1")
    assert chosen.entities == ("1",)
    assert chosen.lines[chosen.lines["column"] == "level"]["value"].tolist() == [5.0, 10.0]
    assert chosen.lines["out_of_range"].tolist() == [False, False, False, True]


def test_cohort_median_per_bucket() -> None:
    view = compute(SPEC, readings(), snapshot(), at(300))
    level = view.cohorts[view.cohorts["column"] == "level"]
    assert level[["series", "value", "out_of_range"]].to_dict("records") == [
        {"series": "north", "value": 5.0, "out_of_range": False},
        {"series": "north", "value": 4.5, "out_of_range": False},  # median of 10 and -1
        {"series": "south", "value": 0.0, "out_of_range": False},
    ]
    assert level["time"].tolist() == [pd.Timestamp(at(s)) for s in (0, 60, 120)]


def test_window_counts_back_from_now() -> None:
    spec = SeriesSpec(**{**_fields(SPEC), "window_s": 90})
    view = compute(spec, readings(), snapshot(), at(120))
    assert view.readings == 5  # the values read at 60 and 120


def test_readings_from_change_events() -> None:
    events = snapshot(
        change(1, "readings", "SNAPSHOT", {"id": 1, "read_at": iso(0), "sensor_id": 1, "level": 1}),
        change(2, "readings", "UPDATE", {"id": 1, "read_at": iso(1), "sensor_id": 1, "level": 12}),
        change(3, "readings", "DELETE", None, {"id": 1}),
        change(4, "other", "INSERT", {"id": 1, "read_at": iso(1), "sensor_id": 1, "level": 50}),
    )
    spec = SeriesSpec(**{**_fields(SPEC), "from_events": True})
    view = compute(spec, pd.DataFrame(), events, at(10))
    assert view.lines[view.lines["column"] == "level"]["value"].tolist() == [1.0, 12.0]
    assert view.alerts["value"].tolist() == [12.0]


def test_without_entity_or_cohort_one_series_per_column() -> None:
    spec = SeriesSpec("readings", "read_at", ("level",), bands=(Band("level", lower=0),))
    view = compute(spec, readings(), snapshot(), at(300))
    assert set(view.lines["series"]) == {"readings"}
    assert view.cohorts.empty
    assert view.entities == view.available == ()
    assert view.alerts["entity"].tolist() == [None]
    figure(view)


@pytest.mark.parametrize(
    "rows",
    [
        pd.DataFrame(),
        pd.DataFrame(columns=["read_at", "sensor_id", "site_id", "level", "temp"]),
        pd.DataFrame({"other": [1, 2]}),
    ],
)
def test_empty_inputs(rows: pd.DataFrame) -> None:
    for spec in (SPEC, SeriesSpec(**{**_fields(SPEC), "from_events": True})):
        view = compute(spec, rows, pd.DataFrame(), at(0))
        assert view.lines.empty
        assert view.cohorts.empty
        assert view.alerts.empty
        assert tuple(view.alerts.columns) == ALERT_COLUMNS
        assert (view.readings, view.alerts_total, view.available) == (0, 0, ())
        for by in ("entity", "cohort"):
            fig = figure(view, by=by)
            assert len(fig.data) == 2  # one out-of-range trace per column
            assert fig.layout.shapes == ()  # no band fills a plot without a series


def test_figure_draws_bands_lines_and_red_markers() -> None:
    view = compute(SPEC, readings(), snapshot(), at(300))
    fig = figure(view)
    names = [trace.name for trace in fig.data]
    assert names.count("out of range") == 2
    assert {"1", "2", "3"} <= set(names)
    assert len(fig.layout.shapes) == 2  # one band per column
    temp_band = fig.layout.shapes[1]
    assert temp_band.y1 == 30
    assert temp_band.y0 < 20  # the open lower side reaches below the data
    red = [t for t in fig.data if t.name == "out of range"]
    assert [list(t.y) for t in red] == [[-1.0], [31.0]]
    assert len(figure(view, by="cohort").data) == 2 * 2 + 2


def test_legends_show_names_by_id_and_keep_series_with_one_name_apart() -> None:
    view = compute(SPEC, readings(), snapshot(), at(300))
    names = {"1": "Zed", "3": "Abe", "2": "Abe"}  # two sensors share a name
    fig = figure(view, names=names)
    level = [t for t in fig.data if t.yaxis == "y" and t.name != "out of range"]
    # Listed by name, then id; each its own line (and legend group) of its own points.
    assert [(t.name, t.legendgroup, list(t.y)) for t in level] == [
        ("Abe", "2", [-1.0]),
        ("Abe", "3", [0.0]),
        ("Zed", "1", [5.0, 10.0]),
    ]
    assert len({t.line.color for t in level}) == 3
    assert [t.name for t in figure(view, names={"1": "Zed"}).data if t.yaxis == "y"] == [
        "2",  # ids without a name show as themselves
        "3",
        "Zed",
        "out of range",
    ]
    cohorts = figure(view, by="cohort", names={"north": "North site"})
    assert {t.name for t in cohorts.data} == {"North site", "south", "out of range"}


# A band on the second and third columns only: a band's index is not its subplot's.
DEPTHS = SeriesSpec(
    table="readings",
    time_column="read_at",
    columns=("level", "temp", "depth"),
    entity_column="sensor_id",
    cohort_column="site_id",
    bands=(Band("temp", upper=30), Band("depth", 1, 2)),
)


def _axis(fig: go.Figure, axis_id: str) -> Any:
    """The layout axis a trace or shape names (``y2`` is ``layout.yaxis2``)."""
    return fig.layout[f"{axis_id[0]}axis{axis_id[1:]}"]


@pytest.mark.parametrize("by", ["entity", "cohort"])
def test_each_trace_and_band_is_on_the_subplot_of_its_column(by: str) -> None:
    rows = readings().assign(depth=[1.5, 3.0, 1.0, 1.2, 0.0, 0.0])
    view = compute(DEPTHS, rows, snapshot(), at(300))
    fig = figure(view, by=by)  # type: ignore[arg-type]
    drawn = view.lines if by == "entity" else view.cohorts
    titles = {y: _axis(fig, y).title.text for y in ("y", "y2", "y3")}
    assert titles == {"y": "level", "y2": "temp", "y3": "depth"}
    assert len(fig.data) == 3 * (drawn["series"].nunique() + 1)
    for trace in fig.data:
        assert _axis(fig, trace.xaxis).anchor == trace.yaxis  # the x axis under its plot
        mine = drawn[drawn["column"] == titles[trace.yaxis]]
        if trace.name == "out of range":
            mine = mine[mine["out_of_range"]]
        else:
            mine = mine[mine["series"] == trace.name]
        assert list(trace.y) == mine["value"].tolist(), (trace.name, trace.yaxis)
    bands = {titles[shape.yref]: shape for shape in fig.layout.shapes}
    assert sorted(bands) == ["depth", "temp"]
    assert (bands["depth"].y0, bands["depth"].y1) == (1, 2)
    assert bands["temp"].y1 == 30
    assert bands["temp"].y0 < min(drawn[drawn["column"] == "temp"]["value"])
    for shape in bands.values():  # across the whole width of the band's own plot
        assert shape.xref == f"{_axis(fig, shape.yref).anchor} domain"
        assert (shape.x0, shape.x1, shape.layer) == (0, 1, "below")


def test_subplots_stack_top_down_in_column_order_and_share_the_bottom_x_axis() -> None:
    fig = figure(compute(DEPTHS, readings().assign(depth=1.5), snapshot(), at(300)))
    domains = [tuple(_axis(fig, y).domain) for y in ("y", "y2", "y3")]
    assert domains[0][1] == 1.0
    assert domains[-1][0] == 0.0
    for (upper_low, upper_high), (lower_low, lower_high) in pairwise(domains):
        assert lower_low < lower_high < upper_low < upper_high  # a gap, no overlap
    assert [_axis(fig, x).matches for x in ("x", "x2", "x3")] == ["x3", "x3", None]
    assert [_axis(fig, x).showticklabels for x in ("x", "x2", "x3")] == [False, False, None]
    assert fig.layout.height == 600
    # One legend entry per series, from the top plot; the others follow it by legend group.
    assert [t.name for t in fig.data if t.showlegend] == ["1", "2", "3", "out of range"]
    assert all(t.legendgroup == t.name for t in fig.data)


def test_two_hundred_thousand_rows_give_a_bounded_figure() -> None:
    n = 200_000
    i = np.arange(n)
    level = np.sin(i / 500) * 10
    level[123_457] = 1000.0  # one spike must survive downsampling
    rows = pd.DataFrame(
        {
            "read_at": pd.Series(pd.Timestamp(at(0)) + pd.to_timedelta(i, unit="s")).map(
                lambda t: t.isoformat()
            ),
            "sensor_id": i % 4,
            "site_id": np.where(i % 4 < 2, "north", "south"),
            "level": level,
            "temp": 20.0,
        }
    )
    spec = SeriesSpec(**{**_fields(SPEC), "max_points": 200, "bucket_s": 60})
    view = compute(spec, rows, snapshot(), at(n))
    sizes = view.lines.groupby(["series", "column"]).size()
    assert len(sizes) == 8
    assert sizes.max() <= 200
    assert view.cohorts.groupby(["series", "column"]).size().max() <= 200
    assert 1000.0 in view.lines["value"].tolist()
    assert view.readings == 2 * n
    assert len(view.alerts) == spec.alert_limit
    assert view.alerts["time"].is_monotonic_decreasing
    payload = len(figure(view).to_json())
    assert payload < 200_000


def test_a_large_event_stream() -> None:
    n = 1_000_000
    ids = pd.Series(np.arange(n) % 1000).astype(str)
    seconds = pd.Series(np.arange(n) // 10).astype(str)
    records = '{"sensor_id":' + ids + ',"read_at":"2024-05-01T12:00:00Z","level":' + seconds + "}"
    events = large_events(
        np.arange(n) / 100,
        kind="postgres_changes",
        channel="changes",
        table="readings",
        op=np.full(n, "UPDATE", dtype=object),
        key=ids,
        record=records,
    )
    spec = SeriesSpec(
        "readings", "read_at", ("level",), entity_column="sensor_id", from_events=True
    )
    view = compute(spec, pd.DataFrame(), events, at(n))
    assert view.readings == n
    assert len(view.available) == 1000
    assert view.lines.groupby("series").size().max() <= spec.max_points


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"table": ""}, "table"),
        ({"time_column": None}, "time_column"),
        ({"columns": ()}, "columns"),
        ({"columns": "level"}, "columns"),
        ({"columns": ("a", "a")}, "columns"),
        ({"entity_column": ""}, "entity_column"),
        ({"entities": 0}, "entities"),
        ({"bucket_s": 0}, "bucket_s"),
        ({"max_points": 5}, "max_points"),
        ({"max_points": 10**6}, "max_points"),
        ({"window_s": -1}, "window_s"),
        ({"alert_limit": 0}, "alert_limit"),
        ({"bands": (Band("other", 1, 2),)}, "bands"),
        ({"bands": (Band("level", 1, 2), Band("level", 3))}, "bands"),
        ({"bands": (("level", 1, 2),)}, "bands"),
    ],
)
def test_spec_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"table": "t", "time_column": "at", "columns": ("level",)}
    with pytest.raises(ValueError, match=field):
        SeriesSpec(**{**fields, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "lower or an upper"),
        ({"lower": 3, "upper": 2}, "above upper"),
        ({"lower": float("nan")}, "lower"),
        ({"upper": "high"}, "upper"),
    ],
)
def test_band_errors(kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        Band("level", **kwargs)  # type: ignore[arg-type]


def _fields(spec: SeriesSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in SeriesSpec.__dataclass_fields__}


def test_ids_keep_true_apart_from_one_and_drop_the_point_zero() -> None:
    from rtdata.views.widgets.series import _ids

    values = pd.Series([1, True, 1.0, 2.5, None, float("nan"), "a", [1], 1], dtype=object)
    assert _ids(values).tolist() == ["1", "True", "1", "2.5", None, None, "a", "[1]", "1"]
    assert _ids(pd.Series([3, 4, 3], dtype="int64")).tolist() == ["3", "4", "3"]
    assert _ids(pd.Series([3.0, None, 4.0])).tolist() == ["3", None, "4"]
