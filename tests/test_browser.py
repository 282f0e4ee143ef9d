"""Headless Chromium against the real demo processes (Debian's chromium; never a download)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """Run `rtdata demo` on free ports; yield the dashboard URL; stop it with Ctrl-C."""
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
            wait_until(lambda: _healthy(url), timeout=60, what="the dashboard to answer")
            yield url
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout_s(30)) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


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
