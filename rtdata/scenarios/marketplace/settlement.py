"""What a completed job leaves behind: its payments and, often, a review.

The payment provider's webhook inserts one ``payments`` row per attempt, with the service role:
:func:`charge` writes a successful charge, sometimes after a declined one (the customer is
told and pays another way), and now and then a refund. :func:`review` writes the customer's
rating of the technician. Pure: randomness from the scenario's :class:`random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Final, Protocol

from rtdata.scenarios.marketplace.notices import notify
from rtdata.simulate.write import Write

__all__ = [
    "DECLINE_PROBABILITY",
    "FEE_SHARE",
    "REFUND_PROBABILITY",
    "REVIEW_PROBABILITY",
    "Job",
    "charge",
    "review",
]

FEE_SHARE: Final = 0.15
"""Share of a payment the marketplace keeps as its fee; the rest is the technician's payout."""

DECLINE_PROBABILITY: Final = 0.08
"""Chance that the first charge of a job is declined (then paid another way)."""

REFUND_PROBABILITY: Final = 0.04
"""Chance that a paid job is refunded."""

REVIEW_PROBABILITY: Final = 0.7
"""Chance that the customer reviews a completed job."""

_METHODS: Final = (("card", 6), ("sepa_debit", 2), ("paypal", 3), ("apple_pay", 2))
_DECLINES: Final = ("card_declined", "insufficient_funds", "authentication_required")
_COMMENTS: Final[Mapping[int, tuple[str, ...]]] = {
    5: ("Quick, tidy and friendly.", "On time and fixed it for good.", "Explained everything."),
    4: ("Good work, a little late.", "Fair price, solid job."),
    3: ("Fixed it, but left a mess.", "Took longer than quoted."),
    2: ("Had to call twice.", "Price went up on the day."),
    1: ("Did not fix the problem.", "Rude and very late."),
}


class Job(Protocol):
    """What settling a booking reads of it (a :class:`~rtdata.scenarios.marketplace.lifecycle.Booking`)."""

    @property
    def id(self) -> int:
        """The booking's id."""
        ...

    @property
    def customer_id(self) -> str:
        """Who booked and pays."""
        ...

    @property
    def technician_id(self) -> str | None:
        """Who did the job (``None`` before a bid was accepted)."""
        ...

    @property
    def price(self) -> float | None:
        """EUR of the accepted bid (``None`` before one was accepted)."""
        ...

    @property
    def category(self) -> str:
        """The trade."""
        ...


def charge(b: Job, rng: random.Random, ts: str) -> list[Write]:
    """The payments of completed booking ``b`` (accepted, so with a technician and a price):
    a declined attempt and its notification first, sometimes; the successful charge; a
    refund, rarely."""
    names = [name for name, _ in _METHODS]
    method = rng.choices(names, [weight for _, weight in _METHODS])[0]
    writes = []
    if rng.random() < DECLINE_PROBABILITY:
        writes.append(_payment(b, method, "failed", rng, ts, rng.choice(_DECLINES)))
        title = "Your payment failed"
        writes.append(notify(b.customer_id, "payment_failed", title, b.id, b.category, ts))
        method = "paypal" if method != "paypal" else "card"
    writes.append(_payment(b, method, "succeeded", rng, ts))
    if rng.random() < REFUND_PROBABILITY:
        writes.append(_payment(b, method, "refunded", rng, ts))
    return writes


def review(b: Job, rng: random.Random, ts: str) -> tuple[int, Write]:
    """The customer's review of completed booking ``b``: its rating (1-5) and the ``POST``."""
    if b.technician_id is None:
        raise ValueError(f"booking {b.id} has no technician to review")
    rating = rng.choices((5, 4, 3, 2, 1), (55, 25, 10, 5, 5))[0]
    row = {
        "booking_id": b.id,
        "customer_id": b.customer_id,
        "technician_id": b.technician_id,
        "rating": rating,
        "comment": rng.choice(_COMMENTS[rating]),
        "created_at": ts,
    }
    return rating, Write("POST", "reviews", body=row)


def _payment(
    b: Job, method: str, status: str, rng: random.Random, ts: str, reason: str | None = None
) -> Write:
    if b.technician_id is None or b.price is None:
        raise ValueError(f"booking {b.id} was never accepted: nothing to charge")
    fee = round(b.price * FEE_SHARE, 2)
    row = {
        "booking_id": b.id,
        "customer_id": b.customer_id,
        "technician_id": b.technician_id,
        "amount": b.price,
        "platform_fee": fee,
        "technician_payout": round(b.price - fee, 2),
        "currency": "EUR",
        "method": method,
        "status": status,
        "failure_reason": reason,
        "provider_ref": f"pi_{b.id:06d}{status[0]}{rng.getrandbits(40):010x}",
        "created_at": ts,
    }
    return Write("POST", "payments", body=row)
