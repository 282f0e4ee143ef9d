"""The README screenshots: every page of the hospital demo, and its wall showing Emergencies.

Run from a checkout (Debian's chromium, never a downloaded browser)::

    PYTHONPATH=$PWD python -m tests.browser.screenshots            # into tests/screenshots
    PYTHONPATH=$PWD python -m tests.browser.screenshots --warmup-s 0 --out /tmp/shots

With ``--scenario NAME`` it takes every page of that pack instead, into ``<out>/packs``
(:func:`pack_pages`), and its first page again as ``<out>/packs/NAME.png`` for the README. Otherwise it starts ``rtdata demo`` with the pack's config (its wall showing Emergencies only), opens the
dashboard, lets the demo run ``--warmup-s`` seconds (three minutes by default: staff online,
history recorded, charts and sparklines with some length), then takes each page at 1400x900
and the wall at 1920x1080 once the page is drawn, live, and no element awaits a rerun. ``tests/browser/test_screenshots.py``
runs it with no warm-up into ``tests/artifacts/screenshots``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.browser import ROOT, hospital_config, launch
from tests.conftest import running_demo
from tests.support import timeout_s, wait_until

README_SHOTS = ROOT / "tests" / "screenshots"
"""Where the README's screenshots live."""

PLOTTED = '[data-testid="stPlotlyChart"] .main-svg'
"""A plotly chart that has drawn (its SVG is in), not only its placeholder."""

PAGES = {
    "overview": ("", '[data-testid="stMetric"]'),
    "emergencies": ("emergencies", PLOTTED),
    "health": ("health", PLOTTED),
    "presence": ("presence", PLOTTED),
    "realtime": ("realtime", PLOTTED),
    "events": ("events", '[data-testid="stDataFrame"]'),
}
"""Screenshot name: (URL path, an element the page draws once its data is in)."""


def take(out: Path, warmup_s: float = 180.0) -> list[Path]:
    """Run the demo, take every screenshot into ``out`` and return their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="rtdata-shots-") as scratch:
        config = hospital_config(Path(scratch), 'wall_pages = ["emergencies"]')
        with running_demo({"RTDATA_CONFIG": str(config)}) as demo, sync_playwright() as pw:
            browser = launch(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                # The overview first: the dashboard connects on its first visit (and its tiles
                # start their history), and Streamlit shows "Page not found" over the first
                # page a fresh server is asked for by path (streamlit/streamlit#8860).
                page.goto(demo.dashboard_url)
                _settle(page, PAGES["overview"][1])
                # Not a synchronisation: the demo accumulates minutes of data for the pictures.
                threading.Event().wait(warmup_s)
                for name, (path, drawn) in PAGES.items():
                    page.goto(f"{demo.dashboard_url}/{path}")
                    _settle(page, drawn)
                    taken.append(out / f"{name}.png")
                    page.screenshot(path=str(taken[-1]))
                wall = browser.new_page(viewport={"width": 1920, "height": 1080})
                wall.goto(f"{demo.dashboard_url}/?wall=1")
                wall.get_by_role("heading", name="Emergencies", exact=True).wait_for(
                    timeout=timeout_s(60) * 1000
                )
                _settle(wall, PLOTTED)
                taken.append(out / "wall.png")
                wall.screenshot(path=str(taken[-1]))
            finally:
                browser.close()
    return taken


PACK_DRAWN = (
    '[data-testid="stMetric"], [data-testid="stPlotlyChart"] .main-svg, [data-testid="stDataFrame"]'
)
"""Any of what a pack's page draws once its data is in."""

EMPTY = ("Nothing yet.", "Nobody is online")
"""What a widget says when it has nothing to show."""


def pack_pages(scenario: str, out: Path, warmup_s: float = 0.0) -> dict[str, str]:
    """Run ``rtdata demo --scenario`` and open every page of the pack (its own, then Realtime
    health and Events) in Chromium: wait until each shows data (at most 30 s), take it into
    ``out/<scenario>-<page>.png`` and return each page's text, by page name."""
    from playwright.sync_api import sync_playwright

    from rtdata.config import load_config
    from rtdata.scenarios import get_scenario

    pack = get_scenario(scenario)
    names = [page.name for page in load_config(pack.config_path).pages]
    out.mkdir(parents=True, exist_ok=True)
    shown: dict[str, str] = {}
    with running_demo(scenario=scenario) as demo, sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(demo.dashboard_url)  # the first page first (streamlit/streamlit#8860)
            _settle(page, PACK_DRAWN)
            # Not a synchronisation: the demo accumulates data for the pictures.
            threading.Event().wait(warmup_s)
            for name in [*names, "realtime", "events"]:
                path = "" if name == names[0] else name
                page.goto(f"{demo.dashboard_url}/{path}")
                _settle(page, PACK_DRAWN)
                main = page.locator('[data-testid="stMain"]')
                try:
                    wait_until(
                        lambda main=main: not any(e in main.inner_text() for e in EMPTY),
                        timeout=30,
                        what=f"{scenario}/{name} to show data in every widget",
                    )
                except AssertionError as exc:
                    raise AssertionError(f"{exc}: {main.inner_text()[:3000]}") from None
                page.screenshot(path=str(out / f"{scenario}-{name}.png"))
                shown[name] = main.inner_text()
        finally:
            browser.close()
    return shown


def _settle(page: Any, drawn: str) -> None:
    """Wait for the page's heading and ``drawn``, for the live feed (no stale banner), for the
    network to rest, and for no element to be stale (greyed while a rerun is under way)."""
    page.locator('[data-testid="stHeading"]').first.wait_for(timeout=timeout_s(60) * 1000)
    page.locator(drawn).first.wait_for(timeout=timeout_s(60) * 1000)
    main = page.locator('[data-testid="stMain"]')
    wait_until(lambda: "STALE" not in main.inner_text(), timeout=60, what="the live feed")
    page.wait_for_load_state("networkidle")
    stale = page.locator('[data-stale="true"]')
    wait_until(lambda: stale.count() == 0, timeout=30, what="no stale element")
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{page.url}: {errors.first.inner_text()[:2000]}"


def main() -> None:
    """Take the screenshots from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=README_SHOTS)
    parser.add_argument("--warmup-s", type=float, default=180.0)
    parser.add_argument("--scenario", help="take every page of this pack instead (into OUT/packs)")
    args = parser.parse_args()
    if args.scenario:
        shown = pack_pages(args.scenario, args.out / "packs", args.warmup_s)
        first = args.out / "packs" / f"{args.scenario}-{next(iter(shown))}.png"
        readme = args.out / "packs" / f"{args.scenario}.png"  # the README shows the first page
        shutil.copyfile(first, readme)
        print(readme)
        return
    for path in take(args.out, args.warmup_s):
        print(path)


if __name__ == "__main__":
    main()
