"""Headless Chromium: the Emergencies page (the hospital pack's map, board and breakdown); a
critical emergency inserted over REST shows on the board and as a toast."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rtdata.server.auth import Keys
from tests.browser import ARTIFACTS, CHROMIUM, Demo, launch
from tests.support import timeout_s, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


def _insert_critical(server_url: str, patient_name: str) -> int:
    """Insert a priority-1 emergency through the local server's REST API; return its id.

    It was called in an hour ago: the board lists open calls by priority, oldest first, so it
    is the first critical row, in the grid's visible rows whatever the simulator has open.
    """
    key = Keys.for_secret().service
    now = datetime.now(UTC).isoformat()
    called = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    row = {
        "hospital_id": 1,
        "patient_name": patient_name,
        "emergency_type": "cardiac",
        "priority": 1,
        "status": "pending",
        "lat": 38.7223,
        "lon": -9.1393,
        "pickup_address": "Rua Augusta 1, Santa Maria Maior",
        "created_at": called,
        "updated_at": now,
    }
    response = httpx.post(
        f"{server_url}/rest/v1/emergency_requests",
        json=row,
        headers={
            "apikey": key,
            "Authorization": f"Bearer {key}",
            "Prefer": "return=representation",
        },
        timeout=timeout_s(10),
    )
    response.raise_for_status()
    return int(response.json()[0]["id"])


def test_new_critical_emergency_shows_in_the_list_and_as_a_toast(demo: Demo) -> None:
    from playwright.sync_api import sync_playwright

    patient = f"Browser Test {uuid.uuid4().hex[:8]}"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(f"{demo.dashboard_url}/emergencies")
            page.get_by_role("heading", name="Emergencies", exact=True).wait_for(
                timeout=timeout_s(60) * 1000
            )
            # The map: district shapes and open emergencies coloured by status, with a legend.
            drawn = page.get_by_text(re.compile(r"^\d+ of \d+ rows drawn$"))
            drawn.wait_for(timeout=timeout_s(60) * 1000)
            assert int(drawn.inner_text().split()[0]) > 0
            chart = page.locator('[data-testid="stPlotlyChart"]').first
            # The legend and a district's name on its shape (read together: a live refresh may
            # redraw the chart between two reads).
            wait_until(
                lambda: all(t in chart.inner_text() for t in ("pending (", "Santa Maria Maior")),
                what="the map's legend and district names",
            )
            # The board: a count per status, then the open calls (drawn after the first run).
            page.get_by_role("heading", name="Emergency board").wait_for()
            page.locator('[data-testid="stMetric"]', has_text="SLA breaches").wait_for()
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=timeout_s(60) * 1000)
            page.get_by_role("heading", name="Open emergencies by hospital").wait_for()
            emergency_id = _insert_critical(demo.server_url, patient)
            # The toast first: it fades after a few seconds, the list row stays.
            toast = page.locator('[data-testid="stToast"]', has_text=f"#{emergency_id}")
            toast.first.wait_for(timeout=timeout_s(30) * 1000)
            # The grid is a canvas; it keeps a hidden accessible copy of the visible cells.
            page.locator('[data-testid="stDataFrame"]').first.get_by_text(patient).wait_for(
                state="attached", timeout=timeout_s(30) * 1000
            )
            assert page.locator('[data-testid="stException"]').count() == 0
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "emergencies.png"), full_page=True)
        finally:
            browser.close()
