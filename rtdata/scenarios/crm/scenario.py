"""Seeded CRM-with-ticketing scenario that produces REST writes one at a time, with no I/O.

The first writes insert the reference rows with fixed ids (SLA policies, teams, agents, the
product catalogue), then the first customers and the tickets filed before the desk opened.
After that each write is the desk's (:class:`~rtdata.scenarios.crm.desk.Desk`) when something
is due there (an SLA breach to flag, tickets arriving, an agent free to take one, a reply), else
the customer book's (:class:`~rtdata.scenarios.crm.sales.Sales`); one write in five goes to the
book even when the desk is busy, so the book lives on through the incident. The phase clock
(:mod:`~rtdata.scenarios.crm.phases`) starts at the first write.

Nothing here reads a clock, a socket or global random state: the same seed and the same
sequence of :meth:`CrmScenario.apply_result` inputs give the same writes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.crm.catalogue import PRODUCTS, SLA_POLICIES, TEAMS, Agent, make_agents
from rtdata.scenarios.crm.desk import Desk
from rtdata.scenarios.crm.phases import Phase, phase_at
from rtdata.scenarios.crm.sales import Sales
from rtdata.simulate.write import Write

__all__ = ["BOOK_SHARE", "CrmScenario"]

BOOK_SHARE: Final = 0.2
"""Share of the writes that go to the customer book even while the desk has work due."""


class CrmScenario:
    """Seeded generator of the CRM app's writes, one at a time.

    Args:
        seed: Seed of the scenario's private random generator.
    """

    def __init__(self, seed: int) -> None:
        """Create a scenario; no write is produced until :meth:`next_write` is called."""
        self._rng = random.Random(seed)
        self._agents = make_agents(self._rng)
        self.sales = Sales(self._rng, self._agents, self._in_use)
        self.desk = Desk(self._rng, self._agents, self.sales.customer)
        self._started: datetime | None = None
        self._opening: deque[Write] = deque()

    @property
    def agents(self) -> tuple[Agent, ...]:
        """The staff, as the third write inserts them."""
        return self._agents

    def phase(self, now: datetime) -> Phase:
        """The phase at ``now`` (the first phase before the first write)."""
        started = self._started or now
        return phase_at((now - started).total_seconds())

    def next_write(self, now: datetime) -> Write:
        """Return the next write to send.

        Args:
            now: Current time, timezone-aware; stamped into the rows' time columns as ISO 8601
                UTC text, and the clock of the phases, SLAs and agents.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self._started is None:
            self._started = now
            self._opening.extend(self._reference_writes(now))
        if self._opening:
            return self._opening.popleft()
        phase = self.phase(now)
        if self.sales.follow:
            return self.sales.follow.popleft()
        if self._rng.random() >= BOOK_SHARE:
            write = self.desk.next_write(now, phase)
            if write is not None:
                return write
        return self.sales.next_write(now, phase)

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn server-assigned ids from the rows a ``returning`` write was answered with;
        feeding a result twice is safe."""
        if write.method != "POST" or not write.returning:
            return
        if write.table in ("tickets", "comments"):
            self.desk.apply_result(write, rows)
        else:
            self.sales.apply_result(write, rows)

    def _in_use(self, customer_id: str) -> bool:
        return self.desk.in_use(customer_id)

    def _reference_writes(self, now: datetime) -> list[Write]:
        ts = now.astimezone(UTC).isoformat()
        policies = [
            {
                "priority": p.priority,
                "name": p.name,
                "first_response_s": p.first_response_s,
                "resolution_s": p.resolution_s,
            }
            for p in SLA_POLICIES
        ]
        teams = [{"id": team_id, "name": name, "created_at": ts} for team_id, name in TEAMS.items()]
        agents = [
            {
                "id": a.id,
                "full_name": a.full_name,
                "email": a.email,
                "team_id": a.team_id,
                "role": a.role,
                "created_at": ts,
            }
            for a in self._agents
        ]
        products = [
            {
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "price": p.price,
                "created_at": ts,
                "updated_at": ts,
            }
            for p in PRODUCTS
        ]
        return [
            Write("POST", "sla_policies", body=policies),
            Write("POST", "teams", body=teams),
            Write("POST", "agents", body=agents),
            Write("POST", "products", body=products),
            self.sales.opening_write(now),
            self.desk.opening_write(now),
        ]
