"""Headless Chromium: a critical emergency inserted over REST shows on the Emergencies page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from rtdata.server.auth import Keys
from tests.browser import ARTIFACTS, CHROMIUM, Demo, launch
from tests.support import timeout_s

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


def _insert_critical(server_url: str, patient_name: str) -> int:
    """Insert a priority-1 emergency through the local server's REST API; return its id."""
    key = Keys.for_secret().service
    now = datetime.now(UTC).isoformat()
    row = {
        "hospital_id": 1,
        "patient_name": patient_name,
        "emergency_type": "cardiac",
        "priority": 1,
        "status": "pending",
        "lat": 38.7223,
        "lon": -9.1393,
        "pickup_address": "Rua Augusta 1, Santa Maria Maior",
        "created_at": now,
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
            page.get_by_role("heading", name="Emergencies").wait_for(timeout=timeout_s(60) * 1000)
            # The list's grid is drawn once the first live run has finished.
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=timeout_s(60) * 1000)
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
