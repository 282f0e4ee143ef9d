"""The collector under every fault the local server can inject: it recovers by itself and its
table state ends exactly equal to the server's (every row compared), with traffic throughout."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from realtime._async import client as realtime_client

from rtdata import Collector, ConnectionState, LocalServer, Settings
from rtdata.config import DEFAULT_CONFIG
from rtdata.scenarios import get_scenario
from rtdata.simulate import Simulator
from tests.support import timeout_s, wait_until

PROBE_INTERVAL_S = 0.5
FAST = {
    "probe_interval_s": PROBE_INTERVAL_S,
    "reconnect_initial_s": 0.1,
    "reconnect_max_s": 0.5,
    "poll_after_s": 120.0,
    "resync_margin_s": 2.0,
    "resync_interval_s": 0.0,
}


def settings_for(server: LocalServer, **connection: Any) -> Settings:
    config = dataclasses.replace(
        DEFAULT_CONFIG,
        connection=dataclasses.replace(DEFAULT_CONFIG.connection, **{**FAST, **connection}),
    )
    return Settings(config=config, connect_timeout_s=3).with_project(server.url, server.service_key)


def exact(server: LocalServer, collector: Collector) -> bool:
    """Every table of the collector holds exactly the server's rows."""
    for table in collector.tables.names:
        theirs = {str(r["id"]): r for r in server.rows(table)}
        mine = {str(r["id"]): r for r in collector.tables.rows(table)}
        if theirs != mine:
            return False
    return True


@pytest.fixture
def traffic(server: LocalServer) -> Iterator[Simulator]:
    simulator = get_scenario("hospital").simulator(
        server.url, server.service_key, rate_per_s=40, seed=11
    )
    yield simulator
    simulator.stop()


def _recovers(
    server: LocalServer,
    traffic: Simulator,
    inject: Callable[[Collector], None],
    **connection: Any,
) -> Collector:
    collector = Collector(settings_for(server, **connection)).start(wait=True)
    try:
        traffic.start()
        wait_until(lambda: collector.status.events_total > 20, what="traffic before the fault")
        inject(collector)
        wait_until(lambda: collector.status.events_total > 0, what="sanity")
        traffic.stop()
        assert traffic.writes_failed == 0
        wait_until(
            lambda: collector.state == ConnectionState.SUBSCRIBED and exact(server, collector),
            timeout=30,
            what="SUBSCRIBED with table state equal to the server's",
        )
        assert collector.status.errors_total == 0
        return collector
    finally:
        collector.stop()


def _left_and_came_back(collector: Collector) -> bool:
    states = [t.target for t in collector.transitions]
    return ConnectionState.RECONNECTING in states and states[-1] == ConnectionState.SUBSCRIBED


def _writes_happen(server: LocalServer, traffic: Simulator, n: int = 30) -> None:
    start = traffic.writes_ok
    wait_until(lambda: traffic.writes_ok >= start + n, what=f"{n} writes during the fault")


