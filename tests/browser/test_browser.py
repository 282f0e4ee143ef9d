"""Headless Chromium against the real demo processes (Debian's chromium; never a download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from rtdata.server.auth import Keys
from tests.browser import ARTIFACTS, CHROMIUM, Demo, hospital_config, launch
from tests.conftest import running_demo
from tests.support import timeout_s, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def demo_url(demo: Demo) -> str:
    """The dashboard URL of the running demo."""
    return demo.dashboard_url


def test_overview_count_increases_in_the_browser(demo_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(demo_url)
            value = page.locator('[data-testid="stMetric"]', has_text="Events per minute").locator(
                '[data-testid="stMetricValue"]'
            )
            value.wait_for(timeout=timeout_s(60) * 1000)
            wait_until(lambda: int(value.inner_text()) > 0, timeout=30, what="a first count")
            first = int(value.inner_text())
            wait_until(
                lambda: int(value.inner_text()) > first, timeout=30, what="the count to rise"
            )
            # The pack's tiles are filled from the project's tables, not left at zero.
            for label in ("Total users", "Active emergencies"):
                tile = page.locator('[data-testid="stMetric"]', has_text=label)
                assert int(tile.locator('[data-testid="stMetricValue"]').inner_text()) > 0, label
            page.get_by_role("heading", name="Latest vitals").wait_for()
            assert page.locator('[data-testid="stException"]').count() == 0
            assert "connected" in page.locator('[data-testid="stSidebar"]').inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
        finally:
            browser.close()


PAGES = ["", "emergencies", "health", "realtime", "events", "presence"]
WEB = ("http", "https", "ws", "wss")  # not data: or blob:, which never leave the browser


def test_every_page_loads_without_an_error_element_or_a_request_off_the_machine(
    demo_url: str,
) -> None:
    # Walls and hospital networks may have no internet: no tiles, fonts, icons or scripts from
    # elsewhere (a Material Symbol favicon, for one, is fetched from Google Fonts).
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            for path in [*PAGES, "?wall=1"]:
                page.goto(f"{demo_url}/{path}")
                page.locator('[data-testid="stHeading"]').first.wait_for(
                    timeout=timeout_s(60) * 1000
                )
                page.wait_for_load_state("networkidle")
                assert page.locator('[data-testid="stException"]').count() == 0, path
                name = {"": "overview", "?wall=1": "wall"}.get(path, path)
                page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)
        finally:
            browser.close()
    hosts = {urlsplit(url).hostname for url in requested if urlsplit(url).scheme in WEB}
    assert hosts == {"localhost"}, sorted(u for u in requested if "localhost" not in u)


def test_a_page_opened_first_after_a_server_start_is_routed_through_app() -> None:
    """A bookmark of /presence as the first request must not run the page script alone
    (Streamlit's pages/ directory mode: file names in the sidebar, no wide layout)."""
    from playwright.sync_api import sync_playwright

    with running_demo() as fresh, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{fresh.dashboard_url}/presence")
            page.locator('[data-testid="stHeading"]', has_text="Presence").wait_for(
                timeout=timeout_s(60) * 1000
            )
            nav = page.locator('[data-testid="stSidebarNav"]')
            wait_until(lambda: "Realtime health" in nav.inner_text(), what="app.py's navigation")
            assert "realtime health" not in nav.inner_text()  # not the pages/ file names
            assert "app" not in nav.inner_text().split()
            main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
            assert main is not None
            assert main["width"] > 900  # layout="wide" from app.py
        finally:
            browser.close()


def test_presence_page_shows_the_simulated_staff_online_by_role_and_hospital_name(
    demo: Demo,
) -> None:
    from playwright.sync_api import sync_playwright

    names = _hospital_names(demo.server_url)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{demo.dashboard_url}/presence")
            value = page.locator('[data-testid="stMetric"]', has_text="Online now").locator(
                '[data-testid="stMetricValue"]'
            )
            value.wait_for(timeout=timeout_s(60) * 1000)
            # The roster signs in 60 % of its 24 people in its first seconds.
            wait_until(lambda: int(value.inner_text()) >= 10, timeout=30, what="staff online")
            main = page.locator('[data-testid="stMain"]')
            page.get_by_role("heading", name="Staff online").wait_for()
            # The bars are named "role · hospital": the hospital by its name, not its id.
            chart = page.locator('[data-testid="stPlotlyChart"]').first
            seen: list[str] = []  # read once per try: a rerun may replace the chart between reads

            def bars() -> bool:
                seen.append(chart.inner_text())
                return " · Hospital" in seen[-1] and "joins and leaves" in seen[-1]

            wait_until(bars, what="bars by role and hospital, and joins and leaves")
            text = seen[-1]
            assert any(role in text for role in ("nurse", "doctor", "paramedic", "dispatcher"))
            assert any(name in text for name in names), (names, text)
            assert "Nobody is online" not in main.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "presence.png"), full_page=True)
        finally:
            browser.close()


def _hospital_names(server_url: str) -> list[str]:
    """The names of the demo's hospitals, read over REST."""
    service = Keys.for_secret().service
    response = httpx.get(
        f"{server_url}/rest/v1/hospitals",
        params={"select": "name"},
        headers={"apikey": service, "Authorization": f"Bearer {service}"},
        timeout=timeout_s(10),
    )
    response.raise_for_status()
    return [row["name"] for row in response.json()]


