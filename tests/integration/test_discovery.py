"""A collector with no channel configured learns the project's tables from its REST schema and
follows them; introspection failures are counted, shown in the status and retried or refused
like connect failures; with channels configured the schema is still read for pages."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from rtdata import Collector, ConnectionState, LocalServer, Settings
from rtdata.config import Config, load_config
from rtdata.introspect import schema_from_migrations
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import Keys
from tests.integration.test_collector_faults import FAST
from tests.integration.test_introspect import HOSPITAL_TABLES, KEYED_SQL
from tests.support import EMERGENCY_ROW, timeout_s, wait_until

MIGRATIONS_DIR = get_scenario(DEFAULT_SCENARIO).migrations


def discovering(url: str, key: str) -> Settings:
    """Settings that name no channel: follow every table the project exposes."""
    config = dataclasses.replace(Config(), channels=())
    config = dataclasses.replace(config, connection=dataclasses.replace(config.connection, **FAST))
    return Settings(url=url, key=key, config=config, connect_timeout_s=3)


def insert(server: LocalServer, table: str, row: dict[str, Any]) -> None:
    """Insert ``row`` over REST with the service key."""
    response = httpx.post(
        f"{server.url}/rest/v1/{table}",
        json=row,
        headers={"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"},
        timeout=timeout_s(5),
    )
    assert response.status_code == 201, response.text


def test_with_no_channel_every_table_is_discovered_and_followed(server: LocalServer) -> None:
    collector = Collector(discovering(server.url, server.service_key)).start(wait=True)
    try:
        assert collector.recorder.schema == schema_from_migrations(MIGRATIONS_DIR)
        assert dict(collector.settings.table_keys) == {t: ("id",) for t in HOSPITAL_TABLES}
        assert [c.name for c in collector.settings.config.channels] == ["rtdata-tables"]
        assert sorted(collector.tables.names) == sorted(HOSPITAL_TABLES)  # see test_introspect
        resync = collector.settings.config.resync_columns()
        assert resync["emergency_requests"] == "updated_at"
        assert "vital_signs" not in resync  # it has no updated_at
        insert(server, "emergency_requests", EMERGENCY_ROW)
        wait_until(
            lambda: (
                collector.tables.count("emergency_requests") == 1
                and collector.status.events_total == 1
            ),
            what="the inserted row, over realtime",
        )
        assert collector.status.errors_total == 0
    finally:
        collector.stop()


def test_tables_without_a_primary_key_are_left_out_with_a_warning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    serve: Callable[..., AbstractContextManager[LocalServer]],
) -> None:
    (tmp_path / "0001_cases.sql").write_text(KEYED_SQL)
    with serve(schema=tmp_path) as server, caplog.at_level(logging.WARNING, "rtdata"):
        collector = Collector(discovering(server.url, server.service_key)).start(wait=True)
        try:
            assert dict(collector.settings.table_keys) == {"hospitals": ("id",), "cases": ("id",)}
            insert(server, "hospitals", {"id": 1, "name": "Santa Maria"})
            insert(server, "cases", {"hospital_id": 1})
            wait_until(lambda: collector.tables.count("cases") == 1, what="the new case")
            assert collector.tables.rows("cases")[0]["stage"] == "open"
        finally:
            collector.stop()
    assert any(
        "without a primary key" in r.getMessage() and "notes" in r.getMessage()
        for r in caplog.records
    )


def test_a_refused_schema_fails_and_waits_for_a_person(server: LocalServer) -> None:
    wrong = Keys.for_secret("another-secret-that-is-at-least-32-chars").service
    collector = Collector(discovering(server.url, wrong)).start()
    try:
        assert collector.wait_for(ConnectionState.FAILED, timeout_s(10))
        status = collector.status
        assert "cannot learn the project's tables" in status.reason
        assert "refused the key (HTTP 401)" in status.reason
        assert wrong not in status.reason
        assert status.errors_total == 1
        assert collector.metrics_snapshot().invalid_by_reason == {"introspection failed": 1}
        assert collector.recorder.schema is None
    finally:
        collector.stop()


def test_introspection_is_retried_until_the_schema_is_served() -> None:
    with socket.socket() as probe:  # a free port, closed again: nothing listens there yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = LocalServer(port=port)
    collector = Collector(discovering(server.url, server.service_key)).start()
    try:
        wait_until(
            lambda: (
                collector.state == ConnectionState.RECONNECTING
                and "cannot learn the project's tables" in collector.status.reason
                and collector.status.errors_total >= 2
            ),
            what="introspection failing and retried",
        )
        with server:
            assert collector.wait_for(ConnectionState.SUBSCRIBED, timeout_s(10))
            assert sorted(collector.tables.names) == sorted(HOSPITAL_TABLES)
    finally:
        collector.stop()


def test_the_schema_is_read_for_pages_even_when_channels_are_configured(
    shared_server: LocalServer,
) -> None:
    pack = load_config(get_scenario(DEFAULT_SCENARIO).config_path)
    config = dataclasses.replace(pack, connection=dataclasses.replace(pack.connection, **FAST))
    settings = Settings(config=config, connect_timeout_s=3)
    collector = Collector(settings.with_project(shared_server.url, shared_server.service_key))
    collector.start(wait=True)
    try:
        wait_until(lambda: collector.recorder.schema is not None, what="the REST schema")
        assert collector.recorder.schema == schema_from_migrations(MIGRATIONS_DIR)
        assert collector.settings.config.channels == pack.channels  # untouched
        assert collector.settings.config.channels[1].name == "online"
    finally:
        collector.stop()
