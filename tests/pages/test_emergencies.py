"""Emergencies page: pure views, the shipped districts, the offline map, and AppTest."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import Collector, EventBuffer, Settings, ui
from rtdata.events import Event, event_from_row
from rtdata.recorder import Recorder
from rtdata.scenarios.hospital import LISBON
from rtdata.views import emergencies as em

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "emergencies.py")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_NS = int(NOW.timestamp()) * 1_000_000_000
HOSPITALS = pd.DataFrame(
    [
        {"id": 1, "name": "Hospital de Santa Maria", "lat": 38.7496, "lon": -9.1604},
        {"id": 2, "name": "Hospital de São José", "lat": 38.7178, "lon": -9.1378},
    ]
)


def _emergency(
    id_: int, status: str, priority: int, age_s: float, hospital_id: int = 1, **extra: Any
) -> dict[str, Any]:
    created = (NOW - timedelta(seconds=age_s)).isoformat()
    return {
        "id": id_,
        "hospital_id": hospital_id,
        "patient_name": f"Patient {id_}",
        "emergency_type": "cardiac",
        "priority": priority,
        "status": status,
        "lat": 38.72 + id_ * 0.001,
        "lon": -9.15,
        "pickup_address": f"Rua Augusta {id_}",
        "created_at": created,
        "updated_at": created,
        **extra,
    }


def _change(
    op: str,
    record: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    commit_s: float,
    latency_s: float = 0.05,
    source: str = "realtime",
) -> Event:
    commit_ns = NOW_NS + int(commit_s * 1e9)
    return Event(
        commit_ns + int(latency_s * 1e9),
        commit_ns,
        "postgres_changes",
        "rtdata-tables",
        "emergency_requests",
        op,
        str(record["id"]),
        orjson.dumps(record).decode(),
        None if old is None else orjson.dumps(old).decode(),
        source,
    )


def _snapshot(events: list[Event]) -> pd.DataFrame:
    buffer = EventBuffer()
    buffer.extend(sorted(events, key=lambda e: e.received_at_ns))
    return buffer.snapshot()


def _lifecycle(
    id_: int, hospital_id: int, start_s: float, steps_s: dict[str, float]
) -> list[Event]:
    """Events of one emergency: INSERT at ``start_s``, then each status at its offset (s)."""
    row = _emergency(id_, "pending", 3, 0, hospital_id)
    events = [_change("INSERT", row, commit_s=start_s)]
    for status, offset_s in steps_s.items():
        new = {**row, "status": status}
        events.append(_change("UPDATE", new, row, commit_s=start_s + offset_s))
        row = new
    return events


# ---------------------------------------------------------------- open list


def test_open_emergencies_sorts_by_priority_then_oldest_first() -> None:
    rows = pd.DataFrame(
        [
            _emergency(1, "pending", 3, 30),
            _emergency(2, "accepted", 1, 10),
            _emergency(3, "completed", 1, 500),
            _emergency(4, "en_route", 1, 200, hospital_id=2),
            _emergency(5, "cancelled", 2, 50),
            _emergency(6, "on_scene", 3, 90, hospital_id=7),
        ]
    )
    result = em.open_emergencies(rows, HOSPITALS, NOW)
    assert list(result.columns) == list(em.OPEN_COLUMNS)
    assert result["id"].tolist() == [4, 2, 6, 1]
    assert result["hospital"].tolist() == [
        "Hospital de São José",
        "Hospital de Santa Maria",
        "hospital 7",
        "Hospital de Santa Maria",
    ]
    assert result["age_s"].tolist() == [200.0, 10.0, 90.0, 30.0]
    assert result["age"].tolist() == ["3m 20s", "10s", "1m 30s", "30s"]


def test_open_emergencies_on_empty_and_partial_tables() -> None:
    assert em.open_emergencies(pd.DataFrame(), pd.DataFrame(), NOW).empty
    bare = pd.DataFrame([{"id": 1, "status": "pending", "priority": 2, "hospital_id": 1}])
    result = em.open_emergencies(bare, pd.DataFrame(), NOW)
    assert result["hospital"].tolist() == ["hospital 1"]
    assert result["age"].tolist() == [""]


@pytest.mark.parametrize(
    ("age_s", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m 00s"), (3599, "59m 59s"), (7380, "2h 03m")],
)
def test_format_age(age_s: float, text: str) -> None:
    assert em.format_age(age_s) == text


def test_filter_open_by_hospital_and_status_keeps_order() -> None:
    rows = pd.DataFrame(
        [
            _emergency(1, "pending", 1, 10),
            _emergency(2, "accepted", 2, 10, hospital_id=2),
            _emergency(3, "pending", 3, 10, hospital_id=2),
            _emergency(4, "on_scene", 4, 10),
        ]
    )
    open_df = em.open_emergencies(rows, HOSPITALS, NOW)
    assert em.filter_open(open_df, None, None)["id"].tolist() == [1, 2, 3, 4]
    assert em.filter_open(open_df, [], [])["id"].tolist() == [1, 2, 3, 4]
    by_hospital = em.filter_open(open_df, ["Hospital de São José"], None)
    assert by_hospital["id"].tolist() == [2, 3]
    assert em.filter_open(open_df, None, ["pending", "on_scene"])["id"].tolist() == [1, 3, 4]
    both = em.filter_open(open_df, ["Hospital de São José"], ["pending"])
    assert both["id"].tolist() == [3]
    assert both.index.tolist() == [0]


# ---------------------------------------------------------------- events


def test_new_critical_keeps_live_priority_one_inserts_after_since() -> None:
    events = _snapshot(
        [
            _change("INSERT", _emergency(1, "pending", 1, 0), commit_s=-10),  # before since
            _change("INSERT", _emergency(2, "pending", 1, 0), commit_s=5),
            _change("INSERT", _emergency(3, "pending", 2, 0), commit_s=6),  # not critical
            _change("SNAPSHOT", _emergency(4, "pending", 1, 0), commit_s=7, source="snapshot"),
            _change(
                "UPDATE",
                _emergency(5, "accepted", 1, 0),
                _emergency(5, "pending", 1, 0),
                commit_s=8,
            ),
            _change("INSERT", _emergency(6, "pending", 1, 0), commit_s=9),
        ]
    )
    fresh = em.new_critical(events, NOW)
    assert fresh["id"].tolist() == [2, 6]
    assert fresh["patient_name"].tolist() == ["Patient 2", "Patient 6"]
    assert (fresh["received_at"] > pd.Timestamp(NOW)).all()
    assert em.new_critical(events, NOW + timedelta(seconds=10)).empty
    assert em.new_critical(_snapshot([]), NOW).empty


def test_response_times_median_and_p90_per_hospital() -> None:
    events: list[Event] = []
    # Hospital 1: pending -> accepted after 1, 2, 3, 4 and 10 minutes; the first three are
    # completed 9, 19 and 29 minutes after being accepted.
    for i, accepted_min in enumerate([1, 2, 3, 4, 10]):
        steps = {"accepted": accepted_min * 60.0}
        if i < 3:
            steps |= {
                "en_route": accepted_min * 60 + 60.0,
                "on_scene": accepted_min * 60 + 120.0,
                "completed": accepted_min * 60 + (9 + 10 * i) * 60.0,
            }
        events += _lifecycle(i + 1, 1, start_s=i * 7.0, steps_s=steps)
    # Hospital 2: one emergency accepted after 30 s; one cancelled (never accepted).
    events += _lifecycle(10, 2, start_s=0, steps_s={"accepted": 30.0})
    events += _lifecycle(11, 2, start_s=0, steps_s={"cancelled": 20.0})
    result = em.response_times(_snapshot(events), HOSPITALS).set_index("hospital")
    assert list(result.reset_index().columns) == list(em.RESPONSE_COLUMNS)
    santa_maria = result.loc["Hospital de Santa Maria"]
    assert santa_maria["accepted_n"] == 5
    assert santa_maria["pending_to_accepted_median_min"] == pytest.approx(3.0)
    assert santa_maria["pending_to_accepted_p90_min"] == pytest.approx(7.6)  # 4 + 0.6 * (10 - 4)
    assert santa_maria["completed_n"] == 3
    assert santa_maria["accepted_to_completed_median_min"] == pytest.approx(19.0)
    assert santa_maria["accepted_to_completed_p90_min"] == pytest.approx(27.0)  # 19 + 0.8 * 10
    sao_jose = result.loc["Hospital de São José"]
    assert sao_jose["accepted_n"] == 1
    assert sao_jose["pending_to_accepted_median_min"] == pytest.approx(0.5)
    assert sao_jose["completed_n"] == 0
    assert pd.isna(sao_jose["accepted_to_completed_median_min"])


def test_response_times_use_commit_times_and_real_status_changes_only() -> None:
    row = _emergency(1, "pending", 3, 0)
    accepted = {**row, "status": "accepted"}
    events = [
        _change("INSERT", row, commit_s=0, latency_s=30),  # slow delivery: commit time counts
        _change("UPDATE", {**row, "priority": 2}, row, commit_s=20),  # not a status change
        _change("UPDATE", accepted, {**row, "priority": 2}, commit_s=120),
        # Started before the buffer's window: only its acceptance is seen, so it is left out.
        _change(
            "UPDATE",
            {**_emergency(2, "accepted", 3, 0)},
            _emergency(2, "pending", 3, 0),
            commit_s=5,
        ),
    ]
    result = em.response_times(_snapshot(events))
    assert result["hospital"].tolist() == ["hospital 1"]
    assert result["accepted_n"].tolist() == [1]
    assert result["pending_to_accepted_median_min"].tolist() == [pytest.approx(2.0)]


def test_response_times_on_no_events() -> None:
    assert em.response_times(_snapshot([])).empty
    only_inserts = _snapshot([_change("INSERT", _emergency(1, "pending", 3, 0), commit_s=0)])
    assert em.response_times(only_inserts).empty


# ---------------------------------------------------------------- districts and map


def _ring_area(ring: list[list[float]]) -> float:
    return (
        sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] for i in range(len(ring) - 1))
        / 2
    )


def test_districts_are_valid_polygons_tiling_the_city_bbox() -> None:
    districts = em.load_districts()
    assert districts["type"] == "FeatureCollection"
    assert "approximate" in districts["properties"]["description"].lower()
    names = [f["properties"]["name"] for f in districts["features"]]
    assert sorted(names) == sorted(LISBON.districts)
    total = 0.0
    for feature in districts["features"]:
        assert feature["geometry"]["type"] == "Polygon"
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) >= 4
        assert ring[0] == ring[-1]
        assert len({tuple(p) for p in ring[:-1]}) == len(ring) - 1
        for lon, lat in ring:
            assert LISBON.contains(lat, lon)
        area = _ring_area(ring)
        assert area > 0  # counter-clockwise and not degenerate
        total += area
        # Voronoi cells are convex: every turn goes the same way.
        for a, b, c in zip(ring[:-1], ring[1:-1] + ring[:1], ring[2:] + ring[1:2], strict=True):
            cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
            assert cross >= -1e-9
    bbox_area = (LISBON.lat_max - LISBON.lat_min) * (LISBON.lon_max - LISBON.lon_min)
    assert total == pytest.approx(bbox_area, rel=1e-6)  # they tile the bbox: no gap, no overlap


def _strings(node: Any) -> Iterator[str]:
    """Every string in a figure dict, skipping typed arrays' base64 ``bdata``."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key != "bdata":
                yield from _strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _strings(value)


