"""The CRM pack's customer book: customers signing up by acquisition channel, the products they
acquire, and the calls, emails and meetings agents log with them.

Each write is drawn from a weighted mix; the phase sets how many rows a bulk ``POST`` carries
(a mailbox sync logs several emails at once, a webinar brings several sign-ups). The book stays
bounded: beyond :data:`MAX_CUSTOMERS` the oldest customer no ticket names is deleted with their
interactions and acquisitions (the database would cascade; the writes say it explicitly), and
beyond :data:`MAX_ACQUISITIONS` and :data:`MAX_INTERACTIONS` the oldest rows go.

Pure: time comes in as ``now`` and randomness from the scenario's generator. Customer ids are
chosen here (uuid); acquisition and interaction ids are learnt from the server's answers.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.crm.catalogue import PRODUCTS, Agent, company_name, person_name
from rtdata.scenarios.crm.phases import Phase
from rtdata.simulate.write import Write

__all__ = [
    "ACQUISITION_CHANNELS",
    "INITIAL_CUSTOMERS",
    "INTERACTION_TYPES",
    "MAX_ACQUISITIONS",
    "MAX_CUSTOMERS",
    "MAX_INTERACTIONS",
    "SALES_CHANNELS",
    "Sales",
]

MAX_CUSTOMERS: Final = 200
"""Customers kept before the oldest one without tickets is deleted."""

MAX_ACQUISITIONS: Final = 250
"""Acquisitions kept before the oldest is deleted."""

MAX_INTERACTIONS: Final = 250
"""Interactions kept before the oldest is deleted."""

INITIAL_CUSTOMERS: Final = 30
"""Customers inserted by the book's first write."""

ACQUISITION_CHANNELS: Final[Mapping[str, float]] = {
    "organic_search": 30,
    "paid_ads": 25,
    "referral": 15,
    "partner": 10,
    "outbound": 12,
    "event": 8,
}
"""Where new customers come from, with their weights (``acquisition_channel`` enum)."""

SALES_CHANNELS: Final[Mapping[str, float]] = {
    "self_serve": 55,
    "sales_rep": 20,
    "partner": 15,
    "marketplace": 10,
}
"""How acquisitions are sold, with their weights (``sales_channel`` enum)."""

INTERACTION_TYPES: Final[Mapping[str, float]] = {"call": 35, "email": 50, "meeting": 15}
"""Interaction types with their weights (``interaction_type`` enum)."""

_NOTES: Final[Mapping[str, tuple[str, ...]]] = {
    "call": (
        "Renewal call, happy with the product",
        "Asked about pricing for more seats",
        "Follow-up on the open ticket",
        "Left a voicemail",
    ),
    "email": (
        "Sent the quarterly usage report",
        "Shared the onboarding guide",
        "Answered a question about invoices",
        "Sent the renewal quote",
    ),
    "meeting": (
        "Quarterly business review",
        "Product demo for the new team",
        "Onboarding session 2 of 5",
        "Contract negotiation",
    ),
}
_FIRST_ACQUISITION: Final = 0.5


