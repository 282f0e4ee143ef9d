"""The telehealth pack's phase clock: bursts, quiet spells and the incident, as pure functions of
the seconds since a scenario (or roster) first ran.

The day of a remote-monitoring programme is compressed into a cycle of :data:`CYCLE_S`
seconds: a morning check-in burst (patients sync the readings their phone held overnight, in
large uploads, and write to their care team), a steady spell, a quiet spell, an evening
check-in burst and another steady spell. Independently of the load, one clinic
(:data:`INCIDENT_CLINIC`) has an incident in every cycle, from :data:`INCIDENT_START_S` to
:data:`INCIDENT_END_S`: its care team drops offline (its notification deliveries fail) and
nobody acknowledges its alerts, which pile up past their acknowledgement deadline until the
team is back and works through the backlog.

The write source and the presence roster each count from their own first call; the simulator
starts both at once, so their incidents coincide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CYCLE_S",
    "INCIDENT_CLINIC",
    "INCIDENT_END_S",
    "INCIDENT_START_S",
    "PHASES",
    "Phase",
    "cycle_of",
    "incident_active",
    "incident_ends_s",
    "phase_at",
]

CYCLE_S: Final = 360.0
"""Length of one compressed day, in seconds."""

INCIDENT_CLINIC: Final = 2
"""Index (in :data:`~rtdata.scenarios.telehealth.clinics.CLINICS`) of the clinic whose team goes
offline: Riverside Rehab Clinic."""

INCIDENT_START_S: Final = 75.0
"""Seconds into each cycle at which the incident starts."""

INCIDENT_END_S: Final = 240.0
"""Seconds into each cycle at which the incident ends (the team is back)."""


@dataclass(frozen=True, slots=True)
class Phase:
    """One spell of the cycle and how busy it is.

    Attributes:
        name: ``check_in`` (a burst), ``steady`` or ``quiet``.
        starts_s: Seconds into the cycle at which it starts (inclusive).
        ends_s: Seconds into the cycle at which it ends (exclusive).
        readings: Fewest and most readings per upload (rows per bulk insert).
        chatter: Weight of messages and health events against uploads, relative to steady.
    """

    name: str
    starts_s: float
    ends_s: float
    readings: tuple[int, int]
    chatter: float


PHASES: Final = (
    Phase("check_in", 0.0, 40.0, (5, 12), 1.8),
    Phase("steady", 40.0, 150.0, (1, 3), 1.0),
    Phase("quiet", 150.0, 240.0, (1, 1), 0.4),
    Phase("check_in", 240.0, 290.0, (5, 12), 1.8),
    Phase("steady", 290.0, CYCLE_S, (1, 3), 1.0),
)
"""The spells of one cycle, in order, covering it without gaps."""


def _into(elapsed_s: float) -> float:
    return max(0.0, elapsed_s) % CYCLE_S


def cycle_of(elapsed_s: float) -> int:
    """The number of the cycle ``elapsed_s`` falls in, from 0."""
    return int(max(0.0, elapsed_s) // CYCLE_S)


def phase_at(elapsed_s: float) -> Phase:
    """The spell at ``elapsed_s`` seconds since the start (negative counts as 0)."""
    into = _into(elapsed_s)
    return next(p for p in PHASES if p.starts_s <= into < p.ends_s)


def incident_active(clinic: int, elapsed_s: float) -> bool:
    """Whether ``clinic``'s team is offline at ``elapsed_s``."""
    return clinic == INCIDENT_CLINIC and INCIDENT_START_S <= _into(elapsed_s) < INCIDENT_END_S


def incident_ends_s(elapsed_s: float) -> float:
    """When the incident of the cycle of ``elapsed_s`` ends, in seconds since the start."""
    return cycle_of(elapsed_s) * CYCLE_S + INCIDENT_END_S
