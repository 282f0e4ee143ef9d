"""Headless Chromium against the real demo processes (Debian's chromium; never a download)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rtdata.server.auth import Keys
from tests.support import timeout_s, wait_until

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = Path(os.environ.get("RTDATA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class Demo:
    """A running `rtdata demo`: where the dashboard and the local server answer."""

    dashboard_url: str
    server_url: str


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """Run `rtdata demo` on free ports; yield its addresses; stop it with Ctrl-C."""
    command = [sys.executable, "-m", "rtdata.cli", "demo", "--port", "0", "--dashboard-port", "0"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"dashboard on (http://localhost:\d+)", line)
            assert match, f"unexpected demo output: {line!r}"
            url = match.group(1)
            server = re.search(r"local server on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
            assert server, "the demo prints the local server's address"
            wait_until(lambda: _healthy(url), timeout=60, what="the dashboard to answer")
            yield Demo(url, server.group(1))
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout_s(30)) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture(scope="module")
def demo_url(demo: Demo) -> str:
    """The dashboard URL of the running demo."""
    return demo.dashboard_url


def launch(playwright: Any) -> Any:
    """Start Debian's chromium headless with the flags this machine needs."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def test_overview_count_increases_in_the_browser(demo_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
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
            assert page.locator('[data-testid="stException"]').count() == 0
            assert "connected" in page.locator('[data-testid="stSidebar"]').inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
        finally:
            browser.close()


PAGES = ["", "emergencies", "health", "realtime", "events", "presence"]


def test_every_page_loads_without_an_error_element(demo_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for path in PAGES:
                page.goto(f"{demo_url}/{path}")
                page.locator('[data-testid="stHeading"]').first.wait_for(
                    timeout=timeout_s(60) * 1000
                )
                page.wait_for_load_state("networkidle")
                assert page.locator('[data-testid="stException"]').count() == 0, path
                page.screenshot(
                    path=str(ARTIFACTS / f"page-{path or 'overview'}.png"), full_page=True
                )
        finally:
            browser.close()


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
            page.locator('[data-testid="stMetricValue"]').first.wait_for(
                timeout=timeout_s(60) * 1000
            )
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
