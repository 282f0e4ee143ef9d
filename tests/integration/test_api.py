"""The public API: ``rtdata.connect()`` on real sockets (``__all__``: unit/test_public_api.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import rtdata
from rtdata import ConnectionState, LocalServer, Settings
from rtdata.api import AttachedCollector
from tests.support import timeout_s, wait_until

"""The documented public API; changing it is a user-visible change (CHANGELOG)."""


def _rtdata_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("rtdata-") and t.is_alive()}


def test_connect_starts_and_stops_the_embedded_default() -> None:
    with rtdata.connect(Settings(), rate_per_s=50, seed=1) as collector:
        assert isinstance(collector, rtdata.Collector)
        assert collector.state is ConnectionState.SUBSCRIBED
        assert collector.stack is not None
        assert collector.settings.url == collector.stack.url
        wait_until(lambda: collector.status.events_total >= 5, timeout=20, what="live events")
        assert {"rtdata-collector", "rtdata-local-server"} <= _rtdata_threads()
        live = collector.buffer.snapshot(kinds=["postgres_changes"])
        assert (live["source"] == "realtime").any()
    assert collector.state is ConnectionState.STOPPED
    assert not _rtdata_threads() & {"rtdata-collector", "rtdata-local-server"}
    collector.stop()  # a second stop is harmless


def test_connect_without_settings_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("SUPABASE_URL", "SUPABASE_KEY", "RTDATA_CONFIG", "RTDATA_TABLES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml, no rtdata.toml
    collector = rtdata.connect(rate_per_s=20)
    try:
        assert collector.stack is not None
        assert collector.state is ConnectionState.SUBSCRIBED
    finally:
        collector.stop()
    assert collector.state is ConnectionState.STOPPED


def test_connect_to_a_project_owns_no_stack(server: LocalServer) -> None:
    settings = Settings().with_project(server.url, server.service_key)
    with rtdata.connect(settings) as collector:
        assert collector.stack is None
        assert collector.state is ConnectionState.SUBSCRIBED
    assert collector.state is ConnectionState.STOPPED
    assert "rtdata-local-server" in _rtdata_threads()  # the project is not ours to stop


def test_connect_without_wait_returns_before_subscribing() -> None:
    collector = rtdata.connect(Settings(), wait=False)
    try:
        assert collector.wait_for(ConnectionState.SUBSCRIBED, timeout_s(20))
    finally:
        collector.stop()


def test_connect_that_times_out_stops_what_it_started() -> None:
    # Nothing can subscribe within a microsecond: connect must raise and leave no thread.
    settings = Settings(connect_timeout_s=1e-6)
    with pytest.raises(TimeoutError, match="not subscribed"):
        rtdata.connect(settings)
    assert not _rtdata_threads() & {"rtdata-collector", "rtdata-local-server"}


def test_connect_to_a_project_that_refuses_joins_raises_and_cleans_up(
    server: LocalServer,
) -> None:
    server.fault("reject_joins", on=True)
    settings = Settings(connect_timeout_s=1.0).with_project(server.url, server.service_key)
    with pytest.raises(TimeoutError, match="not subscribed"):
        rtdata.connect(settings)
    assert "rtdata-collector" not in _rtdata_threads()


def test_attached_collector_stops_its_stack_even_if_never_started() -> None:
    stack = rtdata.EmbeddedStack().start()
    collector = AttachedCollector(stack.settings(), stack=stack)
    collector.stop()
    assert "rtdata-local-server" not in _rtdata_threads()


def test_connect_names_the_scenario_pack_of_the_embedded_default() -> None:
    from rtdata.scenarios import UnknownScenarioError

    with pytest.raises(UnknownScenarioError, match=r"hospitl.*did you mean 'hospital'"):
        rtdata.connect(Settings(), scenario="hospitl")
    with rtdata.connect(Settings(), scenario="hospital", rate_per_s=50) as collector:
        assert collector.stack is not None
        assert collector.stack.scenario.name == "hospital"
