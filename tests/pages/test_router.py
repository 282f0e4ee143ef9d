"""AppTest of the router (``app.py``): configured pages, zero-config pages, config problems,
wall mode and the stale banner every page carries.

Each test makes the pages read its own recorder (``ui.use_recorder``); ``conftest`` resets it.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rtdata import ui
from rtdata.config import Binding, Channel, Config, parse_config
from rtdata.lifecycle import ConnectionState
from rtdata.recorder import Recorder
from rtdata.settings import Settings
from tests.pages import field_service as fs
from tests.pages import hospital_pack
from tests.pages.harness import S_NS, change, frames, metrics, run_app, run_page


def navigation(at: AppTest) -> list[tuple[str, str]]:
    """The pages the router registered with ``st.navigation``: (title, URL path), in order.

    AppTest has no public view of the navigation; this reads the registry it keeps to switch
    pages.
    """
    return [(str(p["page_name"]), str(p["url_pathname"])) for p in at._registered_pages.values()]


# ---------------------------------------------------------------- configured pages


def test_the_router_opens_the_hospital_overview_and_lists_every_page() -> None:
    filled = hospital_pack.filled()
    ui.use_recorder(filled.recorder)
    at = run_app()
    assert at.title[0].value == "Overview"
    shown = metrics(at)
    open_calls = [
        e
        for e in filled.replay.rows["emergency_requests"].values()
        if e["status"] in ("pending", "accepted", "en_route", "on_scene")
    ]
    assert shown["Active emergencies"] == str(len(open_calls))
    assert shown["Total users"] == str(len(filled.replay.rows["profiles"]))
    assert navigation(at) == [
        ("Overview", ""),
        ("Emergencies", "emergencies"),
        ("Health", "health"),
        ("Presence", "presence"),
        ("Realtime health", "realtime"),
        ("Events", "events"),
    ]


def test_the_router_opens_another_app_at_its_first_page() -> None:
    ui.use_recorder(fs.filled())
    at = run_app()
    assert at.title[0].value == "Desk overview"
    assert metrics(at)["Open tickets"] == "4"
    assert navigation(at) == [
        ("Desk overview", ""),
        ("Ticket board", "lifecycle"),
        ("Latest tickets", "queue"),
        ("Open by customer", "breakdown"),
        ("Activity", "feed"),
        ("Sensors", "series"),
        ("Technicians", "map"),
        ("Floor", "roster"),
        ("Realtime health", "realtime"),
        ("Events", "events"),
    ]


# ---------------------------------------------------------------- zero configuration


@pytest.fixture(params=["schema", "rows only"])
def zero_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Recorder]:
    """The field-service tables followed with no config at all, the project's schema read
    (or not yet)."""
    recorder = fs.fill(Recorder(Settings(config=Config(), tables=fs.TABLES)))
    recorder.schema = fs.schema(tmp_path) if request.param == "schema" else None
    ui.use_recorder(recorder)
    yield recorder
    ui.use_recorder(None)


def test_zero_config_opens_an_overview_with_a_tile_per_table(zero_config: Recorder) -> None:
    at = run_app()
    assert at.title[0].value == "Overview"
    shown = metrics(at)
    rows = {
        "tickets": len(fs.TICKETS),
        "customers": len(fs.CUSTOMERS),
        "technicians": len(fs.TECHNICIANS),
        "sensor readings": len(fs.DEVICES) * fs.READINGS_PER_DEVICE,
    }
    assert {k: v for k, v in shown.items() if k.endswith(": rows")} == {
        f"{table}: rows": str(n) for table, n in rows.items()
    }
    assert "Events per minute" in shown
    assert navigation(at) == [
        ("Overview", ""),
        ("Tickets", "tickets"),
        ("Customers", "customers"),
        ("Technicians", "technicians"),
        ("Sensor readings", "sensor_readings"),
        ("Realtime health", "realtime"),
        ("Events", "events"),
    ]


def test_zero_config_table_pages_board_a_status_column(zero_config: Recorder) -> None:
    tickets = run_page("tickets")
    assert tickets.title[0].value == "Tickets"
    assert [h.value for h in tickets.subheader] == [
        "tickets by status",
        "Rows by status",
        "Newest rows",
    ]
    statuses = ["new", "assigned", "in_progress", "resolved", "closed"]
    if zero_config.schema is None:  # the statuses the rows hold, sorted
        statuses = sorted(statuses)
    counts = {s: "1" for s in statuses} | {"new": "2"}
    assert {k: v for k, v in metrics(tickets).items() if k in statuses} == counts
    assert list(metrics(tickets))[2:-1] == statuses  # after the two tiles, before breaches
    open_items = frames(tickets)[0]
    customers = set(open_items["customer_id"])
    if zero_config.schema is None:  # no foreign keys known: ids
        assert customers == {1, 2, 3}
    else:  # tickets.customer_id references customers, whose name labels it
        assert customers == {"Acme Bakery", "Borealis Labs", "Cobalt Freight"}
    plain = run_page("customers")
    assert [h.value for h in plain.subheader] == ["Newest rows"]  # no status column, no board
    assert sorted(frames(plain)[0]["name"]) == sorted(fs.CUSTOMERS.values())


# ---------------------------------------------------------------- config problems


MISSPELT = fs.CONFIG.replace('order = "updated_at.desc"', 'order = "updated.desc"')


def test_a_column_the_schema_lacks_shows_one_error_instead_of_pages(tmp_path: Path) -> None:
    recorder = fs.fill(Recorder(Settings(config=parse_config(MISSPELT, fs.SOURCE))))
    recorder.schema = fs.schema(tmp_path)
    ui.use_recorder(recorder)
    at = run_app()
    (error,) = at.error
    assert re.findall(r"^- `(.*)`$", error.value, re.MULTILINE) == [
        "field-service/rtdata.toml: pages[2].widgets[0].order: "
        "table 'tickets' has no column 'updated' (did you mean 'updated_at'?)"
    ]
    assert not at.title
    assert not at.metric
    assert not at.dataframe


def test_columns_are_checked_once_the_schema_is_known() -> None:
    ui.use_recorder(fs.fill(Recorder(Settings(config=parse_config(MISSPELT, fs.SOURCE)))))
    at = run_app()
    assert not at.error
    assert at.title[0].value == "Desk overview"


DISCOVERED = """
[[pages]]
name = "desk"
title = "Desk"
  [[pages.widgets]]
  type = "queue"
  table = "tickets"
  [[pages.widgets]]
  type = "map"
  table = "technicians"
  lat_column = "lat"
  lon_column = "lon"
