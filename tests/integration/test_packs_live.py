"""Every scenario pack live on the embedded default: the local server on port 0 serves its
migrations, its simulator writes, broadcasts and signs people in, and a collector following the
pack's rtdata.toml subscribes to every table and channel and hears from each within 30 s."""

from __future__ import annotations

import pytest

import rtdata
from rtdata import ConnectionState, Settings
from rtdata.config import load_config
from rtdata.events import EventKind
from rtdata.scenarios import SCENARIOS
from tests.support import wait_until


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_pack_is_heard_on_every_table_and_channel_within_30_s(name: str) -> None:
    config = load_config(SCENARIOS[name].config_path)
    with rtdata.connect(Settings(config=config), scenario=name, rate_per_s=10) as collector:
        assert collector.state is ConnectionState.SUBSCRIBED
        assert collector.stack is not None
        assert collector.stack.server.port != 0  # bound to a free port
        followed = {c.name for c in collector.settings.config.channels}
        assert followed == {c.name for c in config.channels}
        tables = set(Settings(config=config).table_keys)
        presence = set(config.presence_channels())
        broadcast = set(config.broadcast_channels())

        def silent() -> list[str]:
            events = collector.buffer.snapshot()
            changed = set(events.loc[events["kind"] == EventKind.POSTGRES_CHANGES, "table"])
            heard = {
                kind: set(events.loc[events["kind"] == kind, "channel"])
                for kind in (EventKind.PRESENCE, EventKind.BROADCAST)
            }
            return sorted(
                [f"table {t}" for t in tables - changed]
                + [f"presence on {c}" for c in presence - heard[EventKind.PRESENCE]]
                + [f"broadcast on {c}" for c in broadcast - heard[EventKind.BROADCAST]]
            )

        try:
            wait_until(lambda: not silent(), timeout=30, what=f"{name} on every table and channel")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; never heard: {silent()}") from None
        assert collector.status.errors_total == 0
        simulator = collector.stack.simulator
        assert simulator is not None
        assert simulator.writes_failed == 0, simulator.last_error
