"""The CRM pack's helpdesk: tickets worked by agents against SLAs, with comments and attachments.

A ticket is filed ``open`` with its SLA due times, taken by an agent (``assigned``: the first
response), may wait on the customer (``waiting``) and come back, is ``resolved`` and then
``closed``, or reopened from ``resolved``. Agents take the most urgent, oldest visible ticket of
their team (or of any team, when the phase lets them help), at most :data:`AGENT_CAPACITY` at a
time. The SLA sweep, as the app's scheduled job would, flags ``first_response_breached`` on a
ticket still open past its first-response due time and ``resolution_breached`` on one still
unresolved past its resolution due time. Closed tickets beyond :data:`MAX_CLOSED` are deleted
with their comments and attachments.

Pure: time comes in as ``now`` and randomness from the scenario's generator. Tickets are known
by id only once the server has answered their ``POST`` (:meth:`Desk.apply_result`).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from rtdata.scenarios.crm.catalogue import SYSTEM_AUTHOR, Agent
from rtdata.scenarios.crm.phases import PHASES, Phase
from rtdata.scenarios.crm.tickets import (
    UNRESOLVED,
    Ticket,
    attachment_write,
    comment_write,
    iso,
    status_write,
    ticket_row,
)
from rtdata.simulate.write import Write

__all__ = [
    "AGENT_CAPACITY",
    "INBOX_TICKETS",
    "MAX_CLOSED",
    "MAX_UNRESOLVED",
    "Desk",
]

AGENT_CAPACITY: Final = 3
"""Most ``assigned`` tickets an agent works at once."""

MAX_UNRESOLVED: Final = 150
"""No ticket is filed while this many are unresolved (the web form queues the rest)."""

MAX_CLOSED: Final = 60
"""Closed tickets kept before the oldest is deleted with its comments and attachments."""

INBOX_TICKETS: Final = 10
"""Tickets filed before the desk opened, inserted by the desk's first write."""

_WORK_S: Final = (15.0, 45.0)  # an agent's work on a ticket before replying, seconds
_PRIORITY_WORK: Final[Mapping[int, float]] = {1: 0.6, 2: 0.8, 3: 1.0, 4: 1.2}
_PICK_GAP_S: Final = (4.0, 12.0)  # between two tickets an agent takes
_NOTICE_S: Final = (3.0, 12.0)  # from filing until agents see a ticket
_CUSTOMER_REPLY_S: Final = (15.0, 50.0)
_CLOSE_AFTER_S: Final = (25.0, 60.0)
_ASK_PROBABILITY: Final = (0.45, 0.2)  # asking the customer the first time, the second time
_REOPEN_PROBABILITY: Final = 0.06
_ATTACH_ON_FILING: Final = 0.3
_ATTACH_ON_REPLY: Final = 0.4
_MAX_EVENTS_PER_S: Final = max(p.tickets_per_s / (sum(p.batch) / 2) for p in PHASES)


@dataclass(slots=True)
class _Seat:
    agent: Agent
    rota: float  # on duty while the phase's on_duty share is above this
    next_pick_s: float = 0.0
    active: set[int] = field(default_factory=set)


