"""The history on disk alone rebuilds every table as the collector held it, through drops,
dropped changes, resyncs and snapshots; and alert rows reach the history."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rtdata import Collector, ConnectionState, LocalServer, Settings
from rtdata.config import DEFAULT_CONFIG
from rtdata.history import HistoryWriter, load, rebuild_tables
from rtdata.scenarios import get_scenario
from rtdata.simulate import Simulator
from tests.support import wait_until

FAST = {
    "probe_interval_s": 0.5,
    "reconnect_initial_s": 0.1,
    "reconnect_max_s": 0.5,
    "poll_after_s": 120.0,
    "resync_margin_s": 2.0,
    "resync_interval_s": 0.0,
}


def _settings(server: LocalServer) -> Settings:
    config = dataclasses.replace(
        DEFAULT_CONFIG,
        connection=dataclasses.replace(DEFAULT_CONFIG.connection, **FAST),
        # One reconnect is a storm here, so the drop below raises an alert.
        alerts=dataclasses.replace(DEFAULT_CONFIG.alerts, reconnect_storm_count=1),
    )
    return Settings(config=config, connect_timeout_s=3).with_project(server.url, server.service_key)


def _by_key(rows: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {key: dict(row) for key, row in rows.items()}


@pytest.fixture
def traffic(server: LocalServer) -> Iterator[Simulator]:
    simulator = get_scenario("hospital").simulator(
        server.url, server.service_key, rate_per_s=40, seed=5
    )
    yield simulator
    simulator.stop()


def test_history_rebuilds_every_table_at_a_moment(
    server: LocalServer, traffic: Simulator, tmp_path: Path
) -> None:
    settings = _settings(server)
    traffic.start()  # rows before the collector starts: its snapshot reads them
    wait_until(lambda: len(server.rows("emergency_requests")) >= 5, what="rows to snapshot")
    collector = Collector(settings, history=HistoryWriter(tmp_path, flush_s=0.2))
    collector.start(wait=True)
    try:
        wait_until(lambda: collector.status.events_total > 20, what="traffic")
        # Lose some changes on a live socket, then the socket itself: the resync repairs both.
        server.fault("drop_changes", fraction=0.5)
        wait_until(lambda: collector.status.events_total > 60, what="traffic with drops")
        server.fault("drop")
        server.fault("drop_changes", fraction=0.0)
        wait_until(
            lambda: any(g for g in collector.gaps), timeout=20, what="a repaired gap after the drop"
        )
        traffic.stop()
        wait_until(
            lambda: (
                collector.state == ConnectionState.SUBSCRIBED
                and all(
                    {str(r["id"]): r for r in server.rows(t)}
                    == {str(r["id"]): r for r in collector.tables.rows(t)}
                    for t in collector.tables.names
                )
            ),
            timeout=30,
            what="live tables equal to the server's",
        )
        wait_until(
            lambda: "alert" in set(collector.buffer.snapshot()["kind"].astype(str)),
            timeout=15,
            what="the reconnect storm alert",
        )
        at = datetime.now(UTC)
        held = {t: _by_key(collector.tables.rows_by_key(t)) for t in collector.tables.names}
        assert sum(map(len, held.values())) > 0

        traffic.start()  # more changes after the moment, which the rebuild must leave out
        before = collector.status.events_total
        wait_until(lambda: collector.status.events_total > before + 10, what="later traffic")
        traffic.stop()
    finally:
        collector.stop()  # closes the writer: every event is on disk

    # The collector learnt its tables from the REST schema: rebuild the ones it followed.
    table_keys = collector.settings.table_keys
    assert set(table_keys) == set(held) >= {"emergency_requests", "hospitals"}
    rebuilt = rebuild_tables(tmp_path, table_keys, at)
    for table, rows in held.items():
        assert _by_key(rebuilt.rows_by_key(table)) == rows, table
    latest = rebuild_tables(tmp_path, table_keys)
    for table in collector.tables.names:
        assert _by_key(latest.rows_by_key(table)) == _by_key(collector.tables.rows_by_key(table))
    assert latest.rows_by_key("emergency_requests") != held["emergency_requests"]

    history = load(tmp_path)
    sources = set(history.loc[history["kind"] == "postgres_changes", "source"].astype(str))
    assert {"realtime", "snapshot", "resync"} <= sources  # every door was exercised
    alerts = history[history["kind"] == "alert"]
    assert "reconnect_storm" in set(alerts["op"].astype(str))
    buffered = collector.buffer.snapshot(kinds=["alert", "status"])
    recorded = history[history["kind"].isin(["alert", "status"])]
    assert len(recorded) == len(buffered)
