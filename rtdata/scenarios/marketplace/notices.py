"""In-app notifications (the app's NotificationBell): one ``notifications`` row about a booking.

Pure helpers shared by the bookings' lifecycle and its settlement; the technicians'
high-demand notices and verification notices are written by
:mod:`~rtdata.scenarios.marketplace.fleet`.
"""

from __future__ import annotations

from typing import Any

from rtdata.simulate.write import Write

__all__ = ["note", "notify", "trade"]


def trade(category: str) -> str:
    """A service category as people write it (``appliance_repair`` -> ``appliance repair``)."""
    return category.replace("_", " ")


def note(
    user_id: str, kind: str, title: str, booking_id: int, category: str, ts: str
) -> dict[str, Any]:
    """The ``notifications`` row telling ``user_id`` about booking ``booking_id``."""
    return {
        "user_id": user_id,
        "kind": kind,
        "title": title,
        "body": f"#{booking_id} {trade(category)}",
        "booking_id": booking_id,
        "created_at": ts,
    }


def notify(user_id: str, kind: str, title: str, booking_id: int, category: str, ts: str) -> Write:
    """One ``POST`` of :func:`note`'s row."""
    return Write("POST", "notifications", body=note(user_id, kind, title, booking_id, category, ts))
