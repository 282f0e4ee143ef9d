"""The hospital pack filled by its own simulator and staff roster, for its page tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtdata.config import load_config, parse_config
from rtdata.recorder import Recorder
from rtdata.scenarios import get_scenario
from rtdata.settings import Settings
from rtdata.simulate import WriteSource
from tests.pages.harness import Replay
from tests.pages.packs import sign_in

PACK = get_scenario("hospital")
SEED = 7
WRITES = 3000
SPAN_S = 1200.0  # the writes are spread over the last 20 minutes


@dataclass
class Hospital:
    """A recorder following the pack's config, filled by its simulator and roster.

    Attributes:
        recorder: The recorder.
        replay: The rows the simulator wrote, as the database holds them.
        scenario: The simulator, to ask for more writes.
        online: Staff signed in at the end, key -> (role, hospital_id).
    """

    recorder: Recorder
    replay: Replay
    scenario: WriteSource
    online: dict[str, tuple[str, int]]

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.replay.rows.get(table, {}).values())

    def names(self) -> dict[int, str]:
        return {int(row["id"]): str(row["name"]) for row in self.rows("hospitals")}


def _staff(recorder: Recorder, changes: int) -> dict[str, tuple[str, int]]:
    """Sign the pack's roster in and out on its presence channel, over the last 10 minutes."""
    roster = PACK.roster(SEED)
    assert roster is not None
    sign_in(recorder, roster, changes, "online")
    members = {m.key: m for m in roster.members}
    return {key: (members[key].role, members[key].hospital_id) for key in roster.online}


def filled(config_text: str | None = None) -> Hospital:
    """The pack's config (or ``config_text``, read as if it were the pack's file), its
    simulator's first 3,000 writes over the last 20 minutes and 40 changes of its roster."""
    config = (
        load_config(PACK.config_path)
        if config_text is None
        else parse_config(config_text, str(PACK.config_path))
    )
    recorder = Recorder(Settings(config=config))
    replay = Replay(recorder)
    scenario = PACK.scenario(SEED)
    replay.play(scenario, WRITES, span_s=SPAN_S)
    return Hospital(recorder, replay, scenario, _staff(recorder, 40))
