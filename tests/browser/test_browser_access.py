"""Sign-in in a real browser: ``rtdata demo --require-sign-in`` in headless Chromium.

Before sign-in no row data reaches the browser, in the page's text, its HTML or the websocket
frames Streamlit sends (every frame is captured and searched for row values read over REST);
a wrong password shows an error and nothing else; the demo admin then sees data; signing out
returns to the sign-in form; the wall user sees only the wall.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rtdata.server.auth import Keys
from tests.browser import Demo, launch
from tests.conftest import running_demo
from tests.support import secret, timeout_s, wait_until

CREDENTIALS = re.compile(r"sign in as (\w+): (\S+) / (\S+)")
SCOPED = re.compile(r"sign in as clinic: (\S+) / (\S+)  \(only rows with tenant_id = (\S+)\)")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's state folder (its audit log)."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def demo(state: Path) -> Iterator[Demo]:
    with running_demo(env={"RTDATA_STATE_DIR": str(state)}, args=["--require-sign-in"]) as run:
        yield run


def credentials(demo: Demo) -> dict[str, tuple[str, str]]:
    """role -> (email, password), as the demo printed them once."""

    def printed() -> dict[str, tuple[str, str]]:
        found = (CREDENTIALS.search(line) for line in list(demo.output))
        return {m[1]: (m[2], m[3]) for m in found if m}

    wait_until(lambda: len(printed()) >= 3, timeout=30, what="the demo users' credentials")
    users = printed()
    for _, password in users.values():
        secret(password)  # printed once, by design; never to be found anywhere else
    return users


def row_values(demo: Demo) -> list[str]:
    """Texts only the project's rows hold: hospital and patient names, read with the service
    key over REST."""
    service = Keys.for_secret().service
    headers = {"apikey": service, "Authorization": f"Bearer {service}"}
    values: list[str] = []
    for table, column in (("hospitals", "name"), ("emergency_requests", "patient_name")):

        def read(table: str = table, column: str = column) -> list[str]:
            response = httpx.get(
                f"{demo.server_url}/rest/v1/{table}",
                params={"select": column},
                headers=headers,
                timeout=timeout_s(10),
            )
            return [str(r[column]) for r in response.json() if r[column]]

        wait_until(lambda read=read: bool(read()), timeout=30, what=f"rows in {table}")
        values += read()
    return sorted({v for v in values if len(v) >= 6})


class Browser:
    """One Chromium page on the demo, keeping every websocket frame it receives."""

    def __init__(self, playwright: Any) -> None:
        self.browser = launch(playwright)
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 900})
        self.frames: list[bytes] = []
        self.page.on("websocket", self._follow)

    def _follow(self, ws: Any) -> None:
        ws.on("framereceived", lambda payload: self.frames.append(_bytes(payload)))

    def leaked(self, values: list[str]) -> list[str]:
        """The values found in the page's text, its HTML or any frame received so far."""
        text = self.page.inner_text("body") + self.page.content()
        frames = b"".join(self.frames)
        return [v for v in values if v in text or v.encode() in frames]


