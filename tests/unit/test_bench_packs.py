"""The ``packs`` bench section and the stream it fills every pack's recorder with."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rtdata import bench
from rtdata.bench import packs, stream
from rtdata.cli import _parser
from rtdata.config import Config, parse_config
from rtdata.recorder import Recorder
from rtdata.scenarios import SCENARIOS
from rtdata.simulate import Broadcast, Write

EVENTS = 20_000  # of each pack's stream: enough for every kind, ~1 s to fill
SPAN_S = stream.SPAN_S * EVENTS / 1_000_000  # as dense as the bench's 1M, and quicker to play
NOW = datetime(2025, 1, 1, tzinfo=UTC)
FIGURES = (
    "ingest_events_per_s",
    "commit_to_buffer_p99_ms",
    "slowest_page_{}_ms",
    "bytes_per_event",
)


def _filled(
    config: Config, pack: str, events: int = EVENTS, span_s: float | None = None
) -> Recorder:
    target = stream.recorder(config)
    span_s = SPAN_S * events / EVENTS if span_s is None else span_s
    stream.fill(target, events, pack=pack, now=NOW, span_s=span_s)
    return target


# ---------------------------------------------------------------- the stream of any pack


@pytest.mark.parametrize("pack", list(SCENARIOS))
def test_fill_records_what_the_pack_config_follows(pack: str) -> None:
    config = stream.pack_config(pack=pack)
    events = _filled(config, pack).buffer.snapshot()
    assert len(events) == EVENTS
    assert events["received_at"].is_monotonic_increasing
    changes = events[events["kind"] == "postgres_changes"]
    assert len(changes) > EVENTS / 2
    assert set(changes["table"]) <= set(config.tables())
    assert "INSERT" in set(changes["op"])
    presence = events[events["kind"] == "presence"]
    assert set(presence["channel"]) <= set(config.presence_channels())
    if config.presence_channels() and SCENARIOS[pack].roster(1) is not None:
        assert {"sync", "join"} <= set(presence["op"])
    for channel, name in events.loc[events["kind"] == "broadcast", ["channel", "op"]].values:
        (followed,) = [c for c in config.channels if c.name == channel]
        assert "*" in followed.broadcast or name in followed.broadcast


@pytest.mark.parametrize("pack", list(SCENARIOS))
def test_fill_records_only_the_table_a_config_follows(pack: str) -> None:
    config = stream.pack_config(pack=pack)
    changes = _filled(config, pack, 2000).buffer.snapshot(kinds=["postgres_changes"])
    table = str(changes["table"].value_counts().index[0])  # the busiest
    one = dataclasses.replace(
        config, channels=Config.from_tables({table: config.tables()[table]}).channels
    )
    events = _filled(one, pack, 2000).buffer.snapshot()
    assert len(events) == 2000
    assert set(events["kind"]) == {"postgres_changes"}
    assert set(events["table"]) == {table}


def test_the_hospital_alerts_only_when_the_config_follows_their_channel() -> None:
    plain = _filled(stream.pack_config(), stream.PACK, 5000).buffer.snapshot()
    assert set(plain["kind"]) == {"postgres_changes", "presence"}
    alerting = _filled(stream.pack_config(stream.BENCH_CHANNELS), stream.PACK, 5000)
    broadcasts = alerting.buffer.snapshot(kinds=["broadcast"])
    assert set(broadcasts["channel"]) == {stream.ALERT_CHANNEL}
    assert set(broadcasts["op"]) == {"vitals", "dispatch"}


def test_a_dry_run_finds_a_row_by_its_key_as_a_scan_would() -> None:
    # fill's speed rests on DryRun looking rows up by primary key: same rows as a scan.
    from rtdata.simulate.dry import DryRun

    run = DryRun(FakeSource(), {"pairs": ("a", "b")})
    run.apply(Write("POST", "things", [{"name": "x"}, {"name": "y"}, {"name": "x"}]))
    run.apply(Write("POST", "pairs", [{"a": 1, "b": "p"}, {"a": 1, "b": "q"}]))

    def keys(table: str, match: dict[str, Any]) -> list[str]:
        return [c.key for c in run.apply(Write("PATCH", table, {"seen": True}, match))]

    assert keys("things", {"id": 2}) == ["2"]
    assert keys("things", {"id": "2"}) == []  # the key's text, but not the value: no row
    assert keys("things", {"id": 9}) == []
    assert keys("things", {"name": "x"}) == ["1", "3"]
    assert keys("things", {"id": 1, "name": "y"}) == []
    assert keys("pairs", {"a": 1, "b": "q"}) == ["1|q"]
    assert keys("pairs", {"a": 1}) == ["1|p", "1|q"]
    assert [c.op for c in run.apply(Write("DELETE", "things", match={"id": 3}))] == ["DELETE"]
    assert sorted(run.rows["things"]) == ["1", "2"]


# A pack of test doubles: a simulator inserting "things" and broadcasting "flash" (followed)
# and "noise" (not) on "news", and a roster joining people on the first presence channel
# (no channel named), on "lobby" and on "attic" (not followed).

FAKE_CONFIG = """
[[channels]]
name = "tables"
  [[channels.postgres_changes]]
  table = "things"
