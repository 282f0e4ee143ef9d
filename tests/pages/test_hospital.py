"""AppTest of the hospital pack's pages, drawn from its own ``rtdata.toml`` and filled by its
own simulator and staff roster.

Expected values are counted here from the rows the simulator wrote (:class:`Replay`), never
read back from the widgets' views.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import ui
from rtdata.buffer import EventBuffer
from rtdata.config import load_config, parse_config
from rtdata.events import Event, EventKind
from rtdata.layout import WidgetType
from rtdata.recorder import Recorder
from rtdata.scenarios.hospital import LISBON
from rtdata.settings import Settings
from rtdata.views import charts as charts_view
from tests.pages import hospital_pack
from tests.pages.harness import (
    ROOT,
    captions,
    change,
    charts,
    frames,
    metric_labels,
    metrics,
    presence,
    run_page,
)
from tests.pages.hospital_pack import PACK, Hospital

OPEN = ("pending", "accepted", "en_route", "on_scene")
STATUSES = (*OPEN, "completed", "cancelled")
VITALS = ("heart_rate", "systolic", "diastolic", "spo2", "temperature")
BANDS = {
    "heart_rate": (50, 120),
    "systolic": (90, 160),
    "diastolic": (60, 100),
    "spo2": (92, 100),
    "temperature": (35.5, 38.5),
}
"""The bands of the pack's vital-signs series, as its rtdata.toml states them."""

FEED_PAGE = """
[[pages]]
name = "dispatch"
title = "Dispatch log"
  [[pages.widgets]]
  type = "feed"
  table = "emergency_requests"
  template = "#{id} {emergency_type} is {status} (was {old.status})"
  changed = ["status"]
  limit = 5
"""
"""A page the pack lacks, with the one widget type its own pages do not use."""


@pytest.fixture
def hospital() -> Iterator[Hospital]:
    filled = hospital_pack.filled()
    ui.use_recorder(filled.recorder)
    yield filled
    ui.use_recorder(None)


@pytest.fixture
def empty() -> Iterator[Recorder]:
    recorder = Recorder(Settings(config=load_config(PACK.config_path)))
    ui.use_recorder(recorder)
    yield recorder
    ui.use_recorder(None)


def _today(stamp: object) -> bool:
    return datetime.fromisoformat(str(stamp)).astimezone(UTC).date() == datetime.now(UTC).date()


def _changes_since(recorder: Recorder, since_s: float) -> int:
    received = recorder.buffer.snapshot(kinds=[EventKind.POSTGRES_CHANGES])["received_at"]
    return int((received >= datetime.fromtimestamp(since_s, UTC)).sum())


def test_the_pack_uses_every_widget_type_but_the_feed() -> None:
    # The feed is tested on the pack's tables with FEED_PAGE added.
    config = parse_config(PACK.config_path.read_text() + FEED_PAGE, str(PACK.config_path))
    used = {w.type for p in load_config(PACK.config_path).pages for w in p.widgets}
    assert used == set(WidgetType) - {WidgetType.FEED}
    assert {w.type for p in config.pages for w in p.widgets} == set(WidgetType)


def test_overview_shows_seven_tiles_and_the_events_of_the_last_minute(hospital: Hospital) -> None:
    started_s = time.time()
    at = run_page("overview")
    finished_s = time.time()
    assert at.title[0].value == "Overview"
    emergencies = hospital.rows("emergency_requests")
    profiles = hospital.rows("profiles")
    shown = metrics(at)
    assert list(shown) == [
        "Total users",
        "New users today",
        "Pending verifications",
        "Active emergencies",
        "Critical emergencies",
        "User activity today",
        "Open financial disputes",
        "Events per minute",
    ]
    assert {k: v for k, v in shown.items() if k != "Events per minute"} == {
        "Total users": str(len(profiles)),
        "New users today": str(sum(_today(p["created_at"]) for p in profiles)),
        "Pending verifications": str(
            sum(r["status"] == "pending" for r in hospital.rows("verification_requests"))
        ),
        "Active emergencies": str(sum(e["status"] in OPEN for e in emergencies)),
        "Critical emergencies": str(
            sum(e["status"] in OPEN and e["priority"] == 1 for e in emergencies)
        ),
        "User activity today": str(sum(_today(p["updated_at"]) for p in profiles)),
        "Open financial disputes": str(
            sum(
                d["status"] in ("open", "investigating")
                for d in hospital.rows("financial_disputes")
            )
        ),
    }
    per_minute = int(shown["Events per minute"].replace(",", ""))
    recorder = hospital.recorder
    assert _changes_since(recorder, finished_s - 60) <= per_minute
    assert per_minute <= _changes_since(recorder, started_s - 60)
    assert per_minute > 50  # about 150 writes a minute


