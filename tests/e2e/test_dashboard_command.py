"""``rtdata dashboard``: the packaged dashboard alone, on a configured project, from any folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rtdata.server import LocalServer
from tests.browser import CHROMIUM, healthy, launch
from tests.support import timeout_s, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


def test_rtdata_dashboard_serves_a_configured_project_from_an_empty_folder(
    server: LocalServer, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    env = {
        **os.environ,
        "SUPABASE_URL": server.url,
        "SUPABASE_KEY": server.service_key,
        "RTDATA_HISTORY": "off",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "rtdata.cli", "dashboard", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: a failed test stops Streamlit too
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = proc.stdout.readline() + proc.stdout.readline()
            found = re.search(r"rtdata dashboard: dashboard on (http://localhost:\d+)\n", lines)
            assert found, f"unexpected output: {lines!r}"
            assert f"project {server.url} (Ctrl-C stops it)" in lines
            assert server.service_key not in lines
            url = found.group(1)
            wait_until(lambda: healthy(url), timeout=60, what="the dashboard to answer")
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    # No rtdata.toml in the folder: the pages are built from the project's tables.
                    page.goto(url)
                    page.locator('[data-testid="stHeading"]', has_text="Overview").wait_for(
                        timeout=timeout_s(60) * 1000
                    )
                    nav = page.locator('[data-testid="stSidebarNav"]')
                    wait_until(
                        lambda: "Emergency requests" in nav.inner_text(),
                        timeout=timeout_s(60),
                        what="the discovered tables' pages",
                    )
                    page.goto(f"{url}/emergency_requests")
                    page.locator(
                        '[data-testid="stHeading"]', has_text="Emergency requests"
                    ).wait_for(timeout=timeout_s(60) * 1000)
                    sidebar = page.locator('[data-testid="stSidebar"]')
                    wait_until(
                        lambda: "connected" in sidebar.inner_text(), what="the live connection"
                    )
                    assert page.locator('[data-testid="stException"]').count() == 0
                finally:
                    browser.close()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout_s(30)) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
