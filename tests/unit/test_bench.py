"""What the ``pages``, ``browser`` and ``soak`` bench sections rely on (browser/test_bench_browser.py
runs the last two)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from rtdata import bench, ui
from rtdata.bench import browser, checkout, stream
from rtdata.bench import pages as bench_pages
from rtdata.bench.browser import BENCH_CONFIG
from rtdata.bench.common import Figure
from rtdata.bench.soak import soak_minutes
from rtdata.cli import _parser
from rtdata.config import parse_config
from rtdata.layout import WidgetType
from rtdata.recorder import Recorder


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


# ---------------------------------------------------------------- pages: the stream and the page


@pytest.fixture(scope="module")
def streamed() -> tuple[Recorder, Recorder]:
    """``(empty, full)`` recorders of the pages section, with 3,000 events in ``full``."""
    return bench_pages.recorders(3000)


def test_the_stream_mixes_table_changes_presence_and_broadcasts(
    streamed: tuple[Recorder, Recorder],
) -> None:
    _, full = streamed
    events = full.buffer.snapshot()
    assert len(events) == 3000
    kinds = events["kind"].value_counts()
    assert kinds["postgres_changes"] > 2000
    assert kinds["presence"] > 10
    assert kinds["broadcast"] > 10
    changes = events[events["kind"] == "postgres_changes"]
    assert set(changes["op"]) == {"INSERT", "UPDATE", "DELETE"}
    assert {"emergency_requests", "vital_signs", "hospital_resources"} <= set(changes["table"])
    assert set(events.loc[events["kind"] == "presence", "channel"]) == {stream.PRESENCE_CHANNEL}
    assert set(events.loc[events["kind"] == "broadcast", "channel"]) == {stream.ALERT_CHANNEL}
    received = events["received_at"]
    assert received.is_monotonic_increasing
    span_s = (received.iloc[-1] - received.iloc[0]).total_seconds()
    assert 0.9 * stream.SPAN_S < span_s <= stream.SPAN_S
    assert 0 < len(full.table("emergency_requests")) < 1000  # the simulator prunes


def test_the_empty_buffer_holds_a_snapshot_of_the_same_rows(
    streamed: tuple[Recorder, Recorder],
) -> None:
    empty, full = streamed
    events = empty.buffer.snapshot()
    assert set(events["op"]) == {"SNAPSHOT"}
    for table in full.settings.table_keys:
        assert sorted(map(str, empty.tables.rows(table))) == sorted(
            map(str, full.tables.rows(table))
        )


def test_the_eight_widget_page_holds_one_widget_of_each_type() -> None:
    config = stream.pack_config(stream.BENCH_CHANNELS + bench_pages.EIGHT_WIDGETS)
    (eight,) = [p for p in config.pages if p.name == "eight"]
    assert sorted(w.type for w in eight.widgets) == sorted(WidgetType)
    assert [p.name for p in config.pages] == [*bench_pages.HOSPITAL_PAGES[:3], "presence", "eight"]


@pytest.mark.parametrize(
    ("tables", "kinds", "channel"),
    [
        (["emergency_requests"], ["postgres_changes"], None),
        (["hospitals"], ["postgres_changes"], None),
        (None, ["broadcast"], stream.ALERT_CHANNEL),
        (None, ["presence"], None),
    ],
)
def test_a_widget_reads_the_tail_of_the_whole_snapshot(
    streamed: tuple[Recorder, Recorder],
    monkeypatch: pytest.MonkeyPatch,
    tables: list[str] | None,
    kinds: list[str],
    channel: str | None,
) -> None:
    from rtdata.dashboard import render

    _, full = streamed
    monkeypatch.setattr(render, "EVENTS_PER_WIDGET", 100)  # a few windows deep, not all
    whole = full.buffer.snapshot(tables=tables, kinds=kinds)
    if channel is not None:
        whole = whole[whole["channel"] == channel]
    channels = None if channel is None else [channel]
    read = render._newest(full, tables=tables, kinds=kinds, channels=channels)
    pd.testing.assert_frame_equal(
        read.reset_index(drop=True), whole.tail(100).reset_index(drop=True)
    )


def test_a_page_renders_and_times_itself(streamed: tuple[Recorder, Recorder]) -> None:
    _, full = streamed
    ui.use_recorder(full)
    try:
        got = bench_pages.render("eight", runs=1)
    finally:
        ui.use_recorder(None)
    assert got.wall_ms > 0
    assert got.cpu_ms > 0


@pytest.mark.slow
def test_the_pages_section_reports_every_page_beside_its_empty_buffer() -> None:
    figures = bench_pages.bench_pages(events=2000, runs=1)
    by_key = {f.key: f for f in figures}
    for name in bench_pages.PAGES:
        for suffix in ("ms", "cpu_ms"):
            full = by_key[f"pages.{name}_2000_{suffix}"]
            assert full.baseline == f"pages.{name}_empty_{suffix}"
            assert full.value > 0
    assert all(f.baseline is None or f.baseline in by_key for f in figures)


# ---------------------------------------------------------------- browser: a baseline checkout


def test_the_demo_reads_the_pack_config_with_the_bench_dashboard_table() -> None:
    text, assets = checkout.demo_config(BENCH_CONFIG)
    config = parse_config(text, str(checkout.THIS_CHECKOUT / checkout.PACK_CONFIG))
    assert config.dashboard.refresh_s == 1.0
    assert config.dashboard.wall_pages == ("emergencies",)
    assert [p.name for p in config.pages] == ["overview", "emergencies", "health", "presence"]
    assert assets is not None
    assert (assets / "lisbon_districts.geojson").is_file()


def test_a_checkout_without_packs_reads_the_dashboard_table_alone(tmp_path: Path) -> None:
    (tmp_path / "rtdata").mkdir()
    (tmp_path / "rtdata" / "__init__.py").write_text("")
    assert checkout.demo_config(BENCH_CONFIG, tmp_path) == (BENCH_CONFIG, None)
    assert checkout.baseline_checkout({checkout.BASELINE_ENV: str(tmp_path)}) == tmp_path
    assert checkout.baseline_checkout({}) is None
    with pytest.raises(ValueError, match="not a checkout"):
        checkout.baseline_checkout({checkout.BASELINE_ENV: str(tmp_path / "rtdata")})


def test_without_table_drops_one_table_and_keeps_the_rest() -> None:
    text = '[a]\nx = 1\n[dashboard]\ny = [\n  ["p", "q"],\n]\n  [[pages]]  # next\nz = 2\n'
    assert checkout.without_table(text, "dashboard") == "[a]\nx = 1\n  [[pages]]  # next\nz = 2\n"


def test_a_baseline_checkout_is_measured_the_same_way_and_read_as_a_twin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    measured: list[Path] = []

    def measure(root: Path, *_: object) -> list[Figure]:
        measured.append(root)
        return [
            Figure("browser.payload_overview_load_kb", 9.0, "KB", "load"),
            Figure("browser.payload_overview_kb", 1.0, "KB", "refresh", "browser.payload_overview_load_kb"),
        ]  # fmt: skip

    monkeypatch.setattr(browser, "_measure", measure)
    monkeypatch.setattr(browser, "require", lambda: None)
    monkeypatch.delenv(checkout.BASELINE_ENV, raising=False)
    assert [f.key for f in browser.bench_browser()] == [
        "browser.payload_overview_load_kb",
        "browser.payload_overview_kb",
    ]
    monkeypatch.setenv(checkout.BASELINE_ENV, str(checkout.THIS_CHECKOUT))
    figures = browser.bench_browser()
    assert measured == [checkout.THIS_CHECKOUT] * 3
    assert [(f.key, f.baseline) for f in figures] == [
        ("browser.payload_overview_load_kb", "browser.before.payload_overview_load_kb"),
        ("browser.payload_overview_kb", "browser.before.payload_overview_kb"),
        ("browser.before.payload_overview_load_kb", None),
        ("browser.before.payload_overview_kb", "browser.before.payload_overview_load_kb"),
    ]