def test_overview_lists_the_newest_vitals_with_hospital_names(hospital: Hospital) -> None:
    at = run_page("overview")
    (vitals,) = frames(at)
    assert list(vitals.columns) == ["recorded", "patient_id", "hospital", *VITALS]
    newest = sorted(hospital.rows("vital_signs"), key=lambda r: str(r["recorded_at"]))[::-1][:10]
    assert vitals["patient_id"].tolist() == [r["patient_id"] for r in newest]
    names = hospital.names()
    assert vitals["hospital"].tolist() == [names[int(r["hospital_id"])] for r in newest]


def test_emergencies_page_maps_open_calls_and_boards_them_by_status(hospital: Hospital) -> None:
    at = run_page("emergencies")
    assert at.title[0].value == "Emergencies"
    assert [h.value for h in at.subheader] == [
        "Open emergencies",
        "Emergency board",
        "Open emergencies by hospital",
    ]
    emergencies = hospital.rows("emergency_requests")
    open_rows = [e for e in emergencies if e["status"] in OPEN]
    shown = metrics(at)
    assert {s: shown[s] for s in STATUSES} == {
        s: str(sum(e["status"] == s for e in emergencies)) for s in STATUSES
    }
    assert int(shown["SLA breaches"]) <= len(open_rows)
    assert f"{len(open_rows)} of {len(open_rows)} rows drawn" in captions(at)
    the_map, by_hospital = charts(at)
    markers = {t["name"] for t in the_map["data"] if t.get("mode") == "markers"}
    assert markers == {
        f"{s} ({n})" for s in OPEN if (n := sum(e["status"] == s for e in open_rows))
    }
    names = set(hospital.names().values())
    board, spans, table = frames(at)
    assert sorted(board["id"]) == sorted(e["id"] for e in open_rows)
    assert board["priority"].is_monotonic_increasing  # most urgent first
    assert set(board["hospital_id"]) <= names
    assert set(spans["hospital_id"]) <= names  # response times by hospital NAME
    assert {(s, e) for s, e in zip(spans["start"], spans["end"], strict=True)} == {
        ("pending", "accepted"),
        ("accepted", "completed"),
    }
    assert (spans["median_s"] > 0).all()
    assert set(table["hospital_id"]) <= names
    assert table["count"].sum() == len(open_rows)
    assert {t["name"] for t in by_hospital["data"]} <= set(OPEN)
    assert not at.toast  # the backlog raises no alert


def _next_emergency(hospital: Hospital, *, critical: bool) -> dict[str, Any]:
    """Play the simulator on, now, until it inserts an emergency of priority 1 (or not)."""
    for _ in range(10_000):
        write = hospital.scenario.next_write(datetime.now(UTC))
        rows = hospital.replay.apply(write, time.time_ns() - 4_000_000)
        hospital.scenario.apply_result(write, rows)
        inserted = write.table == "emergency_requests" and write.method == "POST"
        if inserted and (rows[0]["priority"] == 1) == critical:
            return rows[0]
    raise AssertionError("the simulator inserted no such emergency")


