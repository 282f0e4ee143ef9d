"""The CRM pack's phase clock: the desk's day, compressed into an eight-minute cycle that
repeats.

Each :class:`Phase` sets how fast tickets arrive and in what batches, how many agents are on
duty and how long their work takes, and how many rows each background bulk ``POST`` carries.
The ``breach_wave`` phase is the pack's incident: a payment-provider outage floods the desk with
failed-payment tickets while part of the team is pulled into the outage call, so open tickets
pile up past their SLA; ``recovery`` drains the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CYCLE_S", "PHASES", "Phase", "phase_at"]


@dataclass(frozen=True, slots=True)
class Phase:
    """One stretch of the desk's day.

    Attributes:
        name: ``steady``, ``burst``, ``quiet``, ``breach_wave`` or ``recovery``.
        start_s: Seconds into the cycle where it starts.
        tickets_per_s: Mean new tickets per second.
        batch: Fewest and most tickets that arrive together (one bulk ``POST``).
        rows: Fewest and most rows of a background bulk ``POST`` (interactions, sign-ups).
        on_duty: Share of the agents taking tickets, 0 to 1.
        work_factor: Multiplies how long agents work a ticket.
        help_other_teams: Agents with an empty team queue take other teams' tickets.
        outage: New tickets are mostly failed payments for the billing team.
    """

    name: str
    start_s: float
    tickets_per_s: float
    batch: tuple[int, int]
    rows: tuple[int, int]
    on_duty: float
    work_factor: float
    help_other_teams: bool
    outage: bool = False


PHASES: Final = (
    Phase("steady", 0, 0.12, (1, 1), (1, 2), 1.0, 1.0, True),
    Phase("burst", 90, 0.30, (2, 5), (4, 10), 1.0, 1.0, True),
    Phase("quiet", 150, 0.03, (1, 1), (1, 1), 0.7, 1.0, True),
    Phase("breach_wave", 210, 0.7, (1, 3), (1, 3), 0.5, 2.0, False, outage=True),
    Phase("recovery", 330, 0.06, (1, 1), (1, 2), 1.0, 0.8, True),
)
"""The phases in cycle order."""

CYCLE_S: Final = 480.0
"""Length of one cycle, seconds; the last phase runs until it ends."""


def phase_at(elapsed_s: float) -> Phase:
    """Return the phase ``elapsed_s`` seconds after the scenario's first write (cycling)."""
    into_s = elapsed_s % CYCLE_S
    current = PHASES[0]
    for phase in PHASES:
        if phase.start_s <= into_s:
            current = phase
    return current
