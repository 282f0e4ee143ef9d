"""The wheel is the product: built, installed in a fresh virtualenv outside the checkout, its
``rtdata demo`` serves the dashboard from an empty folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, ROOT, healthy, launch
from tests.support import timeout_s, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
    pytest.mark.timeout(timeout_s(600)),  # pip installs every dependency (from its cache)
]

PIP = ["-m", "pip", "--disable-pip-version-check", "--quiet"]
DASHBOARD_FILES = {
    "rtdata/dashboard/app.py",
    "rtdata/dashboard/render.py",
    "rtdata/dashboard/.streamlit/config.toml",
    *(f"rtdata/dashboard/pages/{p.name}" for p in (ROOT / "rtdata/dashboard/pages").glob("*.py")),
}

PACK_FILES = {
    str(p.relative_to(ROOT))
    for p in (ROOT / "rtdata/scenarios").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts
}
"""Every file of every scenario pack: code, migrations, assets, config and README."""


def _clean_env() -> dict[str, str]:
    """The environment without anything that would put the checkout on ``sys.path``."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the checkout."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, *PIP, "wheel", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        env=_clean_env(),
    )
    (built,) = out.glob("rtdata-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the checkout with the wheel installed; its ``bin`` folder."""
    venv = tmp_path_factory.mktemp("venv")
    assert not venv.is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    subprocess.run([bin_dir / "python", *PIP, "install", str(wheel)], check=True, env=_clean_env())
    return bin_dir


def test_the_wheel_holds_the_dashboard_and_no_secrets(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert names >= DASHBOARD_FILES
    # The built-in pages (audit only with sign-in); every other page is drawn from
    # rtdata.toml by render.py.
    pages = {n for n in names if n.startswith("rtdata/dashboard/pages/")}
    assert pages == {
        "rtdata/dashboard/pages/audit.py",
        "rtdata/dashboard/pages/events.py",
        "rtdata/dashboard/pages/realtime_health.py",
    }
    assert not [n for n in names if n.endswith("secrets.toml")]


def test_the_wheel_holds_every_scenario_pack_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "rtdata/scenarios/hospital/migrations/0001_hospital.sql" in PACK_FILES
    assert "rtdata/scenarios/hospital/assets/lisbon_districts.geojson" in PACK_FILES
    assert "rtdata/scenarios/hospital/README.md" in PACK_FILES
    assert names >= PACK_FILES


@pytest.fixture
def demo_url(installed: Path, tmp_path: Path) -> Iterator[str]:
    """``rtdata demo`` of the installed wheel, run from an empty folder; stopped with Ctrl-C,
    which must end it cleanly."""
    command = [installed / "rtdata", "demo", "--port", "0", "--dashboard-port", "0"]
    with subprocess.Popen(
        [*command, "--no-history"],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: a failed test stops its children too
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = proc.stdout.readline() + proc.stdout.readline()
            found = re.search(r"dashboard on (http://localhost:\d+)", lines)
            assert found, f"unexpected demo output: {lines!r}"
            assert re.search(r"local server on http://127\.0\.0\.1:\d+", lines), lines
            url = found.group(1)
            wait_until(lambda: healthy(url), timeout=60, what="the dashboard to answer")
            yield url
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout_s(30)) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the demo and the dashboard it started


def test_the_installed_demo_serves_the_overview_from_an_empty_folder(
    installed: Path, demo_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    packaged = subprocess.run(
        [installed / "python", "-c", "import rtdata.dashboard as d; print(d.APP)"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(packaged).is_relative_to(installed.parent)  # the wheel's copy, not the checkout

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(demo_url)
            timeout_ms = timeout_s(60) * 1000
            page.locator('[data-testid="stHeading"]', has_text="Overview").wait_for(
                timeout=timeout_ms
            )
            page.locator('[data-testid="stMetric"]', has_text="Events per minute").wait_for(
                timeout=timeout_ms
            )
            assert page.locator('[data-testid="stMetric"]').count() >= 2
            assert "Emergencies" in page.locator('[data-testid="stSidebarNav"]').inner_text()
            assert page.locator('[data-testid="stException"]').count() == 0
            # The packaged config applies: toolbarMode "viewer" leaves no Deploy button.
            assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
        finally:
            browser.close()
