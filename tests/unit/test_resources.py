"""Resources and waiting list views (pure), and the default config following their tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from rtdata.config import DEFAULT_CONFIG, DEFAULT_TILES
from rtdata.scenarios import get_scenario
from rtdata.server.schema import load_schema
from rtdata.views import resources, tile_count

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
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
        _resource(3, (40, 400), (10, 20), (3, 10)),  # beds exactly 90 % used: near capacity
        _resource(1, (100, 400), (1, 20), (5, 10)),  # ICU 95 % used: near capacity
        _resource(2, (41, 400), (3, 20), (0, 8)),  # 89.75 % and 85 %: not near capacity
        _resource(9, (0, 0), (0, 0), (0, 0)),  # unknown hospital, no capacity at all
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


# ---------------------------------------------------------------- resources


def test_resource_table_computes_occupancy_and_flags_near_capacity_at_90_percent() -> None:
    table = resources.resource_table(RESOURCES, HOSPITALS)
    assert list(table.columns) == list(resources.RESOURCE_COLUMNS)
    assert table["hospital_id"].tolist() == [1, 2, 3, 9]  # by id, whatever the input order
    assert table["hospital"].tolist() == ["Santa Maria", "São José", "Curry Cabral", "hospital 9"]
    assert table["bed_occupancy_pct"].tolist()[:3] == [75.0, 89.75, 90.0]
    assert table["icu_occupancy_pct"].tolist()[:3] == [95.0, 85.0, 50.0]
    assert pd.isna(table["bed_occupancy_pct"].iloc[3])  # 0 of 0 beds: no occupancy
    assert table["near_capacity"].tolist() == [True, False, True, False]
    assert table["beds_free"].tolist() == ["100 / 400", "41 / 400", "40 / 400", "0 / 0"]
    assert table["ambulances_free"].iloc[1] == "0 / 8"
    assert table["updated_at"].iloc[0] == pd.Timestamp("2026-01-01T11:59:00Z")


def test_resources_view_totals_the_network() -> None:
    view = resources.resources_view(RESOURCES, HOSPITALS)
    assert view.kpis == {
        "Free beds": "181 / 1,200",
        "Free ICU beds": "14 / 60",
        "Free ambulances": "8 / 28",
        "Near capacity": "2 of 4",
    }


@pytest.mark.parametrize(
    "frame",
    [pd.DataFrame(), pd.DataFrame({"hospital_id": [1], "beds_available": [3]})],
    ids=["empty", "missing columns"],
)
def test_resources_view_of_no_usable_rows(frame: pd.DataFrame) -> None:
    view = resources.resources_view(frame, HOSPITALS)
    assert view.table.empty
    assert list(view.table.columns) == list(resources.RESOURCE_COLUMNS)
    assert set(view.kpis.values()) == {"–"}


def test_highlight_styles_only_rows_near_capacity() -> None:
    table = resources.resource_table(RESOURCES, HOSPITALS)
    html = resources.highlight_near_capacity(table).to_html()
    styled_rows = {i for i in range(len(table)) if f"_row{i}_col0" in html.split("</style>")[0]}
    assert styled_rows == {0, 2}


# ---------------------------------------------------------------- waiting list


def test_waitlist_by_hospital_counts_waiting_urgent_and_the_oldest() -> None:
    table = resources.waitlist_table(ENTRIES, HOSPITALS, "hospital", NOW)
    assert list(table.columns) == ["hospital", *resources.WAITLIST_COLUMNS]
    assert table.to_dict("records") == [
        {"hospital": "Santa Maria", "waiting": 3, "urgent": 1, "oldest_wait_min": 90.0},
        {"hospital": "São José", "waiting": 1, "urgent": 1, "oldest_wait_min": 45.0},
        {"hospital": "hospital 7", "waiting": 1, "urgent": 0, "oldest_wait_min": 5.0},
    ]


def test_waitlist_by_specialty() -> None:
    table = resources.waitlist_table(ENTRIES, HOSPITALS, "specialty", NOW)
    assert table.to_dict("records") == [
        {"specialty": "cardiology", "waiting": 2, "urgent": 1, "oldest_wait_min": 90.0},
        {"specialty": "neurology", "waiting": 1, "urgent": 0, "oldest_wait_min": 5.0},
        {"specialty": "oncology", "waiting": 2, "urgent": 1, "oldest_wait_min": 45.0},
    ]
    with pytest.raises(ValueError, match="by must be"):
        resources.waitlist_table(ENTRIES, HOSPITALS, "priority", NOW)


def test_waitlist_view_kpis_and_empty_table() -> None:
    view = resources.waitlist_view(ENTRIES, HOSPITALS, NOW)
    assert view.kpis == {"Waiting": "5", "Urgent": "2", "Oldest wait": "1 h 30 min"}
    nobody = ENTRIES.assign(status="scheduled")
    for frame in (pd.DataFrame(), nobody):
        empty = resources.waitlist_view(frame, HOSPITALS, NOW)
        assert empty.kpis == {"Waiting": "0", "Urgent": "0", "Oldest wait": "–"}
        assert empty.by_hospital.empty
        assert list(empty.by_specialty.columns) == ["specialty", *resources.WAITLIST_COLUMNS]


@pytest.mark.parametrize(
    ("age_s", "text"),
    [
        (None, "–"),
        (-3.0, "0 s"),
        (59.9, "59 s"),
        (60.0, "1 min"),
        (3599.0, "59 min"),
        (3600.0 + 5 * 60, "1 h 05 min"),
        (86_399.0, "23 h 59 min"),
        (2 * 86_400 + 4 * 3600 + 59 * 60, "2 d 4 h"),
    ],
)
def test_format_age_rounds_each_unit_down(age_s: float | None, text: str) -> None:
    assert resources.format_age(age_s) == text


# ---------------------------------------------------------------- default config


def test_default_config_follows_every_table_the_scenario_writes() -> None:
    scenario_tables = set(load_schema(get_scenario("hospital").migrations).tables)
    assert set(DEFAULT_CONFIG.tables()) == scenario_tables
    resync = DEFAULT_CONFIG.resync_columns()
    for name in ("hospital_resources", "waitlist_entries", "financial_disputes"):
        assert resync[name] == "updated_at"


def test_open_disputes_tile_counts_open_and_investigating() -> None:
    (tile,) = [t for t in DEFAULT_TILES if t.label == "Open financial disputes"]
    assert tile.table == "financial_disputes"
    rows = pd.DataFrame(
        {"id": [1, 2, 3, 4, 5], "status": ["open", "investigating", "resolved", "open", "resolved"]}
    )
    assert tile_count(tile, rows, NOW) == 3
    assert tile_count(tile, pd.DataFrame(), NOW) == 0
