"""The ``browser`` and ``soak`` bench sections, with tiny parameters, and what they rely on."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from rtdata import bench, ui
from rtdata.bench.browser import chromium_path
from rtdata.bench.common import Figure
from rtdata.bench.soak import soak_minutes
from rtdata.cli import _parser

needs_chromium = pytest.mark.skipif(
    not chromium_path().exists(), reason=f"{chromium_path()} not installed (make chromium)"
)


def _check(figures: list[Figure]) -> dict[str, float]:
    by_key = {f.key: f for f in figures}
    for f in figures:
        assert math.isfinite(f.value), f
        assert f.baseline is None or f.baseline in by_key, f
    return {f.key: f.value for f in figures}


def test_soak_is_opt_in_and_accepted_by_bench_only() -> None:
    assert "soak" not in bench.SECTIONS
    assert "browser" in bench.SECTIONS
    assert _parser().parse_args(["bench", "--only", "soak"]).only == ["soak"]
    with pytest.raises(ValueError, match="unknown benchmark section"):
        bench.run(["nope"])


def test_soak_minutes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTDATA_SOAK_MINUTES", raising=False)
    assert soak_minutes() == 30
    monkeypatch.setenv("RTDATA_SOAK_MINUTES", "0.5")
    assert soak_minutes() == 0.5
    monkeypatch.setenv("RTDATA_SOAK_MINUTES", "soon")
    with pytest.raises(ValueError, match="RTDATA_SOAK_MINUTES"):
        soak_minutes()


def test_cached_view_counts_computations_and_publishes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stats = tmp_path / "stats.json"
    monkeypatch.setattr(ui, "_STATS_FILE", str(stats))
    monkeypatch.setattr(ui, "_stats_written_s", 0.0)
    shared: ui.Collector = SimpleNamespace(uid=-1, buffer=SimpleNamespace(version=7))  # type: ignore[assignment]
    before = ui.view_computations()
    assert ui.cached_view("bench-test", shared, lambda: 42) == 42
    ui.cached_view("bench-test", shared, lambda: 43)  # the same second: a hit, unless it ticked
    assert 1 <= ui.view_computations() - before <= 2
    published = json.loads(stats.read_text())
    assert published["view_computations"] >= before + 1
    assert published["at_s"] > 0


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
def test_soak_section_reports_rss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDATA_SOAK_MINUTES", "0.1")
    values = _check(bench.run(["soak"]))
    assert 0.09 < values["soak.minutes"] < 0.2
    assert values["soak.rss_warm_mb"] > 10
    assert values["soak.rss_peak_mb"] >= values["soak.rss_warm_mb"]
    assert "soak.rss_growth_pct" in values
    assert 0 <= values["soak.wall_live_pct"] <= 100
