"""The marketplace pack: TechCare, a field-service marketplace in five Ruhr cities
(``README.md`` beside this file).

Its ``migrations/`` define the tables; :func:`scenario` is the pure write source the REST
simulator drives (:mod:`~rtdata.scenarios.marketplace.scenario`, over
:mod:`~rtdata.scenarios.marketplace.bookings`, :mod:`~rtdata.scenarios.marketplace.fleet`,
:mod:`~rtdata.scenarios.marketplace.people`, :mod:`~rtdata.scenarios.marketplace.settlement`
and :mod:`~rtdata.scenarios.marketplace.chats`, paced by
:mod:`~rtdata.scenarios.marketplace.phases`), :func:`roster` the people typing in bookings'
chats (:mod:`~rtdata.scenarios.marketplace.presence`), and :func:`state_machines` the
lifecycles the simulator follows (:mod:`~rtdata.scenarios.marketplace.lifecycle`).
"""

from __future__ import annotations

from rtdata.scenarios.marketplace.lifecycle import (
    BID_TRANSITIONS,
    BOOKING_TRANSITIONS,
    TECHNICIAN_TRANSITIONS,
)
from rtdata.scenarios.marketplace.presence import TypingRoster
from rtdata.scenarios.marketplace.scenario import MarketplaceScenario
from rtdata.simulate.machine import StateMachine

__all__ = [
    "MarketplaceScenario",
    "TypingRoster",
    "roster",
    "scenario",
    "state_machines",
]


def scenario(seed: int) -> MarketplaceScenario:
    """Return the field-service marketplace scenario seeded with ``seed``."""
    return MarketplaceScenario(seed)


def roster(seed: int) -> TypingRoster:
    """Return who types in bookings' chats, on the ``typing`` presence channel, seeded with
    ``seed`` (it follows its own copy of :func:`scenario` with the same seed)."""
    return TypingRoster(MarketplaceScenario(seed), seed)


def state_machines() -> tuple[StateMachine, ...]:
    """The lifecycles :func:`scenario` drives: bookings from ``pending`` through bids to
    ``completed`` (or ``cancelled`` before the work starts), bids to a decision, and
    technicians' status (which has no final value: they go online and offline all day)."""
    return (
        StateMachine(
            "bookings",
            "status",
            BOOKING_TRANSITIONS,
            initial=("pending",),
            must_pass={
                "completed": ("pending", "bidding", "accepted", "en_route", "in_progress"),
                "in_progress": ("bidding", "accepted", "en_route"),
            },
        ),
        StateMachine(
            "bids",
            "status",
            BID_TRANSITIONS,
            initial=("pending",),
            must_pass={s: ("pending",) for s in ("accepted", "rejected", "withdrawn")},
        ),
        StateMachine(
            "technicians", "status", TECHNICIAN_TRANSITIONS, initial=("offline", "available")
        ),
    )
