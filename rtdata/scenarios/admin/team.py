"""Seeded presence of the clinic's core team in the admin console; no I/O.

The console tracks who is signed in on the ``online`` presence channel (the connection-status
indicator admins see, with each person's ``role`` and the console ``page`` they are on), and
who has a form open on the ``form-editors`` channel (the live collaboration indicator the app
shows on a form being reviewed, with the ``form_type``). :class:`TeamRoster` produces those
sign-ins, sign-outs, page changes and form openings one at a time as :class:`TeamChange`
values; :class:`rtdata.simulate.presence.PresenceSimulator` carries them out, one socket per
person and channel.

The people are the scenario's core team (:attr:`AdminScenario.team
<rtdata.scenarios.admin.scenario.AdminScenario.team>`), whose roles never change, so what
presence says of a role is what ``profiles`` says. Nothing here reads a clock, a socket or
global random state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from rtdata.scenarios.admin.accounts import Account
from rtdata.scenarios.admin.submissions import FORM_TYPES

__all__ = ["EDITORS_CHANNEL", "MAX_EDITORS", "PAGES", "TeamChange", "TeamRoster"]

EDITORS_CHANNEL: Final = "form-editors"
"""Presence channel of the people who have a form open."""

PAGES: Final = ("dashboard", "submissions", "patients", "users")
"""Console pages a signed-in person is on (``page`` in their ``online`` meta)."""

MAX_EDITORS: Final = 4
"""Most people with a form open at once."""

ChangeKind = Literal["join", "leave", "update"]


@dataclass(frozen=True, slots=True)
class TeamChange:
    """One thing to do on a presence channel.

    Attributes:
        kind: ``join`` (connect, join the channel and track ``meta``), ``leave`` (close the
            socket) or ``update`` (track ``meta`` again).
        key: The person's presence key (their sign-in e-mail address).
        meta: What to track; empty for ``leave``. On ``online``: ``user``, ``role``, ``page``
            and ``online_at``; on ``form-editors``: ``user``, ``role``, ``form_type`` and
            ``opened_at`` (ISO 8601 UTC).
        channel: ``None`` for the simulator's own channel (``online``), or
            :data:`EDITORS_CHANNEL`.
    """

    kind: ChangeKind
    key: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None


class TeamRoster:
    """Seeded generator of the core team's presence changes.

    The first :attr:`target_online` changes sign people in, so a dashboard shows a team at
    once. After that, whenever nobody has a form open the next change opens one; otherwise
    each change signs someone in or out, moves them to another page, or opens or closes a
    form, weighted so about :attr:`target_online` people stay online and one to
    :data:`MAX_EDITORS` of them have a form open. Whoever signs out closes their form first
    (its own change, right before the sign-out).

    Args:
        seed: Seed of the roster's private random generator.
        team: The people (at least two).

    Raises:
        ValueError: ``team`` has fewer than two people.
    """

    def __init__(self, seed: int, team: Sequence[Account]) -> None:
        """Create a roster with nobody online."""
        if len(team) < 2:
            raise ValueError("a roster needs at least two people")
        self._rng = random.Random(seed)
        self.members: tuple[Account, ...] = tuple(team)
        self.target_online = max(2, round(len(team) * 0.7))
        self._online: dict[str, tuple[str, str]] = {}  # key -> (page, online_at), in order
        self._editing: dict[str, str] = {}  # key -> form type
        self._closing: str | None = None  # signs out once its form is closed
        self._warm_up = self.target_online

    @property
    def online(self) -> dict[str, str]:
        """Who is signed in, as key -> page (a copy)."""
        return {key: page for key, (page, _) in self._online.items()}

    @property
    def editing(self) -> dict[str, str]:
        """Who has a form open, as key -> form type (a copy)."""
        return dict(self._editing)

    def next_change(self, now: datetime) -> TeamChange:
        """Return the next change and apply it to :attr:`online` and :attr:`editing`.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        stamp = now.astimezone(UTC).isoformat()
        if self._closing is not None:  # the sign-out after a closed form
            key, self._closing = self._closing, None
            del self._online[key]
            return TeamChange("leave", key)
        if self._warm_up > 0:
            self._warm_up -= 1
            return self._sign_in(stamp)
        online, editors = len(self._online), len(self._editing)
        idle = [k for k in self._online if k not in self._editing]
        if not editors and idle:
            return self._open(self._rng.choice(idle), stamp)
        drift = (online - self.target_online) / len(self.members)
        weights = {
            "sign_in": max(0.0, 0.25 - drift) if online < len(self.members) else 0.0,
            "sign_out": max(0.0, 0.25 + drift) if online > 2 else 0.0,
            "page": 0.3,
            "open": 0.2 if idle and editors < MAX_EDITORS else 0.0,
            "close": 0.2 if editors > 1 else 0.0,
        }
        kind = self._rng.choices(list(weights), list(weights.values()))[0]
        if kind == "sign_in":
            return self._sign_in(stamp)
        if kind == "open":
            return self._open(self._rng.choice(idle), stamp)
        if kind == "close":
            return self._close(self._rng.choice(list(self._editing)))
        key = self._rng.choice(list(self._online))
        if kind == "sign_out":
            if key in self._editing:
                self._closing = key
                return self._close(key)
            del self._online[key]
            return TeamChange("leave", key)
        page, online_at = self._online[key]
        page = self._rng.choice([p for p in PAGES if p != page])
        self._online[key] = (page, online_at)
        return TeamChange("update", key, self._meta(key, page, online_at))

    def _sign_in(self, stamp: str) -> TeamChange:
        offline = [m.email for m in self.members if m.email not in self._online]
        key = self._rng.choice(offline)
        page = self._rng.choice(PAGES)
        self._online[key] = (page, stamp)
        return TeamChange("join", key, self._meta(key, page, stamp))

    def _open(self, key: str, stamp: str) -> TeamChange:
        form = self._rng.choice(FORM_TYPES)
        self._editing[key] = form
        member = self._member(key)
        meta = {
            "user": member.full_name,
            "role": member.role,
            "form_type": form,
            "opened_at": stamp,
        }
        return TeamChange("join", key, meta, EDITORS_CHANNEL)

    def _close(self, key: str) -> TeamChange:
        del self._editing[key]
        return TeamChange("leave", key, {}, EDITORS_CHANNEL)

    def _member(self, key: str) -> Account:
        return next(m for m in self.members if m.email == key)

    def _meta(self, key: str, page: str, online_at: str) -> dict[str, Any]:
        member = self._member(key)
        return {"user": member.full_name, "role": member.role, "page": page, "online_at": online_at}
