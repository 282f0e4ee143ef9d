"""Seeded field-service marketplace scenario that produces REST writes one at a time, no I/O.

The app is TechCare, a marketplace in five Ruhr cities where customers book home-service
technicians (plumbing, electrical, heating, appliances, locks, carpentry): technicians bid on
a booking, the customer accepts one, the technician drives there, works, is paid and reviewed;
the two chat meanwhile. :class:`MarketplaceScenario` mixes the bookings' lifecycles
(:mod:`~rtdata.scenarios.marketplace.bookings`), the technicians' shifts and positions
(:mod:`~rtdata.scenarios.marketplace.fleet`), chat messages
(:mod:`~rtdata.scenarios.marketplace.chats`) and accounts
(:mod:`~rtdata.scenarios.marketplace.people`) by the phase of the day
(:mod:`~rtdata.scenarios.marketplace.phases`), which brings the rush, the city nobody covers
and the quiet evening.

Nothing here reads a clock, a socket or global random state: time comes in as ``now`` (the
first call's ``now`` starts the phase clock) and all randomness comes from one
:class:`random.Random` seeded at construction, so the same seed, the same times and the same
:meth:`~MarketplaceScenario.apply_result` inputs give the same writes. Changes are tracked when
a write is produced; bookings and bids (server-assigned ids) once
:meth:`~MarketplaceScenario.apply_result` reports them.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.marketplace.bookings import MAX_OPEN, Bookings
from rtdata.scenarios.marketplace.chats import Chat, message
from rtdata.scenarios.marketplace.fleet import Fleet
from rtdata.scenarios.marketplace.people import Customers, profiles_write
from rtdata.scenarios.marketplace.phases import (
    ARRIVALS_PER_S,
    BOOKINGS_PER_POST,
    ONLINE_SHARE,
    Phase,
    cycle_at,
    incident_city,
    phase_at,
)
from rtdata.scenarios.marketplace.places import CITIES
from rtdata.simulate.write import Write

__all__ = ["BACKLOG", "STORM_START", "MarketplaceScenario"]

BACKLOG: Final = 8
"""Bookings requested overnight: the first ``POST`` of bookings carries this many."""

STORM_START: Final = 2
"""Bookings the uncovered city requests in one ``POST`` as its storm begins."""


class MarketplaceScenario:
    """Seeded generator of the marketplace's writes, one at a time.

    The first three writes insert the cities (fixed ids 1..5), the accounts (admins, customers,
    the first technicians' profiles) and the technicians. After that each write is, in this
    order of precedence: a follow-up of the previous step (a step's writes go out in order); an
    incident city's technician going offline; the due step of the booking that has waited
    longest, or a due review; a delete that keeps a table within its bound; new bookings when
    the phase's arrival clock says so (the first :data:`BACKLOG` at once); else a weighted
    draw of position updates, chat messages, shift changes, sign-ups, technician applications
    and verifications.

    Args:
        seed: Seed of the scenario's private random generator.
    """

    def __init__(self, seed: int) -> None:
        """Create a scenario; no write is produced until :meth:`next_write` is called."""
        self._rng = random.Random(seed)
        self._customers = Customers(self._rng)
        self._fleet = Fleet(self._rng)
        self._bookings = Bookings(self._rng, self._customers, self._fleet)
        self._queue: deque[Write] = deque()
        self._started: datetime | None = None
        self._opening = 0
        self._next_arrival_s = 0.0
        self._backlog_sent = False
        self._storms = 0  # cycles whose storm has begun

    @property
    def fleet(self) -> Fleet:
        """The technicians."""
        return self._fleet

    @property
    def bookings(self) -> Bookings:
        """The bookings."""
        return self._bookings

    @property
    def customers(self) -> Customers:
        """The customer and admin accounts."""
        return self._customers

    def phase(self, now: datetime) -> Phase:
        """The phase ``now`` falls in (the first cycle starts at the first write)."""
        return phase_at(self._elapsed_s(now))

    def closed_city(self, now: datetime) -> int | None:
        """The id of the city nobody covers at ``now``, or ``None`` outside ``no_cover``."""
        elapsed_s = self._elapsed_s(now)
        if phase_at(elapsed_s) is not Phase.NO_COVER:
            return None
        return incident_city(cycle_at(elapsed_s)).id

    def chats(self) -> list[Chat]:
        """Everyone who may type in a chat now: the customer of each booking that has bids or
        a technician and is still on file (a completed job's chat stays open for thanks and
        questions about the invoice), its technician once accepted, its bidders before."""
        customers = self._customers.customers
        technicians = self._fleet.technicians
        out = []
        finished = [b for b in self._bookings.finished if b.status == "completed"]
        for b in [*self._bookings.open.values(), *finished]:
            if b.status == "pending":
                continue
            person = customers.get(b.customer_id)
            if person is not None:
                out.append(Chat(b.id, person.id, person.full_name, "customer", b.city_id))
            for tech_id in [b.technician_id] if b.technician_id else sorted(b.bidders):
                tech = technicians.get(tech_id)
                if tech is not None:
                    name = tech.person.full_name
                    out.append(Chat(b.id, tech_id, name, "technician", b.city_id))
        return out

    def next_write(self, now: datetime) -> Write:
        """Return the next write to send.

        Args:
            now: Current time, timezone-aware; stamped into the rows' times as ISO 8601 UTC
                text, and the clock of the phases and the bookings' steps.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self._started is None:
            self._started = now
        ts = now.astimezone(UTC).isoformat()
        if self._opening < 3:
            self._opening += 1
            return self._opening_write(self._opening, ts)
        if self._queue:
            return self._queue.popleft()
        elapsed_s = self._elapsed_s(now)
        phase = phase_at(elapsed_s)
        closed = self.closed_city(now)
        self._fleet.closed_city = closed
        for writes in self._due(elapsed_s, phase, closed, ts):
            if writes:
                self._queue.extend(writes[1:])
                return writes[0]
        return self._filler(elapsed_s, phase, closed, ts)

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn server-assigned ids from the representation of a successful write.

        Only ``POST`` writes with ``returning`` set carry news (bookings and bids); rows
        without an integer ``id`` and ids already known are ignored, so feeding a result twice
        is safe.
        """
        if write.method == "POST" and write.returning:
            self._bookings.apply_result(write, rows)

    # ------------------------------------------------------------ choice

    def _elapsed_s(self, now: datetime) -> float:
        return 0.0 if self._started is None else (now - self._started).total_seconds()

    def _opening_write(self, step: int, ts: str) -> Write:
        if step == 1:
            cities = [
                {"id": c.id, "name": c.name, "lat": c.lat, "lon": c.lon, "created_at": ts}
                for c in CITIES
            ]
            return Write("POST", "cities", body=cities)
        if step == 2:
            people = self._customers.opening_people() + self._fleet.opening_people()
            return profiles_write(people, ts)
        return Write("POST", "technicians", body=self._fleet.opening_rows(ts))

    def _due(
        self, elapsed_s: float, phase: Phase, closed: int | None, ts: str
    ) -> Iterator[list[Write]]:
        """The candidate write lists, in precedence order (lazily: each is built when asked)."""
        if closed is not None:
            forced = self._fleet.force_offline(closed, ts)
            yield [forced] if forced is not None else []
        yield self._bookings.due(elapsed_s, ts)
        yield self._bookings.reviews_due(elapsed_s, ts)
        yield self._bookings.forced_prune()
        yield self._customers.forced_prune()
        yield self._fleet.forced_prune()
        yield self._arrivals(elapsed_s, phase, closed, ts)

    def _arrivals(self, elapsed_s: float, phase: Phase, closed: int | None, ts: str) -> list[Write]:
        if closed is not None and self._storms <= cycle_at(elapsed_s):
            self._storms = cycle_at(elapsed_s) + 1  # the storm's first flooded cellars
            return [self._bookings.request(STORM_START, elapsed_s, ts, only=closed)]
        if not self._backlog_sent:
            self._backlog_sent = True
            self._next_arrival_s = elapsed_s + self._gap_s(phase, 1)
            return [self._bookings.request(BACKLOG, elapsed_s, ts, eager=True)]
        room = MAX_OPEN - len(self._bookings.open)
        if elapsed_s < self._next_arrival_s or room <= 0:
            return []
        low, high = BOOKINGS_PER_POST[phase]
        count = min(self._rng.randint(low, high), room)
        self._next_arrival_s = elapsed_s + self._gap_s(phase, count)
        return [self._bookings.request(count, elapsed_s, ts, stormy=closed)]

    def _gap_s(self, phase: Phase, count: int) -> float:
        """Seconds until the next request after one of ``count`` bookings: on average what the
        phase's rate gives, never more than 1.7 times that (no drought a whole phase long)."""
        return count / ARRIVALS_PER_S[phase] * self._rng.uniform(0.3, 1.7)

    def _surge(self, ts: str) -> list[Write]:
        """A high-demand notice for the city with the most bookings waiting for a bid."""
        waiting = Counter(
            b.city_id for b in self._bookings.open.values() if b.status in ("pending", "bidding")
        )
        if not waiting:
            return []
        city_id = waiting.most_common(1)[0][0]
        city = next(c for c in CITIES if c.id == city_id)
        notice = self._fleet.surge(city.id, city.name, ts)
        return [notice] if notice is not None else []

    def _filler(self, elapsed_s: float, phase: Phase, closed: int | None, ts: str) -> Write:
        chatty = [b for b in self._bookings.open.values() if b.status != "pending"]
        share = ONLINE_SHARE[phase]
        options = {
            "ping": 6.0 if phase is not Phase.RUSH else 3.0,
            "chat": (3.0 if phase is not Phase.QUIET else 1.0) if chatty else 0.0,
            "shift": self._fleet.shift_weight(share, closed),
            "sign_up": 0.3,
            "apply": 0.3,
            "verify": 1.0,
            "surge": 2.0 if phase is Phase.RUSH else 0.0,
        }
        for _ in range(8):
            kind = self._rng.choices(list(options), list(options.values()))[0]
            writes: list[Write] = []
            if kind == "ping":
                ping = self._fleet.ping(ts)
                writes = [ping] if ping is not None else []
            elif kind == "chat":
                line = message(self._rng.choice(chatty), self._rng, ts)
                writes = [line] if line is not None else []
            elif kind == "shift":
                moved = self._fleet.shift(share, closed, ts)
                writes = [moved] if moved is not None else []
            elif kind == "sign_up":
                writes = [self._customers.sign_up(ts)]
            elif kind == "apply":
                writes = self._fleet.apply(elapsed_s, ts)
            elif kind == "surge":
                writes = self._surge(ts)
            else:
                writes = self._fleet.verification(elapsed_s, ts)
            if writes:
                self._queue.extend(writes[1:])
                return writes[0]
            options[kind] = 0.0
            if not any(options.values()):
                break
        return self._customers.sign_up(ts)  # something always happens
