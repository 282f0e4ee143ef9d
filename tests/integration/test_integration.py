"""Integration on real sockets: local server on port 0, the simulator, and a Collector that
uses the official supabase/realtime clients. Nothing on the realtime path is mocked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from rtdata import Collector, ConnectionState, LocalServer, Settings
from rtdata.scenarios import get_scenario
from tests.support import published_changes, timeout_s, wait_until

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
ROW = {
    "hospital_id": 2,
    "patient_name": "Rui",
    "emergency_type": "stroke",
    "priority": 1,
    "lat": 38.74,
    "lon": -9.15,
    "pickup_address": "Av. Roma 10, Alvalade",
}


@pytest.fixture
def collector(server: LocalServer) -> Iterator[Collector]:
    settings = Settings().with_project(server.url, server.service_key)
    c = Collector(settings).start(wait=True)
    yield c
    c.stop()


def rest(server: LocalServer) -> httpx.Client:
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    return httpx.Client(base_url=f"{server.url}/rest/v1", headers=headers, timeout=timeout_s(10))


def test_insert_update_delete_reach_the_buffer_and_table_state(
    server: LocalServer, collector: Collector
) -> None:
    with rest(server) as http:
        created = http.post(
            "/emergency_requests", json=ROW, headers={"Prefer": "return=representation"}
        )
        assert created.status_code == 201
        key = str(created.json()[0]["id"])
        wait_until(
            lambda: key in _keys(collector, "emergency_requests"),
            what="insert",
        )
        assert (
            http.patch(f"/emergency_requests?id=eq.{key}", json={"status": "accepted"}).status_code
            == 204
        )
        wait_until(
            lambda: _row(collector, "emergency_requests", key).get("status") == "accepted",
            what="update",
        )
        assert http.delete(f"/emergency_requests?id=eq.{key}").status_code == 204
        wait_until(lambda: collector.table("emergency_requests").empty, what="delete")

    events = collector.buffer.snapshot(kinds=["postgres_changes"], tables=["emergency_requests"])
    mine = events[events["key"] == key]
    assert mine["op"].tolist() == ["INSERT", "UPDATE", "DELETE"]
    assert (mine["latency_ms"] >= 0).all()
    assert (mine["source"] == "realtime").all()
    inserted = orjson.loads(mine["record"].iloc[0])
    assert {k: inserted[k] for k in ROW} == ROW
    assert inserted["status"] == "pending"
    assert orjson.loads(mine["record"].iloc[1])["status"] == "accepted"
    # emergency_requests is REPLICA IDENTITY FULL: the DELETE carries the whole old row.
    assert orjson.loads(mine["old_record"].iloc[2])["status"] == "accepted"
    assert mine["record"].iloc[2] is None


def test_snapshot_loads_rows_written_before_the_collector_started(server: LocalServer) -> None:
    published = published_changes(server)
    with rest(server) as http:
        http.post("/emergency_requests", json=[ROW, ROW, ROW])
    # On Postgres (as on Supabase) a commit streams from the WAL a moment later: a channel
    # joined before that moment would get the rows as realtime changes too. Wait until they
    # streamed, so that only the snapshot can bring them.
    wait_until(lambda: len(published) == 3, what="the rows streamed")
    c = Collector(Settings().with_project(server.url, server.service_key)).start(wait=True)
    try:
        assert len(c.table("emergency_requests")) == 3
        snap = c.buffer.snapshot(tables=["emergency_requests"])
        assert (snap["source"] == "snapshot").sum() == 3
    finally:
        c.stop()


def test_simulated_traffic_leaves_table_state_equal_to_the_server(
    server: LocalServer, collector: Collector
) -> None:
    simulator = get_scenario("hospital").simulator(
        server.url, server.service_key, rate_per_s=200, duration_s=3, seed=7
    )
    simulator.run()
    assert simulator.writes_ok > 100
    assert simulator.writes_failed == 0

    def same() -> bool:
        return all(
            _rows_by_key(server.rows(t)) == _rows_by_key(collector.tables.rows(t))
            for t in collector.tables.names
        )

    wait_until(same, timeout=10, what="table state to equal the server's tables")
    status = collector.status
    assert status.state == ConnectionState.SUBSCRIBED
    assert status.errors_total == 0
    assert status.events_total >= simulator.writes_ok  # bulk inserts give several changes


def _keys(collector: Collector, table: str) -> set[str]:
    return {str(row["id"]) for row in collector.tables.rows(table)}


def _row(collector: Collector, table: str, key: str) -> dict[str, object]:
    return _rows_by_key(collector.tables.rows(table)).get(key, {})


def _rows_by_key(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["id"]): r for r in rows}


def test_collector_throughput_on_a_burst(server: LocalServer, collector: Collector) -> None:
    """Measures the events/s the collector sustains; writes it to tests/artifacts/."""
    batches, per_batch = 40, 250
    total = batches * per_batch
    rows = [{**ROW, "patient_name": f"p{i}"} for i in range(per_batch)]
    before = collector.status.events_total
    with rest(server) as http:
        start = time.perf_counter()
        for _ in range(batches):
            assert http.post("/emergency_requests", json=rows).status_code == 201
        wait_until(
            lambda: collector.status.events_total - before >= total, timeout=60, what="burst"
        )
        elapsed_s = time.perf_counter() - start
    events_per_s = total / elapsed_s
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "integration_throughput.json").write_text(
        json.dumps(
            {"events": total, "elapsed_s": round(elapsed_s, 3), "events_per_s": round(events_per_s)}
        )
    )
    assert collector.status.errors_total == 0
    assert len(collector.table("emergency_requests")) == total


def test_stop_is_idempotent_and_leaves_no_thread(server: LocalServer) -> None:
    c = Collector(Settings().with_project(server.url, server.service_key)).start(wait=True)
    c.stop()
    c.stop()
    assert c.status.state == ConnectionState.STOPPED
    assert not [t for t in threading.enumerate() if t.name == "rtdata-collector"]


def test_unreachable_project_fails_to_subscribe_in_time() -> None:
    settings = Settings(url="http://127.0.0.1:9", key="k", connect_timeout_s=1.0)
    c = Collector(settings)
    try:
        with pytest.raises(TimeoutError, match="not subscribed"):
            c.start(wait=True)
    finally:
        c.stop()


def test_a_change_delivered_by_two_channels_is_recorded_once(server: LocalServer) -> None:
    from rtdata.config import Binding, Channel, Config

    config = Config(
        channels=(
            Channel("all-changes", postgres_changes=(Binding("emergency_requests"),)),
            Channel(
                "inserts", postgres_changes=(Binding("emergency_requests", events=("INSERT",)),)
            ),
        )
    )
    c = Collector(Settings(config=config).with_project(server.url, server.service_key)).start(
        wait=True
    )
    try:
        frames_before = len([f for f in c.frames() if '"postgres_changes"' in f.text])
        with rest(server) as http:
            http.post("/emergency_requests", json=ROW)
        wait_until(
            lambda: (
                len([f for f in c.frames() if '"postgres_changes"' in f.text]) >= frames_before + 2
            ),
            what="the change on both channels",
        )
        events = c.buffer.snapshot(kinds=["postgres_changes"])
        assert len(events[events["source"] == "realtime"]) == 1
        assert c.status.events_total == 1
    finally:
        c.stop()


def test_debug_trace_keeps_raw_frames_with_secrets_redacted(
    server: LocalServer, collector: Collector
) -> None:
    with rest(server) as http:
        http.post("/emergency_requests", json=ROW)
    wait_until(lambda: collector.status.events_total >= 1, what="one change")
    frames = collector.frames()
    text = "\n".join(f.text for f in frames)
    assert any(f.direction == "out" and '"phx_join"' in f.text for f in frames)
    assert any(f.direction == "in" and '"postgres_changes"' in f.text for f in frames)
    assert server.service_key not in text
    assert "<redacted>" in text  # the join carried the access token


def test_stop_right_after_start_is_not_lost(server: LocalServer) -> None:
    c = Collector(Settings().with_project(server.url, server.service_key)).start()
    c.stop(timeout_s=timeout_s(5))
    assert not [t for t in threading.enumerate() if t.name == "rtdata-collector"]
    assert c.state == ConnectionState.STOPPED