[[channels]]
name = "news"
broadcast = ["flash"]
[[channels]]
name = "online"
presence = true
[[channels]]
name = "lobby"
presence = true
"""


class FakeSource:
    def __init__(self) -> None:
        self.writes = 0

    def next_write(self, now: datetime) -> Write | Broadcast:
        self.writes += 1
        if self.writes % 3 == 1:
            return Write("POST", "things", {"name": f"thing {self.writes}"})
        event = "flash" if self.writes % 3 == 2 else "noise"
        return Broadcast("news", event, {"at": now.isoformat()})

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        pass


@dataclass(frozen=True)
class FakeChange:
    kind: str
    key: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None


class FakeRoster:
    def __init__(self) -> None:
        self.changes = iter(
            [
                FakeChange("join", "ana", {"role": "nurse"}),
                FakeChange("join", "ana", {"role": "guest"}, "lobby"),
                FakeChange("join", "bo", {"role": "porter"}, "attic"),
                FakeChange("update", "ana", {"role": "doctor"}),
                FakeChange("leave", "ana", {}, "lobby"),
            ]
        )

    def target_online(self) -> int:
        return 2

    def next_change(self, now: datetime) -> FakeChange:
        return next(self.changes, FakeChange("update", "bo", {}, "attic"))


class FakePack:
    def scenario(self, seed: int) -> FakeSource:
        return FakeSource()

    def roster(self, seed: int) -> FakeRoster:
        return FakeRoster()


@pytest.fixture
def fake_pack(monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setattr(stream, "get_scenario", lambda name: FakePack())
    monkeypatch.setattr(stream, "PRESENCE_EVERY", 1)
    return parse_config(FAKE_CONFIG, str(Path("fake") / "rtdata.toml"))


def test_fill_takes_presence_channels_from_the_change_or_the_config(fake_pack: Config) -> None:
    events = _filled(fake_pack, "fake", 300).buffer.snapshot()
    presence = events[events["kind"] == "presence"]
    seen = list(zip(presence["channel"], presence["op"], presence["key"], strict=True))
    assert seen == [
        ("online", "sync", None),
        ("lobby", "sync", None),
        ("online", "join", "ana"),
        ("lobby", "join", "ana"),
        ("online", "leave", "ana"),  # an update: the old meta leaves, the new one joins
        ("online", "join", "ana"),
        ("lobby", "leave", "ana"),
    ]
    broadcasts = events[events["kind"] == "broadcast"]
    assert set(broadcasts["op"]) == {"flash"}
    assert set(broadcasts["channel"]) == {"news"}
    assert set(events.loc[events["kind"] == "postgres_changes", "table"]) == {"things"}
    assert events["received_at"].is_monotonic_increasing


class ClockedSource(FakeSource):
    """Writes a "things" row once an hour of simulated time (longer than the 36 minutes
    between 20 events over 12 hours), an "other" row otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.due = datetime.min.replace(tzinfo=UTC)

    def next_write(self, now: datetime) -> Write | Broadcast:
        if now < self.due:
            return Write("POST", "other", {"at": now.isoformat()})
        self.due = now + timedelta(hours=1)
        return Write("POST", "things", {"at": now.isoformat()})


