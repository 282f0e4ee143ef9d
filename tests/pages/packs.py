"""Any scenario pack filled by its own simulator and roster, for the page tests of every pack;
and each pack's own words (``words.txt`` in its folder)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from rtdata.config import load_config
from rtdata.recorder import Recorder
from rtdata.scenarios import SCENARIOS, Scenario
from rtdata.settings import Settings
from rtdata.simulate import WriteSource
from rtdata.simulate.presence import DEFAULT_PRESENCE_CHANNEL, Roster
from tests.pages.harness import S_NS, Replay, presence

SEED = 7
WRITES = 3000
SPAN_S = 1200.0  # the writes are spread over the last 20 minutes
ROSTER_CHANGES = 60
ROSTER_SPAN_S = 600.0  # the roster changes over the last 10 minutes


@dataclass
class Filled:
    """A recorder following a pack's config, filled by its simulator and roster.

    Attributes:
        pack: The pack.
        recorder: The recorder.
        replay: The rows the simulator wrote, as the database holds them.
        scenario: The simulator, to ask for more writes.
    """

    pack: Scenario
    recorder: Recorder
    replay: Replay
    scenario: WriteSource


def sign_in(recorder: Recorder, roster: Roster, changes: int, channel: str) -> None:
    """Record ``changes`` changes of ``roster`` as the server reports them, over the last
    :data:`ROSTER_SPAN_S`: a re-track is a leave of the old meta and a join of the new one, and a
    change naming no channel goes to ``channel``."""
    end_ns = time.time_ns()
    for i in range(changes):
        at_ns = end_ns - (changes - i) * int(ROSTER_SPAN_S * S_NS) // changes
        step = roster.next_change(datetime.fromtimestamp(at_ns / S_NS, UTC))
        where = step.channel or channel
        if step.kind in ("leave", "update"):
            recorder.record(presence(where, "leave", step.key, None, at_ns))
        if step.kind in ("join", "update"):
            meta = {**step.meta, "presence_ref": f"{step.key}-{i}"}
            recorder.record(presence(where, "join", step.key, [meta], at_ns + 1))


def filled(name: str) -> Filled:
    """Pack ``name``'s config, its simulator's first :data:`WRITES` writes over the last
    :data:`SPAN_S` seconds and :data:`ROSTER_CHANGES` changes of its roster (if it has one)."""
    pack = SCENARIOS[name]
    config = load_config(pack.config_path)
    recorder = Recorder(Settings(config=config))
    replay = Replay(recorder)
    scenario = pack.scenario(SEED)
    replay.play(scenario, WRITES, span_s=SPAN_S)
    roster = pack.roster(SEED)
    if roster is not None:
        channels = config.presence_channels()
        default = DEFAULT_PRESENCE_CHANNEL if not channels else channels[0]
        sign_in(recorder, roster, ROSTER_CHANGES, default)
    return Filled(pack, recorder, replay, scenario)


def words(pack: Scenario) -> tuple[str, ...]:
    """The pack's own words: lowercase, one per line of its ``words.txt``."""
    lines = (pack.folder / "words.txt").read_text(encoding="utf-8").splitlines()
    return tuple(line.strip().lower() for line in lines if line.strip())


def found(text: str, vocabulary: tuple[str, ...]) -> set[str]:
    """The words of ``vocabulary`` that begin a word of ``text`` (case-insensitive)."""
    lowered = text.lower()
    return {w for w in vocabulary if re.search(rf"(?<![a-z0-9]){re.escape(w)}", lowered)}


def other_words(pack: Scenario) -> dict[str, tuple[str, ...]]:
    """Every other pack's words, by pack name."""
    return {other.name: words(other) for other in SCENARIOS.values() if other.name != pack.name}


def page_names(pack: Scenario) -> list[str]:
    """The pack's own pages, in order."""
    return [page.name for page in load_config(pack.config_path).pages]