def test_a_new_critical_emergency_raises_one_toast(hospital: Hospital) -> None:
    at = run_page("emergencies")
    routine = _next_emergency(hospital, critical=False)
    at.run()
    assert not at.exception
    assert not at.toast
    assert routine["id"] in frames(at)[0]["id"].tolist()
    critical = _next_emergency(hospital, critical=True)
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast] == [
        f"Critical {critical['emergency_type']} #{critical['id']}: {critical['pickup_address']}"
    ]
    at.run()
    assert not at.toast


def test_health_page_draws_vitals_against_bands_with_out_of_range_alerts(
    hospital: Hospital,
) -> None:
    at = run_page("health")
    assert at.title[0].value == "Health"
    readings = hospital.rows("vital_signs")
    outside = sum(
        not low <= float(r[v]) <= high for r in readings for v, (low, high) in BANDS.items()
    )
    shown = metrics(at)
    assert (shown["Readings"], shown["Out of range"]) == (f"{5 * len(readings):,}", str(outside))
    assert outside > 0
    patients, hospitals, *_breakdowns = charts(at)
    assert len(_breakdowns) == 2
    assert len(patients["layout"]["shapes"]) == len(VITALS)  # a shaded band per vital
    names = set(hospital.names().values())
    cohorts = {t["name"] for t in hospitals["data"]} - {"out of range"}
    assert cohorts
    assert cohorts <= names
    alerts = frames(at)[0]
    assert list(alerts.columns) == [
        "time",
        "patient_id",
        "hospital_id",
        "column",
        "value",
        "lower",
        "upper",
    ]
    assert len(alerts) == min(outside, 50)
    assert set(alerts["hospital_id"]) <= names
    assert all(
        not low <= value <= high
        for value, low, high in zip(alerts["value"], alerts["lower"], alerts["upper"], strict=True)
    )


def test_health_page_follows_one_chosen_patient(hospital: Hospital) -> None:
    at = run_page("health")
    options = at.selectbox[0].options
    assert options[0] == "(newest)"
    patient = options[-1]
    at.selectbox[0].select(patient).run()
    assert not at.exception
    drawn = {t["name"] for t in charts(at)[0]["data"]}
    assert drawn <= {patient, "out of range"}
    assert patient in drawn


def test_health_page_shows_resources_and_the_waiting_list_by_hospital_name(
    hospital: Hospital,
) -> None:
    at = run_page("health")
    stock = hospital.rows("hospital_resources")
    waiting = [w for w in hospital.rows("waitlist_entries") if w["status"] == "waiting"]
    shown = metrics(at)
    assert {k: shown[k] for k in ("Free beds", "Free ICU beds", "Free ambulances")} == {
        "Free beds": f"{sum(int(r['beds_available']) for r in stock):,}",
        "Free ICU beds": f"{sum(int(r['icu_beds_available']) for r in stock):,}",
        "Free ambulances": f"{sum(int(r['ambulances_available']) for r in stock):,}",
    }
    assert shown["Fewest free beds at a hospital"] == str(min(r["beds_available"] for r in stock))
    assert shown["Waiting"] == str(len(waiting))
    assert shown["Urgent waiting"] == str(sum(w["priority"] == 1 for w in waiting))
    names = hospital.names()
    _, resources, by_hospital, by_specialty = frames(at)
    ordered = sorted(stock, key=lambda r: int(r["beds_available"]))
    assert resources["beds free"].tolist() == [r["beds_available"] for r in ordered]
    assert set(resources["hospital"]) == {names[int(r["hospital_id"])] for r in stock}
    expected = {}
    for entry in waiting:
        name = names[int(entry["hospital_id"])]
        expected[name] = expected.get(name, 0) + 1
    assert dict(zip(by_hospital["hospital_id"], by_hospital["count"], strict=True)) == expected
    assert set(by_specialty["specialty"]) == {w["specialty"] for w in waiting}


