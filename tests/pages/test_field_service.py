"""AppTest of every widget type on an app that is not the hospital (``field_service``).

Each widget type has a page of its own in the app's ``rtdata.toml``; every page is drawn from a
recorder filled with the app's tables, broadcasts and presence, and from an empty one, and no
page ever shows a word of the hospital pack.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from rtdata import ui
from rtdata.config import parse_config
from rtdata.layout import WidgetType
from rtdata.recorder import Recorder
from rtdata.settings import Settings
from tests.pages import field_service as fs
from tests.pages.harness import (
    ROOT,
    S_NS,
    broadcast,
    captions,
    change,
    charts,
    frames,
    iso,
    metric_labels,
    metrics,
    run_page,
    texts,
)

PAGES = ("tiles", "lifecycle", "queue", "breakdown", "feed", "series", "map", "roster")
HOSPITAL_WORDS = re.compile(r"emergenc|hospital|vital|patient", re.IGNORECASE)
OPEN = {
    id_ for id_, (*_, steps) in fs.TICKETS.items() if steps[-1][0] not in ("resolved", "closed")
}


@pytest.fixture
def filled() -> Iterator[Recorder]:
    recorder = fs.filled()
    ui.use_recorder(recorder)
    yield recorder
    ui.use_recorder(None)


@pytest.fixture
def empty() -> Iterator[Recorder]:
    recorder = fs.config_recorder()
    ui.use_recorder(recorder)
    yield recorder
    ui.use_recorder(None)


def _ticket(id_: int, title: str, priority: int) -> None:
    """Record the insert of a new ticket, received now."""
    now_ns = time.time_ns()
    row = {
        "id": id_,
        "title": title,
        "customer_id": 2,
        "priority": priority,
        "status": "new",
        "created_at": iso(now_ns),
        "updated_at": iso(now_ns),
    }
    ui.recorder().record(change("tickets", "INSERT", row, now_ns - 4_000_000))


def _highlighted_rows(at: AppTest) -> set[int]:
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    return {int(row) for row in re.findall(r"_row(\d+)_col\d+", styles)}


def test_the_app_has_a_page_for_every_widget_type() -> None:
    pages = fs.config_recorder().settings.config.pages
    assert [p.name for p in pages] == list(PAGES)
    assert {w.type for p in pages for w in p.widgets} == set(WidgetType)


@pytest.mark.usefixtures("filled")
def test_tiles_count_filtered_rows_a_time_window_and_an_aggregate() -> None:
    at = run_page("tiles")
    assert at.title[0].value == "Desk overview"
    assert metrics(at) == {
        "Open tickets": str(len(OPEN)),
        "Urgent open": "2",  # tickets 2 and 6
        "Opened in the last hour": "5",  # all but ticket 1, opened three hours ago
        "Customers": "3",
        "Peak load": "95",
        "Events per minute": "4",  # ticket 6 and the newest reading of each device
    }
    # Two urgent tickets reach the warn threshold (1), not the critical one (3).
    assert ":orange[Urgent open]" in metric_labels(at)


@pytest.mark.usefixtures("filled")
def test_lifecycle_counts_statuses_lists_open_tickets_and_times_spans_by_customer_name() -> None:
    at = run_page("lifecycle")
    assert at.subheader[0].value == "Tickets by status"
    assert metrics(at) == {
        "new": "2",
        "assigned": "1",
        "in_progress": "1",
        "resolved": "1",
        "closed": "1",
        "SLA breaches": "1",  # ticket 4 has been new for 10 min; the SLA of new is 5
    }
    open_items, spans = frames(at)
    assert open_items["id"].tolist() == [2, 6, 3, 4]  # priority 1 first, oldest first within
    assert open_items["customer_id"].tolist() == [
        "Borealis Labs",
        "Cobalt Freight",
        "Acme Bakery",
        "Cobalt Freight",
    ]
    assert open_items["breached"].tolist() == [False, False, False, True]
    by_span = {
        (row["customer_id"], row["start"], row["end"]): row["median_s"]
        for row in spans.to_dict("records")
    }
    assert by_span == {
        ("Acme Bakery", "new", "assigned"): 60.0,
        ("Borealis Labs", "new", "assigned"): 120.0,
        ("Acme Bakery", "assigned", "resolved"): 8940.0,
        ("Borealis Labs", "assigned", "resolved"): 1580.0,
    }
    assert not at.toast  # the backlog raises no toast


@pytest.mark.usefixtures("filled")
def test_lifecycle_toasts_a_new_urgent_ticket_only() -> None:
    at = run_page("lifecycle")
    _ticket(7, "Payroll server offline", priority=1)
    _ticket(8, "Mouse squeaks", priority=4)
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Urgent ticket #7: Payroll server offline"]
    assert metrics(at)["new"] == "4"
    at.run()
    assert not at.toast  # shown once


@pytest.mark.usefixtures("filled")
def test_queue_shows_the_newest_tickets_by_customer_name_and_highlights_fresh_ones() -> None:
    at = run_page("queue")
    (shown,) = frames(at)
    assert list(shown.columns) == ["id", "title", "customer", "priority", "status", "updated_at"]
    assert shown["id"].tolist() == [6, 5, 4, 3, 2]
    assert shown["customer"].tolist() == [fs.CUSTOMERS[fs.TICKETS[i][1]] for i in (6, 5, 4, 3, 2)]
    assert "5 of 6 rows" in captions(at)
    assert _highlighted_rows(at) == {0}  # only ticket 6 changed in the last 30 s


@pytest.mark.usefixtures("filled")
def test_breakdown_groups_open_tickets_by_customer_name_and_status() -> None:
    at = run_page("breakdown")
    by_customer, by_priority = frames(at)
    assert by_customer.values.tolist() == [
        ["Cobalt Freight", "new", 2],
        ["Acme Bakery", "assigned", 1],
        ["Borealis Labs", "in_progress", 1],
    ]
    assert by_priority["priority"].tolist() == ["1", "2", "4"]
    assert by_priority["oldest_age_s"].round(-1).tolist() == [1200.0, 950.0, 600.0]
    stacked, ages = charts(at)
    assert [trace["name"] for trace in stacked["data"]] == ["assigned", "in_progress", "new"]
    assert [trace["name"] for trace in ages["data"]] == ["oldest_age_s"]


@pytest.mark.usefixtures("filled")
def test_two_half_width_widgets_share_a_row() -> None:
    at = run_page("breakdown")
    left, right = (c for c in at.columns if c.proto.weight == 0.5)
    assert [h.value for h in left.subheader] == ["Open tickets per customer and status"]
    assert [h.value for h in right.subheader] == ["Oldest open ticket per priority (s)"]


@pytest.mark.usefixtures("filled")
def test_feeds_list_ticket_changes_and_dispatch_broadcasts_newest_first() -> None:
    at = run_page("feed")
    changes, dispatch = (list(d.value["change"]) for d in at.dataframe[:2])
    assert changes == [
        "Ticket #6 Locked out: new",
        "Ticket #5 VPN drops: closed",
        "Ticket #4 Slow laptop: new",
        "Ticket #5 VPN drops: resolved",
    ]  # limit 4
    assert dispatch == [
        "Eli dispatched to Borealis Labs",
        "Dana dispatched to Acme Bakery",
    ]
    assert not at.toast


@pytest.mark.usefixtures("filled")
def test_a_feed_toasts_a_new_matching_insert_once() -> None:
    at = run_page("feed")
    _ticket(7, "Payroll server offline", priority=1)
    _ticket(8, "Mouse squeaks", priority=4)
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Ticket #7 Payroll server offline: new"]
    assert at.dataframe[0].value["change"].iloc[0] == "Ticket #8 Mouse squeaks: new"
    at.run()
    assert not at.toast


@pytest.mark.usefixtures("filled")
def test_series_draws_devices_against_bands_and_lists_out_of_range_readings() -> None:
    at = run_page("series")
    readings = len(fs.DEVICES) * fs.READINGS_PER_DEVICE * 2  # two columns each
    assert metrics(at) == {"Readings": str(readings), "Out of range": "2"}
    by_device, by_customer = charts(at)
    names = {trace["name"] for trace in by_device["data"]}
    assert names == {*fs.DEVICES, "out of range"}
    assert {trace["name"] for trace in by_customer["data"]} == {
        *fs.CUSTOMERS.values(),
        "out of range",
    }
    bands = [(s["y0"], s["y1"]) for s in by_device["layout"]["shapes"]]
    assert bands[0] == (0, 85)  # load_pct; battery_pct has a lower bound only
    assert bands[1][0] == 20
    (alerts,) = frames(at)
    assert alerts[["device_id", "customer_id", "column", "value"]].values.tolist() == [
        ["D-3", "Cobalt Freight", "battery_pct", 12.0],
        ["D-2", "Borealis Labs", "load_pct", 95.0],
    ]
    # Every device reported last at the same moment: newest first, then by name.
    assert at.selectbox[0].options == ["(newest)", "D-1", "D-2", "D-3"]
    at.selectbox[0].select("D-1").run()
    assert not at.exception
    assert metrics(at) == {"Readings": str(readings), "Out of range": "2"}  # the whole table
    assert {trace["name"] for trace in charts(at)[0]["data"]} == {"D-1", "out of range"}


@pytest.mark.usefixtures("filled")
def test_map_draws_technicians_with_a_position_coloured_by_status() -> None:
    at = run_page("map")
    assert "3 of 4 rows drawn" in captions(at)  # Gus has no position
    (figure,) = charts(at)
    markers = {trace["name"]: trace for trace in figure["data"]}
    assert set(markers) == {"available (2)", "busy (1)"}
    assert markers["available (2)"]["marker"]["color"] == "#2ca02c"
    assert markers["available (2)"]["text"] == ["Dana Reyes · hvac", "Fay Osei · printers"]
    assert markers["busy (1)"]["text"] == ["Eli Novak · network"]


@pytest.mark.usefixtures("filled")
def test_roster_counts_agents_online_by_team_and_customer_name() -> None:
    at = run_page("roster")
    assert metrics(at) == {"Online now": "3", "Presence keys": "3"}  # ben left
    (online,) = frames(at)
    assert online["key"].tolist() == ["dee", "cy", "ana"]  # newest join first
    assert set(online["customer_id"]) == {"Acme Bakery"}
    (figure,) = charts(at)
    groups = figure["data"][0]
    assert (groups["x"], _ints(groups["y"])) == (
        ["support · Acme Bakery", "billing · Acme Bakery"],
        [2, 1],
    )


def _ints(values: object) -> list[int]:
    """Plotly sends small integer arrays as base64 typed arrays."""
    import base64

    import numpy as np

    if isinstance(values, dict):
        data = base64.b64decode(values["bdata"])
        return np.frombuffer(data, dtype=np.dtype(values["dtype"])).astype(int).tolist()
    assert isinstance(values, list)
    return [int(v) for v in values]


@pytest.mark.usefixtures("empty")
def test_every_widget_renders_on_an_empty_recorder() -> None:
    assert metrics(run_page("tiles")) == {
        "Open tickets": "0",
        "Urgent open": "0",
        "Opened in the last hour": "0",
        "Customers": "0",
        "Peak load": "–",  # the max of no value
        "Events per minute": "0",
    }
    board = run_page("lifecycle")
    assert set(metrics(board).values()) == {"0"}
    assert [f.empty for f in frames(board)] == [True]  # no spans table
    queue = run_page("queue")
    assert frames(queue)[0].empty
    assert "0 rows" in captions(queue)
    breakdown = run_page("breakdown")
    assert [f.empty for f in frames(breakdown)] == [True, True]
    assert len(charts(breakdown)) == 2
    assert captions(run_page("feed")) == "Nothing yet.\nNothing yet."
    series = run_page("series")
    assert metrics(series) == {"Readings": "0", "Out of range": "0"}
    assert series.selectbox[0].options == ["(newest)"]
    assert not frames(series)
    drawn = run_page("map")
    assert "0 of 0 rows drawn" in captions(drawn)
    assert charts(drawn)[0]["data"] == []
    roster = run_page("roster")
    assert metrics(roster) == {"Online now": "0", "Presence keys": "0"}
    assert "Nobody is online on floor." in captions(roster)


def _builtin(script: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=60).run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


@pytest.mark.parametrize("recorder", [fs.filled, fs.config_recorder], ids=["filled", "empty"])
def test_no_page_shows_a_hospital_word(recorder: Callable[[], Recorder]) -> None:
    ui.use_recorder(recorder())
    try:
        drawn = [run_page(name) for name in PAGES]
        drawn += [_builtin("realtime_health.py"), _builtin("events.py")]
    finally:
        ui.use_recorder(None)
    seen = 0
    for at in drawn:
        for text in texts(at):
            seen += 1
            assert not HOSPITAL_WORDS.search(text), text
    assert seen > 100  # the search read the pages, not nothing


def test_the_page_text_search_finds_a_hospital_word() -> None:
    # The search above can fail: a ticket titled with a hospital word is found.
    recorder = fs.filled()
    now_ns = time.time_ns() - 10 * S_NS
    row = {"id": 9, "title": "Patient kiosk", "customer_id": 1, "priority": 3, "status": "new"}
    recorder.record(change("tickets", "INSERT", row, now_ns))
    ui.use_recorder(recorder)
    try:
        at = run_page("queue")
    finally:
        ui.use_recorder(None)
    assert any(HOSPITAL_WORDS.search(text) for text in texts(at))


def test_a_channel_feed_finds_its_matches_behind_many_newer_broadcasts() -> None:
    config = fs.CONFIG.replace(
        '  channel = "ops"\n  template = "{message}"',
        '  channel = "ops"\n  template = "{message}"\n  filter = "urgent=eq.true"\n  limit = 3',
    )
    assert config != fs.CONFIG
    recorder = Recorder(Settings(config=parse_config(config, fs.SOURCE)))
    start_ns = time.time_ns() - 10 * S_NS
    for i in range(4):  # four urgent dispatches, then far more routine ones than a first read
        payload = {"message": f"urgent {i}", "urgent": True}
        recorder.record(broadcast("ops", "dispatch", payload, start_ns + i))
    for i in range(2000):
        payload = {"message": f"routine {i}", "urgent": False}
        recorder.record(broadcast("ops", "dispatch", payload, start_ns + 10 + i))
    ui.use_recorder(recorder)
    try:
        at = run_page("feed")
    finally:
        ui.use_recorder(None)
    dispatch = list(at.dataframe[-1].value["change"])
    assert dispatch == ["urgent 3", "urgent 2", "urgent 1"]


@contextlib.contextmanager
def _filled_with(*changes: tuple[str, str]) -> Iterator[Recorder]:
    """The app filled as usual under its config with each (old, new) text replaced."""
    config = fs.CONFIG
    for old, new in changes:
        assert old in config, old
        config = config.replace(old, new, 1)
    recorder = fs.fill(Recorder(Settings(config=parse_config(config, fs.SOURCE))))
    ui.use_recorder(recorder)
    try:
        yield recorder
    finally:
        ui.use_recorder(None)


def test_feed_lines_and_toasts_show_the_labels_of_id_columns() -> None:
    template = 'template = "Ticket #{id} {title}: {status}"'
    labelled = 'template = "#{id} for {customer_id} (customer {customer_id:id}): {status}"'
    with _filled_with((template, labelled)):
        at = run_page("feed")
        assert list(at.dataframe[0].value["change"])[:2] == [
            "#6 for Cobalt Freight (customer 3): new",
            "#5 for Borealis Labs (customer 2): closed",
        ]
        _ticket(7, "Payroll server offline", priority=1)
        at.run()
        assert not at.exception
        assert [t.value for t in at.toast] == ["#7 for Borealis Labs (customer 2): new"]


def test_a_feed_over_two_channels_merges_them_and_names_each_line_s_channel() -> None:
    alerts = '[[channels]]\nname = "alerts"\nbroadcast = ["raised"]\n\n[[channels]]\nname = "floor"'
    merged = 'channels = ["ops", "alerts"]\n  template = "{event.channel}: {message}"'
    with _filled_with(
        ('[[channels]]\nname = "floor"', alerts),
        ('channel = "ops"\n  template = "{message}"', merged),
    ) as recorder:
        now_ns = time.time_ns()
        recorder.record(broadcast("alerts", "raised", {"message": "Router down again"}, now_ns))
        recorder.record(broadcast("elsewhere", "raised", {"message": "not followed"}, now_ns))
        at = run_page("feed")
    assert list(at.dataframe[1].value["change"]) == [
        "alerts: Router down again",
        "ops: Eli dispatched to Borealis Labs",
        "ops: Dana dispatched to Acme Bakery",
    ]


def test_series_legends_and_the_entity_picker_show_labels_and_pick_by_id() -> None:
    by_customer = 'entity_column = "customer_id"\n  cohort_column = "device_id"'
    with _filled_with(
        ('entity_column = "device_id"\n  cohort_column = "customer_id"', by_customer)
    ):
        at = run_page("series")
        by_entity, by_cohort = charts(at)
        names = {trace["name"] for trace in by_entity["data"]} - {"out of range"}
        assert names == set(fs.CUSTOMERS.values())
        assert {trace["name"] for trace in by_cohort["data"]} - {"out of range"} == set(fs.DEVICES)
        # Every customer's device reported last at the same moment: by id, shown by name.
        assert at.selectbox[0].options == ["(newest)", *(fs.CUSTOMERS[i] for i in (1, 2, 3))]
        at.selectbox[0].select("2").run()  # an id: the picker shows names, picks ids
        assert not at.exception
        (drawn,) = {trace["name"] for trace in charts(at)[0]["data"]} - {"out of range"}
        assert drawn == fs.CUSTOMERS[2]
        (alerts,) = frames(at)
        assert set(alerts["customer_id"]) == {"Borealis Labs", "Cobalt Freight"}
