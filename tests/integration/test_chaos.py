"""The chaos harness run small on real servers and a real Postgres (one fault of each kind),
and the regressions it found, each on its own."""

from __future__ import annotations

import random
import string

import httpx
import psycopg

from rtdata import Collector, ConnectionState, LocalServer
from rtdata.bench.chaos import FAULT_KINDS, run_chaos
from rtdata.bench.chaos_world import chaos_database, server_for, subscriber_settings
from rtdata.server.faults import MALFORMED_KINDS
from tests.support import EMERGENCY_ROW, timeout_s, wait_until


def test_a_small_chaos_run_ends_with_every_subscriber_exact(postgres_admin_dsn: str) -> None:
    report = run_chaos(
        postgres_admin_dsn,
        changes=300,
        rate_per_s=40.0,
        subscribers=3,
        faults_per_kind=1,
        pause_s=1.0,
        slow_s=1.0,
        recovery_timeout_s=timeout_s(20),
        converge_timeout_s=timeout_s(20),
    )
    assert report.writer_error is None
    assert report.changes == 300
    assert report.faults == dict.fromkeys(FAULT_KINDS, 1)
    assert report.unrecovered == 0
    assert report.converged, report.divergence
    assert report.divergent_rows == 0, report.divergence
    assert report.duplicate_gaps == 0
    assert report.unrecorded_gaps == 0
    # A drop and a restart make each of the 3 subscribers resubscribe at least once each.
    assert report.gaps >= 2 * 3
    assert report.malformed_sent > 0
    assert report.subscriber_errors > 0


def test_an_update_that_leaves_a_toasted_column_alone_keeps_it(postgres_admin_dsn: str) -> None:
    # Regression: Postgres does not log an unchanged TOASTed value, the server leaves it out
    # of the update's record (as Supabase does), and the collector used to drop the column.
    with chaos_database(postgres_admin_dsn) as (dsn, slot, migrations):
        server = server_for(dsn, migrations, slot, 0)
        settings = subscriber_settings(server.url, server.service_key, {"notes": ("board", "n")})
        collector = Collector(settings)
        try:
            collector.start(wait=True)
            # Random letters: Postgres cannot compress them inline, so the value is TOASTed.
            body = "".join(random.Random(1).choices(string.ascii_letters, k=5000))
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    "insert into notes (board, n, body, rev) values (1, 1, %s, 1)", (body,)
                )
                conn.execute("update notes set rev = 2 where board = 1 and n = 1")
            wait_until(
                lambda: [r.get("rev") for r in collector.tables.rows("notes")] == [2],
                what="the update",
            )
            assert collector.tables.rows("notes")[0]["body"] == body
        finally:
            collector.stop()
            server.stop()


def test_malformed_frames_leave_the_collector_subscribed_and_exact(server: LocalServer) -> None:
    settings = subscriber_settings(server.url, server.service_key, {"emergency_requests": ("id",)})
    collector = Collector(settings).start(wait=True)
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    try:
        for _ in range(3):
            httpx.post(
                f"{server.url}/rest/v1/emergency_requests", json=EMERGENCY_ROW, headers=headers
            ).raise_for_status()
        wait_until(lambda: collector.tables.count("emergency_requests") == 3, what="3 rows")
        queued = server.call(server.faults.malformed)
        # Two channels (the table's and the probe's), one frame of each kind.
        assert queued == 2 * len(MALFORMED_KINDS)
        # Every frame but the probe channel's keyless change (no binding there) is counted.
        wait_until(lambda: collector.status.errors_total >= queued - 1, what="the frames counted")
        httpx.post(
            f"{server.url}/rest/v1/emergency_requests", json=EMERGENCY_ROW, headers=headers
        ).raise_for_status()
        wait_until(lambda: collector.tables.count("emergency_requests") == 4, what="a new row")
        assert collector.state == ConnectionState.SUBSCRIBED
        assert collector.status.errors_total == queued - 1  # each counted once
        states = [t.target for t in collector.transitions]
        assert ConnectionState.RECONNECTING not in states
        mine = {str(r["id"]): r for r in collector.tables.rows("emergency_requests")}
        assert mine == {str(r["id"]): r for r in server.rows("emergency_requests")}
        bad = httpx.post(
            f"{server.url}/rtdata/v1/faults",
            json={"action": "malformed", "kinds": "binary"},
            headers=headers,
        )
        assert bad.status_code == 400
        assert "list of kind names" in bad.text
    finally:
        collector.stop()