class _OfficialDecodes:
    """Records the type of every frame realtime-py's own decoder returns."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.kinds: list[str] = []

    def validate_json(self, data: Any) -> Any:
        message = self.adapter.validate_json(data)
        self.kinds.append(type(message).__name__)
        return message


@pytest.mark.parametrize("fast_decode", [False, True], ids=["official-decode", "fast-decode"])
@pytest.mark.parametrize("action", ["drop", "close", "expire_tokens"])
def test_recovers_from_lost_sockets_and_channels(
    server: LocalServer,
    traffic: Simulator,
    action: str,
    fast_decode: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = _OfficialDecodes(realtime_client.ServerMessageAdapter)
    monkeypatch.setattr(realtime_client, "ServerMessageAdapter", decodes)

    def inject(collector: Collector) -> None:
        server.fault(action)
        _writes_happen(server, traffic)
        wait_until(lambda: _left_and_came_back(collector), timeout=15, what="a reconnect")

    collector = _recovers(server, traffic, inject, fast_decode=fast_decode)
    # The fast path takes every change; the official client still runs the rest of the link.
    assert ("PostgresChangesMessage" in decodes.kinds) is not fast_decode
    assert "ReplyMessage" in decodes.kinds
    assert collector.gaps, "the gap is recorded"
    assert collector.gaps[-1].end_ns >= collector.gaps[-1].start_ns


def test_detects_a_frozen_socket_within_two_probe_intervals_and_recovers(
    server: LocalServer, traffic: Simulator
) -> None:
    detected: list[float] = []

    def inject(collector: Collector) -> None:
        frozen_ns = time.time_ns()
        server.fault("freeze")
        _writes_happen(server, traffic)
        wait_until(
            lambda: ConnectionState.STALE in [t.target for t in collector.transitions],
            timeout=10,
            what="STALE",
        )
        stale = next(t for t in collector.transitions if t.target == ConnectionState.STALE)
        detected.append((stale.at_ns - frozen_ns) / 1e9)
        server.fault("thaw")

    _recovers(server, traffic, inject)
    # Two intervals of silence, plus the watch's tick (interval / 20) and scheduling slack.
    assert detected[0] <= timeout_s(2 * PROBE_INTERVAL_S + 0.35), f"took {detected[0]:.2f} s"


def test_keeps_retrying_rejected_joins_then_recovers(
    server: LocalServer, traffic: Simulator
) -> None:
    def inject(collector: Collector) -> None:
        server.fault("reject_joins", on=True)
        server.fault("drop")
        _writes_happen(server, traffic)
        wait_until(
            lambda: (
                sum(t.target == ConnectionState.RECONNECTING for t in collector.transitions) >= 3
            ),
            timeout=15,
            what="several rejected attempts",
        )
        assert collector.state != ConnectionState.FAILED  # transient: never gives up
        server.fault("reject_joins", on=False)

    collector = _recovers(server, traffic, inject)
    assert any("rejected" in t.reason for t in collector.transitions)


@pytest.mark.parametrize("fast_decode", [False, True], ids=["official-decode", "fast-decode"])
def test_repairs_dropped_changes_while_subscribed(
    server: LocalServer, traffic: Simulator, fast_decode: bool
) -> None:
    def inject(collector: Collector) -> None:
        server.fault("drop_changes", fraction=0.5)
        _writes_happen(server, traffic, 60)
        server.fault("drop_changes", fraction=0.0)

    collector = _recovers(server, traffic, inject, resync_interval_s=1.0, fast_decode=fast_decode)
    states = [t.target for t in collector.transitions]
    assert ConnectionState.RECONNECTING not in states  # repaired without any reconnect
    snapshot = collector.buffer.snapshot()
    assert (snapshot["source"] == "resync").sum() > 0


def test_polls_rest_while_disconnected_too_long(server: LocalServer, traffic: Simulator) -> None:
    collector = Collector(settings_for(server, poll_after_s=0.5, poll_interval_s=0.3)).start(
        wait=True
    )
    try:
        traffic.start()
        server.fault("reject_joins", on=True)
        server.fault("drop")
        wait_until(lambda: collector.state == ConnectionState.POLLING, timeout=10, what="POLLING")
        _writes_happen(server, traffic)
        traffic.stop()
        wait_until(lambda: exact(server, collector), timeout=10, what="polling keeps tables exact")
        assert collector.state == ConnectionState.POLLING
        assert (collector.buffer.snapshot()["source"] == "poll").sum() > 0
        server.fault("reject_joins", on=False)
        wait_until(lambda: collector.state == ConnectionState.SUBSCRIBED, timeout=10, what="back")
    finally:
        collector.stop()


def test_a_bad_key_fails_for_a_person_without_retrying(server: LocalServer) -> None:
    # A table named, so the socket's join is what refuses the key (a refused REST schema,
    # with nothing named, is test_discovery's).
    named = dataclasses.replace(settings_for(server), tables={"emergency_requests": ("id",)})
    bad = named.with_project(server.url, "not-a-valid-key")
    collector = Collector(bad).start()
    try:
        assert collector.wait_for(ConnectionState.FAILED, timeout_s(10))
        assert "refused the API key" in collector.status.reason
        assert "not-a-valid-key" not in collector.status.reason
    finally:
        collector.stop()