def _bytes(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else str(payload).encode()


def at_sign_in(browser: Browser, url: str) -> None:
    """Open ``url`` and wait for the sign-in form."""
    browser.page.goto(url)
    browser.page.get_by_role("heading", name="Sign in").wait_for(timeout=timeout_s(60) * 1000)


def sign_in(browser: Browser, email: str, password: str) -> None:
    page = browser.page
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_no_row_data_before_sign_in_then_the_admin_sees_data_and_signs_out(
    demo: Demo, state: Path
) -> None:
    from playwright.sync_api import sync_playwright

    users = credentials(demo)
    values = row_values(demo)
    assert values
    with sync_playwright() as playwright:
        browser = Browser(playwright)
        try:
            page = browser.page
            at_sign_in(browser, demo.dashboard_url)
            at_sign_in(browser, f"{demo.dashboard_url}/emergencies")  # a page of rows, by URL
            assert browser.frames, "no websocket frame was captured"
            assert browser.leaked(values) == []

            email, _ = users["admin"]
            sign_in(browser, email, "not-the-password")
            page.get_by_text("Wrong email or password.").wait_for()
            assert browser.leaked(values) == []

            sign_in(browser, *users["admin"])
            page.get_by_text(f"Signed in as {email}").wait_for(timeout=timeout_s(60) * 1000)
            wait_until(lambda: bool(browser.leaked(values)), timeout=60, what="rows after sign-in")

            # A download is audited: who, what and how many rows, never a row.
            page.get_by_role("link", name="Events").click()  # a reload would be a new session
            page.get_by_role("heading", name="Events").wait_for(timeout=timeout_s(60) * 1000)
            with page.expect_download(timeout=timeout_s(60) * 1000) as download:
                page.locator('[data-testid="stDownloadButton"] button', has_text="CSV").click()
            assert download.value.suggested_filename == "events.csv"
            # No table offers a download of its own, which the audit log would not see: its
            # toolbar (shown on hover) has no "Download as CSV".
            page.locator('[data-testid="stDataFrame"]').first.hover()
            page.locator('[data-testid="stElementToolbar"]').first.wait_for()
            assert page.locator('[aria-label="Download as CSV"]').count() == 0
            wait_until(
                lambda: '"export"' in (state / "audit.jsonl").read_text(),
                timeout=30,
                what="the export's audit entry",
            )
            log = (state / "audit.jsonl").read_text()
            assert f'"who": "{email}"' in log or f'"who":"{email}"' in log
            assert not [v for v in values if v in log]

            page.get_by_role("button", name="Sign out").click()
            page.get_by_role("heading", name="Sign in").wait_for(timeout=timeout_s(30) * 1000)
            # The signed-in page's elements stay until the run that signed out has finished.
            wait_until(
                lambda: page.get_by_text(f"Signed in as {email}").count() == 0,
                timeout=30,
                what="the signed-in sidebar gone",
            )
        finally:
            browser.browser.close()


def test_the_wall_user_sees_only_the_wall(demo: Demo) -> None:
    from playwright.sync_api import sync_playwright

    users = credentials(demo)
    with sync_playwright() as playwright:
        browser = Browser(playwright)
        try:
            page = browser.page
            at_sign_in(browser, demo.dashboard_url)
            sign_in(browser, *users["wall"])
            # The wall: no navigation, the wall's refresh; a page's title is shown.
            page.locator('[data-testid="stHeading"]').first.wait_for(timeout=timeout_s(60) * 1000)
            wait_until(
                lambda: (
                    page.locator('[data-testid="stSidebarNav"]').count() == 0
                    and page.get_by_role("heading", name="Sign in").count() == 0
                ),
                timeout=30,
                what="the wall without navigation",
            )
        finally:
            browser.browser.close()


# ---------------------------------------------------------------- row scoping


@pytest.fixture(scope="module")
def telehealth(state: Path) -> Iterator[Demo]:
    """The telehealth pack's demo with sign-in: it also makes a clinic's staff user."""
    env = {"RTDATA_STATE_DIR": str(state)}
    with running_demo(env=env, scenario="telehealth", args=["--require-sign-in"]) as run:
        yield run


def other_clinics(demo: Demo, own: str) -> list[str]:
    """Texts only other clinics' rows hold: their names and ids, and the names of their
    patients and providers (read with the service key over REST)."""
    service = Keys.for_secret().service
    headers = {"apikey": service, "Authorization": f"Bearer {service}"}

    def read(table: str, select: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{demo.server_url}/rest/v1/{table}",
            params={"select": select},
            headers=headers,
            timeout=timeout_s(10),
        )
        rows: list[dict[str, Any]] = response.json()
        return rows

    wait_until(lambda: len(read("tenants", "id")) >= 2, timeout=30, what="the clinics")
    wait_until(lambda: bool(read("patients", "id")), timeout=30, what="patients")
    people = [r for t in ("patients", "providers") for r in read(t, "full_name,tenant_id")]
    ours = {r["full_name"] for r in people if r["tenant_id"] == own}
    values = {v for r in read("tenants", "id,name") if r["id"] != own for v in (r["id"], r["name"])}
    values |= {r["full_name"] for r in people if r["tenant_id"] != own} - ours
    return sorted(v for v in values if len(v) >= 6)


def test_a_clinics_staff_see_only_their_clinic_in_the_browser(telehealth: Demo) -> None:
    from playwright.sync_api import sync_playwright

    def printed() -> re.Match[str] | None:
        found = (SCOPED.search(line) for line in list(telehealth.output))
        return next((m for m in found if m), None)

    wait_until(lambda: printed() is not None, timeout=60, what="the clinic user's credentials")
    match = printed()
    assert match is not None
    email, password, own = match[1], secret(match[2]), match[3]
    values = other_clinics(telehealth, own)
    assert len(values) > 10
    with sync_playwright() as playwright:
        browser = Browser(playwright)
        try:
            page = browser.page
            at_sign_in(browser, telehealth.dashboard_url)
            sign_in(browser, email, password)
            page.get_by_text(f"Signed in as {email}").wait_for(timeout=timeout_s(60) * 1000)
            page.get_by_text(f"Rows shown: tenant_id = {own}").wait_for()
            # Their own rows arrive (the clinic's name, by [labels]), others' never do.
            wait_until(
                lambda: "Lakeside Orthopaedics" in page.inner_text("body"),
                timeout=60,
                what="the clinic's own rows",
            )
            for link in ("Alert acknowledgement", "Patient activity", "Care team", "Events"):
                page.get_by_role("link", name=link).click()
                page.get_by_role("heading", name=link.split(" ")[0]).first.wait_for(
                    timeout=timeout_s(60) * 1000
                )
                # Frames too: a table's cells (and an Arrow dictionary of its categories)
                # travel in them, though a canvas draws them.
                assert browser.leaked(values) == [], link
            with page.expect_download(timeout=timeout_s(60) * 1000) as download:
                page.locator('[data-testid="stDownloadButton"] button', has_text="CSV").click()
            exported = Path(download.value.path()).read_text()
            assert own in exported
            bad = [line for line in exported.splitlines() if any(v in line for v in values)]
            assert bad == [], bad[:3]
            assert browser.leaked(values) == []
        finally:
            browser.browser.close()