def test_presence_page_counts_staff_by_role_and_hospital_name(hospital: Hospital) -> None:
    at = run_page("presence")
    assert at.title[0].value == "Presence"
    assert metrics(at) == {
        "Online now": str(len(hospital.online)),
        "Presence keys": str(len(hospital.online)),
    }
    names = hospital.names()
    (online,) = frames(at)
    assert sorted(online["key"]) == sorted(hospital.online)
    by_key = online.set_index("key")
    for key, (role, hospital_id) in hospital.online.items():
        assert (by_key.loc[key, "role"], by_key.loc[key, "hospital_id"]) == (
            role,
            names[hospital_id],
        )
    groups = charts(at)[0]["data"][0]["x"]
    assert {label.split(" · ")[1] for label in groups} <= set(names.values())


def test_a_feed_lists_the_status_changes_of_the_pack_tables() -> None:
    filled = hospital_pack.filled(PACK.config_path.read_text() + FEED_PAGE)
    ui.use_recorder(filled.recorder)
    try:
        at = run_page("dispatch")
    finally:
        ui.use_recorder(None)
    changes = filled.recorder.buffer.snapshot(tables=["emergency_requests"])
    updates = changes[changes["op"] == "UPDATE"].tail(5).iloc[::-1]
    lines = list(at.dataframe[0].value["change"])
    assert len(lines) == 5
    for line, record in zip(lines, updates["record"], strict=True):
        row = orjson.loads(record)
        assert line.startswith(f"#{row['id']} {row['emergency_type']} is ")
        assert f" is {row['status']} (was " in line


@pytest.mark.usefixtures("empty")
def test_every_hospital_page_renders_on_an_empty_recorder() -> None:
    overview = run_page("overview")
    assert set(metrics(overview).values()) == {"0"}
    assert frames(overview)[0].empty
    sidebar = " ".join(m.value for m in overview.sidebar.markdown)
    assert "disconnected" in sidebar
    assert "no events yet" in sidebar
    emergencies = run_page("emergencies")
    assert set(metrics(emergencies).values()) == {"0"}
    assert all(f.empty for f in frames(emergencies))
    health = run_page("health")
    assert metrics(health)["Readings"] == "0"
    assert metrics(health)["Free beds"] == "0"
    assert metrics(health)["Fewest free beds at a hospital"] == "–"
    assert all(f.empty for f in frames(health))
    roster = run_page("presence")
    assert metrics(roster) == {"Online now": "0", "Presence keys": "0"}
    assert "Nobody is online on online." in captions(roster)


@pytest.mark.parametrize(
    ("page", "drawn"),
    [("emergencies", 2), ("health", 4), ("presence", 1), ("realtime", 4)],
)
def test_every_chart_on_a_wall_is_dark(hospital: Hospital, page: str, drawn: int) -> None:
    if page == "realtime":
        at = AppTest.from_file(str(ROOT / "pages" / "realtime_health.py"), default_timeout=60)
        at.query_params["wall"] = "1"
        at.run()
        assert not at.exception
    else:
        at = run_page(page, wall=True)
    figures = at.get("plotly_chart")
    assert len(figures) == drawn
    assert not at.get("vega_lite_chart")  # Streamlit's own charts would stay light
    assert not at.selectbox  # nobody picks a patient on a wall
    for chart in figures:
        assert chart.proto.theme == ""
        layout = orjson.loads(chart.proto.spec)["layout"]
        assert layout["paper_bgcolor"] == "#000000"
        font = layout["font"]
        assert (font["color"], font["size"]) == (charts_view.WALL_TEXT, charts_view.WALL_FONT_PX)


def test_the_same_charts_in_a_browser_keep_streamlit_s_theme(hospital: Hospital) -> None:
    at = run_page("health")
    assert {chart.proto.theme for chart in at.get("plotly_chart")} == {"streamlit"}


def test_overview_renders_with_a_million_events_buffered(hospital: Hospital) -> None:
    recorder = hospital.recorder
    n = 1_000_000
    base = time.time_ns() - n * 1000
    record = orjson.dumps({"id": 1, "status": "pending", "priority": 2, "hospital_id": 1}).decode()
    recorder.buffer.extend(
        Event(base + i * 1000, base + i * 1000 - 2_000_000, "postgres_changes", "rtdata-tables",
              "emergency_requests", "UPDATE", str(i % 5000), record, None)
        for i in range(n)
    )  # fmt: skip
    at = run_page("overview", timeout_s=120)
    emergencies = hospital.rows("emergency_requests")
    shown = metrics(at)
    assert shown["Active emergencies"] == str(sum(e["status"] in OPEN for e in emergencies))
    assert int(shown["Events per minute"].replace(",", "")) >= n  # all within the last second
    assert len(recorder.buffer) == n  # the bound holds; the oldest were evicted
    assert metric_labels(at)  # drawn


