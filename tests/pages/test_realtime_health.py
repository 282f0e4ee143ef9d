"""Realtime health: its pure views, then AppTest of the page."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import Settings, ui
from rtdata.events import Event
from rtdata.lifecycle import ConnectionState, Transition
from rtdata.recorder import ErrorKind, Recorder
from rtdata.resync import Gap
from rtdata.views import realtime_health

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


def _with_changes(n: int) -> Recorder:
    """A collector holding ``n`` changes received a second ago, 2 ms after their commit."""
    collector = _collector()
    received = NOW_NS - S_NS
    for i in range(n):
        row = orjson.dumps({"id": i, "level": i % 40}).decode()
        collector.record(
            Event(received, received - 2_000_000, "postgres_changes", "rtdata-tables",
                  "readings", "INSERT", str(i), row, None)
        )  # fmt: skip
    return collector


def _with_health() -> Recorder:
    """A collector that has been through a reconnect, with an hour of metrics and an alert."""
    collector = _collector()
    start = NOW_NS - 3600 * S_NS
    for i in range(3600):
        at = start + i * S_NS
        table = "readings" if i % 3 else "orders"
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


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60).run()
    assert not at.exception
    return at


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


@pytest.mark.parametrize("shared", [lambda: _with_changes(20_000)], indirect=True)
def test_realtime_health_page_renders_a_large_buffer(shared: Recorder) -> None:
    shared.housekeeping()
    at = _run("realtime_health.py")
    assert _metrics(at)["Buffer"].startswith("20,000 rows")
    assert _metrics(at)["p99 latency (60 s)"] == "2 ms"