class Sales:
    """Customers, acquisitions and interactions of the CRM scenario, one write at a time.

    Args:
        rng: The scenario's generator.
        agents: Staff who log interactions (admins included).
        in_use: Whether a ticket names a customer (such a customer is never deleted).
    """

    def __init__(
        self, rng: random.Random, agents: Sequence[Agent], in_use: Callable[[str], bool]
    ) -> None:
        """Create an empty book; :meth:`opening_write` inserts the first customers."""
        self._rng = rng
        self._agents = tuple(agents)
        self._in_use = in_use
        self._customers: dict[str, None] = {}  # ids, oldest first
        self._ids: list[str] = []  # the same ids, for random choice
        self._acquisitions: deque[tuple[int, str]] = deque()  # (id, customer id)
        self._interactions: deque[tuple[int, str]] = deque()
        self._prices = {p.id: p.price for p in PRODUCTS}
        self._emails = 0
        self.follow: deque[Write] = deque()
        """Writes that must come next, in order (a customer's rows before the customer)."""

    @property
    def customer_ids(self) -> tuple[str, ...]:
        """The customers the book holds, oldest first."""
        return tuple(self._customers)

    def customer(self) -> str:
        """Return a random customer's id, the newest more often (they need the most help)."""
        recent = self._ids[-40:]
        pool = recent if self._rng.random() < 0.5 else self._ids
        return self._rng.choice(pool)

    def opening_write(self, now: datetime) -> Write:
        """The first customers, signed up before the scenario started."""
        ts = _iso(now)
        return Write(
            "POST", "customers", body=[self._customer_row(ts) for _ in range(INITIAL_CUSTOMERS)]
        )

    def next_write(self, now: datetime, phase: Phase) -> Write:
        """Return the book's next write at ``now``."""
        if self.follow:
            return self.follow.popleft()
        forced = self._forced_prune()
        if forced is not None:
            return forced
        ts = _iso(now)
        options = {
            "interaction": 5.0,
            "acquisition": 1.2,
            "customer": 0.8,
            "contact_change": 1.2,
            "price": 0.08,
        }
        action = self._rng.choices(list(options), list(options.values()))[0]
        if action == "interaction":
            rows = [self._interaction_row(ts) for _ in range(self._rng.randint(*phase.rows))]
            return Write("POST", "interactions", body=_body(rows), returning=True)
        if action == "acquisition":
            return self._acquisition(self.customer(), ts)
        if action == "customer":
            count = min(self._rng.randint(*phase.rows), 3)
            channel = "event" if count == 3 and self._rng.random() < 0.5 else None
            rows = [self._customer_row(ts, channel) for _ in range(count)]
            if self._rng.random() < _FIRST_ACQUISITION:
                self.follow.append(self._acquisition(rows[0]["id"], ts))
            return Write("POST", "customers", body=_body(rows))
        if action == "contact_change":
            contact = {"phone": _phone(self._rng), "updated_at": ts}
            return Write("PATCH", "customers", body=contact, match={"id": self.customer()})
        product = self._rng.choice(PRODUCTS)
        price = round(self._prices[product.id] * self._rng.uniform(0.95, 1.05), 2)
        self._prices[product.id] = price
        return Write(
            "PATCH", "products", body={"price": price, "updated_at": ts}, match={"id": product.id}
        )

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn the ids of new acquisitions and interactions."""
        if write.method != "POST" or write.table not in ("acquisitions", "interactions"):
            return
        kept = self._acquisitions if write.table == "acquisitions" else self._interactions
        for row in rows:
            row_id, customer_id = row.get("id"), row.get("customer_id")
            known = isinstance(customer_id, str) and customer_id in self._customers
            if isinstance(row_id, int) and not isinstance(row_id, bool) and known:
                kept.append((row_id, str(customer_id)))

    # ------------------------------------------------------------ rows

    def _customer_row(self, ts: str, channel: str | None = None) -> dict[str, Any]:
        rng = self._rng
        customer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = company_name(rng) if rng.random() < 0.7 else person_name(rng)
        self._emails += 1
        slug = name.lower().replace(" ", "-").replace("é", "e").replace("í", "i")
        self._customers[customer_id] = None
        self._ids.append(customer_id)
        return {
            "id": customer_id,
            "name": name,
            "email": f"contact{self._emails}@{slug}.example",
            "phone": _phone(rng),
            "acquisition_channel": channel or _pick(rng, ACQUISITION_CHANNELS),
            "created_at": ts,
            "updated_at": ts,
        }

    def _acquisition(self, customer_id: str, ts: str) -> Write:
        rng = self._rng
        product = rng.choices(PRODUCTS, [p.weight for p in PRODUCTS])[0]
        channel = _pick(rng, SALES_CHANNELS)
        quantity = rng.randint(3, 25) if channel == "sales_rep" else rng.randint(1, 3)
        discount = rng.uniform(0.0, 0.15) if channel in ("sales_rep", "partner") else 0.0
        body = {
            "customer_id": customer_id,
            "product_id": product.id,
            "quantity": quantity,
            "total_amount": round(self._prices[product.id] * quantity * (1 - discount), 2),
            "channel": channel,
            "created_at": ts,
            "updated_at": ts,
        }
        return Write("POST", "acquisitions", body=body, returning=True)

    def _interaction_row(self, ts: str) -> dict[str, Any]:
        rng = self._rng
        kind = _pick(rng, INTERACTION_TYPES)
        return {
            "customer_id": self.customer(),
            "agent_id": rng.choice(self._agents).id,
            "type": kind,
            "notes": rng.choice(_NOTES[kind]),
            "interaction_at": ts,
            "created_at": ts,
            "updated_at": ts,
        }

    # ------------------------------------------------------------ retention

    def _forced_prune(self) -> Write | None:
        if len(self._customers) > MAX_CUSTOMERS:
            gone = next((c for c in self._customers if not self._in_use(c)), None)
            if gone is not None:
                return self._delete_customer(gone)
        if len(self._acquisitions) > MAX_ACQUISITIONS:
            row_id, _ = self._acquisitions.popleft()
            return Write("DELETE", "acquisitions", match={"id": row_id})
        if len(self._interactions) > MAX_INTERACTIONS:
            row_id, _ = self._interactions.popleft()
            return Write("DELETE", "interactions", match={"id": row_id})
        return None

    def _delete_customer(self, customer_id: str) -> Write:
        del self._customers[customer_id]
        self._ids.remove(customer_id)
        for kept in (self._acquisitions, self._interactions):
            mine = [entry for entry in kept if entry[1] != customer_id]
            kept.clear()
            kept.extend(mine)
        self.follow.append(Write("DELETE", "acquisitions", match={"customer_id": customer_id}))
        self.follow.append(Write("DELETE", "customers", match={"id": customer_id}))
        return Write("DELETE", "interactions", match={"customer_id": customer_id})


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _phone(rng: random.Random) -> str:
    return f"+44 20 7946 {rng.randint(0, 9999):04d}"


def _body(rows: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    return rows[0] if len(rows) == 1 else rows


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat()
