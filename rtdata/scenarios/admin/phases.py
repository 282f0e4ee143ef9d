"""The admin pack's phase clock: which part of the clinic's working cycle a moment falls in.

The simulator is called at a steady rate, so its bursts and quiet spells come from what each
write does: :func:`phase_at` maps the seconds since the scenario's first write to a
:class:`Phase`, and each phase sets how many rows a bulk ``POST`` carries and how much of each
kind of work happens. One cycle lasts :data:`CYCLE_S` seconds and repeats:

* ``steady`` (0-60 s): ordinary work, one submission per ``POST``;
* ``rush`` (60-100 s): the morning intake rush, new patients and their form packets posted in
  bulk (several rows per ``POST``): a burst of changes;
* ``backlog`` (100-160 s): the reviewers are in a meeting; forms keep arriving and wait past
  their review SLA (an incident the dashboard must show);
* ``escalation`` (160-200 s): one admin account makes several users admin within a minute
  (the role-escalation incident, :mod:`~rtdata.scenarios.admin.accounts`);
* ``quiet`` (200-300 s): the lull: single-row edits, few new forms; the reviewers clear the
  backlog and a second admin reverts the escalation.

The clock is compressed: a demo cycle of five minutes stands for a working day, so review SLAs
on the dashboard are counted in tens of seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = ["CYCLE_S", "PHASE_STARTS_S", "ROWS_PER_POST", "WORK", "Phase", "phase_at"]


class Phase(StrEnum):
    """A part of the clinic's cycle (see the module docstring)."""

    STEADY = "steady"
    RUSH = "rush"
    BACKLOG = "backlog"
    ESCALATION = "escalation"
    QUIET = "quiet"


CYCLE_S: Final = 300.0
"""Length of one cycle of phases, in seconds."""

PHASE_STARTS_S: Final[Mapping[Phase, float]] = MappingProxyType(
    {
        Phase.STEADY: 0.0,
        Phase.RUSH: 60.0,
        Phase.BACKLOG: 100.0,
        Phase.ESCALATION: 160.0,
        Phase.QUIET: 200.0,
    }
)
"""Seconds into a cycle at which each phase starts, in cycle order."""

ROWS_PER_POST: Final[Mapping[Phase, tuple[int, int]]] = MappingProxyType(
    {
        Phase.STEADY: (1, 1),
        Phase.RUSH: (3, 6),
        Phase.BACKLOG: (1, 2),
        Phase.ESCALATION: (1, 1),
        Phase.QUIET: (1, 1),
    }
)
"""Fewest and most new patients per bulk ``POST`` in each phase (each brings its forms)."""

WORK: Final[Mapping[Phase, Mapping[str, float]]] = MappingProxyType(
    {
        Phase.STEADY: MappingProxyType(
            {"admit": 1.0, "submit": 1.0, "review": 1.0, "edit": 1.0, "accounts": 1.0}
        ),
        Phase.RUSH: MappingProxyType(
            {"admit": 3.0, "submit": 1.5, "review": 1.0, "edit": 0.6, "accounts": 0.5}
        ),
        Phase.BACKLOG: MappingProxyType(
            {"admit": 1.0, "submit": 1.0, "review": 0.04, "edit": 1.0, "accounts": 0.5}
        ),
        Phase.ESCALATION: MappingProxyType(
            {"admit": 0.8, "submit": 0.8, "review": 1.6, "edit": 1.0, "accounts": 0.5}
        ),
        Phase.QUIET: MappingProxyType(
            {"admit": 0.3, "submit": 0.6, "review": 1.8, "edit": 1.6, "accounts": 1.0}
        ),
    }
)
"""Weight multiplier of each kind of work in each phase: ``admit`` (new patients), ``submit``
(forms for known patients), ``review`` (reviews and decisions), ``edit`` (patient edits) and
``accounts`` (sign-ups, profile updates and ordinary role changes)."""


def phase_at(elapsed_s: float) -> Phase:
    """Return the phase ``elapsed_s`` seconds after the scenario's first write.

    Negative times (a clock that stepped back) count as the start of the first cycle.
    """
    into_s = max(elapsed_s, 0.0) % CYCLE_S
    current = Phase.STEADY
    for phase, start_s in PHASE_STARTS_S.items():
        if into_s >= start_s:
            current = phase
    return current
