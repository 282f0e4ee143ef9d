"""Seeded care-team roster: which clinicians are online on their clinic's collaboration channel;
no I/O.

Each clinic's providers track their presence on ``tenant:<id>:collaboration`` (the design
document's provider collaboration channel), with ``provider_id``, ``name``, ``role``,
``tenant_id``, ``activity`` and ``online_at``. A :class:`CareTeamRoster` produces sign-ins,
sign-outs and activity changes one at a time as :class:`PresenceChange` values, each naming its
clinic's channel; :class:`rtdata.simulate.presence.PresenceSimulator` carries them out. While the
incident clinic's team is offline (:func:`~rtdata.scenarios.telehealth.phases.incident_active`),
its online members sign out first and none signs in, until the incident ends.

Like the write source, nothing here reads a clock or global random state: time comes in as
``now`` (counted from the first call) and randomness from one seeded :class:`random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from rtdata.scenarios.telehealth.clinics import CLINICS, Provider
from rtdata.scenarios.telehealth.phases import incident_active

__all__ = ["ACTIVITIES", "COLLABORATION", "CareTeamRoster", "PresenceChange"]

COLLABORATION: Final = "collaboration"
"""Purpose of a clinic's presence channel (``tenant:<id>:collaboration``)."""

ACTIVITIES: Final = ("reviewing_alerts", "video_visit", "charting")
"""What a signed-in clinician is doing; a change is re-tracked."""

ChangeKind = Literal["join", "leave", "update"]


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One thing to do on a clinic's collaboration channel.

    Attributes:
        kind: ``join``, ``leave`` or ``update`` (track ``meta`` again).
        provider: Who.
        meta: What to track; empty for ``leave``.
        channel: The provider's clinic's collaboration channel.
    """

    kind: ChangeKind
    provider: Provider
    meta: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None

    @property
    def key(self) -> str:
        """The provider's presence key: their ``providers.id``."""
        return self.provider.id


class CareTeamRoster:
    """Seeded generator of presence changes for every clinic's care team.

    The first :attr:`target_online` changes sign people in, clinics taking turns, so every
    collaboration channel has someone within seconds. After that each change is a sign-in, a
    sign-out or an activity change, weighted so the number online drifts around
    :attr:`target_online`; the incident clinic's team signs out, and stays out, while its
    incident lasts.

    Args:
        seed: Seed of the roster's private random generator.
        team: Every clinic's care team.
        online_share: Share of the team online on average, in (0, 1].

    Raises:
        ValueError: ``team`` is empty or ``online_share`` is out of range.
    """

    def __init__(self, seed: int, team: Sequence[Provider], *, online_share: float = 0.7) -> None:
        """Create a roster with nobody online."""
        if not team:
            raise ValueError("team must hold at least one provider")
        if not 0 < online_share <= 1:
            raise ValueError(f"online_share must be in (0, 1], got {online_share!r}")
        self._rng = random.Random(f"roster-{seed}")
        self.members: tuple[Provider, ...] = tuple(team)
        self.target_online = max(1, round(len(team) * online_share))
        self._online: dict[str, tuple[str, str]] = {}  # key -> (activity, online_at)
        self._start: datetime | None = None
        self._warm_up = self.target_online
        self._turn = 0

    @property
    def online(self) -> dict[str, str]:
        """Who is signed in, as provider id -> activity (a copy)."""
        return {key: activity for key, (activity, _) in self._online.items()}

    def next_change(self, now: datetime) -> PresenceChange:
        """Return the next change and apply it to :attr:`online`.

        Args:
            now: Current time, timezone-aware; stamped into ``online_at``.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC)
        if self._start is None:
            self._start = now
        elapsed_s = (now - self._start).total_seconds()
        stamp = now.isoformat()
        away = [
            m for m in self.members if m.id in self._online and incident_active(m.clinic, elapsed_s)
        ]
        if away:  # the offline clinic's team drops first
            return self._leave(away[0])
        free = [
            m
            for m in self.members
            if m.id not in self._online and not incident_active(m.clinic, elapsed_s)
        ]
        if self._warm_up > 0 and free:
            self._warm_up -= 1
            return self._join(self._next_turn(free), stamp)
        drift = (len(self._online) - self.target_online) / len(self.members)
        weights = {
            "join": max(0.0, 0.35 - drift) if free else 0.0,
            "leave": max(0.0, 0.35 + drift) if len(self._online) > 1 else 0.0,
            "update": 0.3 if self._online else 0.0,
        }
        if not any(weights.values()):
            weights["join" if free else "update"] = 1.0
        kind = self._rng.choices(list(weights), list(weights.values()))[0]
        if kind == "join" and free:
            return self._join(self._rng.choice(free), stamp)
        member = self._member(self._rng.choice(list(self._online)))
        if kind == "leave":
            return self._leave(member)
        old, online_at = self._online[member.id]
        activity = self._rng.choice([a for a in ACTIVITIES if a != old])
        self._online[member.id] = (activity, online_at)
        return self._change("update", member, activity, online_at)

    def _next_turn(self, free: list[Provider]) -> Provider:
        for _ in range(len(CLINICS)):
            clinic = self._turn
            self._turn = (self._turn + 1) % len(CLINICS)
            theirs = [m for m in free if m.clinic == clinic]
            if theirs:
                return self._rng.choice(theirs)
        return self._rng.choice(free)

    def _join(self, member: Provider, stamp: str) -> PresenceChange:
        activity = self._rng.choices(ACTIVITIES, (5, 3, 2))[0]
        self._online[member.id] = (activity, stamp)
        return self._change("join", member, activity, stamp)

    def _leave(self, member: Provider) -> PresenceChange:
        del self._online[member.id]
        return PresenceChange("leave", member, {}, CLINICS[member.clinic].channel(COLLABORATION))

    def _member(self, key: str) -> Provider:
        return next(m for m in self.members if m.id == key)

    @staticmethod
    def _change(
        kind: ChangeKind, member: Provider, activity: str, online_at: str
    ) -> PresenceChange:
        meta = {
            "provider_id": member.id,
            "name": member.full_name,
            "role": member.role,
            "tenant_id": member.tenant_id,
            "activity": activity,
            "online_at": online_at,
        }
        return PresenceChange(kind, member, meta, CLINICS[member.clinic].channel(COLLABORATION))
