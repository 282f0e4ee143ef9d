"""Property tests (hypothesis): the lifecycle state machine, deduplication, and resync diffs."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rtdata.events import row_key
from rtdata.lifecycle import ALLOWED, ConnectionState, InvalidTransition, check
from rtdata.resync import Deduper, diff_rows, resync_since_ns
from rtdata.supervisor import backoff_delay_s
from rtdata.tables import LiveTables

STATES = list(ConnectionState)


# ---------------------------------------------------------------- lifecycle


@given(st.sampled_from(STATES), st.sampled_from(STATES))
def test_check_accepts_exactly_the_allowed_transitions(
    source: ConnectionState, target: ConnectionState
) -> None:
    if target in ALLOWED[source]:
        check(source, target)
    else:
        with pytest.raises(InvalidTransition):
            check(source, target)


def test_every_state_can_reach_subscribed_or_is_final() -> None:
    """No state traps the collector: from anywhere but STOPPED, SUBSCRIBED is reachable."""
    for start in STATES:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in ALLOWED[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        if start == ConnectionState.STOPPED:
            assert seen == {ConnectionState.STOPPED}
        else:
            assert ConnectionState.SUBSCRIBED in seen
            assert ConnectionState.STOPPED in seen


class Lifecycle(RuleBasedStateMachine):
    """Random walks over the events the supervisor reacts to never break the lifecycle."""

    def __init__(self) -> None:
        super().__init__()
        self.state = ConnectionState.IDLE
        self.history: list[ConnectionState] = [self.state]

    def move(self, target: ConnectionState) -> None:
        check(self.state, target)
        self.state = target
        self.history.append(target)

    @precondition(lambda self: self.state == ConnectionState.IDLE)
    @rule()
    def start(self) -> None:
        self.move(ConnectionState.CONNECTING)

    @precondition(
        lambda self: (
            self.state
            in (ConnectionState.CONNECTING, ConnectionState.RECONNECTING, ConnectionState.POLLING)
        )
    )
    @rule()
    def subscribed(self) -> None:
        self.move(ConnectionState.SUBSCRIBED)

    @precondition(lambda self: self.state == ConnectionState.SUBSCRIBED)
    @rule(stale=st.booleans())
    def link_lost(self, stale: bool) -> None:
        if stale:
            self.move(ConnectionState.STALE)
        self.move(ConnectionState.RECONNECTING)

    @precondition(
        lambda self: self.state in (ConnectionState.CONNECTING, ConnectionState.RECONNECTING)
    )
    @rule()
    def attempt_failed(self) -> None:
        self.move(ConnectionState.RECONNECTING)

    @precondition(lambda self: self.state == ConnectionState.RECONNECTING)
    @rule()
    def disconnected_too_long(self) -> None:
        self.move(ConnectionState.POLLING)

    @precondition(
        lambda self: (
            self.state
            not in (ConnectionState.IDLE, ConnectionState.STOPPED, ConnectionState.FAILED)
        )
    )
    @rule()
    def needs_a_person(self) -> None:
        self.move(ConnectionState.FAILED)

    @precondition(lambda self: self.state == ConnectionState.FAILED)
    @rule()
    def person_reconnects(self) -> None:
        self.move(ConnectionState.CONNECTING)

    @precondition(lambda self: self.state != ConnectionState.STOPPED)
    @rule()
    def stop(self) -> None:
        self.move(ConnectionState.STOPPED)

    @precondition(lambda self: self.state == ConnectionState.STOPPED)
    @rule(wanted=st.sampled_from(STATES))
    def nothing_leaves_stopped(self, wanted: ConnectionState) -> None:
        with pytest.raises(InvalidTransition):
            check(self.state, wanted)

    @invariant()
    def stopped_is_final(self) -> None:
        if ConnectionState.STOPPED in self.history:
            assert self.history[-1] == ConnectionState.STOPPED
            assert self.history.count(ConnectionState.STOPPED) == 1


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@given(st.integers(0, 60), st.floats(0, 0.99), st.floats(0, 0.999))
def test_backoff_doubles_caps_and_stays_within_jitter(
    attempt: int, jitter: float, unit: float
) -> None:
    delay = backoff_delay_s(attempt, 1.0, 30.0, jitter, unit)
    base = min(2.0**attempt, 30.0)
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9


# ---------------------------------------------------------------- dedup


@given(
    st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 5), st.integers(0, 5)), max_size=200)
)
def test_deduper_admits_each_triple_exactly_once(triples: list[tuple[str, int, int]]) -> None:
    dedup = Deduper(max_entries=10_000)
    admitted = [t for t in triples if dedup.first_time(t[0], str(t[1]), t[2])]
    assert sorted(admitted) == sorted(set(triples))


def test_deduper_memory_is_bounded_and_changes_without_commit_time_always_pass() -> None:
    dedup = Deduper(max_entries=10)
    for i in range(100):
        dedup.first_time("t", str(i), i)
    assert len(dedup) == 10
    assert dedup.first_time("t", "x", None)
    assert dedup.first_time("t", "x", None)


# ---------------------------------------------------------------- resync

rows_strategy = st.dictionaries(
    st.integers(0, 30),
    st.fixed_dictionaries({"v": st.integers(0, 3), "s": st.sampled_from(["a", "b"])}),
    max_size=25,
)


def _table(rows: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(k): {"id": k, **v} for k, v in rows.items()}


@given(rows_strategy, rows_strategy)
def test_a_complete_diff_applied_makes_local_equal_the_server(
    local_rows: dict[int, dict[str, Any]], server_rows: dict[int, dict[str, Any]]
) -> None:
    local, server = _table(local_rows), _table(server_rows)
    diff = diff_rows(local, list(server.values()), ("id",), complete=True)
    tables = LiveTables({"t": ("id",)})
    tables.load("t", local.values())
    for row in diff.inserted + diff.updated:
        tables.apply_change("t", "UPDATE", row_key(row, ("id",)), row)
    for key in diff.deleted:
        tables.apply_change("t", "DELETE", key, None)
    assert tables.rows_by_key("t") == server
    # Exactly the keys that differ are touched: nothing unchanged is rewritten.
    assert len(diff) == len({k for k in set(local) | set(server) if local.get(k) != server.get(k)})


@given(rows_strategy, rows_strategy, st.data())
def test_partial_reads_with_server_keys_find_every_delete(
    local_rows: dict[int, dict[str, Any]],
    server_rows: dict[int, dict[str, Any]],
    data: st.DataObject,
) -> None:
    local, server = _table(local_rows), _table(server_rows)
    changed = [server[k] for k in server if local.get(k) != server[k]]
    extra = (
        data.draw(st.lists(st.sampled_from(list(server.values())), max_size=5)) if server else []
    )
    diff = diff_rows(local, changed + extra, ("id",), complete=False, server_keys=server.keys())
    assert set(diff.deleted) == set(local) - set(server)
    touched = {row_key(r, ("id",)) for r in diff.inserted + diff.updated}
    assert touched == {k for k in server if local.get(k) != server[k]}


@given(st.one_of(st.none(), st.integers(0, 10**18)), st.integers(0, 10**18), st.floats(0, 60))
def test_resync_window_starts_no_later_than_what_was_verified(
    last_commit: int | None, gap_start: int, margin_s: float
) -> None:
    since = resync_since_ns(last_commit, gap_start, margin_s)
    assert since <= gap_start - int(margin_s * 1e9)
    if last_commit is not None:
        assert since <= last_commit - int(margin_s * 1e9)
