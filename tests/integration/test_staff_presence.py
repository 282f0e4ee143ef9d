"""Simulated staff presence: the pure roster, and the shell signing people in and out with the
official realtime client against the local server, seen by the collector on real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from realtime import AsyncRealtimeClient

from rtdata import Collector, ConnectionState, LocalServer, Settings
from rtdata.config import load_config
from rtdata.scenarios import get_scenario
from rtdata.scenarios.hospital import HospitalScenario
from rtdata.scenarios.hospital.staff import ROLES, STATUSES, StaffRoster
from rtdata.simulate.presence import DEFAULT_PRESENCE_CHANNEL, PresenceSimulator
from rtdata.views.widgets import roster
from tests.support import until, wait_until

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOSPITALS = (1, 2, 3)
PACK_CONFIG = load_config(get_scenario("hospital").config_path)
BOARD = roster.RosterSpec(channels=("online",), group_by=("role", "hospital_id"))
"""The staff board as the pack's presence page groups it (without its labels)."""
WHO = roster.RosterSpec(channels=("online",), group_by=("user", "status"))


def changes(roster: StaffRoster, n: int) -> list[Any]:
    return [roster.next_change(T0 + timedelta(seconds=i)) for i in range(n)]


# ---------------------------------------------------------------- roster (pure)


def test_same_seed_gives_same_changes() -> None:
    first = changes(StaffRoster(5, HOSPITALS), 200)
    assert first == changes(StaffRoster(5, HOSPITALS), 200)
    assert first != changes(StaffRoster(6, HOSPITALS), 200)


def test_warm_up_signs_in_the_target_then_mixes_all_three_kinds() -> None:
    roster = StaffRoster(1, HOSPITALS, size=20, target_online=12)
    made = changes(roster, 400)
    assert [c.kind for c in made[:12]] == ["join"] * 12
    assert len({c.member.key for c in made[:12]}) == 12
    kinds = Counter(c.kind for c in made[12:])
    assert min(kinds["join"], kinds["leave"], kinds["update"]) > 50, kinds


def test_online_count_drifts_around_the_target_within_bounds() -> None:
    roster = StaffRoster(2, HOSPITALS, size=10, target_online=6)
    counts = []
    for change in changes(roster, 2000):
        counts.append(len(roster.online))
        assert 1 <= len(roster.online) <= 10, change
    after_warm_up = counts[6:]
    assert 5 <= sum(after_warm_up) / len(after_warm_up) <= 7


def test_changes_replayed_match_the_rosters_own_view() -> None:
    roster = StaffRoster(3, HOSPITALS)
    online: dict[str, dict[str, Any]] = {}
    for change in changes(roster, 500):
        key = change.member.key
        if change.kind == "join":
            assert key not in online, "only someone offline signs in"
            online[key] = change.meta
        elif change.kind == "leave":
            assert key in online, "only someone online signs out"
            assert change.meta == {}
            del online[key]
        else:
            assert key in online, "only someone online changes status"
            assert change.meta["status"] != online[key]["status"]
            assert change.meta["online_at"] == online[key]["online_at"], "sign-in time kept"
            online[key] = change.meta
    assert {k: m["status"] for k, m in online.items()} == roster.online


def test_members_and_metas_carry_role_hospital_and_status() -> None:
    roster = StaffRoster(4, HOSPITALS, size=30)
    assert len({m.key for m in roster.members}) == 30
    assert {m.hospital_id for m in roster.members} == set(HOSPITALS)
    assert {m.role for m in roster.members} <= {name for name, _ in ROLES}
    assert len({m.role for m in roster.members}) >= 3
    first = roster.next_change(T0 + timedelta(hours=1))
    member = first.member
    assert first.meta == {
        "user": member.user,
        "role": member.role,
        "hospital_id": member.hospital_id,
        "status": first.meta["status"],
        "online_at": "2026-01-01T01:00:00+00:00",
    }
    assert first.meta["status"] in STATUSES


