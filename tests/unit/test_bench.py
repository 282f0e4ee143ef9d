"""What the ``browser`` and ``soak`` bench sections rely on (browser/test_bench_browser.py runs them)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rtdata import bench, ui
from rtdata.bench.soak import soak_minutes
from rtdata.cli import _parser


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
