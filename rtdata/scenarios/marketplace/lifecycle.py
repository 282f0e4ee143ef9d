"""The records the marketplace scenario tracks, and the statuses they move through.

:class:`Booking` and :class:`Technician` are the scenario's own view of a ``bookings`` and a
``technicians`` row (what it needs to decide the next write); :data:`BOOKING_TRANSITIONS`,
:data:`BID_TRANSITIONS` and :data:`TECHNICIAN_TRANSITIONS` are the status graphs
:mod:`~rtdata.scenarios.marketplace.bookings` and :mod:`~rtdata.scenarios.marketplace.fleet`
follow, and the pack's ``state_machines()`` declare. Pure data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from rtdata.scenarios.marketplace.people import Person

__all__ = [
    "BID_TRANSITIONS",
    "BOOKING_TRANSITIONS",
    "OPEN",
    "TECHNICIAN_TRANSITIONS",
    "Booking",
    "Technician",
]

BOOKING_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "pending": ("bidding", "cancelled"),
    "bidding": ("accepted", "cancelled"),
    "accepted": ("en_route", "cancelled"),
    "en_route": ("in_progress",),
    "in_progress": ("completed",),
    "completed": (),
    "cancelled": (),
}
"""Booking status graph: status -> statuses it may move to next."""

BID_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "pending": ("accepted", "rejected", "withdrawn"),
    "accepted": (),
    "rejected": (),
    "withdrawn": (),
}
"""Bid status graph: status -> statuses it may move to next."""

OPEN: Final = ("pending", "bidding", "accepted", "en_route", "in_progress")
"""Statuses of a booking that is not finished."""

TECHNICIAN_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "offline": ("available",),
    "available": ("offline", "on_job"),
    "on_job": ("available",),
}
"""Technician status graph: status -> statuses it may move to next (no final status)."""


@dataclass(slots=True)
class Booking:
    """One live booking as the scenario tracks it.

    Attributes:
        id: Server-assigned id.
        customer_id: Who booked.
        city_id: Where.
        category: The trade.
        point: The address's position (lat, lon).
        budget: EUR the customer expects to pay.
        status: Current status.
        requested_s: When it was requested (seconds into the run).
        next_s: When its next step is due.
        patience_s: How long the customer waits for an accepted bid before cancelling.
        announced: Whether the technicians who could take it were notified.
        bids: Known bids: id -> (technician id, amount EUR, status).
        bidders: Technicians who bid (known or still in flight).
        wanted_bids: How many bids the customer waits for before choosing.
        choose_after_s: How long after the first bid the customer chooses (at the earliest).
        first_bid_s: When the first bid came, or ``None``.
        technician_id: The accepted technician, once accepted.
        price: The accepted bid's amount, once accepted.
        reviewed: Whether the review step is done (or skipped).
    """

    id: int
    customer_id: str
    city_id: int
    category: str
    point: tuple[float, float]
    budget: float
    status: str
    requested_s: float
    next_s: float
    patience_s: float
    announced: bool = False
    bids: dict[int, tuple[str, float, str]] = field(default_factory=dict)
    bidders: set[str] = field(default_factory=set)
    wanted_bids: int = 2
    choose_after_s: float = 8.0
    first_bid_s: float | None = None
    technician_id: str | None = None
    price: float | None = None
    reviewed: bool = False


@dataclass(slots=True)
class Technician:
    """One technician as the scenario tracks them.

    Attributes:
        person: Their account.
        skills: The trades they take on.
        hourly_rate: EUR per hour.
        verified: Whether an admin has verified them.
        status: ``offline``, ``available`` or ``on_job``.
        point: Last known position (lat, lon).
        goal: Where they are driving to (a job's address), or ``None``.
        jobs: Their open jobs: booking id -> ``accepted`` or ``active`` (en route or working).
        bookings: Live bookings that refer to them (bids, jobs), with how many rows each.
        jobs_completed: Jobs they completed.
        ratings: Sum and count of their reviews' ratings.
        verify_at_s: When an admin verifies them (seconds into the run), for applicants.
    """

    person: Person
    skills: tuple[str, ...]
    hourly_rate: float
    verified: bool
    status: str
    point: tuple[float, float]
    goal: tuple[float, float] | None = None
    jobs: dict[int, str] = field(default_factory=dict)
    bookings: Counter[int] = field(default_factory=Counter)
    jobs_completed: int = 0
    ratings: tuple[int, int] = (0, 0)
    verify_at_s: float | None = None

    @property
    def id(self) -> str:
        """The technician's id (their profile's)."""
        return self.person.id

    @property
    def city_id(self) -> int:
        """Their city."""
        return self.person.city_id

    @property
    def online(self) -> bool:
        """Whether they are signed in to the technician app (available or on a job)."""
        return self.status != "offline"
