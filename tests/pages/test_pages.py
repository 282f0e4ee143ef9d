"""AppTest: the router and every page render on a pre-filled collector and on an empty one."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import Collector, Settings, ui
from rtdata.events import Event, event_from_row
from rtdata.recorder import Recorder
from rtdata.views import charts as charts_view
from tests.support import timeout_s

ROOT = Path(__file__).resolve().parents[2]
NOW_NS = time.time_ns()


@pytest.fixture(autouse=True)
def _fresh_clock() -> None:
    """Stamp each test's events relative to its own start, not the module's import."""
    global NOW_NS
    NOW_NS = time.time_ns()


def _change(table: str, op: str, row: dict[str, object], age_s: float = 1.0) -> Event:
    received = NOW_NS - int(age_s * 1e9)
    return Event(
        received,
        received - 2_000_000,
        "postgres_changes",
        "rtdata-tables",
        table,
        op,
        str(row["id"]),
        orjson.dumps(row).decode(),
        None,
    )


def _filled() -> Recorder:
    collector = Recorder(Settings())
    emergencies = [
        {"id": i, "status": status, "priority": 1 + i % 5, "hospital_id": 1}
        for i, status in enumerate(
            ["pending", "accepted", "en_route", "on_scene", "completed", "cancelled", "pending"]
        )
    ]
    for row in emergencies:
        collector.record(event_from_row(row, "emergency_requests", NOW_NS, ("id",)))
    for i, status in enumerate(["pending", "pending", "approved"]):
        collector.record(_change("verification_requests", "INSERT", {"id": i, "status": status}))
    for i in range(4):
        collector.record(_change("profiles", "INSERT", {"id": f"u{i}", "role": "nurse"}, age_s=120))
    for i, status in enumerate(["open", "investigating", "resolved", "open", "resolved"]):
        dispute = {"id": i, "profile_id": "u0", "amount_eur": 12.5, "status": status}
        collector.record(event_from_row(dispute, "financial_disputes", NOW_NS, ("id",)))
    for i in range(12):
        vitals = {
            "id": i,
            "patient_id": f"P-{i:04d}",
            "heart_rate": 70 + i,
            "systolic": 120,
            "diastolic": 80,
            "spo2": 98,
            "temperature": 36.8,
            "recorded_at": f"2026-01-01T00:00:{i:02d}+00:00",
        }
        collector.record(_change("vital_signs", "INSERT", vitals))
    return collector


@pytest.fixture
def filled() -> Iterator[Collector]:
    collector = _filled()
    ui.use_recorder(collector)
    yield collector
    ui.use_recorder(None)


@pytest.fixture
def empty() -> Iterator[Collector]:
    collector = Recorder(Settings())
    ui.use_recorder(collector)
    yield collector
    ui.use_recorder(None)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _presence(collector: Collector) -> Recorder:
    """Add three people online in the lobby (a nurse and a doctor of hospital 1, a nurse of 2)."""
    people = [("ana", "nurse", 1), ("rui", "doctor", 1), ("eva", "nurse", 2)]
    for i, (user, role, hospital_id) in enumerate(people):
        meta = {"user": user, "role": role, "hospital_id": hospital_id, "presence_ref": f"r{i}"}
        record = orjson.dumps([meta]).decode()
        at_ns = NOW_NS - (30 - i) * 1_000_000_000
        collector.buffer.append(
            Event(at_ns, None, "presence", "lobby", None, "join", user, record, None)
        )
    return collector


@pytest.mark.usefixtures("filled")
def test_app_routes_to_overview_with_live_counts() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    metrics = _metrics(at)
    assert metrics["Active emergencies"] == "5"  # pending x2, accepted, en_route, on_scene
    assert metrics["Critical emergencies"] == "1"  # priority 1 and active: id 0 (pending)
    assert metrics["Pending verifications"] == "2"
    assert metrics["Total users"] == "4"
    assert metrics["Open financial disputes"] == "3"  # open x2 and investigating
    # 3 verification + 12 vitals changes in the last minute; profiles are 2 minutes old and
    # snapshot rows are not realtime events.
    assert metrics["Events per minute"] == "15"


@pytest.mark.usefixtures("filled")
def test_overview_shows_the_newest_vitals_first() -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=30).run()
    assert not at.exception
    vitals = at.dataframe[0].value
    assert len(vitals) == 10
    assert vitals["patient_id"].iloc[0] == "P-0011"


@pytest.mark.usefixtures("empty")
def test_overview_renders_on_an_empty_collector() -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=30).run()
    assert not at.exception
    assert set(_metrics(at).values()) == {"0"}
    assert at.dataframe[0].value.empty
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert "disconnected" in sidebar_text
    assert "no events yet" in sidebar_text


def _huge(n: int = 1_000_000) -> Recorder:
    """A collector whose buffer holds ``n`` events (appended directly: tables stay small)."""
    collector = _filled()
    base = time.time_ns() - n * 1000
    record = orjson.dumps({"id": 1, "status": "pending"}).decode()
    collector.buffer.extend(
        Event(
            base + i * 1000,
            base + i * 1000 - 2_000_000,
            "postgres_changes",
            "rtdata-tables",
            "emergency_requests",
            "UPDATE",
            str(i % 5000),
            record,
            None,
        )
        for i in range(n)
    )
    return collector


def test_overview_renders_with_a_million_events_buffered() -> None:
    collector = _huge()
    ui.use_recorder(collector)
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=60).run()
        assert not at.exception
        metrics = _metrics(at)
        assert metrics["Active emergencies"] == "5"
        assert int(metrics["Events per minute"].replace(",", "")) >= 15
        assert len(collector.buffer) == 1_000_000  # the bound holds; the oldest were evicted
    finally:
        ui.use_recorder(None)


@pytest.mark.usefixtures("filled")
def test_wall_mode_hides_navigation_and_shows_one_page() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["wall"] = "1"
    at.run()
    assert not at.exception
    assert at.title[0].value in {"Overview", "Emergencies", "Realtime health"}
    assert not at.sidebar.button  # no Reconnect button, no sidebar chrome on a wall


def test_a_wall_shows_emergencies_without_filters_map_beside_the_list() -> None:
    ui.use_recorder(_filled())
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "emergencies.py"), default_timeout=60)
        at.query_params["wall"] = "1"
        at.run()
    finally:
        ui.use_recorder(None)
    assert not at.exception
    assert not at.multiselect  # nobody filters a wall
    (map_chart,) = at.get("plotly_chart")
    assert orjson.loads(map_chart.proto.spec)["layout"]["height"] == 700
    shown = at.dataframe[0].value
    assert len(shown) == 5  # every open emergency of the filled buffer
    assert list(shown["priority"]) == sorted(shown["priority"])


@pytest.mark.parametrize(
    ("page", "charts"),
    [("emergencies.py", 1), ("realtime_health.py", 4), ("presence.py", 3), ("health.py", 2)],
)
def test_every_chart_on_a_wall_is_dark(page: str, charts: int) -> None:
    ui.use_recorder(_presence(_filled()))
    try:
        at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60)
        at.query_params["wall"] = "1"
        at.run()
    finally:
        ui.use_recorder(None)
    assert not at.exception
    drawn = at.get("plotly_chart")
    assert len(drawn) == charts
    assert not at.get("vega_lite_chart")  # Streamlit's own charts would stay light
    for chart in drawn:
        assert chart.proto.theme == ""
        layout = orjson.loads(chart.proto.spec)["layout"]
        assert layout["paper_bgcolor"] == "#000000"
        font = layout["font"]
        assert (font["color"], font["size"]) == (charts_view.WALL_TEXT, charts_view.WALL_FONT_PX)


def test_viewers_that_miss_at_once_compute_a_view_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Eight sessions ask for an expired view at the same moment: one computes, the rest wait
    # for its result. The computation only returns once every session has reached the view's
    # lock, so without single flight all eight would compute (and time out here).
    from rtdata import ui
    from rtdata.settings import Settings

    shared = Recorder(Settings())
    viewers = 8
    arrived = threading.Semaphore(0)

    class Arrivals:  # the view's lock, counting the sessions that reach it
        def __init__(self) -> None:
            self.lock = threading.RLock()

        def __enter__(self) -> None:
            arrived.release()
            self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    monkeypatch.setitem(ui._computing, ("single-flight", shared.uid), Arrivals())
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        for _ in range(viewers):
            assert arrived.acquire(timeout=timeout_s(10)), "the other sessions never arrived"
        return 7

    with concurrent.futures.ThreadPoolExecutor(viewers) as pool:
        futures = [
            pool.submit(ui.cached_view, "single-flight", shared, compute) for _ in range(viewers)
        ]
        results = [f.result() for f in futures]
    assert results == [7] * viewers
    assert calls == [1]


def test_views_are_shared_across_viewers_even_while_the_buffer_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Viewers refreshing within VIEW_MAX_AGE_S share one computation, even on a busy feed whose
    # buffer version changes between their refreshes; a view older than that is recomputed.
    from rtdata import ui
    from rtdata.events import Event
    from rtdata.settings import Settings

    shared = Recorder(Settings())
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    monkeypatch.setattr(ui, "VIEW_MAX_AGE_S", 0.25)  # the product's default
    started = time.monotonic()
    results = []
    for _ in range(20):
        shared.buffer.append(
            Event(time.time_ns(), None, "broadcast", "c", None, "e", None, None, None)
        )
        results.append(ui.cached_view("shared-across-viewers", shared, compute))
    if time.monotonic() - started < ui.VIEW_MAX_AGE_S:  # a slow machine may need a second
        assert calls == [1]
    assert len(calls) <= 2
    ui.VIEW_MAX_AGE_S, saved = 0.0, ui.VIEW_MAX_AGE_S
    try:  # without the age allowance, a changed buffer means a new computation
        shared.buffer.append(
            Event(time.time_ns(), None, "broadcast", "c", None, "e", None, None, None)
        )
        before = len(calls)
        ui.cached_view("shared-across-viewers", shared, compute)
        assert len(calls) == before + 1
    finally:
        ui.VIEW_MAX_AGE_S = saved
