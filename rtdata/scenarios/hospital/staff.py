"""Seeded staff roster that decides who comes online, goes offline or changes status; no I/O.

The hospital scenario's staff (doctors, nurses, paramedics, dispatchers, admins) sign in to the
operations app, which tracks each of them with Supabase Realtime presence on one channel. A
:class:`StaffRoster` produces those sign-ins, sign-outs and status changes one at a time as
:class:`PresenceChange` values; :class:`rtdata.simulate.presence.PresenceSimulator` (it takes
any :class:`~rtdata.simulate.presence.Roster`) carries them out with the official realtime
client, one socket per person, as their browsers would.

Like :class:`~rtdata.scenarios.hospital.network.HospitalScenario`, nothing here reads a clock,
a socket or global random state: time comes in as ``now`` and randomness from one seeded
:class:`random.Random`, so the same seed gives the same changes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from rtdata.scenarios.hospital.network import person_name

__all__ = ["ROLES", "STATUSES", "PresenceChange", "StaffMember", "StaffRoster"]

ROLES: Final = (
    ("nurse", 5),
    ("doctor", 3),
    ("paramedic", 3),
    ("dispatcher", 1),
    ("admin", 1),
)
"""Roles on the roster with their relative weights (nurses are the most numerous)."""

STATUSES: Final = ("available", "busy", "on_call")
"""The ``status`` a signed-in staff member shows; a change is re-tracked."""

ChangeKind = Literal["join", "leave", "update"]


@dataclass(frozen=True, slots=True)
class StaffMember:
    """One person on the roster.

    Attributes:
        key: Presence key (``staff-<n>``); unique on the roster.
        user: Display name.
        role: One of :data:`ROLES`' names.
        hospital_id: Hospital the person works at.
    """

    key: str
    user: str
    role: str
    hospital_id: int


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One thing to do on the presence channel.

    Attributes:
        kind: ``join`` (connect, join the channel and track ``meta``), ``leave`` (close the
            socket, as a closed browser tab does) or ``update`` (track ``meta`` again).
        member: Who.
        meta: What to track: ``user``, ``role``, ``hospital_id``, ``status`` and
            ``online_at`` (ISO 8601 UTC, when the person signed in); empty for ``leave``.
        channel: ``None``: the staff are all on the simulator's channel.
    """

    kind: ChangeKind
    member: StaffMember
    meta: dict[str, Any]
    channel: str | None = None

    @property
    def key(self) -> str:
        """The member's presence key (``staff-<n>``)."""
        return self.member.key


class StaffRoster:
    """Seeded generator of presence changes for a roster of staff.

    The first ``warm_up`` changes sign people in, so a dashboard shows a team at once. After
    that each change is a sign-in, a sign-out or a status change, weighted so the number online
    drifts around ``target_online`` without ever leaving ``[1, size]``.

    Args:
        seed: Seed of the roster's private random generator.
        hospital_ids: Hospitals staff work at (at least one).
        size: People on the roster (at least 2).
        target_online: How many are online on average; defaults to 60 % of ``size``.

    Raises:
        ValueError: ``hospital_ids`` is empty, or ``size`` or ``target_online`` is out of range.
    """

    def __init__(
        self,
        seed: int,
        hospital_ids: Sequence[int],
        *,
        size: int = 24,
        target_online: int | None = None,
    ) -> None:
        """Create a roster with nobody online."""
        if not hospital_ids:
            raise ValueError("hospital_ids must name at least one hospital")
        if size < 2:
            raise ValueError(f"size must be at least 2, got {size}")
        target = round(size * 0.6) if target_online is None else target_online
        if not 1 <= target <= size:
            raise ValueError(f"target_online must be in [1, {size}], got {target}")
        self._rng = random.Random(seed)
        names = [name for name, _ in ROLES]
        weights = [weight for _, weight in ROLES]
        self.members: tuple[StaffMember, ...] = tuple(
            StaffMember(
                key=f"staff-{n}",
                user=person_name(self._rng),
                role=self._rng.choices(names, weights)[0],
                hospital_id=hospital_ids[n % len(hospital_ids)],
            )
            for n in range(1, size + 1)
        )
        self.target_online = target
        self._online: dict[str, tuple[str, str]] = {}  # key -> (status, online_at), in order
        self._warm_up = target

    @property
    def online(self) -> dict[str, str]:
        """Who the roster has signed in, as key -> status (a copy)."""
        return {key: status for key, (status, _) in self._online.items()}

    def next_change(self, now: datetime) -> PresenceChange:
        """Return the next change and apply it to :attr:`online`.

        Args:
            now: Current time, timezone-aware; stamped into ``online_at``.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        stamp = now.astimezone(UTC).isoformat()
        online, size = len(self._online), len(self.members)
        if self._warm_up > 0:
            self._warm_up -= 1
            return self._join(stamp)
        # Sign-ins grow less likely, sign-outs more likely, the further above target we are.
        drift = (online - self.target_online) / size
        weights = {"join": max(0.0, 0.35 - drift), "leave": max(0.0, 0.35 + drift), "update": 0.3}
        if online >= size:
            weights["join"] = 0.0
        if online <= 1:
            weights["leave"] = 0.0
        if online == 0:
            weights["update"] = 0.0
        kind = self._rng.choices(list(weights), list(weights.values()))[0]
        if kind == "join":
            return self._join(stamp)
        key = self._rng.choice(list(self._online))
        member = self._member(key)
        if kind == "leave":
            del self._online[key]
            return PresenceChange("leave", member, {})
        old_status, online_at = self._online[key]
        status = self._rng.choice([s for s in STATUSES if s != old_status])
        self._online[key] = (status, online_at)
        return PresenceChange("update", member, self._meta(member, status, online_at))

    def _join(self, stamp: str) -> PresenceChange:
        offline = [m for m in self.members if m.key not in self._online]
        member = self._rng.choice(offline)
        status = self._rng.choices(STATUSES, (6, 3, 1))[0]
        self._online[member.key] = (status, stamp)
        return PresenceChange("join", member, self._meta(member, status, stamp))

    def _member(self, key: str) -> StaffMember:
        return next(m for m in self.members if m.key == key)

    @staticmethod
    def _meta(member: StaffMember, status: str, stamp: str) -> dict[str, Any]:
        return {
            "user": member.user,
            "role": member.role,
            "hospital_id": member.hospital_id,
            "status": status,
            "online_at": stamp,
        }
