"""Who is typing in a booking's chat: presence on the static ``typing`` channel.

:class:`TypingRoster` is the pack's presence roster: it signs people in on :data:`TYPING_CHANNEL`
while they type in a booking's chat, tracking ``user``, ``role``, ``city_id``, ``booking_id`` and ``typing`` (the seed's
``typingChannel.track({user_id, typing: true})``), and out when they stop. The app's channel is
``typing:<booking id>``; the collector follows configured channels only, so the pack uses one
static channel whose metas name the booking.

The roster learns which chats are open by running its own copy of the scenario in memory
(:class:`rtdata.simulate.dry.DryRun`) at :data:`ASSUMED_RATE_PER_S` writes a second from its
first change on: with the same seed and a server that numbers bookings from 1, its booking ids
are the simulator's, give or take a few seconds of drift. Pure: no clock, no I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from rtdata.scenarios.marketplace.chats import Chat
from rtdata.simulate.dry import DryRun

if TYPE_CHECKING:
    from rtdata.scenarios.marketplace.scenario import MarketplaceScenario

__all__ = [
    "ASSUMED_RATE_PER_S",
    "MAX_TYPING",
    "TYPING_CHANNEL",
    "TypingChange",
    "TypingRoster",
]

TYPING_CHANNEL: Final = "typing"
"""The presence channel people type on (without ``realtime:``)."""

ASSUMED_RATE_PER_S: Final = 10.0
"""The simulator's write rate the roster assumes (``rtdata demo``'s default)."""

MAX_TYPING: Final = 6
"""Most people typing at once."""

_MAX_CATCH_UP: Final = 3000  # writes of the private run per change: five minutes at 10/s


@dataclass(frozen=True, slots=True)
class TypingChange:
    """One presence change on the typing channel.

    Attributes:
        kind: ``join`` (starts typing), ``leave`` (stops) or ``update`` (types on).
        key: The person's id (their presence key).
        meta: ``user``, ``role``, ``city_id``, ``booking_id``, ``typing`` (``True``) and
            ``online_at``; empty for ``leave``.
        channel: :data:`TYPING_CHANNEL`.
    """

    kind: Literal["join", "leave", "update"]
    key: str
    meta: dict[str, Any]
    channel: str | None = TYPING_CHANNEL


class TypingRoster:
    """Seeded source of who starts and stops typing in a booking's chat.

    The first :attr:`target_online` changes are people starting to type (as soon as chats
    are open); after that each change is a start, a stop or a re-track, weighted so about
    :attr:`target_online` people type at once, never more than :data:`MAX_TYPING`. Someone
    whose chat has closed stops typing first.

    Args:
        scenario: The roster's own copy of the pack's scenario (same seed as the simulator).
        seed: Seed of the roster's private random generator.
    """

    def __init__(self, scenario: MarketplaceScenario, seed: int) -> None:
        """Create a roster with nobody typing."""
        self._scenario = scenario
        self._run = DryRun(scenario)
        self._rng = random.Random(seed ^ 0x7E57)
        self._clock: datetime | None = None
        self.target_online = 4
        self._typing: dict[str, Chat] = {}

    @property
    def typing(self) -> dict[str, int]:
        """Who is typing now: person id -> booking id (a copy)."""
        return {key: chat.booking_id for key, chat in self._typing.items()}

    def next_change(self, now: datetime) -> TypingChange:
        """Return the next change and apply it to :attr:`typing`.

        Before any chat is open (the first seconds of a run), the change is a ``leave`` of the
        key ``nobody``, whom no socket holds: the presence simulator has nothing to close.

        Args:
            now: Current time, timezone-aware; the private scenario runs up to it.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._catch_up(now)
        chats = {(c.booking_id, c.key): c for c in self._scenario.chats()}
        stale = [k for k, c in self._typing.items() if (c.booking_id, k) not in chats]
        if stale:
            del self._typing[stale[0]]
            return TypingChange("leave", stale[0], {})
        free = [c for (_, key), c in chats.items() if key not in self._typing]
        typing = len(self._typing)
        drift = (typing - self.target_online) / MAX_TYPING
        weights = {
            "join": max(0.0, 0.4 - 2 * drift) if free and typing < MAX_TYPING else 0.0,
            "leave": max(0.0, 0.35 + 2 * drift) if typing else 0.0,
            "update": 0.25 if typing else 0.0,
        }
        if not any(weights.values()):  # no chat is open yet: re-track nobody, wait
            weights["join"] = 1.0 if free else 0.0
        kind = (
            self._rng.choices(list(weights), list(weights.values()))[0]
            if free or typing
            else "leave"
        )
        stamp = now.astimezone(UTC).isoformat()
        if kind == "join" and free:
            chat = self._rng.choice(free)
            self._typing[chat.key] = chat
            return TypingChange("join", chat.key, _meta(chat, stamp))
        if kind == "update" and typing:
            key = self._rng.choice(list(self._typing))
            return TypingChange("update", key, _meta(self._typing[key], stamp))
        if typing:
            key = self._rng.choice(list(self._typing))
            del self._typing[key]
            return TypingChange("leave", key, {})
        return TypingChange("leave", "nobody", {})

    def _catch_up(self, now: datetime) -> None:
        if self._clock is None:
            self._clock = now
        step = timedelta(seconds=1 / ASSUMED_RATE_PER_S)
        for _ in range(_MAX_CATCH_UP):
            if self._clock > now:
                break
            self._run.step(self._clock)
            self._clock += step
        if self._clock <= now:  # far behind (a long pause): skip ahead rather than replay it
            self._clock = now


def _meta(chat: Chat, stamp: str) -> dict[str, Any]:
    return {
        "user": chat.name,
        "role": chat.role,
        "city_id": chat.city_id,
        "booking_id": chat.booking_id,
        "typing": True,
        "online_at": stamp,
    }
