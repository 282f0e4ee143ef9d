"""The collector on real sockets records what it ingests to the history."""

from __future__ import annotations

from pathlib import Path

import httpx

from rtdata import Collector, LocalServer, Settings
from rtdata.history import HistoryWriter, load
from tests.support import wait_until
from tests.unit.test_history import VITALS, assert_same_events


def test_collector_writes_what_it_ingests(server: LocalServer, tmp_path: Path) -> None:
    settings = Settings().with_project(server.url, server.service_key)
    collector = Collector(settings, history=HistoryWriter(tmp_path)).start(wait=True)
    try:
        headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
        with httpx.Client(base_url=f"{server.url}/rest/v1", headers=headers) as http:
            for n in range(3):
                row = {**VITALS, "heart_rate": 70 + n}
                assert http.post("/vital_signs", json=row).status_code == 201
        wait_until(lambda: collector.status.events_total >= 3, what="three changes")
    finally:
        collector.stop()
    loaded = load(tmp_path)
    changes = loaded[loaded["kind"] == "postgres_changes"]
    assert changes["table"].tolist() == ["vital_signs"] * 3
    assert (changes["latency_ms"] >= 0).all()
    assert_same_events(changes, collector.buffer.snapshot(kinds=["postgres_changes"]))
    states = loaded.loc[loaded["kind"] == "status", "op"].tolist()
    assert states[:2] == ["connecting", "subscribed"]
    assert states[-1] == "stopped"
