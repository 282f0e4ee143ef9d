"""The marketplace pack's phase clock: which part of the day a moment falls in, and where the
day's incident is.

The simulator is called at a steady rate, so bursts and quiet spells come from what each write
does: :func:`phase_at` maps the seconds since the scenario's first write to a :class:`Phase`,
and each phase sets how often customers request bookings, how many bookings one ``POST``
carries and how many technicians want to be online. One cycle lasts :data:`CYCLE_S` seconds and
repeats:

* ``steady`` (0-60 s): ordinary demand, one booking per ``POST``;
* ``rush`` (60-120 s): the after-work rush, bookings posted in bulk (a property manager's
  several flats at once), each fanning out "new job" notifications to every technician who
  could take it: a burst of rows;
* ``no_cover`` (120-200 s): a storm over one city (:func:`incident_city`, a different one each
  cycle): every technician there goes offline and nobody bids, while its customers book three
  times as often (flooded cellars, tripped fuses), so its bookings wait in ``pending`` past
  their SLA while the other cities work as usual: the incident the dashboard must catch;
* ``recovery`` (200-240 s): that city's technicians come back and bid on the backlog;
  customers who waited too long have cancelled;
* ``quiet`` (240-300 s): the late evening: few new bookings, single-row writes, mostly
  technicians' position updates.

The clock is compressed: a five-minute cycle stands for a day, so SLAs on the dashboard are
counted in tens of seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from rtdata.scenarios.marketplace.places import CITIES, City

__all__ = [
    "ARRIVALS_PER_S",
    "BOOKINGS_PER_POST",
    "CYCLE_S",
    "INCIDENT_ORDER",
    "ONLINE_SHARE",
    "PHASE_STARTS_S",
    "Phase",
    "cycle_at",
    "incident_city",
    "phase_at",
]


class Phase(StrEnum):
    """A part of the marketplace's day (see the module docstring)."""

    STEADY = "steady"
    RUSH = "rush"
    NO_COVER = "no_cover"
    RECOVERY = "recovery"
    QUIET = "quiet"


CYCLE_S: Final = 300.0
"""Length of one cycle of phases, in seconds."""

PHASE_STARTS_S: Final[Mapping[Phase, float]] = MappingProxyType(
    {
        Phase.STEADY: 0.0,
        Phase.RUSH: 60.0,
        Phase.NO_COVER: 120.0,
        Phase.RECOVERY: 200.0,
        Phase.QUIET: 240.0,
    }
)
"""Seconds into a cycle at which each phase starts, in cycle order."""

ARRIVALS_PER_S: Final[Mapping[Phase, float]] = MappingProxyType(
    {
        Phase.STEADY: 0.22,
        Phase.RUSH: 0.3,
        Phase.NO_COVER: 0.22,
        Phase.RECOVERY: 0.18,
        Phase.QUIET: 0.05,
    }
)
"""Bookings customers request per second, on average, in each phase."""

BOOKINGS_PER_POST: Final[Mapping[Phase, tuple[int, int]]] = MappingProxyType(
    {
        Phase.STEADY: (1, 1),
        Phase.RUSH: (2, 5),
        Phase.NO_COVER: (1, 2),
        Phase.RECOVERY: (1, 1),
        Phase.QUIET: (1, 1),
    }
)
"""Fewest and most bookings one ``POST`` carries in each phase."""

ONLINE_SHARE: Final[Mapping[Phase, float]] = MappingProxyType(
    {
        Phase.STEADY: 0.7,
        Phase.RUSH: 0.85,
        Phase.NO_COVER: 0.75,
        Phase.RECOVERY: 0.75,
        Phase.QUIET: 0.55,
    }
)
"""Share of the verified technicians who want to be online in each phase (the incident city's
want none during ``no_cover``)."""

INCIDENT_ORDER: Final = (1, 4, 5, 2, 3)
"""City ids of the incident, cycle after cycle: Duisburg, Bochum, Dortmund, Mülheim, Essen."""


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


def cycle_at(elapsed_s: float) -> int:
    """Return the number of the cycle ``elapsed_s`` falls in (0 for the first)."""
    return int(max(elapsed_s, 0.0) // CYCLE_S)


def incident_city(cycle: int) -> City:
    """Return the city nobody covers in cycle ``cycle``'s ``no_cover`` phase."""
    city_id = INCIDENT_ORDER[cycle % len(INCIDENT_ORDER)]
    return next(city for city in CITIES if city.id == city_id)