def test_fill_moves_time_on_through_steps_it_does_not_record(
    fake_pack: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakePack, "scenario", lambda self, seed: ClockedSource())
    things = Config.from_tables({"things": ("id",)})
    events = _filled(things, "fake", 20, stream.SPAN_S).buffer.snapshot()
    assert len(events) == 20
    assert set(events["table"]) == {"things"}


def test_fill_gives_up_on_a_config_the_stream_never_feeds(
    fake_pack: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "_IDLE_STEPS", 50)
    nothing = Config.from_tables({"never_written": ("id",)})
    with pytest.raises(RuntimeError, match="nothing the config follows"):
        _filled(nothing, "fake", 10)
    with pytest.raises(ValueError, match="follows no table"):
        _filled(dataclasses.replace(nothing, channels=()), "fake", 10)


# ---------------------------------------------------------------- the section


def test_packs_is_a_default_section_the_cli_takes() -> None:
    assert bench.SECTIONS.index("packs") == bench.SECTIONS.index("pages") + 1
    assert _parser().parse_args(["bench", "--only", "packs"]).only == ["packs"]


def test_the_rate_is_ten_times_the_demo_default() -> None:
    assert _parser().parse_args(["demo"]).rate == packs.DEMO_RATE_PER_S
    assert packs.RATE_FACTOR == 10


def test_every_pack_is_measured_the_hospital_first() -> None:
    order = packs.pack_order()
    assert order[0] == packs.BASELINE == "hospital"
    assert sorted(order) == sorted(SCENARIOS)


@pytest.mark.parametrize("pack", list(SCENARIOS))
def test_every_page_of_a_pack_is_rendered(pack: str) -> None:
    names = packs.page_names(pack)
    configured = [p.name for p in stream.pack_config(pack=pack).pages]
    assert names == (*configured, "realtime", "events")


def _check_figures(figures: list[bench.Figure], key: str) -> None:
    by_key = {f.key: f for f in figures}
    expected = [
        f"packs.{pack}.{name.format(key)}" for pack in packs.pack_order() for name in FIGURES
    ]
    assert [f.key for f in figures] == expected
    for figure in figures:
        pack, _, name = figure.key.removeprefix("packs.").partition(".")
        assert math.isfinite(figure.value)
        assert figure.value > 0
        assert pack in figure.what
        if pack == "hospital":
            assert figure.baseline is None
        else:
            assert figure.baseline == f"packs.hospital.{name}"
            assert figure.baseline in by_key


def test_the_section_puts_each_figure_beside_the_hospitals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packs, "live", lambda pack, live_s: packs.Live(99.0, [1.0, 2.0, 40.0]))
    filled = packs.Filled("overview", 350.0, 1, 400.0)
    monkeypatch.setattr(packs, "filled", lambda pack, events, runs, span_s: filled)
    figures = packs.bench_packs(events=1_000_000, live_s=1, runs=1)
    _check_figures(figures, "1m")
    text = {f.key: f.what for f in figures}
    assert "'overview'" in text["packs.hospital.slowest_page_1m_ms"]
    assert "1 of " in text["packs.hospital.slowest_page_1m_ms"]
    assert "100 writes/s" in text["packs.hospital.ingest_events_per_s"]


@pytest.mark.slow
def test_the_section_measures_every_pack_live_and_filled() -> None:
    figures = packs.bench_packs(events=EVENTS, live_s=1.0, runs=1, span_s=SPAN_S)
    _check_figures(figures, str(EVENTS))