def _ring_area(ring: list[list[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2


def test_the_pack_s_districts_tile_the_city_with_valid_polygons() -> None:
    districts = orjson.loads((PACK.assets / "lisbon_districts.geojson").read_bytes())
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
    """Every string in a figure's JSON, skipping typed arrays' base64 ``bdata``."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key != "bdata":
                yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_the_emergency_map_draws_the_districts_under_the_calls_offline(hospital: Hospital) -> None:
    the_map = charts(run_page("emergencies"))[0]
    traces = {t["name"]: t for t in the_map["data"]}
    assert traces["shapes"]["fill"] == "toself"
    assert sorted(traces["shape names"]["text"]) == sorted(LISBON.districts)
    for text in _strings(the_map):  # no tile server, no token, nothing fetched
        assert "http" not in text.lower()
        assert "mapbox" not in text.lower()
    assert not {"geo", "map", "mapbox"} & set(the_map["layout"])
    assert {t["type"] for t in the_map["data"]} == {"scatter"}
    assert the_map["layout"]["yaxis"]["scaleanchor"] == "x"


def test_presence_page_replays_a_large_buffer() -> None:
    # 200,000 events, one a millisecond: every 10th a presence join or leave of 300 staff in
    # rounds (joining in even rounds, leaving in odd ones); the last round, a join, is cut
    # short after 200 keys.
    recorder = Recorder(Settings(config=load_config(PACK.config_path)))
    now_ns = time.time_ns()
    n = 200_000
    events = []
    for i in range(n):
        at_ns = now_ns - (n - i) * 1_000_000
        if i % 10 == 0:
            j = i // 10
            key = f"staff-{j % 300}"
            op = "join" if (j // 300) % 2 == 0 else "leave"
            meta = {"user": key, "role": "nurse", "hospital_id": j % 7, "presence_ref": key}
            events.append(presence("online", op, key, [meta], at_ns))
        else:
            row = {"id": i, "status": "pending"}
            events.append(change("emergency_requests", "INSERT", row, at_ns))
    for event in events:
        recorder.record(event)
    ui.use_recorder(recorder)
    at = run_page("presence")
    assert metrics(at) == {"Online now": "200", "Presence keys": "200"}
    assert len(frames(at)[0]) == 200


def test_presence_page_shows_staff_whose_join_the_buffer_evicted() -> None:
    # Three staff sign in, then 50 changes push their joins out of a buffer of 20 events.
    recorder = Recorder(
        Settings(config=load_config(PACK.config_path)), buffer=EventBuffer(max_rows=20)
    )
    start_ns = time.time_ns() - 60_000_000_000
    recorder.record(
        Event(start_ns, None, EventKind.PRESENCE, "online", None, "sync", None, "[]", None)
    )
    for i, key in enumerate(("staff-1", "staff-2", "staff-3"), start=1):
        meta = {"user": key, "role": "nurse", "hospital_id": i, "presence_ref": key}
        recorder.record(presence("online", "join", key, [meta], start_ns + i))
    for i in range(50):
        row = {"id": i, "status": "pending"}
        recorder.record(change("emergency_requests", "INSERT", row, start_ns + 1_000_000 * (i + 1)))
    assert EventKind.PRESENCE not in set(recorder.buffer.snapshot()["kind"])
    ui.use_recorder(recorder)
    at = run_page("presence")
    assert metrics(at) == {"Online now": "3", "Presence keys": "3"}
    assert sorted(frames(at)[0]["key"]) == ["staff-1", "staff-2", "staff-3"]
