"""Live presence: the fold of presence events the roster replays, kept as events arrive, and
its thread boundary."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import orjson
import pandas as pd
from hypothesis import given, settings

from rtdata.buffer import EventBuffer
from rtdata.events import Event
from rtdata.presence import (
    MEMBER_COLUMNS,
    LivePresence,
    PresenceState,
    decode_metas,
    meta_identity,
)
from rtdata.views.widgets.roster import RosterSpec, compute, replay, window_start
from tests.unit.widget_data import at, ns, presence, snapshot

CHANNELS = ("floor", "lobby")
KEYS = ("ana", "rui", "eva")
REFS = ("r1", "r2", "r3")


def applied(*events: Event) -> LivePresence:
    live = LivePresence()
    for event in events:
        live.apply(event)
    return live


def online(live: LivePresence, channels: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``channel:key:identity`` → join time, in the order the members come."""
    frame = live.members(channels)
    return {
        f"{c}:{k}:{meta_identity(m)}": t
        for c, k, m, t in frame[list(MEMBER_COLUMNS)].itertuples(index=False, name=None)
    }


def test_joins_and_leaves_by_identity() -> None:
    live = applied(
        presence(10, "floor", "join", "ana", [{"presence_ref": "a1", "role": "tech"}]),
        presence(20, "floor", "join", "ana", [{"presence_ref": "a1", "role": "lead"}]),  # again
        presence(30, "floor", "join", "ana", [{"phx_ref": "a2"}]),  # a second tab
        presence(40, "floor", "join", "rui", {"role": "lead"}),  # a lone object, no ref
        presence(50, "floor", "join", "eva", [{"presence_ref": "e1"}]),
        presence(60, "floor", "leave", "ana", [{"presence_ref": "a1"}]),
        presence(70, "floor", "leave", "eva", None),  # a leave naming no meta: the whole key
        presence(80, "floor", "join", "ivo", []),  # a join naming no meta changes nothing
    )
    assert online(live) == {
        "floor:ana:a2": pd.Timestamp(at(30)),
        'floor:rui:{"role":"lead"}': pd.Timestamp(at(40)),
    }
    frame = live.members()
    assert tuple(frame.columns) == MEMBER_COLUMNS
    assert str(frame["joined_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["meta"].tolist() == [{"phx_ref": "a2"}, {"role": "lead"}]


def test_a_meta_keeps_its_first_join_and_its_first_fields() -> None:
    live = applied(
        presence(10, "floor", "join", "ana", [{"presence_ref": "a1", "status": "free"}]),
        presence(20, "floor", "join", "ana", [{"presence_ref": "a1", "status": "busy"}]),
    )
    assert live.members()["meta"].tolist() == [{"presence_ref": "a1", "status": "free"}]
    assert live.members()["joined_at"].tolist() == [pd.Timestamp(at(10))]


def test_a_sync_empties_its_channel_and_restores_join_times_of_restated_metas() -> None:
    live = applied(
        presence(10, "floor", "join", "ana", [{"presence_ref": "a1"}]),
        presence(20, "floor", "join", "rui", [{"presence_ref": "r1"}]),
        presence(25, "lobby", "join", "zed", [{"presence_ref": "z1"}]),
        presence(30, "floor", "sync", None, []),
    )
    assert online(live) == {"lobby:zed:z1": pd.Timestamp(at(25))}  # only its channel
    assert live.forgotten_total == 2
    live.apply(presence(31, "floor", "join", "ana", [{"presence_ref": "a1", "status": "new"}]))
    live.apply(presence(32, "floor", "join", "rui", [{"presence_ref": "r2"}]))  # re-tracked
    assert online(live, ("floor",)) == {
        "floor:ana:a1": pd.Timestamp(at(10)),
        "floor:rui:r2": pd.Timestamp(at(32)),
    }
    assert live.members(("floor",))["meta"].tolist()[0] == {"presence_ref": "a1", "status": "new"}
    assert live.forgotten_total == 1  # r1 was not stated again


def test_join_times_put_aside_last_until_the_channels_next_sync() -> None:
    state = PresenceState()
    for key in KEYS:
        state.apply("floor", "join", key, '[{"presence_ref":"1"},{"presence_ref":"2"}]', ns(1))
    state.apply("floor", "sync", None, "[]", ns(2))
    assert state.forgotten_total == 6  # as many as were online at the sync
    state.apply("lobby", "sync", None, "[]", ns(3))  # another channel's sync keeps them
    assert state.forgotten_total == 6
    state.apply("floor", "sync", None, "[]", ns(4))  # nobody restated: forgotten
    assert state.forgotten_total == 0
    state.apply("floor", "join", "ana", '[{"presence_ref":"1"}]', ns(5))
    assert state.members() == [("floor", "ana", {"presence_ref": "1"}, ns(5))]


def test_records_that_are_no_metas() -> None:
    assert decode_metas(None) == []
    assert decode_metas("") == []
    assert decode_metas("not json") == []
    assert decode_metas('[1, "x", {"a": 1}]') == [{"a": 1}]
    assert decode_metas('{"a": 1}') == [{"a": 1}]


def test_other_kinds_are_ignored() -> None:
    live = LivePresence()
    change = Event(ns(1), None, "postgres_changes", "c", "t", "INSERT", "1", "{}", None)
    assert live.apply(change) is False
    assert live.apply(presence(1, "floor", "join", "ana", [{"presence_ref": "a"}])) is True
    assert len(live.members()) == 1


# ------------------------------------------------------------ against a replay


def reference(events: list[Event]) -> list[tuple[str, str, str, int]]:
    """Who is online after ``events``, by the roster's replay as it was before the live
    presence (one loop over every event), with the one rule added since: a sync drops the
    join times the channel's previous sync put aside."""
    live: dict[tuple[str, str], dict[str, tuple[dict[str, Any], int]]] = {}
    forgotten: dict[tuple[str, str], dict[str, int]] = {}
    for event in events:
        channel = event.channel
        if event.op == "sync":
            for slot in [slot for slot in forgotten if slot[0] == channel]:
                del forgotten[slot]
            for slot in [slot for slot in live if slot[0] == channel]:
                forgotten[slot] = {ref: t for ref, (_, t) in live.pop(slot).items()}
            continue
        slot = (channel, str(event.key))
        metas = decode_metas(event.record)
        if event.op == "join":
            current = live.setdefault(slot, {})
            for meta in metas:
                ref = meta_identity(meta)
                current.setdefault(
                    ref, (meta, forgotten.get(slot, {}).pop(ref, event.received_at_ns))
                )
        elif event.op == "leave":
            if not metas:
                live.pop(slot, None)
                continue
            current = live.get(slot, {})
            for meta in metas:
                current.pop(meta_identity(meta), None)
            if not current:
                live.pop(slot, None)
    return sorted((c, k, ref, t) for (c, k), metas in live.items() for ref, (_, t) in metas.items())


def _meta(ref: str, shape: str) -> dict[str, Any]:
    if shape == "presence_ref":
        return {"presence_ref": ref, "role": "tech"}
    if shape == "phx_ref":
        return {"phx_ref": ref}
    return {"role": ref}  # no ref: the content is the identity


def _record(metas: list[dict[str, Any]], lone: bool, bare: bool) -> str | None:
    if not metas and bare:
        return None
    if len(metas) == 1 and lone:
        return orjson.dumps(metas[0]).decode()
    return orjson.dumps(metas).decode()


metas = st.lists(
    st.builds(_meta, st.sampled_from(REFS), st.sampled_from(["presence_ref", "phx_ref", "none"])),
    max_size=3,
)
steps = st.one_of(
    st.tuples(st.just("sync"), st.sampled_from(CHANNELS), st.none(), st.just("[]")),
    st.tuples(
        st.sampled_from(["join", "join", "leave"]),
        st.sampled_from(CHANNELS),
        st.sampled_from(KEYS),
        st.builds(_record, metas, st.booleans(), st.booleans()),
    ),
)


def _events(drawn: list[tuple[tuple[str, str, str | None, str | None], int]]) -> list[Event]:
    """Events from drawn steps, each some seconds (maybe none) after the previous one."""
    events, seconds = [], 0
    for (op, channel, key, record), gap_s in drawn:
        seconds += gap_s
        events.append(Event(ns(seconds), None, "presence", channel, None, op, key, record, None))
    return events


sequences = st.lists(st.tuples(steps, st.integers(0, 2)), max_size=60).map(_events)


@settings(max_examples=300, deadline=None)
@given(sequences)
def test_the_live_presence_is_the_replay_of_the_same_events(events: list[Event]) -> None:
    live = applied(*events)
    replayed = replay(snapshot(*events))
    from_replay = [
        (c, k, meta, t) for (c, k), current in replayed.items() for meta, t in current.values()
    ]
    frame = live.members()
    from_live = list(frame[list(MEMBER_COLUMNS)].itertuples(index=False, name=None))
    assert from_live == from_replay  # the same metas, in the same order
    expected = reference(events)
    assert sorted((c, k, meta_identity(m), t.value) for c, k, m, t in from_live) == expected
    for channel in CHANNELS:
        assert online(live, (channel,)) == {
            name: t for name, t in online(live).items() if name.startswith(f"{channel}:")
        }


# ------------------------------------------------------------ threads


def _seen(frame: pd.DataFrame) -> frozenset[tuple[str, str, str, int]]:
    return frozenset(
        (c, k, meta_identity(m), t.value)
        for c, k, m, t in frame[list(MEMBER_COLUMNS)].itertuples(index=False, name=None)
    )


def test_a_reader_sees_whole_events_only() -> None:
    # Rounds of 200 keys joining with two metas each, then a sync of their channel: a reader
    # that saw half a join, or half a sync, would see a state no prefix of the events leads to.
    keys = [f"k{i}" for i in range(200)]
    two = [{"presence_ref": "a"}, {"presence_ref": "b"}]
    events = []
    for round_ in range(4):
        seconds = round_ * 100
        events += [presence(seconds, "floor", "join", key, two) for key in keys]
        events.append(presence(seconds + 50, "floor", "sync", None, []))
        events += [presence(seconds + 51, "floor", "join", key, two[:1]) for key in keys[::2]]
    state, valid = PresenceState(), {frozenset[tuple[str, str, str, int]]()}
    for event in events:
        state.apply(event.channel, event.op, event.key, event.record, event.received_at_ns)
        valid.add(frozenset((c, k, meta_identity(m), t) for c, k, m, t in state.members()))

    live = LivePresence()
    progress = threading.Condition()
    reads, done, problems = 0, False, []

    def reader() -> None:
        nonlocal reads
        try:
            while True:
                with progress:
                    if done:
                        return
                seen = _seen(live.members())
                if seen not in valid:
                    problems.append(f"a state no prefix leads to ({len(seen)} metas)")
                with progress:
                    reads += 1
                    progress.notify_all()
        except Exception as exc:  # reported by the test thread below
            problems.append(repr(exc))

    def read_twice_since(before: int) -> Callable[[], bool]:
        return lambda: reads >= before + 2 or bool(problems)

    thread = threading.Thread(target=reader)
    interval_s = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, inside an apply or a read
    thread.start()
    try:
        for start in range(0, len(events), 25):
            with progress:
                before = reads
            for event in events[start : start + 25]:
                live.apply(event)
            with progress:  # a whole read began after these events started to be applied
                assert progress.wait_for(read_twice_since(before), 30)
    finally:
        with progress:
            done = True
        thread.join(30)
        sys.setswitchinterval(interval_s)
    assert not thread.is_alive()
    assert not problems, problems[:3]
    assert _seen(live.members()) in valid
    assert reads >= len(events) // 25


@settings(max_examples=200, deadline=None)
@given(sequences, st.sampled_from([("floor",), ("floor", "lobby")]), st.integers(0, 4))
def test_the_roster_shows_the_same_from_the_live_presence_and_its_window(
    events: list[Event], channels: tuple[str, ...], later_s: int
) -> None:
    # A window of a few seconds in buckets that do not divide it: most events are before it.
    spec = RosterSpec(channels=channels, group_by=("role",), window_s=7, bucket_s=3)
    last_ns = events[-1].received_at_ns if events else ns(0)
    now = pd.Timestamp(last_ns, tz="UTC") + pd.Timedelta(later_s, "s")
    buffer = EventBuffer()
    buffer.extend(events)
    replayed = compute(spec, buffer.snapshot(), now)
    window = buffer.snapshot(since=window_start(spec, now), kinds=["presence"])
    live = compute(spec, window, now, online=applied(*events).members(channels))
    pd.testing.assert_frame_equal(live.online, replayed.online)
    pd.testing.assert_frame_equal(live.groups, replayed.groups)
    pd.testing.assert_frame_equal(live.activity, replayed.activity)
    assert (live.online_total, live.keys_online) == (replayed.online_total, replayed.keys_online)
