"""Health and Realtime health: pure view tests, then AppTest of both pages."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import Settings, ui
from rtdata.config import DEFAULT_VITAL_RANGES, parse_config
from rtdata.events import Event, event_from_row
from rtdata.lifecycle import ConnectionState, Transition
from rtdata.recorder import ErrorKind, Recorder
from rtdata.resync import Gap
from rtdata.views import health, realtime_health

ROOT = Path(__file__).resolve().parents[2]
NOW_NS = time.time_ns()


@pytest.fixture(autouse=True)
def _fresh_clock() -> None:
    """Stamp each test's events relative to its own start, not the module's import."""
    global NOW_NS
    NOW_NS = time.time_ns()


S_NS = 1_000_000_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * S_NS
NORMAL = {"heart_rate": 70, "systolic": 120, "diastolic": 80, "spo2": 98, "temperature": 36.8}


def _reading(
    i: int, *, patient: str = "P-0001", hospital: int = 1, **vitals: float | None
) -> dict[str, object]:
    return {
        "id": i,
        "patient_id": patient,
        "hospital_id": hospital,
        **NORMAL,
        **vitals,
        "recorded_at": pd.Timestamp(T0_NS + i * S_NS, tz="UTC").isoformat(),
    }


def _typed(rows: list[dict[str, object]]) -> pd.DataFrame:
    return health.vitals_frame(pd.DataFrame(rows))


# ---------------------------------------------------------------- health views


def test_band_edges_are_normal_and_just_outside_is_not() -> None:
    bands = health.VITAL_RANGES.items()
    lows = {**_reading(0), **{v: low for v, (low, _) in bands}}
    highs = {**_reading(1), **{v: high for v, (_, high) in bands}}
    assert health.out_of_range(_typed([lows, highs])).empty
    below = {**_reading(2), **{v: low - 0.1 for v, (low, _) in bands}}
    above = {**_reading(3), **{v: high + 0.1 for v, (_, high) in bands}}
    found = health.out_of_range(_typed([below, above]))
    assert len(found) == 2 * len(health.VITAL_RANGES)
    assert found["vital"].tolist() == [*health.VITALS, *health.VITALS]


def test_default_bands_are_the_documented_ones() -> None:
    assert dict(health.VITAL_RANGES) == {
        "heart_rate": (50, 120),
        "systolic": (90, 160),
        "diastolic": (60, 100),
        "spo2": (92, 100),
        "temperature": (35.5, 38.5),
    }


def test_out_of_range_lists_one_row_per_reading_and_vital() -> None:
    rows = [
        _reading(0),
        _reading(1, patient="P-0002", hospital=2, heart_rate=140, spo2=85),
        _reading(2, temperature=39.9),
        _reading(3, systolic=None),  # missing is never abnormal
    ]
    found = health.out_of_range(_typed(rows))
    assert list(found.columns) == list(health.ALERT_COLUMNS)
    assert found[["patient_id", "vital", "value", "low", "high"]].values.tolist() == [
        ["P-0002", "heart_rate", 140.0, 50.0, 120.0],
        ["P-0002", "spo2", 85.0, 92.0, 100.0],
        ["P-0001", "temperature", 39.9, 35.5, 38.5],
    ]
    assert found["hospital_id"].tolist() == [2, 2, 1]
    assert found["recorded_at"].iloc[0] == pd.Timestamp(T0_NS + S_NS, tz="UTC")


def test_ranges_are_a_parameter() -> None:
    vitals = _typed([_reading(0, heart_rate=70)])
    assert health.out_of_range(vitals, {"heart_rate": (80.0, 90.0)})["vital"].tolist() == [
        "heart_rate"
    ]
    assert health.alert_feed(vitals, {"spo2": (0.0, 100.0)}).empty


def test_vitals_frame_types_sorts_and_drops_unparsable_times() -> None:
    raw = pd.DataFrame(
        [_reading(5), _reading(1), {**_reading(3), "recorded_at": "not a time"}]
    ).astype({"heart_rate": "object"})
    vitals = health.vitals_frame(raw)
    assert list(vitals.columns) == list(health.VITAL_COLUMNS)
    assert str(vitals["recorded_at"].dt.tz) == "UTC"
    assert vitals["recorded_at"].is_monotonic_increasing
    assert len(vitals) == 2
    assert vitals["heart_rate"].dtype == "float64"
    empty = health.vitals_frame(pd.DataFrame())
    assert empty.empty
    assert list(empty.columns) == list(health.VITAL_COLUMNS)


def test_alert_feed_is_newest_first_and_limited() -> None:
    rows = [_reading(i, heart_rate=130 + i) for i in range(10)]
    feed = health.alert_feed(_typed(rows), limit=3)
    assert feed["value"].tolist() == [139.0, 138.0, 137.0]


def test_patient_series_selects_one_patient_and_vital() -> None:
    rows = [_reading(i, patient=f"P-{i % 2}", spo2=90 + i) for i in range(6)]
    series = health.patient_series(_typed(rows), "P-1", "spo2")
    assert list(series.columns) == ["recorded_at", "value"]
    assert series["value"].tolist() == [91.0, 93.0, 95.0]
    assert health.patient_ids(_typed(rows)) == ["P-0", "P-1"]


def test_cohort_series_has_one_row_per_hospital_and_bucket() -> None:
    # 3 hospitals, 10 minutes, a reading every 10 s for each: 60 readings per hospital.
    rows = [
        _reading(i, patient=f"P-{h}", hospital=h, heart_rate=60 + i // 10 % 6 * 10)
        for i in range(0, 600, 10)
        for h in (1, 2, 3)
    ]
    cohort = health.cohort_series(_typed(rows), "heart_rate")
    assert list(cohort.columns) == list(health.COHORT_COLUMNS)
    assert len(cohort) == 3 * 10
    assert cohort["readings"].sum() == len(rows)
    first = cohort.iloc[0]
    assert (first["hospital_id"], first["time"]) == (1, pd.Timestamp(T0))
    # Each minute holds 60, 70, ..., 110 bpm.
    assert (first["median"], first["p10"], first["p90"]) == (85.0, 65.0, 105.0)
    assert len(health.cohort_series(_typed(rows), "heart_rate", bucket="5min")) == 3 * 2
    assert health.cohort_series(_typed([]), "heart_rate").empty


def test_vitals_figure_shades_the_band_and_marks_abnormal_points_red() -> None:
    rows = [_reading(i, heart_rate=hr) for i, hr in enumerate([70, 130, 40, 120])]
    series = health.patient_series(_typed(rows), "P-0001", "heart_rate")
    fig = health.vitals_figure(series, "heart_rate")
    (shape,) = fig.layout.shapes
    assert (shape.y0, shape.y1) == (50, 120)
    red = [trace for trace in fig.data if trace.name == "out of range"]
    assert list(red[0].y) == [130.0, 40.0]
    assert red[0].marker.color == "#d62728"


def test_health_view_on_no_data() -> None:
    view = health.health_view(_typed([]), None, "spo2")
    assert (view.readings, view.abnormal_readings) == (0, 0)
    assert view.alerts.empty


# ---------------------------------------------------------------- realtime views


def _transitions() -> list[Transition]:
    s = ConnectionState
    steps = [
        (0, s.IDLE, s.CONNECTING, "start"),
        (2, s.CONNECTING, s.SUBSCRIBED, "joined"),
        (10, s.SUBSCRIBED, s.RECONNECTING, "socket closed"),
        (13, s.RECONNECTING, s.POLLING, "down too long"),
        (20, s.POLLING, s.SUBSCRIBED, "resubscribed"),
    ]
    return [Transition(T0_NS + at * S_NS, src, dst, why) for at, src, dst, why in steps]


def test_state_timeline_segments_end_at_the_next_transition_and_now() -> None:
    timeline = realtime_health.state_timeline(_transitions(), T0 + pd.Timedelta(seconds=30))
    assert timeline["state"].tolist() == [
        "connecting",
        "subscribed",
        "reconnecting",
        "polling",
        "subscribed",
    ]
    durations = (timeline["end"] - timeline["start"]).dt.total_seconds().tolist()
    assert durations == [2, 8, 3, 7, 10]
    assert timeline["reason"].iloc[2] == "socket closed"
    assert realtime_health.state_timeline([], T0).empty


def test_timeline_figure_colours_each_state() -> None:
    timeline = realtime_health.state_timeline(_transitions(), T0 + pd.Timedelta(seconds=30))
    fig = realtime_health.timeline_figure(timeline)
    colours = {trace.name: trace.marker.color for trace in fig.data}
    assert colours == {
        "subscribed": "#1a9e3f",
        "connecting": "#f28c28",
        "reconnecting": "#ffbf00",
        "polling": "#1f77b4",
    }
    assert realtime_health.STATE_COLOURS["failed"] == "#d62728"
    assert realtime_health.STATE_COLOURS["stale"] == "#ffbf00"
    assert realtime_health.STATE_COLOURS["idle"] == realtime_health.STATE_COLOURS["stopped"]


def _series(seconds: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.date_range(T0, periods=seconds, freq="1s"),
            "events_total": 3,
            "latency_p50_ms": 10.0,
            "latency_p95_ms": 20.0,
            "latency_p99_ms": [500.0 if i == 7 else 30.0 for i in range(seconds)],
            "latency_samples": 3,
            "probe_rtt_ms": [25.0 if i % 5 == 0 else math.nan for i in range(seconds)],
            "state": "subscribed",
            "reconnects": 0,
            "events:vital_signs": 2,
            "events:emergency_requests": 1,
        }
    )


def test_downsample_merges_an_hour_into_ten_second_buckets() -> None:
    compact, bucket_s = realtime_health.downsample(_series(3600))
    assert (len(compact), bucket_s) == (360, 10.0)
    assert compact["events_total"].sum() == 3 * 3600
    assert compact["latency_p99_ms"].iloc[0] == 500.0  # a spike survives
    assert compact["probe_rtt_ms"].iloc[0] == 25.0
    short, bucket_s = realtime_health.downsample(_series(120))
    assert (len(short), bucket_s) == (120, 1.0)


def test_throughput_figure_draws_events_per_second_per_table() -> None:
    fig = realtime_health.throughput_figure(_series(3600))
    rates = {trace.name: set(trace.y) for trace in fig.data}
    assert rates == {"vital_signs": {2.0}, "emergency_requests": {1.0}}
    assert max(len(trace.x) for trace in fig.data) <= realtime_health.MAX_POINTS
    latency = realtime_health.latency_figure(_series(3600))
    assert [trace.name for trace in latency.data] == ["p50", "p95", "p99"]
    assert len(realtime_health.probe_figure(_series(3600)).data[0].x) == 360


def _alert(at_ns: int, name: str, severity: str, message: str) -> Event:
    body = {"severity": severity, "message": message, "value": 1500.0, "threshold": 1000.0}
    return Event(at_ns, None, "alert", "", None, name, None, orjson.dumps(body).decode(), None)


def _events(events: list[Event]) -> pd.DataFrame:
    collector = _collector()
    collector.buffer.extend(events)
    return collector.buffer.snapshot()


def test_alerts_table_parses_alert_events_newest_first() -> None:
    events = _events(
        [
            _alert(T0_NS, "p99_latency", "warning", "p99 latency is 1500 ms"),
            Event(T0_NS + S_NS, None, "status", "", None, "subscribed", None, "{}", None),
            _alert(T0_NS + 2 * S_NS, "reconnect_storm", "critical", "5 reconnects"),
            Event(T0_NS + 3 * S_NS, None, "alert", "", None, "broken", None, "not json", None),
        ]
    )
    alerts = realtime_health.alerts_table(events)
    assert alerts["name"].tolist() == ["broken", "reconnect_storm", "p99_latency"]
    assert alerts["severity"].tolist() == ["", "critical", "warning"]
    assert alerts["message"].iloc[2] == "p99 latency is 1500 ms"
    assert alerts["threshold"].iloc[1] == 1000.0
    assert alerts["time"].iloc[-1] == pd.Timestamp(T0_NS, tz="UTC")
    assert realtime_health.alerts_table(events, limit=1)["name"].tolist() == ["broken"]
    assert realtime_health.alerts_table(_events([])).empty


def test_gaps_errors_and_kpis_from_a_snapshot() -> None:
    collector = _collector()
    collector.record_gap(Gap(T0_NS, T0_NS + 3 * S_NS, 4))
    collector.record_gap(Gap(T0_NS + 10 * S_NS, T0_NS + 11 * S_NS, 0))
    collector.count_error(ErrorKind.INVALID_CHANGE, "test")
    collector.count_error(ErrorKind.INVALID_CHANGE, "test")
    collector.count_error(ErrorKind.CALLBACK, "test")
    gaps = realtime_health.gaps_table(collector.gaps)
    assert gaps[["duration_s", "rows_resynced"]].values.tolist() == [[1.0, 0], [3.0, 4]]
    snapshot = collector.metrics_snapshot()
    errors = realtime_health.errors_table(snapshot)
    assert errors.values.tolist() == [
        ["invalid payload", "invalid change", 2],
        ["callback error", "exception in a callback", 1],
    ]
    collector.metrics.set_buffer(1234, 2_500_000)
    kpis = realtime_health.realtime_kpis("subscribed", collector.metrics_snapshot())
    assert kpis.display() == {
        "State": "subscribed",
        "p99 latency (60 s)": "–",
        "Probe RTT": "–",
        "Reconnects": "0",
        "Gap time": "4.0 s",
        "Buffer": "1,234 rows · 2.5 MB",
    }


# ---------------------------------------------------------------- pages


def _collector() -> Recorder:
    return Recorder(Settings())


def _vitals_event(row: dict[str, object], age_s: float = 1.0) -> Event:
    received = NOW_NS - int(age_s * S_NS)
    return Event(
        received,
        received - 2_000_000,
        "postgres_changes",
        "rtdata-tables",
        "vital_signs",
        "INSERT",
        str(row["id"]),
        orjson.dumps(row).decode(),
        None,
    )


def _with_vitals(n: int, hospitals: int = 3, patients: int = 10) -> Recorder:
    """A collector holding ``n`` readings; every 10th has heart rate 150 (tachycardia)."""
    collector = _collector()
    for i in range(n):
        row = _reading(
            i,
            patient=f"P-{i % patients:04d}",
            hospital=1 + i % hospitals,
            heart_rate=150 if i % 10 == 0 else 60 + i % 40,
        )
        collector.record(_vitals_event(row))
    return collector


def _with_health() -> Recorder:
    """A collector that has been through a reconnect, with an hour of metrics and an alert."""
    collector = _collector()
    start = NOW_NS - 3600 * S_NS
    for i in range(3600):
        at = start + i * S_NS
        table = "vital_signs" if i % 3 else "emergency_requests"
        commit = at - 40_000_000
        collector.metrics.record_event(
            Event(at, commit, "postgres_changes", "t", table, "INSERT", str(i), "{}", None)
        )
        if i % 10 == 0:
            collector.metrics.record_probe_rtt(25.0, at)
    s = ConnectionState
    collector.transition(s.CONNECTING, "connecting")
    collector.transition(s.SUBSCRIBED, "joined")
    collector.transition(s.RECONNECTING, "socket closed")
    collector.metrics.record_reconnect(time.time_ns())
    collector.transition(s.SUBSCRIBED, "resubscribed")
    collector.record_gap(Gap(NOW_NS - 5 * S_NS, NOW_NS - 2 * S_NS, 7))
    collector.count_error(ErrorKind.CALLBACK, "test")
    collector.buffer.append(_alert(NOW_NS, "p99_latency", "warning", "p99 latency is 1500 ms"))
    collector.housekeeping()
    return collector


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    collector: Recorder = request.param()
    ui.use_recorder(collector)
    yield collector
    ui.use_recorder(None)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _patient_metrics(at: AppTest) -> dict[str, str]:
    return {k: v for k, v in _metrics(at).items() if k.startswith("Patient")}


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60).run()
    assert not at.exception
    return at


@pytest.mark.parametrize("shared", [lambda: _with_vitals(100)], indirect=True)
def test_health_page_charts_the_first_patient_and_lists_abnormal_readings(
    shared: Recorder,
) -> None:
    at = _run("health.py")
    assert at.title[0].value == "Health"
    assert at.selectbox[0].value == "P-0000"
    # P-0000 has readings 0, 10, ..., 90: all heart rate 150.
    assert _patient_metrics(at) == {"Patient readings": "10", "Patient abnormal values": "10"}
    assert len(at.get("plotly_chart")) == 2
    feed = at.dataframe[0].value
    assert len(feed) == 10
    assert feed["value"].tolist() == [150.0] * 10
    assert feed["patient_id"].iloc[0] == "P-0000"  # reading 90 is the newest abnormal one

    at.selectbox[0].select("P-0003").run()
    at.selectbox[1].select("spo2").run()
    assert not at.exception
    assert _patient_metrics(at) == {"Patient readings": "10", "Patient abnormal values": "0"}
    at.toggle[0].set_value(True).run()
    assert not at.exception
    assert at.dataframe[0].value.empty


def _with_strict_spo2() -> Recorder:
    """Ten normal readings (SpO2 98 %) under a config whose SpO2 band starts at 99 %."""
    config = parse_config("[dashboard]\nvital_ranges = { spo2 = [99, 100] }")
    collector = Recorder(Settings(config=config))
    for i in range(10):
        collector.record(_vitals_event(_reading(i, patient="P-0000")))
    return collector


@pytest.mark.parametrize("shared", [_with_strict_spo2], indirect=True)
def test_health_page_uses_the_configured_vital_ranges(shared: Recorder) -> None:
    at = _run("health.py")
    assert _patient_metrics(at) == {"Patient readings": "10", "Patient abnormal values": "10"}
    feed = at.dataframe[0].value
    assert set(feed["vital"]) == {"spo2"}
    assert (feed["low"].iloc[0], feed["high"].iloc[0]) == (99.0, 100.0)


def test_config_default_bands_are_the_views_defaults() -> None:
    assert dict(DEFAULT_VITAL_RANGES) == dict(health.VITAL_RANGES)


@pytest.mark.parametrize("shared", [_collector], indirect=True)
def test_health_page_renders_on_an_empty_collector(shared: Recorder) -> None:
    at = _run("health.py")
    assert at.selectbox[0].value is None
    assert _metrics(at) == {
        "Patient readings": "0",
        "Patient abnormal values": "0",
        "Free beds": "–",
        "Free ICU beds": "–",
        "Free ambulances": "–",
        "Near capacity": "–",
        "Waiting": "0",
        "Urgent": "0",
        "Oldest wait": "–",
    }
    alerts, stock, by_hospital, by_specialty = (frame.value for frame in at.dataframe)
    assert alerts.empty
    assert stock.empty
    assert by_hospital.empty
    assert by_specialty.empty


@pytest.mark.parametrize("shared", [lambda: _with_vitals(20_000, patients=200)], indirect=True)
def test_health_page_renders_twenty_thousand_readings(shared: Recorder) -> None:
    at = _run("health.py")
    assert _patient_metrics(at) == {"Patient readings": "100", "Patient abnormal values": "100"}
    assert len(at.dataframe[0].value) == 50
    assert len(at.selectbox[0].options) == 200


def _with_operations() -> Recorder:
    """Vitals, two hospitals, their resources and five waiting-list entries (one scheduled).

    Santa Maria has 30 of 300 beds free: exactly 90 % used, so it is near capacity.
    """
    collector = _with_vitals(20)
    now = datetime.now(UTC)
    hospitals = [{"id": 1, "name": "Santa Maria"}, {"id": 2, "name": "São José"}]
    counts = ("beds_available", "beds_total", "icu_beds_available", "icu_beds_total")
    stock = [
        dict(zip(counts, (30, 300, 5, 20), strict=True), ambulances_available=4),
        dict(zip(counts, (100, 400, 10, 20), strict=True), ambulances_available=0),
    ]
    for hospital, row in zip(hospitals, stock, strict=True):
        collector.record(event_from_row(hospital, "hospitals", NOW_NS, ("id",)))
        resource = {
            "id": 10 + hospital["id"],
            "hospital_id": hospital["id"],
            **row,
            "ambulances_total": 8,
            "updated_at": now.isoformat(),
        }
        collector.record(event_from_row(resource, "hospital_resources", NOW_NS, ("id",)))
    entries = [
        (1, "cardiology", 1, "waiting", 30),
        (1, "cardiology", 3, "waiting", 125),
        (2, "oncology", 2, "waiting", 5),
        (2, "cardiology", 1, "waiting", 50),
        (2, "oncology", 1, "scheduled", 600),
    ]
    for i, (hospital_id, specialty, priority, status, age_min) in enumerate(entries):
        created = (now - timedelta(minutes=age_min)).isoformat()
        entry = {
            "id": i,
            "patient_id": f"P-{i:04d}",
            "hospital_id": hospital_id,
            "specialty": specialty,
            "priority": priority,
            "status": status,
            "created_at": created,
            "updated_at": created,
        }
        collector.record(event_from_row(entry, "waitlist_entries", NOW_NS, ("id",)))
    return collector


@pytest.mark.parametrize("shared", [_with_operations], indirect=True)
def test_health_page_shows_resources_and_the_waiting_list(shared: Recorder) -> None:
    at = _run("health.py")
    metrics = _metrics(at)
    assert {k: metrics[k] for k in ("Free beds", "Free ICU beds", "Free ambulances")} == {
        "Free beds": "130 / 700",
        "Free ICU beds": "15 / 40",
        "Free ambulances": "4 / 16",
    }
    assert metrics["Near capacity"] == "1 of 2"
    assert (metrics["Waiting"], metrics["Urgent"]) == ("4", "2")
    assert metrics["Oldest wait"] in ("2 h 05 min", "2 h 06 min")  # the page reads the clock
    assert [h.value for h in at.subheader][-2:] == ["Resources", "Waiting list"]
    _, stock, by_hospital, by_specialty = (frame.value for frame in at.dataframe)
    assert stock["hospital"].tolist() == ["Santa Maria", "São José"]
    assert stock["bed_occupancy_pct"].tolist() == [90.0, 75.0]
    assert stock["beds_free"].tolist() == ["30 / 300", "100 / 400"]
    assert stock["near_capacity"].tolist() == [True, False]
    assert by_hospital[["hospital", "waiting", "urgent"]].values.tolist() == [
        ["Santa Maria", 2, 1],
        ["São José", 2, 1],
    ]
    assert by_hospital["oldest_wait_min"].round().tolist() == [125.0, 50.0]
    assert by_specialty[["specialty", "waiting", "urgent"]].values.tolist() == [
        ["cardiology", 3, 2],
        ["oncology", 1, 0],
    ]


@pytest.mark.parametrize("shared", [_with_operations], indirect=True)
def test_health_page_on_a_wall_draws_dark_charts(shared: Recorder) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "health.py"), default_timeout=60)
    at.query_params["wall"] = "1"
    at.run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    for chart in charts:
        assert chart.proto.theme == ""  # Streamlit's light chart theme would override ours
        layout = orjson.loads(chart.proto.spec)["layout"]
        assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == "#000000"
        assert layout["font"]["size"] >= 20
    at = _run("health.py")
    assert {chart.proto.theme for chart in at.get("plotly_chart")} == {"streamlit"}


@pytest.mark.parametrize("shared", [_with_health], indirect=True)
def test_realtime_health_page_shows_kpis_charts_and_tables(shared: Recorder) -> None:
    at = _run("realtime_health.py")
    assert at.title[0].value == "Realtime health"
    metrics = _metrics(at)
    assert metrics["State"] == "subscribed"
    # Three KPIs per row: six in one row cut "subscribed" to "subscri…" at 1280 px.
    assert [round(c.proto.weight, 3) for c in at.columns[:6]] == [0.333] * 6
    assert [m.label for c in at.columns[:3] for m in c.metric] == [
        "State",
        "p99 latency (60 s)",
        "Probe RTT",
    ]
    assert metrics["Probe RTT"] == "25 ms"
    assert metrics["Reconnects"] == "1"
    assert metrics["Gap time"] == "3.0 s"
    assert metrics["Buffer"].startswith("5 rows")  # 4 status events and 1 alert
    assert metrics["p99 latency (60 s)"] == "40 ms"
    assert len(at.get("plotly_chart")) == 4
    alerts, gaps, errors = (frame.value for frame in at.dataframe)
    assert alerts["severity"].tolist() == ["warning"]
    assert gaps["rows_resynced"].tolist() == [7]
    assert errors["count"].tolist() == [1]


@pytest.mark.parametrize("shared", [_collector], indirect=True)
def test_realtime_health_page_renders_on_an_empty_collector(shared: Recorder) -> None:
    at = _run("realtime_health.py")
    metrics = _metrics(at)
    assert metrics["State"] == "idle"
    assert metrics["p99 latency (60 s)"] == "–"
    assert metrics["Buffer"] == "0 rows · 0.0 MB"
    assert all(frame.value.empty for frame in at.dataframe)


@pytest.mark.parametrize("shared", [lambda: _with_vitals(20_000)], indirect=True)
def test_realtime_health_page_renders_a_large_buffer(shared: Recorder) -> None:
    shared.housekeeping()
    at = _run("realtime_health.py")
    assert _metrics(at)["Buffer"].startswith("20,000 rows")
    assert _metrics(at)["p99 latency (60 s)"] == "2 ms"