def test_wall_mode_shows_the_stale_banner_when_the_server_freezes(demo: Demo) -> None:
    from playwright.sync_api import sync_playwright

    service = Keys.for_secret().service
    faults = f"{demo.server_url}/rtdata/v1/faults"
    headers = {"apikey": service, "Authorization": f"Bearer {service}"}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{demo.dashboard_url}/?wall=1")
            # The wall rotates pages by the clock: every page has a heading, not every one tiles.
            page.locator('[data-testid="stHeading"]').first.wait_for(timeout=timeout_s(60) * 1000)
            assert not page.locator('[data-testid="stSidebar"]').is_visible()
            banner = page.locator('[data-testid="rtdata-stale-banner"]')
            assert banner.count() == 0
            httpx.post(faults, json={"action": "freeze"}, headers=headers).raise_for_status()
            try:
                banner.wait_for(timeout=timeout_s(40) * 1000)
                assert "STALE" in banner.inner_text()
                assert "last update" in banner.inner_text()
                page.screenshot(path=str(ARTIFACTS / "wall-stale.png"))
            finally:
                httpx.post(faults, json={"action": "thaw"}, headers=headers).raise_for_status()
        finally:
            browser.close()


def test_wall_rotation_never_leaves_a_blank_page(tmp_path: Path) -> None:
    # A fragment refresh racing a page rotation used to leave Chromium with deltas for the page
    # it no longer showed ("Bad delta path index"), and the wall went blank until reloaded.
    from playwright.sync_api import sync_playwright

    config = hospital_config(
        tmp_path,
        'wall_refresh_s = 1\nwall_rotate_s = 3\nwall_pages = ["overview", "emergencies", "health"]',
    )
    with running_demo({"RTDATA_CONFIG": str(config)}) as demo, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{demo.dashboard_url}/?wall=1")
            seen: list[str] = []
            heading = page.locator('[data-testid="stHeading"]').first

            def next_page_drawn() -> bool:
                if heading.count() and heading.is_visible():
                    title = heading.inner_text().strip()
                    if not seen or seen[-1] != title:
                        seen.append(title)
                return len(seen) >= 5

            # Five pages drawn in turn means four rotations, each followed by a drawn heading.
            try:
                wait_until(next_page_drawn, timeout=60, what="five rotations, each page drawn")
            finally:
                page.screenshot(path=str(ARTIFACTS / "wall-rotation.png"))
                (ARTIFACTS / "wall-rotation.txt").write_text(f"{seen}\n{errors}\n")
            assert {"Overview", "Emergencies", "Health"} <= set(seen)
            assert not [e for e in errors if "delta path" in e], errors
        finally:
            browser.close()


def test_a_wall_page_starts_at_the_top_with_the_rerun_timer_out_of_the_flow(demo: Demo) -> None:
    # A wall has no header, and the rerun timer (an invisible iframe) must not push the page
    # down: the title is the first thing on the screen.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{demo.dashboard_url}/?wall=1")
            heading = page.locator('[data-testid="stHeading"]').first
            heading.wait_for(timeout=timeout_s(60) * 1000)
            timer = page.locator('iframe[title="streamlit_autorefresh.st_autorefresh"]')
            timer.wait_for(state="attached", timeout=timeout_s(30) * 1000)
            holder = page.locator('[data-testid="stElementContainer"]').filter(has=timer)

            def out_of_flow() -> bool:
                box = holder.bounding_box()
                return box is None or box["height"] == 0

            wait_until(out_of_flow, timeout=30, what="the rerun timer out of the flow")
            # Until the feed is live, a stale banner rightly comes first: measure after it.
            banner = page.locator('[data-testid="rtdata-stale-banner"]')
            wait_until(lambda: banner.count() == 0, timeout=60, what="a live feed (no banner)")
            top = heading.bounding_box()
            assert top is not None
            assert top["y"] < 80, top  # 1.5rem of padding, no room kept for a header
        finally:
            browser.close()


def test_health_page_shows_vitals_against_their_bands_resources_and_the_waiting_list(
    demo: Demo,
) -> None:
    from playwright.sync_api import sync_playwright

    names = _hospital_names(demo.server_url)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(f"{demo.dashboard_url}/health")
            for heading in ("Vital signs", "Resources", "Waiting list", "Waiting by hospital"):
                page.get_by_role("heading", name=heading).wait_for(timeout=timeout_s(60) * 1000)
            # One shaded normal band per vital sign (five) on the first chart.
            vitals = page.locator('[data-testid="stPlotlyChart"]').first
            bands = vitals.locator(".shapelayer path")
            wait_until(lambda: bands.count() >= 5, timeout=30, what="the vitals' normal bands")
            # The chart is drawn again on each refresh: its legend is read once it is there.
            wait_until(
                lambda: "heart_rate" in vitals.inner_text(), timeout=30, what="the vitals' legend"
            )
            for label in ("Free beds", "Free ambulances", "Waiting"):
                value = _metric_value(page, label)
                wait_until(lambda v=value: v.inner_text().isdigit(), what=f"{label} filled")
            assert int(_metric_value(page, "Free beds").inner_text()) > 0
            # The resources table names each hospital (the grid keeps a hidden text copy).
            resources = page.locator('[data-testid="stDataFrame"]', has_text="beds free").first
            resources.get_by_text(names[0], exact=True).first.wait_for(
                state="attached", timeout=timeout_s(30) * 1000
            )
            assert page.locator('[data-testid="stException"]').count() == 0
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "health.png"), full_page=True)
        finally:
            browser.close()


def _metric_value(page: Any, label: str) -> Any:
    """The value of the tile labelled exactly ``label``."""
    label_element = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    tile = page.get_by_test_id("stMetric").filter(has=label_element)
    return tile.get_by_test_id("stMetricValue")