def _assert_offline(fig: Any) -> dict[str, Any]:
    spec: dict[str, Any] = fig.to_dict()
    for text in _strings(spec):
        assert "http" not in text.lower()
        assert "mapbox" not in text.lower()
    assert not {"geo", "map", "mapbox"} & set(spec["layout"])
    assert {trace["type"] for trace in spec["data"]} == {"scatter"}
    return spec


def test_map_draws_districts_markers_by_status_and_hospitals_offline() -> None:
    rows = pd.DataFrame(
        [
            _emergency(1, "pending", 1, 30),
            _emergency(2, "pending", 5, 30),
            _emergency(3, "en_route", 2, 30),
        ]
    )
    open_df = em.open_emergencies(rows, HOSPITALS, NOW)
    fig = em.emergency_map(open_df, em.load_districts(), HOSPITALS)
    spec = _assert_offline(fig)
    traces = {trace.name: trace for trace in fig.data}
    assert traces["districts"].fill == "toself"
    pending = traces["pending (2)"]
    assert pending.marker.color == em.STATUS_COLOURS["pending"]
    assert list(pending.marker.size) == [20, 7]  # critical biggest
    assert pending.customdata[0][0] == 1
    assert "en_route (1)" in traces
    assert list(traces["hospitals"].text) == HOSPITALS["name"].tolist()
    assert spec["layout"]["yaxis"]["scaleanchor"] == "x"
    assert spec["layout"]["yaxis"]["scaleratio"] == pytest.approx(1.2822, abs=1e-4)  # 1/cos 38.745°