"""
"""Pages of a config without channels: the collector discovers the project's tables."""


def test_a_table_the_project_does_not_expose_is_an_error_once_tables_are_discovered() -> None:
    config = parse_config(DISCOVERED, fs.SOURCE)
    recorder = Recorder(Settings(config=config))
    ui.use_recorder(recorder)
    before = run_app()
    assert not before.error  # not discovered yet: nothing looks unfollowed
    assert before.title[0].value == "Desk"
    found = Channel("rtdata-tables", postgres_changes=(Binding("tickets"), Binding("customers")))
    discovered = dataclasses.replace(config, channels=(found,))
    recorder.follow(dataclasses.replace(recorder.settings, config=discovered, tables=None))
    after = run_app()
    (error,) = after.error
    assert "field-service/rtdata.toml: pages[0].widgets[1].table: " in error.value
    assert "table 'technicians' is not followed" in error.value
    assert "tickets" not in error.value.split("technicians")[1]  # only the missing table
    assert not after.title


def test_a_project_with_no_keyed_table_says_so_instead_of_waiting() -> None:
    from rtdata.introspect import ColumnInfo, ProjectSchema, TableInfo

    recorder = Recorder(Settings(config=Config()))
    ui.use_recorder(recorder)
    waiting = run_app()
    assert any("Reading the project's tables" in i.value for i in waiting.info)
    view = TableInfo("open_orders_view", {"n": ColumnInfo("n", "bigint")})
    recorder.schema = ProjectSchema({"open_orders_view": view})
    told = run_app()
    (warning,) = [w for w in told.warning if "primary key" in w.value]  # and the stale banner
    assert "no table with a primary key" in warning.value
    assert "open_orders_view" in warning.value
    assert not told.info


# ---------------------------------------------------------------- wall mode


def test_a_wall_hides_the_navigation_and_shows_one_page_of_its_rotation() -> None:
    ui.use_recorder(hospital_pack.filled().recorder)
    at = run_app(wall=True)
    assert at.title[0].value in {"Overview", "Emergencies", "Realtime health"}  # wall_pages
    assert not at.sidebar.button  # no Reconnect button, no sidebar chrome on a wall
    assert navigation(at) == [("Wall", "")]


def test_a_wall_shows_the_page_of_the_current_rotation_slot() -> None:
    recorder = fs.filled()
    ui.use_recorder(recorder)
    rotation = ["lifecycle", "map"]  # [dashboard] wall_pages
    titles = {"lifecycle": "Ticket board", "map": "Technicians"}
    rotate_s = recorder.settings.config.dashboard.wall_rotate_s
    for _ in range(3):  # a run that straddles a rotation boundary is run again
        slot = int(time.time() // rotate_s)
        at = run_app(wall=True)
        if int(time.time() // rotate_s) == slot:
            break
    assert at.title[0].value == titles[rotation[slot % len(rotation)]]


# ---------------------------------------------------------------- stale banner


def _banner(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "rtdata-stale-banner" in m.value]


def test_a_page_warns_that_data_is_not_live_before_the_feed_connects() -> None:
    ui.use_recorder(fs.config_recorder())
    at = run_page("tiles")
    (warning,) = at.warning
    assert warning.value == "STALE: live feed idle, data is not current · last update never"


def test_a_live_feed_shows_no_banner() -> None:
    recorder = fs.config_recorder()
    recorder.transition(ConnectionState.CONNECTING, "test")
    recorder.transition(ConnectionState.SUBSCRIBED, "test")
    recorder.record(change("customers", "INSERT", {"id": 1, "name": "Acme"}, time.time_ns()))
    ui.use_recorder(recorder)
    assert not run_page("tiles").warning
    assert not _banner(run_page("tiles", wall=True))


def test_a_wall_shows_a_full_width_banner_when_changes_stop_arriving() -> None:
    recorder = fs.config_recorder()
    recorder.transition(ConnectionState.CONNECTING, "test")
    recorder.transition(ConnectionState.SUBSCRIBED, "test")
    quiet_ns = time.time_ns() - 60 * S_NS
    recorder.record(change("customers", "INSERT", {"id": 1, "name": "Acme"}, quiet_ns))
    ui.use_recorder(recorder)
    assert not run_page("tiles").warning  # a browser shows a quiet feed as it is
    (banner,) = _banner(run_page("tiles", wall=True))
    assert "STALE: no change received recently · last update " in banner


def test_a_page_says_when_data_comes_from_polling() -> None:
    recorder = fs.config_recorder()
    for state in ("CONNECTING", "SUBSCRIBED", "RECONNECTING", "POLLING"):
        recorder.transition(ConnectionState[state], "test")
    ui.use_recorder(recorder)
    (warning,) = run_page("tiles").warning
    assert warning.value.startswith("FALLBACK: live feed down, data refreshed over REST")
