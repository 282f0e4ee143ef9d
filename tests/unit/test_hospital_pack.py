"""The hospital pack's ``rtdata.toml``: it parses, names only columns its migrations define, and
rebuilds the hospital pages from generic widgets; its tiles and breakdowns count what the old
hospital views counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from rtdata import Event, EventBuffer
from rtdata.config import Config, load_config
from rtdata.introspect import schema_from_migrations
from rtdata.layout import BUILTIN_PAGES, Label, Page, Widget, WidgetType
from rtdata.scenarios import Scenario, get_scenario
from rtdata.server.schema import load_schema
from rtdata.views.widgets import breakdown, lifecycle, queue, roster, series, tiles
from rtdata.views.widgets import map as map_widget

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OPEN = ("pending", "accepted", "en_route", "on_scene")


@pytest.fixture(scope="module")
def pack() -> Scenario:
    return get_scenario("hospital")


@pytest.fixture(scope="module")
def config(pack: Scenario) -> Config:
    return load_config(pack.config_path, env={})


def _page(config: Config, name: str) -> Page:
    (page,) = [p for p in config.pages if p.name == name]
    return page


def _widgets(config: Config, kind: WidgetType) -> list[Widget]:
    return [w for p in config.pages for w in p.widgets if w.type is kind]


def _tile(config: Config, label: str) -> tiles.TileSpec:
    specs = [w.spec for w in _widgets(config, WidgetType.TILES)]
    (tile,) = [t for spec in specs if isinstance(spec, tuple) for t in spec if t.label == label]
    return tile


# ---------------------------------------------------------------- the file


def test_the_config_parses_and_names_only_columns_the_migrations_define(
    pack: Scenario, config: Config
) -> None:
    assert config.source == str(pack.config_path)
    assert config.base_dir == pack.folder  # the map's geojson is read from the pack
    schema = schema_from_migrations(pack.migrations)
    columns = {name: tuple(table.columns) for name, table in schema.tables.items()}
    assert set(config.tables()) <= set(columns)
    assert config.column_problems(columns) == []


def test_it_follows_every_table_the_scenario_writes_and_the_staff_channel(
    pack: Scenario, config: Config
) -> None:
    assert set(config.tables()) == set(load_schema(pack.migrations).tables)
    resync = config.resync_columns()
    for name in ("hospital_resources", "waitlist_entries", "financial_disputes"):
        assert resync[name] == "updated_at"
    assert config.presence_channels() == ("online",)
    assert config.labels == {"hospital_id": Label("hospital_id", "hospitals", "id", "name")}


def test_the_pages_are_the_hospital_pages_then_the_builtin_ones(config: Config) -> None:
    assert [p.name for p in config.pages] == ["overview", "emergencies", "health", "presence"]
    assert list(BUILTIN_PAGES) == ["realtime", "events"]  # the router adds them after
    assert not {p.name for p in config.pages} & set(BUILTIN_PAGES)
    assert set(config.dashboard.wall_pages) <= {p.name for p in config.pages} | set(BUILTIN_PAGES)


def test_every_widget_type_the_old_pages_used_is_there(config: Config) -> None:
    used = {w.type for p in config.pages for w in p.widgets}
    assert used >= {
        WidgetType.TILES,
        WidgetType.QUEUE,
        WidgetType.MAP,
        WidgetType.LIFECYCLE,
        WidgetType.BREAKDOWN,
        WidgetType.SERIES,
        WidgetType.ROSTER,
    }
    overview = _page(config, "overview")
    assert overview.widgets[0].type is WidgetType.TILES
    assert overview.widgets[0].events_per_min  # and the realtime events of the last minute
    (latest,) = [w.spec for w in overview.widgets if w.type is WidgetType.QUEUE]
    assert isinstance(latest, queue.QueueSpec)
    assert (latest.table, latest.order) == ("vital_signs", "recorded_at.desc")


def test_the_emergency_map_board_and_breakdown(pack: Scenario, config: Config) -> None:
    page = _page(config, "emergencies")
    kinds = [w.type for w in page.widgets]
    assert kinds == [WidgetType.MAP, WidgetType.LIFECYCLE, WidgetType.BREAKDOWN]
    drawn, board, groups = (w.spec for w in page.widgets)
    assert isinstance(drawn, map_widget.MapSpec)
    assert drawn.geojson is not None
    assert (config.base_dir / drawn.geojson) == pack.assets / "lisbon_districts.geojson"
    assert drawn.colour_column == "status"
    assert isinstance(board, lifecycle.LifecycleSpec)
    assert board.statuses == (*OPEN, "completed", "cancelled")
    assert board.terminal == ("completed", "cancelled")
    assert board.spans == (("pending", "accepted"), ("accepted", "completed"))
    assert board.group_column == "hospital_id"
    assert board.toast_filter == "priority=eq.1"
    assert page.widgets[1].toast_template == "Critical {emergency_type} #{id}: {pickup_address}"
    assert isinstance(groups, breakdown.BreakdownSpec)
    assert groups.by == ("hospital_id", "status")
    assert dict(groups.labels) == {"hospital_id": ("hospitals", "id", "name")}


def test_the_health_series_has_a_band_per_vital_and_the_roster_groups_staff(
    config: Config,
) -> None:
    (vitals,) = [w.spec for w in _widgets(config, WidgetType.SERIES)]
    assert isinstance(vitals, series.SeriesSpec)
    assert (vitals.entity_column, vitals.cohort_column) == ("patient_id", "hospital_id")
    assert {b.column for b in vitals.bands} == set(vitals.columns)
    assert series.Band("heart_rate", 50, 120) in vitals.bands
    (staff,) = [w.spec for w in _page(config, "presence").widgets]
    assert isinstance(staff, roster.RosterSpec)
    assert staff.channels == ("online",)
    assert staff.group_by == ("role", "hospital_id")
    assert (staff.label_field, staff.label_table, staff.label_column) == (
        "hospital_id",
        "hospitals",
        "name",
    )


# ---------------------------------------------------------------- what the widgets count

HOSPITALS = pd.DataFrame({"id": [1, 2, 3], "name": ["Santa Maria", "São José", "Curry Cabral"]})


def _resource(
    hospital_id: int, beds: tuple[int, int], icu: tuple[int, int], amb: tuple[int, int]
) -> dict[str, object]:
    return {
        "id": 100 + hospital_id,
        "hospital_id": hospital_id,
        "beds_available": beds[0],
        "beds_total": beds[1],
        "icu_beds_available": icu[0],
        "icu_beds_total": icu[1],
        "ambulances_available": amb[0],
        "ambulances_total": amb[1],
        "updated_at": "2026-01-01T11:59:00+00:00",
    }


RESOURCES = pd.DataFrame(
    [
        _resource(3, (40, 400), (10, 20), (3, 10)),
        _resource(1, (100, 400), (1, 20), (5, 10)),
        _resource(2, (41, 400), (3, 20), (0, 8)),
        _resource(9, (0, 0), (0, 0), (0, 0)),  # a hospital missing from hospitals
    ]
)


def _entry(
    i: int, hospital: int, specialty: str, priority: int, status: str, age_min: float
) -> dict[str, object]:
    created = NOW - timedelta(minutes=age_min)
    return {
        "id": i,
        "patient_id": f"P-{i:04d}",
        "hospital_id": hospital,
        "specialty": specialty,
        "priority": priority,
        "status": status,
        "created_at": created.isoformat(),
        "updated_at": created.isoformat(),
    }


ENTRIES = pd.DataFrame(
    [
        _entry(1, 1, "cardiology", 1, "waiting", 30),
        _entry(2, 1, "cardiology", 3, "waiting", 90),
        _entry(3, 1, "oncology", 2, "waiting", 10),
        _entry(4, 2, "oncology", 1, "waiting", 45),
        _entry(5, 2, "oncology", 1, "scheduled", 600),  # not waiting: never counted
        _entry(6, 7, "cardiology", 3, "removed", 900),
        _entry(7, 7, "neurology", 2, "waiting", 5),  # a hospital missing from hospitals
    ]
)


def test_the_resource_tiles_total_the_network_and_warn_on_few_free_beds(config: Config) -> None:
    values = {
        label: tiles.compute(_tile(config, label), RESOURCES, NOW)
        for label in ("Free beds", "Free ICU beds", "Free ambulances")
    }
    assert {label: view.value for label, view in values.items()} == {
        "Free beds": 181,
        "Free ICU beds": 14,
        "Free ambulances": 8,
    }
    assert values["Free ICU beds"].level == "ok"  # 14 > warn 10
    fewest = tiles.compute(_tile(config, "Fewest free beds at a hospital"), RESOURCES, NOW)
    assert (fewest.value, fewest.level) == (0, "critical")  # hospital 9 has none
    assert tiles.compute(_tile(config, "Free beds"), pd.DataFrame(), NOW).value == 0


def test_the_open_disputes_tile_counts_open_and_investigating(config: Config) -> None:
    tile = _tile(config, "Open financial disputes")
    assert tile.table == "financial_disputes"
    rows = pd.DataFrame(
        {"id": [1, 2, 3, 4, 5], "status": ["open", "investigating", "resolved", "open", "resolved"]}
    )
    assert tiles.compute(tile, rows, NOW).value == 3
    assert tiles.compute(tile, pd.DataFrame(), NOW).value == 0


def test_the_waiting_list_tiles_and_breakdowns(config: Config) -> None:
    assert tiles.compute(_tile(config, "Waiting"), ENTRIES, NOW).value == 5
    assert tiles.compute(_tile(config, "Urgent waiting"), ENTRIES, NOW).value == 2
    by_hospital, by_specialty = (
        w.spec for w in _page(config, "health").widgets if w.type is WidgetType.BREAKDOWN
    )
    assert isinstance(by_hospital, breakdown.BreakdownSpec)
    assert isinstance(by_specialty, breakdown.BreakdownSpec)
    counted = breakdown.compute(by_hospital, ENTRIES, NOW, {"hospitals": HOSPITALS})
    assert counted.table.to_dict("records") == [
        {"hospital_id": "Santa Maria", "count": 3},
        {"hospital_id": "7", "count": 1},  # no label: the id
        {"hospital_id": "São José", "count": 1},
    ]
    oldest = breakdown.compute(by_specialty, ENTRIES, NOW)
    assert oldest.table.to_dict("records") == [
        {"specialty": "cardiology", "oldest_age_s": 90 * 60.0},
        {"specialty": "oncology", "oldest_age_s": 45 * 60.0},
        {"specialty": "neurology", "oldest_age_s": 5 * 60.0},
    ]


def _emergency(op: str, key: int, status: str, at_s: float, hospital: int) -> Event:
    record = {"id": key, "status": status, "priority": 1, "hospital_id": hospital}
    commit = int(NOW.timestamp()) * 1_000_000_000 + int(at_s * 1e9)
    return Event(
        commit + 100_000_000,
        commit,
        "postgres_changes",
        "rtdata-tables",
        "emergency_requests",
        op,
        str(key),
        orjson.dumps(record).decode(),
        None,
        "realtime",
    )


def test_the_board_measures_response_times_per_hospital(config: Config) -> None:
    (board,) = [w.spec for w in _widgets(config, WidgetType.LIFECYCLE)]
    assert isinstance(board, lifecycle.LifecycleSpec)
    buffer = EventBuffer()
    buffer.extend(
        [
            _emergency("INSERT", 1, "pending", 0, hospital=1),
            _emergency("INSERT", 2, "pending", 0, hospital=2),
            _emergency("UPDATE", 1, "accepted", 60, hospital=1),
            _emergency("UPDATE", 2, "accepted", 180, hospital=2),
            _emergency("UPDATE", 1, "completed", 660, hospital=1),
        ]
    )
    view = lifecycle.compute(board, pd.DataFrame(), buffer.snapshot(), NOW + timedelta(hours=1))
    spans = view.spans[["hospital_id", "start", "end", "n", "median_s"]]
    assert spans.to_dict("records") == [
        {"hospital_id": 1, "start": "pending", "end": "accepted", "n": 1, "median_s": 60.0},
        {"hospital_id": 2, "start": "pending", "end": "accepted", "n": 1, "median_s": 180.0},
        {"hospital_id": 1, "start": "accepted", "end": "completed", "n": 1, "median_s": 600.0},
    ]


def test_the_pack_folder_holds_what_the_config_names(pack: Scenario, config: Config) -> None:
    for widget in _widgets(config, WidgetType.MAP):
        assert isinstance(widget.spec, map_widget.MapSpec)
        assert widget.spec.geojson is not None
        assert Path(config.base_dir, widget.spec.geojson).is_file()