def test_map_aggregates_many_emergencies_into_grid_cells() -> None:
    rng = random.Random(1)
    rows = pd.DataFrame(
        [
            _emergency(
                i,
                rng.choice(em.OPEN_STATUSES),
                rng.randint(1, 5),
                rng.uniform(0, 3600),
                lat=rng.uniform(LISBON.lat_min, LISBON.lat_max),
                lon=rng.uniform(LISBON.lon_min, LISBON.lon_max),
            )
            for i in range(em.MAX_MARKERS + 500)
        ]
    )
    open_df = em.open_emergencies(rows, HOSPITALS, NOW)
    fig = em.emergency_map(open_df, em.load_districts(), pd.DataFrame())
    _assert_offline(fig)
    markers = [t for t in fig.data if t.name.split(" ")[0] in em.OPEN_STATUSES]
    assert sum(int(n) for t in markers for n, _ in t.customdata) == len(open_df)
    # One marker per 0.01° cell and status: at most 10 x 13 cells of the bbox per status.
    assert all(len(t.x) <= 10 * 13 for t in markers)


# ---------------------------------------------------------------- AppTest


def _collector(emergencies: list[dict[str, Any]], hospitals: pd.DataFrame) -> Recorder:
    collector = Recorder(Settings())
    now_ns = time.time_ns()
    for row in hospitals.to_dict("records"):
        collector.record(event_from_row(row, "hospitals", now_ns, ("id",)))
    for row in emergencies:
        collector.record(event_from_row(row, "emergency_requests", now_ns, ("id",)))
    return collector


