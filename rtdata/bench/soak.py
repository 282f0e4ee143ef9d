"""``soak`` (opt-in: ``rtdata bench --only soak``): the Streamlit server's memory over a long
wall-mode session.

A fresh ``rtdata demo`` (simulator at 10 changes/s) shows the wall (``/?wall=1``) in one headless
Chromium page, rotating through the default wall pages every 20 s at a 1 s refresh, for
``RTDATA_SOAK_MINUTES`` minutes (default 30). The resident set size of the Streamlit server
process (which also holds the collector and its buffer) is sampled at even intervals; growth is
measured from the end of the warm-up (the first 5 minutes, or the first sixth of a shorter run)
to the end. Needs what the ``browser`` section needs (see :mod:`rtdata.bench.browser`).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Final

from rtdata.bench.browser import WAIT_TIMEOUT_MS, chromium, dashboard, require
from rtdata.bench.common import Figure

__all__ = ["bench_soak", "soak_minutes"]

DEFAULT_MINUTES: Final = 30.0
LIVE_WITHIN_S: Final = 5.0
"""A wall that computed no view for this long is not refreshing (a rotation takes a few s)."""
WARMUP_S: Final = 300.0
"""Warm-up before the growth is measured (capped at a sixth of the run)."""

SOAK_CONFIG: Final = """# written by rtdata bench: the default wall, refreshed every second
[dashboard]
wall_refresh_s = 1.0
wall_rotate_s = 20.0
wall_pages = ["overview", "emergencies", "realtime"]
"""


def soak_minutes() -> float:
    """Minutes the soak runs: ``$RTDATA_SOAK_MINUTES``, else 30.

    Raises:
        ValueError: The variable is not a positive number.
    """
    text = os.environ.get("RTDATA_SOAK_MINUTES") or str(DEFAULT_MINUTES)
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0.0
    if not minutes > 0:
        raise ValueError(f"RTDATA_SOAK_MINUTES must be a positive number of minutes, not {text!r}")
    return minutes


def bench_soak(minutes: float | None = None, samples: int = 120) -> list[Figure]:
    """Run the wall for ``minutes`` (default :func:`soak_minutes`) and report the Streamlit server
    process's RSS after warm-up, at the end, its peak after warm-up and the growth.

    Args:
        minutes: Length of the run.
        samples: RSS samples taken at even intervals (at least 12).

    The wall counts as live in a sample when the Streamlit process computed a view in the
    last :data:`LIVE_WITHIN_S` seconds (one page at a 1 s refresh computes every second); a
    wall that went blank is reported (``soak.wall_live_pct``), not hidden, and every RSS figure
    says so, because a dead wall leaves the server idle.

    Raises:
        RuntimeError: What the browser benchmarks need is missing.
    """
    require()
    duration_s = (soak_minutes() if minutes is None else minutes) * 60
    samples = max(12, samples)
    warmup_s = min(WARMUP_S, duration_s / 6)
    interval_s = duration_s / samples
    with dashboard(SOAK_CONFIG) as dash, chromium() as browser:
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        context.set_default_timeout(WAIT_TIMEOUT_MS)
        page = context.new_page()
        page.goto(f"{dash.url}/?wall=1")
        page.locator('[data-testid="stHeading"]').first.wait_for(timeout=WAIT_TIMEOUT_MS)
        start = time.monotonic()
        rss: list[tuple[float, int]] = []
        live = 0
        for i in range(samples + 1):
            # Pacing the sampler, not synchronisation; it also keeps Playwright's link serviced.
            page.wait_for_timeout(max(0.0, start + i * interval_s - time.monotonic()) * 1000)
            rss.append((time.monotonic() - start, dash.rss_bytes()))
            stats = dash.view_stats()
            live += stats is not None and time.time() - stats[1] <= LIVE_WITHIN_S
    live_pct = live / len(rss) * 100
    caveat = "" if live == len(rss) else f"; the wall was live in only {live_pct:.0f} % of samples"
    elapsed_s = rss[-1][0]
    after = [b for t, b in rss if t >= warmup_s]
    k = max(1, min(5, len(after) // 4))  # medians of k samples, so one allocation burst is noise
    warm, end = statistics.median(after[:k]), statistics.median(after[-k:])
    mb = 1e6
    return [
        Figure("soak.minutes", elapsed_s / 60, "min", "wall mode (rotating, 1 s refresh) watched by one Chromium page"),
        Figure("soak.wall_live_pct", live_pct, "%", f"samples in which the wall had computed a view in the last {LIVE_WITHIN_S:g} s (target 100 %)"),
        Figure("soak.rss_warm_mb", warm / mb, "MB", f"Streamlit server RSS after {warmup_s / 60:.1f} min of warm-up (median of {k} samples{caveat})"),
        Figure("soak.rss_end_mb", end / mb, "MB", f"Streamlit server RSS at the end (median of the last {k} samples{caveat})", "soak.rss_warm_mb"),
        Figure("soak.rss_peak_mb", max(after) / mb, "MB", f"Streamlit server RSS, highest sample after warm-up{caveat}", "soak.rss_warm_mb"),
        Figure("soak.rss_growth_pct", (end - warm) / warm * 100, "%", f"RSS growth from after warm-up to the end (target ≤ 10 %{caveat})"),
    ]  # fmt: skip
