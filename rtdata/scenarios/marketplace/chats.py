"""A booking's chat: who may talk in it, and the messages its customer and technician post
(``messages``, insert only).

:func:`message` writes one chat line for an open booking; :class:`Chat` names someone who may
type in a chat (:mod:`~rtdata.scenarios.marketplace.presence` signs them in while they type).
Pure: randomness from the scenario's :class:`random.Random`, times as text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rtdata.simulate.write import Write

if TYPE_CHECKING:
    from rtdata.scenarios.marketplace.lifecycle import Booking

__all__ = ["Chat", "message"]


@dataclass(frozen=True, slots=True)
class Chat:
    """Someone who may type in a booking's chat.

    Attributes:
        booking_id: The booking.
        key: The person's id.
        name: Their name.
        role: ``customer`` or ``technician``.
        city_id: The booking's city.
    """

    booking_id: int
    key: str
    name: str
    role: str
    city_id: int


_LINES: Final = {
    "bidding": (
        ("customer", "Can you bring the parts with you?"),
        ("customer", "Is the price final or per hour?"),
        ("technician", "I can be there within the hour."),
        ("technician", "Could you send a photo of the problem?"),
    ),
    "accepted": (
        ("customer", "The doorbell says Hinterhaus, 2nd floor."),
        ("technician", "Thanks, I will confirm when I leave."),
        ("customer", "Please call when you are downstairs."),
    ),
    "en_route": (
        ("technician", "On my way, about 20 minutes."),
        ("technician", "Stuck in traffic on the A40, 10 more minutes."),
        ("customer", "Parking is in the courtyard."),
    ),
    "in_progress": (
        ("technician", "Found it: the seal is worn, replacing it now."),
        ("technician", "I need one more part, 15 minutes."),
        ("customer", "Great, thank you!"),
    ),
}
"""Chat lines by the booking's status: (who says it, the text)."""


def message(booking: Booking, rng: random.Random, ts: str) -> Write | None:
    """One chat message in ``booking``'s chat from its customer or technician (a bidder while
    it is ``bidding``); ``None`` when its status has no chat."""
    lines = _LINES.get(booking.status)
    if not lines:
        return None
    role, body = rng.choice(lines)
    if role == "technician":
        technician = booking.technician_id or (
            rng.choice(sorted(booking.bidders)) if booking.bidders else None
        )
        sender = technician or booking.customer_id
    else:
        sender = booking.customer_id
    row = {"booking_id": booking.id, "sender_id": sender, "body": body, "created_at": ts}
    return Write("POST", "messages", body=row)
