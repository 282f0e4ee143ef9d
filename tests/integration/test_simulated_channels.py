"""The simulator's broadcasts and presence on several channels, sent with the official clients'
protocols to the local server on real sockets and seen by the collector."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from rtdata import Collector, LocalServer, Settings
from rtdata.config import parse_config
from rtdata.simulate import Broadcast, Simulator, Write
from rtdata.simulate.presence import PresenceSimulator
from rtdata.views.widgets import roster
from tests.support import wait_until

CONFIG = """
[[channels]]
name = "clinic-1"
broadcast = ["announcement"]
presence = true

[[channels]]
name = "clinic-2"
presence = true
"""


class Announcer:
    """A write source that only broadcasts numbered announcements to ``clinic-1``."""

    def __init__(self) -> None:
        self.sent = 0

    def next_write(self, now: datetime) -> Write | Broadcast:
        self.sent += 1
        return Broadcast("clinic-1", "announcement", {"n": self.sent, "at": now.isoformat()})

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        raise AssertionError("a broadcast has no result")


@dataclasses.dataclass(frozen=True)
class Change:
    kind: str
    key: str
    meta: Mapping[str, Any]
    channel: str | None


class TwoClinics:
    """One provider signing in on both clinics' channels, then leaving the second only."""

    target_online = 1

    def __init__(self) -> None:
        self.changes = [
            Change("join", "provider-1", {"clinic": 1}, "clinic-1"),
            Change("join", "provider-1", {"clinic": 2}, "clinic-2"),
            Change("leave", "provider-1", {}, "clinic-2"),
        ]

    def next_change(self, now: datetime) -> Change:
        return (
            self.changes.pop(0)
            if self.changes
            else Change("update", "provider-1", {"clinic": 1}, "clinic-1")
        )


def _collector(server: LocalServer) -> Collector:
    config = parse_config(CONFIG, "rtdata.toml")
    return Collector(
        Settings(config=config, connect_timeout_s=3).with_project(server.url, server.service_key)
    )


def test_simulated_broadcasts_reach_the_collector(server: LocalServer) -> None:
    collector = _collector(server).start(wait=True)
    source = Announcer()
    sim = Simulator(server.url, server.service_key, source, rate_per_s=50, duration_s=None)
    try:
        sim.start()
        wait_until(
            lambda: len(collector.buffer.snapshot(kinds=["broadcast"])) >= 5,
            what="five announcements",
        )
    finally:
        sim.stop()
        collector.stop()
    got = collector.buffer.snapshot(kinds=["broadcast"])
    assert set(got["channel"]) == {"clinic-1"}
    assert set(got["op"]) == {"announcement"}
    numbers = [orjson.loads(r)["n"] for r in got["record"]]
    assert numbers == sorted(numbers)
    assert sim.writes_failed == 0
    assert sim.writes_ok >= 5


def test_presence_changes_go_to_their_own_channel(server: LocalServer) -> None:
    collector = _collector(server).start(wait=True)
    sim = PresenceSimulator(server.url, server.anon_key, TwoClinics(), interval_s=0.05)
    spec = roster.RosterSpec(channels=("clinic-1", "clinic-2"), group_by=("clinic",))

    def online() -> list[tuple[str, str]]:
        events = collector.buffer.snapshot(kinds=["presence"])
        view = roster.compute(spec, events, datetime.now(UTC))
        return sorted(zip(view.online["channel"], view.online["key"], strict=True))

    try:
        sim.start()
        wait_until(lambda: sim.changes_ok >= 3, what="the three changes")
        wait_until(lambda: online() == [("clinic-1", "provider-1")], what="only clinic-1 left")
        assert sim.connected == 1  # the leave closed the second socket only
    finally:
        sim.stop()
        collector.stop()