@pytest.mark.parametrize(
    ("hospitals", "kwargs", "message"),
    [
        ((), {}, "hospital_ids"),
        (HOSPITALS, {"size": 1}, "size"),
        (HOSPITALS, {"size": 5, "target_online": 6}, "target_online"),
        (HOSPITALS, {"size": 5, "target_online": 0}, "target_online"),
    ],
)
def test_roster_rejects_bad_arguments(
    hospitals: tuple[int, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        StaffRoster(0, hospitals, **kwargs)


def test_naive_clock_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        StaffRoster(0, HOSPITALS).next_change(datetime(2026, 1, 1))


@pytest.mark.parametrize("kwargs", [{"interval_s": 0}, {"timeout_s": float("nan")}])
def test_presence_simulator_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PresenceSimulator("http://x.invalid", "k", StaffRoster(0, HOSPITALS), **kwargs)


def test_the_packs_config_records_the_channel_the_simulator_tracks_on() -> None:
    assert PACK_CONFIG.presence_channels() == (DEFAULT_PRESENCE_CHANNEL,)
    assert BOARD.channels == (DEFAULT_PRESENCE_CHANNEL,)
    assert set(HospitalScenario(0).hospital_ids) == {1, 2, 3, 4, 5, 6}


# ---------------------------------------------------------------- on real sockets


def _collector(server: LocalServer) -> Collector:
    """A collector following the pack's channels, the ``online`` presence channel among them."""
    connection = dataclasses.replace(
        PACK_CONFIG.connection,
        probe_interval_s=0.5,
        reconnect_initial_s=0.1,
        reconnect_max_s=0.5,
        resync_interval_s=0.0,
    )
    config = dataclasses.replace(PACK_CONFIG, connection=connection)
    settings = Settings(config=config, connect_timeout_s=3)
    return Collector(settings.with_project(server.url, server.service_key))


def _who(collector: Collector) -> pd.DataFrame:
    """Who is online now: key, user and status."""
    events = collector.buffer.snapshot(kinds=["presence"])
    return roster.compute(WHO, events, datetime.now(UTC)).online[["key", "user", "status"]]


def _online(collector: Collector) -> dict[str, str]:
    """Who is online now, as key -> status."""
    who = _who(collector)
    return dict(zip(who["key"], who["status"], strict=True))


def _live(collector: Collector) -> dict[str, str]:
    """Who is online now by the collector's live presence, as key -> status."""
    members = collector.recorder.presence.members(WHO.channels)
    pairs = zip(members["key"], members["meta"], strict=True)
    return {key: meta.get("status") for key, meta in pairs}


def test_the_collector_sees_exactly_who_the_simulator_has_signed_in(server: LocalServer) -> None:
    sim = PresenceSimulator(
        server.url, server.anon_key, StaffRoster(4, HOSPITALS, size=10), interval_s=3600
    )
    collector = _collector(server).start(wait=True)
    try:
        sim.start()  # the warm-up signs in 6 people (60 % of 10), then waits an hour
        wait_until(lambda: len(sim.roster.online) == 6, what="the warm-up")
        wait_until(lambda: _online(collector) == sim.roster.online, what="the same six online")
        wait_until(lambda: _live(collector) == sim.roster.online, what="the same six live")
        board = roster.compute(
            BOARD, collector.buffer.snapshot(kinds=["presence"]), datetime.now(UTC)
        )
        members = {m.key: m for m in sim.roster.members}
        assert board.online_total == board.keys_online == 6
        for row in board.online.itertuples():
            assert row.channel == DEFAULT_PRESENCE_CHANNEL
            assert (row.role, row.hospital_id) == (
                members[row.key].role,
                str(members[row.key].hospital_id),  # group values are text
            )
        online = [members[key] for key in sim.roster.online]
        groups = {(g.role, g.hospital_id): g.online for g in board.groups.itertuples()}
        assert groups == Counter((m.role, str(m.hospital_id)) for m in online)
        assert board.groups["online"].sum() == 6
        who = _who(collector)
        assert dict(zip(who["key"], who["user"], strict=True)) == {m.key: m.user for m in online}
        assert sim.connected == sim.changes_ok == 6  # the seventh change waits an hour
    finally:
        sim.stop()
        collector.stop()


def test_after_the_warm_up_the_next_change_waits_the_interval(server: LocalServer) -> None:
    sim = PresenceSimulator(
        server.url,
        server.anon_key,
        StaffRoster(4, HOSPITALS, size=5, target_online=2),
        interval_s=3600,
    )
    try:
        sim.start()
        wait_until(lambda: sim.changes_ok == 2, what="the two warm-up sign-ins")
        # Watch for ten warm-up pauses (0.2 s each): a third change now would mean the last
        # sign-in was followed by a warm-up pause instead of interval_s.
        with pytest.raises(AssertionError, match="timed out"):
            wait_until(lambda: sim.changes_ok > 2, timeout=2.0, what="a third change")
        assert (sim.changes_ok, sim.connected, len(sim.roster.online)) == (2, 2, 2)
    finally:
        sim.stop()


def test_churn_ends_with_everybody_gone_when_the_simulator_stops(server: LocalServer) -> None:
    sim = PresenceSimulator(
        server.url, server.anon_key, StaffRoster(9, HOSPITALS, size=8), interval_s=0.05
    )
    collector = _collector(server).start(wait=True)
    try:
        sim.start()
        wait_until(lambda: sim.changes_ok >= 40, what="40 presence changes")
        sim.stop()  # every socket closed: everybody leaves
        assert sim.changes_failed == 0, sim.last_error
        wait_until(lambda: not _online(collector), what="everybody seen leaving")
        wait_until(lambda: not _live(collector), what="everybody gone from the live presence")
        events = collector.buffer.snapshot(kinds=["presence"])
        assert set(events["op"].astype(object)) == {"sync", "join", "leave"}
        users = {m.key: m for m in sim.roster.members}
        joined = events[events["op"] == "join"]
        assert set(joined["key"]) <= set(users)
        board = roster.compute(BOARD, events, datetime.now(UTC))
        assert board.online_total == 0
        activity = board.activity
        assert int(activity["joins"].sum()) == int((events["op"] == "join").sum())
        assert int(activity["leaves"].sum()) == int((events["op"] == "leave").sum())
    finally:
        sim.stop()
        collector.stop()


def test_who_left_while_the_collector_was_away_is_not_shown_online(server: LocalServer) -> None:
    collector = _collector(server).start(wait=True)

    async def run() -> None:
        people = {}
        for key in ("alice", "bob"):
            rt = AsyncRealtimeClient(f"{server.url}/realtime/v1", token=server.anon_key)
            await rt.connect()
            params: Any = {"config": {"presence": {"key": key, "enabled": True}}}
            channel = rt.channel(DEFAULT_PRESENCE_CHANNEL, params)
            await channel.subscribe()
            await channel.track({"user": key, "role": "nurse", "status": "available"})
            people[key] = rt
        await until(lambda: set(_online(collector)) == {"alice", "bob"}, what="both online")
        # The collector's link is replaced and its joins refused, so it hears nothing ...
        server.fault("reject_joins", on=True)
        collector.reconnect()
        await until(
            lambda: any("rejected" in t.reason for t in collector.transitions),
            within_s=15,
            what="a refused rejoin",
        )
        # ... while bob closes his tab.
        await people.pop("bob").close()
        server.fault("reject_joins", on=False)
        await until(
            lambda: collector.state == ConnectionState.SUBSCRIBED,
            within_s=30,
            what="subscribed again",
        )
        await until(lambda: "sync" in _ops(collector, after_reconnect=True), what="state synced")
        await until(lambda: set(_online(collector)) == {"alice"}, what="only alice online")
        await people.pop("alice").close()

    try:
        asyncio.run(run())
    finally:
        collector.stop()


def _ops(collector: Collector, *, after_reconnect: bool) -> list[str]:
    events = collector.buffer.snapshot(kinds=["presence"])
    ops = [str(op) for op in events["op"].astype(object)]
    if after_reconnect:
        ops = ops[ops.index("sync") + 1 :]  # past the first join's sync
    return ops
