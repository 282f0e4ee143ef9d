"""A helpdesk ticket of the CRM pack: its lifecycle, its in-memory record, and the rows the desk
writes for it (the ticket, its status changes, comments and attachments).

Pure functions of their arguments and the scenario's :class:`random.Random`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.crm import catalogue
from rtdata.scenarios.crm.catalogue import SLA_POLICIES
from rtdata.simulate.write import Write

__all__ = [
    "TICKET_TRANSITIONS",
    "UNRESOLVED",
    "Ticket",
    "attachment_write",
    "comment_write",
    "iso",
    "status_write",
    "ticket_row",
]

TICKET_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "open": ("assigned",),
    "assigned": ("waiting", "resolved"),
    "waiting": ("assigned",),
    "resolved": ("closed", "assigned"),
    "closed": (),
}
"""Ticket status graph: status -> statuses it may move to next (``resolved -> assigned`` is a
reopen)."""

UNRESOLVED: Final = frozenset({"open", "assigned", "waiting"})
"""Statuses in which the resolution SLA runs."""

_SOURCES: Final = ("email", "web", "phone", "chat")
_SOURCE_WEIGHTS: Final = (45, 30, 10, 15)
_TEAM_WEIGHTS: Final = (50, 25, 25)
_POLICY: Final = {p.priority: p for p in SLA_POLICIES}


@dataclass(slots=True)
class Ticket:
    """What the desk remembers of a filed ticket (times are epoch seconds).

    Attributes:
        id: Server-assigned id.
        priority: 1 (urgent) to 4 (low).
        team_id: The team whose queue it is in.
        customer_id: Who filed it.
        first_response_due_s: When an agent must have taken it.
        resolution_due_s: When it must be resolved.
        visible_s: From when agents notice it.
        status: Its status now.
        assigned_to: The agent who took it, or ``None``.
        asked: How often the agent asked the customer something.
        first_response_breached: The SLA sweep flagged its first response.
        resolution_breached: The SLA sweep flagged its resolution.
        timer: Sequence number of its one live timer; -1 for none.
    """

    id: int
    priority: int
    team_id: int
    customer_id: str
    first_response_due_s: float
    resolution_due_s: float
    visible_s: float
    status: str = "open"
    assigned_to: str | None = None
    asked: int = 0
    first_response_breached: bool = False
    resolution_breached: bool = False
    timer: int = -1


def ticket_row(
    rng: random.Random, customer_id: str, filed_s: float, now_s: float, *, outage: bool
) -> dict[str, Any]:
    """A new ``open`` ticket of ``customer_id`` filed at ``filed_s``, with the SLA due times the
    app's ``tickets_sla_due`` trigger would set (the local server runs no trigger); during the
    outage most tickets are failed payments for the billing team, urgent or high."""
    team_id = 2 if outage and rng.random() < 0.8 else rng.choices((1, 2, 3), _TEAM_WEIGHTS)[0]
    priority = rng.choices((1, 2, 3, 4), catalogue.PRIORITY_WEIGHTS)[0]
    if outage and team_id == 2:
        priority = min(priority, 2)
    policy = _POLICY[priority]
    source = rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]
    title = catalogue.ticket_title(rng, team_id, outage=outage and team_id == 2)
    return {
        "title": title,
        "description": f"{title}. Reported by {source}.",
        "status": "open",
        "priority": priority,
        "source": source,
        "customer_id": customer_id,
        "team_id": team_id,
        "first_response_due_at": iso(filed_s + policy.first_response_s),
        "resolution_due_at": iso(filed_s + policy.resolution_s),
        "first_response_breached": False,
        "resolution_breached": False,
        "created_at": iso(filed_s),
        "updated_at": iso(now_s),
    }


def status_write(ticket: Ticket, ts: str, **extra: Any) -> Write:
    """The ``PATCH`` that moves ``ticket`` to its (already updated) status at ``ts``, setting
    the ``extra`` columns too."""
    body = {"status": ticket.status, **extra, "updated_at": ts}
    return Write("PATCH", "tickets", body=body, match={"id": ticket.id})


def comment_write(
    rng: random.Random,
    ticket: Ticket,
    moment: str,
    author: tuple[str, str],
    ts: str,
    *,
    returning: bool = False,
) -> Write:
    """A comment on ``ticket`` at ``moment`` of its life (see
    :func:`~rtdata.scenarios.crm.catalogue.comment_text`) by ``author`` (id, kind)."""
    body = {
        "ticket_id": ticket.id,
        "author_id": author[0],
        "author_kind": author[1],
        "content": catalogue.comment_text(rng, moment),
        "created_at": ts,
        "updated_at": ts,
    }
    return Write("POST", "comments", body=body, returning=returning)


def attachment_write(rng: random.Random, ticket_id: int, comment_id: int | None, ts: str) -> Write:
    """A file attached to ticket ``ticket_id`` (on comment ``comment_id``, if any) at ``ts``."""
    body = {
        "ticket_id": ticket_id,
        "comment_id": comment_id,
        **catalogue.attachment_file(rng, ticket_id),
        "created_at": ts,
        "updated_at": ts,
    }
    return Write("POST", "attachments", body=body)


def iso(at_s: float) -> str:
    """Epoch seconds as ISO 8601 UTC text, as the rows' time columns hold them.

    Raises:
        ValueError: ``at_s`` is not finite.
    """
    if not math.isfinite(at_s):
        raise ValueError(f"not a time: {at_s!r}")
    return datetime.fromtimestamp(at_s, UTC).isoformat()