class Desk:
    """The tickets, comments and attachments of the CRM scenario, one write at a time.

    Args:
        rng: The scenario's generator.
        agents: The staff; admins take no tickets.
        customer: Returns the id of a customer to file a ticket for.
    """

    def __init__(
        self, rng: random.Random, agents: Sequence[Agent], customer: Callable[[], str]
    ) -> None:
        """Create a desk with no ticket; :meth:`opening_write` files the inbox."""
        self._rng = rng
        self._customer = customer
        self._seats = [_Seat(a, rng.random()) for a in agents if a.role != "admin"]
        self._by_agent = {seat.agent.id: seat for seat in self._seats}
        self._tickets: dict[int, Ticket] = {}
        self._open: dict[int, None] = {}  # open ticket ids, filing order
        self._closed: deque[int] = deque()
        self._timers: list[tuple[float, int, int]] = []  # (due_s, seq, ticket id)
        self._sweeps: list[tuple[float, int, str]] = []  # (due_s, ticket id, column)
        self._seq = 0
        self._customers: Counter[str] = Counter()
        self._attach_next: set[int] = set()  # tickets whose next customer comment has a file
        self._next_event_s: float | None = None
        self.follow: deque[Write] = deque()
        """Writes that must come next, in order (a reply after its status change)."""

    @property
    def statuses(self) -> dict[int, str]:
        """Every ticket the desk tracks, id -> status (a copy)."""
        return {t.id: t.status for t in self._tickets.values()}

    def in_use(self, customer_id: str) -> bool:
        """Whether a ticket (filed or about to be) names ``customer_id``."""
        return self._customers[customer_id] > 0

    def opening_write(self, now: datetime) -> Write:
        """The tickets filed before the desk opened, up to fifteen minutes ago: their first
        response is overdue for most, so the first writes show the SLA sweep at work."""
        now_s = now.timestamp()
        self._next_event_s = now_s
        filed = sorted(now_s - self._rng.uniform(20, 900) for _ in range(INBOX_TICKETS))
        body = [self._new_row(at_s, now_s, outage=False) for at_s in filed]
        return Write("POST", "tickets", body=body, returning=True)

    def next_write(self, now: datetime, phase: Phase) -> Write | None:
        """Return the desk's next due write at ``now``, or ``None`` when nothing is due."""
        now_s = now.timestamp()
        if self.follow:
            return self.follow.popleft()
        return (
            self._sweep(now_s)
            or self._retire()
            or self._arrivals(now_s, phase)
            or self._assign(now_s, phase)
            or self._timer(now_s, phase)
        )

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn the ids of filed tickets and of customer comments that carry a file."""
        if write.method != "POST":
            return
        sent = write.rows()
        for index, row in enumerate(rows):
            row_id = row.get("id")
            if not isinstance(row_id, int) or isinstance(row_id, bool) or index >= len(sent):
                continue
            if write.table == "tickets" and row_id not in self._tickets:
                self._filed(row_id, sent[index])
            elif write.table == "comments":
                ticket_id = sent[index]["ticket_id"]
                if ticket_id in self._attach_next and ticket_id in self._tickets:
                    self._attach_next.discard(ticket_id)
                    ts = sent[index]["created_at"]
                    self.follow.append(attachment_write(self._rng, ticket_id, row_id, ts))

    # ------------------------------------------------------------ filing

    def _new_row(self, filed_s: float, now_s: float, *, outage: bool) -> dict[str, Any]:
        customer_id = self._customer()
        self._customers[customer_id] += 1
        return ticket_row(self._rng, customer_id, filed_s, now_s, outage=outage)

    def _filed(self, ticket_id: int, row: Mapping[str, Any]) -> None:
        filed_s = datetime.fromisoformat(row["created_at"]).timestamp()
        ticket = Ticket(
            id=ticket_id,
            priority=row["priority"],
            team_id=row["team_id"],
            customer_id=row["customer_id"],
            first_response_due_s=datetime.fromisoformat(row["first_response_due_at"]).timestamp(),
            resolution_due_s=datetime.fromisoformat(row["resolution_due_at"]).timestamp(),
            visible_s=filed_s + self._rng.uniform(*_NOTICE_S),
        )
        self._tickets[ticket_id] = ticket
        self._open[ticket_id] = None
        heapq.heappush(self._sweeps, (ticket.first_response_due_s, ticket_id, "first_response"))
        heapq.heappush(self._sweeps, (ticket.resolution_due_s, ticket_id, "resolution"))
        if self._rng.random() < _ATTACH_ON_FILING:
            self.follow.append(attachment_write(self._rng, ticket_id, None, row["updated_at"]))

    def _arrivals(self, now_s: float, phase: Phase) -> Write | None:
        # Thinning: candidate events at the busiest phase's rate, each kept with the chance
        # that the phase of its own time gives, so a phase change takes effect at once.
        if self._next_event_s is None or self._next_event_s > now_s:
            return None
        count = 0
        while self._next_event_s <= now_s and count < 2 * phase.batch[1]:
            rate = phase.tickets_per_s / (sum(phase.batch) / 2)
            if self._rng.random() < rate / _MAX_EVENTS_PER_S:
                count += self._rng.randint(*phase.batch)
            self._next_event_s += self._rng.expovariate(_MAX_EVENTS_PER_S)
        unresolved = sum(t.status in UNRESOLVED for t in self._tickets.values())
        count = min(count, MAX_UNRESOLVED - unresolved)
        if count <= 0:
            return None
        body = [self._new_row(now_s, now_s, outage=phase.outage) for _ in range(count)]
        return Write("POST", "tickets", body=body if count > 1 else body[0], returning=True)

    # ------------------------------------------------------------ agents

    def _assign(self, now_s: float, phase: Phase) -> Write | None:
        free = [
            seat
            for seat in self._seats
            if seat.rota < phase.on_duty
            and len(seat.active) < AGENT_CAPACITY
            and seat.next_pick_s <= now_s
        ]
        if not free or not self._open:
            return None
        teams = {seat.agent.team_id for seat in free}
        waiting = sorted(
            (t for t in map(self._tickets.__getitem__, self._open) if t.visible_s <= now_s),
            key=lambda t: (t.priority, t.visible_s, t.id),
        )
        for ticket in waiting:
            if ticket.team_id not in teams and not phase.help_other_teams:
                continue
            own = [s for s in free if s.agent.team_id == ticket.team_id]
            seat = min(own or free, key=lambda s: (len(s.active), s.next_pick_s))
            return self._take(ticket, seat, now_s, phase)
        return None

    def _take(self, ticket: Ticket, seat: _Seat, now_s: float, phase: Phase) -> Write:
        del self._open[ticket.id]
        ticket.status = "assigned"
        ticket.assigned_to = seat.agent.id
        seat.active.add(ticket.id)
        seat.next_pick_s = now_s + self._rng.uniform(*_PICK_GAP_S)
        self._work(ticket, now_s, phase)
        ts = iso(now_s)
        self.follow.append(comment_write(self._rng, ticket, "pickup", (seat.agent.id, "agent"), ts))
        body = {
            "status": "assigned",
            "assigned_to": seat.agent.id,
            "first_response_at": ts,
            "updated_at": ts,
        }
        return Write("PATCH", "tickets", body=body, match={"id": ticket.id})

    def _work(self, ticket: Ticket, now_s: float, phase: Phase) -> None:
        factor = phase.work_factor * _PRIORITY_WORK[ticket.priority]
        self._set_timer(ticket, now_s + self._rng.uniform(*_WORK_S) * factor)

    def _set_timer(self, ticket: Ticket, due_s: float) -> None:
        self._seq += 1
        ticket.timer = self._seq
        heapq.heappush(self._timers, (due_s, self._seq, ticket.id))

    def _timer(self, now_s: float, phase: Phase) -> Write | None:
        while self._timers and self._timers[0][0] <= now_s:
            _, seq, ticket_id = heapq.heappop(self._timers)
            ticket = self._tickets.get(ticket_id)
            if ticket is None or ticket.timer != seq:
                continue
            ticket.timer = -1
            if ticket.status == "assigned":
                return self._reply(ticket, now_s)
            if ticket.status == "waiting":
                return self._customer_reply(ticket, now_s, phase)
            if ticket.status == "resolved":
                return self._close_or_reopen(ticket, now_s, phase)
        return None

    def _reply(self, ticket: Ticket, now_s: float) -> Write:
        rng, ts = self._rng, iso(now_s)
        agent_id = ticket.assigned_to or SYSTEM_AUTHOR
        seat = self._by_agent.get(agent_id)
        if seat is not None:
            seat.active.discard(ticket.id)
        if ticket.asked < len(_ASK_PROBABILITY) and rng.random() < _ASK_PROBABILITY[ticket.asked]:
            ticket.asked += 1
            ticket.status = "waiting"
            self._set_timer(ticket, now_s + rng.uniform(*_CUSTOMER_REPLY_S))
            self.follow.append(comment_write(rng, ticket, "ask", (agent_id, "agent"), ts))
            return status_write(ticket, ts)
        ticket.status = "resolved"
        self._set_timer(ticket, now_s + rng.uniform(*_CLOSE_AFTER_S))
        if rng.random() < 0.7:
            self.follow.append(comment_write(rng, ticket, "resolve", (agent_id, "agent"), ts))
        return status_write(ticket, ts, resolved_at=ts)

    def _customer_reply(self, ticket: Ticket, now_s: float, phase: Phase) -> Write:
        return self._back_to_agent(ticket, now_s, phase, "reply", _ATTACH_ON_REPLY)

    def _close_or_reopen(self, ticket: Ticket, now_s: float, phase: Phase) -> Write:
        if self._rng.random() < _REOPEN_PROBABILITY:
            return self._back_to_agent(ticket, now_s, phase, "reopen", 0.0, resolved_at=None)
        ts = iso(now_s)
        ticket.status = "closed"
        self._closed.append(ticket.id)
        if self._rng.random() < 0.3:
            system = (SYSTEM_AUTHOR, "system")
            self.follow.append(comment_write(self._rng, ticket, "close", system, ts))
        return status_write(ticket, ts, closed_at=ts)

    def _back_to_agent(
        self, ticket: Ticket, now_s: float, phase: Phase, moment: str, attach: float, **extra: Any
    ) -> Write:
        ts = iso(now_s)
        ticket.status = "assigned"
        seat = self._by_agent.get(ticket.assigned_to or "")
        if seat is not None:
            seat.active.add(ticket.id)
        self._work(ticket, now_s, phase)
        attached = self._rng.random() < attach
        if attached:
            self._attach_next.add(ticket.id)
        customer = (ticket.customer_id, "customer")
        self.follow.append(
            comment_write(self._rng, ticket, moment, customer, ts, returning=attached)
        )
        return status_write(ticket, ts, **extra)

    # ------------------------------------------------------------ SLA sweep and retention

    def _sweep(self, now_s: float) -> Write | None:
        while self._sweeps and self._sweeps[0][0] < now_s:  # past due, not at it
            _, ticket_id, kind = heapq.heappop(self._sweeps)
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                continue
            if kind == "first_response" and ticket.status == "open":
                ticket.first_response_breached = True
            elif kind == "resolution" and ticket.status in UNRESOLVED:
                ticket.resolution_breached = True
            else:
                continue
            body = {f"{kind}_breached": True, "updated_at": iso(now_s)}
            return Write("PATCH", "tickets", body=body, match={"id": ticket_id})
        return None

    def _retire(self) -> Write | None:
        if len(self._closed) <= MAX_CLOSED:
            return None
        ticket = self._tickets.pop(self._closed.popleft())
        self._customers[ticket.customer_id] -= 1
        if self._customers[ticket.customer_id] <= 0:
            del self._customers[ticket.customer_id]
        self._attach_next.discard(ticket.id)
        self.follow.append(Write("DELETE", "comments", match={"ticket_id": ticket.id}))
        self.follow.append(Write("DELETE", "tickets", match={"id": ticket.id}))
        return Write("DELETE", "attachments", match={"ticket_id": ticket.id})
