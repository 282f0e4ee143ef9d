"""The ``browser`` and ``soak`` bench sections, with tiny parameters, on a real Chromium."""

from __future__ import annotations

import math

import pytest

from rtdata import bench
from rtdata.bench.browser import chromium_path
from rtdata.bench.common import Figure

needs_chromium = pytest.mark.skipif(
    not chromium_path().exists(), reason=f"{chromium_path()} not installed (make chromium)"
)


def _check(figures: list[Figure]) -> dict[str, float]:
    by_key = {f.key: f for f in figures}
    for f in figures:
        assert math.isfinite(f.value), f
        assert f.baseline is None or f.baseline in by_key, f
    return {f.key: f.value for f in figures}


@pytest.mark.slow
@needs_chromium
def test_browser_section_reports_plausible_figures() -> None:
    from rtdata.bench.browser import bench_browser

    values = _check(
        bench_browser(pages=("presence",), refreshes=2, viewers=(1, 2), window_s=2, samples=2)
    )
    for page in ("presence",):
        assert values[f"browser.payload_{page}_kb"] > 0
        assert values[f"browser.payload_{page}_load_kb"] > 0
    for key in ("commit_to_pixel", "polling_5s"):
        assert 0 < values[f"browser.{key}_p50_ms"] <= values[f"browser.{key}_p95_ms"] < 60_000
    assert values["browser.cpu_0_viewers_pct"] >= 0
    for n in (1, 2):
        assert values[f"browser.cpu_{n}_viewers_pct"] > 0
        assert values[f"browser.view_computations_{n}_viewers_per_tick"] > 0
        assert values[f"browser.refresh_{n}_viewers_hz"] > 0
        assert 1 <= values[f"browser.rendered_{n}_viewers"] <= n
        assert values[f"browser.chromium_cpu_{n}_viewers_pct"] > 0


@pytest.mark.slow
@needs_chromium
def test_browser_section_measures_a_baseline_checkout_beside_this_one() -> None:
    from rtdata.bench.browser import bench_browser
    from rtdata.bench.checkout import THIS_CHECKOUT

    # This checkout as its own baseline: two demos, the same measurements, twin keys.
    figures = bench_browser(
        pages=("overview",),
        refreshes=1,
        viewers=(1,),
        window_s=2,
        samples=1,
        baseline=THIS_CHECKOUT,
    )
    values = _check(figures)
    twins = {f.key: f.baseline for f in figures if not f.key.startswith("browser.before.")}
    assert twins
    for key, twin in twins.items():
        assert twin == key.replace("browser.", "browser.before.", 1)
    assert values["browser.payload_overview_kb"] > 0
    assert values["browser.before.payload_overview_kb"] > 0
    assert values["browser.before.view_computations_1_viewers_per_tick"] > 0


@pytest.mark.slow
@needs_chromium
def test_soak_section_reports_rss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDATA_SOAK_MINUTES", "0.1")
    values = _check(bench.run(["soak"]))
    assert 0.09 < values["soak.minutes"] < 0.2
    assert values["soak.rss_warm_mb"] > 10
    assert values["soak.rss_peak_mb"] >= values["soak.rss_warm_mb"]
    assert "soak.rss_growth_pct" in values
    assert 0 <= values["soak.wall_live_pct"] <= 100