def _live(id_: int, status: str, priority: int, age_s: float, **extra: Any) -> dict[str, Any]:
    """An emergency created ``age_s`` before the real clock (pages read the wall clock)."""
    created = (datetime.now(UTC) - timedelta(seconds=age_s)).isoformat()
    return {**_emergency(id_, status, priority, 0, **extra), "created_at": created}


@pytest.fixture
def use() -> Iterator[Any]:
    def install(collector: Collector) -> Recorder:
        ui.use_recorder(collector)
        return collector

    yield install
    ui.use_recorder(None)


def test_page_lists_open_emergencies_most_urgent_first(use: Any) -> None:
    collector = use(
        _collector(
            [
                _live(11, "pending", 3, 60),
                _live(12, "accepted", 1, 30),
                _live(13, "completed", 1, 300),
                _live(14, "on_scene", 1, 600, hospital_id=2),
                _live(15, "en_route", 2, 10),
            ],
            HOSPITALS,
        )
    )
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Emergencies"
    listed = at.dataframe[0].value
    assert listed["id"].tolist() == [14, 12, 15, 11]
    assert listed["hospital"].iloc[0] == "Hospital de São José"
    assert len(at.get("plotly_chart")) == 1
    assert not at.toast  # the backlog raises no alert

    at.multiselect[0].set_value(["Hospital de Santa Maria"]).run()
    assert not at.exception
    assert at.dataframe[0].value["id"].tolist() == [12, 15, 11]
    at.multiselect[1].set_value(["pending"]).run()
    assert at.dataframe[0].value["id"].tolist() == [11]

    critical = _live(16, "pending", 1, 0, patient_name="Rita Alarme")
    collector.record(
        Event(time.time_ns(), None, "postgres_changes", "rtdata-tables", "emergency_requests",
              "INSERT", "16", orjson.dumps(critical).decode(), None)
    )  # fmt: skip
    at.multiselect[0].set_value([])
    at.multiselect[1].set_value([]).run()
    assert not at.exception
    assert at.dataframe[0].value["id"].tolist() == [14, 12, 16, 15, 11]
    assert any("#16" in toast.value for toast in at.toast)


def test_page_renders_on_an_empty_collector(use: Any) -> None:
    use(Recorder(Settings()))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert at.dataframe[0].value.empty
    assert at.dataframe[1].value.empty


def test_page_renders_5000_emergencies(use: Any) -> None:
    rng = random.Random(7)
    statuses = [*em.OPEN_STATUSES, "completed", "cancelled"]
    rows = [
        _live(
            i,
            rng.choice(statuses),
            rng.randint(1, 5),
            rng.uniform(0, 7200),
            hospital_id=rng.randint(1, 2),
            lat=rng.uniform(LISBON.lat_min, LISBON.lat_max),
            lon=rng.uniform(LISBON.lon_min, LISBON.lon_max),
        )
        for i in range(5000)
    ]
    use(_collector(rows, HOSPITALS))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    listed = at.dataframe[0].value
    expected = sum(row["status"] in em.OPEN_STATUSES for row in rows)
    assert len(listed) == expected
    assert listed["priority"].is_monotonic_increasing
