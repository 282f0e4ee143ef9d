"""A booking's life: requested, bid on, accepted, driven to, worked on, paid and reviewed.

:class:`Bookings` keeps every live booking and, when asked at a moment, produces the next due
step of the booking whose step is oldest, as a list of writes to send in order: the "new job"
notifications to the technicians who could take it, bids, the customer's acceptance (the bid
accepted, the others rejected, the booking accepted, the technician told), the drive, the
work, the payments and the review (:mod:`~rtdata.scenarios.marketplace.settlement`), and at
last the deletes that keep the tables bounded (payments first, then the booking and what its
cascades would remove). Statuses follow
:data:`~rtdata.scenarios.marketplace.lifecycle.BOOKING_TRANSITIONS` and
:data:`~rtdata.scenarios.marketplace.lifecycle.BID_TRANSITIONS`. Chat messages come from :mod:`~rtdata.scenarios.marketplace.chats`.

Times are seconds since the scenario's first write (``now_s``) and ISO text (``ts``); the
randomness is the scenario's :class:`random.Random`. Bookings and bids get their ids from the
server, so they are tracked once :meth:`Bookings.apply_result` reports them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rtdata.scenarios.marketplace.fleet import Fleet
from rtdata.scenarios.marketplace.lifecycle import Booking
from rtdata.scenarios.marketplace.notices import note, notify, trade
from rtdata.scenarios.marketplace.people import Customers
from rtdata.scenarios.marketplace.places import BUDGET_EUR, CATEGORIES, CITIES, JOBS, City, point_in
from rtdata.scenarios.marketplace.settlement import REVIEW_PROBABILITY, charge, review
from rtdata.simulate.write import Write

__all__ = ["MAX_FINISHED", "MAX_OPEN", "Bookings"]

MAX_OPEN: Final = 45
"""No booking is requested while this many are open."""

MAX_FINISHED: Final = 60
"""Completed or cancelled bookings kept before the oldest is deleted with its rows."""

_MISTAKE_PROBABILITY: Final = 0.03  # a customer cancels a booking at once

_DEMAND: Final[Mapping[int, int]] = {1: 5, 2: 3, 3: 5, 4: 4, 5: 6}  # city id -> relative demand


class Bookings:
    """Every live booking and the writes of their lifecycles.

    Args:
        rng: The scenario's random generator.
        customers: The customer accounts (who books, and whose bookings are live).
        fleet: The technicians (who bids, drives and works).
    """

    def __init__(self, rng: random.Random, customers: Customers, fleet: Fleet) -> None:
        """Start with no booking."""
        self._rng = rng
        self._customers = customers
        self._fleet = fleet
        self._open: dict[int, Booking] = {}
        self._finished: deque[Booking] = deque()
        self._review_later: list[Booking] = []
        self._eager = 0  # bookings of the last request still to track that choose at once
        self._now_s = 0.0

    @property
    def open(self) -> dict[int, Booking]:
        """The open bookings by id (a copy)."""
        return dict(self._open)

    @property
    def finished(self) -> tuple[Booking, ...]:
        """Completed and cancelled bookings still on file, oldest first."""
        return tuple(self._finished)

    # ------------------------------------------------------------ requests

    def request(
        self,
        count: int,
        now_s: float,
        ts: str,
        *,
        stormy: int | None = None,
        eager: bool = False,
        only: int | None = None,
    ) -> Write:
        """Customers request ``count`` bookings in one ``POST``, in cities drawn by size; the
        ``stormy`` city (the one nobody covers) books three times as often as usual, and
        ``only`` one city books if given. ``eager`` customers (overnight requests) accept one
        of the first bids within 1.5-3 s."""
        self._now_s = now_s
        self._eager += count if eager else 0
        weights = [
            _DEMAND[c.id] * (3 if c.id == stormy else 1) if only in (None, c.id) else 0
            for c in CITIES
        ]
        rows = []
        for _ in range(count):
            city = self._rng.choices(CITIES, weights)[0]
            category = self._rng.choice(CATEGORIES)
            customer = self._customers.pick(city.id)
            lat, lon = point_in(city, self._rng)
            low, high = BUDGET_EUR[category]
            rows.append(
                {
                    "customer_id": customer.id,
                    "city_id": city.id,
                    "category": category,
                    "description": self._rng.choice(JOBS[category]),
                    "address": _address(city, self._rng),
                    "lat": lat,
                    "lon": lon,
                    "budget": float(self._rng.randrange(low, high, 10)),
                    "status": "pending",
                    "requested_at": ts,
                    "updated_at": ts,
                }
            )
        return Write("POST", "bookings", body=rows if count > 1 else rows[0], returning=True)

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn the ids of new bookings and bids from the server's answer."""
        for row in rows:
            row_id = row.get("id")
            if not isinstance(row_id, int) or isinstance(row_id, bool):
                continue
            if write.table == "bookings" and row_id not in self._open:
                self._track(row_id, row)
            elif write.table == "bids":
                booking = self._open.get(int(row["booking_id"]))
                if booking is not None and row_id not in booking.bids:
                    amount = float(row["amount"])
                    booking.bids[row_id] = (str(row["technician_id"]), amount, "pending")

    def _track(self, booking_id: int, row: Mapping[str, Any]) -> None:
        rng = self._rng
        eager = self._eager > 0
        self._eager -= eager
        booking = Booking(
            id=booking_id,
            customer_id=str(row["customer_id"]),
            city_id=int(row["city_id"]),
            category=str(row["category"]),
            point=(float(row["lat"]), float(row["lon"])),
            budget=float(row["budget"]),
            status="pending",
            requested_s=self._now_s,
            next_s=self._now_s,
            patience_s=rng.uniform(45.0, 120.0),
            wanted_bids=rng.choice((1, 2) if eager else (1, 2, 2, 3, 3, 4)),
            choose_after_s=rng.uniform(1.5, 3.0) if eager else rng.uniform(5.0, 12.0),
        )
        self._open[booking_id] = booking
        self._customers.booked(booking.customer_id)

    # ------------------------------------------------------------ due steps

    def due(self, now_s: float, ts: str) -> list[Write]:
        """The writes of the open booking whose step is due first, in order; empty when no
        step is due (a step may also find nothing to send yet and wait)."""
        self._now_s = now_s
        for _ in range(len(self._open)):
            ready = [b for b in self._open.values() if b.next_s <= now_s]
            if not ready:
                return []
            booking = min(ready, key=lambda b: (b.next_s, b.id))
            writes = self._step(booking, now_s, ts)
            if writes:
                return writes
        return []

    def _step(self, b: Booking, now_s: float, ts: str) -> list[Write]:
        rng = self._rng
        if b.status in ("pending", "bidding"):
            return self._bidding_step(b, now_s, ts)
        if b.status == "accepted":
            if rng.random() < 0.03:
                return self._cancel(b, "Customer rescheduled", ts)
            assert b.technician_id is not None
            b.status = "en_route"
            b.next_s = now_s + rng.uniform(3.0, 8.0)
            return [
                self._patch(b, ts, status="en_route"),
                self._fleet.set_off(b.technician_id, b.id, b.point, ts),
                self._notify(
                    b.customer_id, "technician_en_route", "Your technician is on the way", b, ts
                ),
            ]
        if b.status == "en_route":
            assert b.technician_id is not None
            b.status = "in_progress"
            b.next_s = now_s + rng.uniform(3.0, 10.0)
            return [
                self._patch(b, ts, status="in_progress", started_at=ts),
                self._fleet.arrive(b.technician_id, ts),
                self._notify(b.customer_id, "job_started", "Work has started", b, ts),
            ]
        if b.status == "in_progress":
            return self._complete(b, now_s, ts)
        return []

    def _bidding_step(self, b: Booking, now_s: float, ts: str) -> list[Write]:
        rng = self._rng
        if now_s - b.requested_s > b.patience_s:
            reason = "No technician available" if not b.bids else "Found someone else"
            return self._cancel(b, reason, ts)
        candidates = self._fleet.bidders(b.city_id, b.category, b.bidders)
        if not b.announced:
            b.announced = True
            if rng.random() < _MISTAKE_PROBABILITY:
                return self._cancel(b, "Booked by mistake", ts)
            b.next_s = now_s + rng.uniform(1.0, 4.0)
            if candidates:
                rows = [
                    note(
                        t.id, "new_job", f"New {trade(b.category)} job nearby", b.id, b.category, ts
                    )
                    for t in candidates
                ]
                return [Write("POST", "notifications", body=rows)]
        pending = {i: bid for i, bid in b.bids.items() if bid[2] == "pending"}
        # A bidder who went offline or filled up with jobs withdraws before the customer picks.
        gone = [i for i, bid in pending.items() if not self._fleet.can_take(bid[0])]
        if gone:
            return [self._withdraw(b, gone[0], ts)]
        withdrawn = {bid[0] for bid in b.bids.values() if bid[2] == "withdrawn"}
        bidding = len(b.bidders - withdrawn)
        decide_at_s = None if b.first_bid_s is None else b.first_bid_s + b.choose_after_s
        enough = bidding >= b.wanted_bids or not candidates
        if pending and decide_at_s is not None and now_s >= decide_at_s and enough:
            return self._accept(b, pending, now_s, ts)
        if candidates and bidding < b.wanted_bids:
            return self._bid(b, rng.choice(candidates).id, now_s, ts)
        b.next_s = now_s + 2.0
        return []

    def _bid(self, b: Booking, technician_id: str, now_s: float, ts: str) -> list[Write]:
        rng = self._rng
        tech = self._fleet.get(technician_id)
        b.bidders.add(technician_id)
        self._fleet.refer(technician_id, b.id)
        amount = round(b.budget * rng.uniform(0.75, 1.25) / 5) * 5.0
        bid = {
            "booking_id": b.id,
            "technician_id": technician_id,
            "amount": max(amount, 25.0),
            "eta_minutes": rng.choice((20, 30, 45, 60, 90)),
            "note": rng.choice(
                (None, "Can come today", f"{tech.hourly_rate:.0f} EUR/h, parts extra")
            ),
            "status": "pending",
            "created_at": ts,
            "updated_at": ts,
        }
        writes = [Write("POST", "bids", body=bid, returning=True)]
        b.next_s = now_s + rng.uniform(1.0, 3.0)
        if b.first_bid_s is None:
            b.first_bid_s = now_s
            b.status = "bidding"
            writes.append(self._patch(b, ts, status="bidding"))
            writes.append(self._notify(b.customer_id, "new_bid", "You have a bid", b, ts))
        return writes

    def _withdraw(self, b: Booking, bid_id: int, ts: str) -> Write:
        technician_id, amount, _ = b.bids[bid_id]
        b.bids[bid_id] = (technician_id, amount, "withdrawn")
        return Write(
            "PATCH", "bids", body={"status": "withdrawn", "updated_at": ts}, match={"id": bid_id}
        )

    def _accept(
        self, b: Booking, pending: Mapping[int, tuple[str, float, str]], now_s: float, ts: str
    ) -> list[Write]:
        rng = self._rng
        bid_id = min(pending, key=lambda i: pending[i][1] * rng.uniform(0.85, 1.15))
        technician_id, amount, _ = pending[bid_id]
        for other, (tech, price, _) in pending.items():
            b.bids[other] = (tech, price, "accepted" if other == bid_id else "rejected")
        b.status, b.technician_id, b.price = "accepted", technician_id, amount
        b.next_s = now_s + rng.uniform(1.0, 3.0)
        self._fleet.take(technician_id, b.id)
        self._fleet.refer(technician_id, b.id)
        writes = [
            Write(
                "PATCH", "bids", body={"status": "accepted", "updated_at": ts}, match={"id": bid_id}
            ),
            self._patch(
                b,
                ts,
                status="accepted",
                technician_id=technician_id,
                accepted_bid_id=bid_id,
                price=amount,
                accepted_at=ts,
            ),
            self._notify(technician_id, "bid_accepted", "Your bid was accepted", b, ts),
        ]
        if len(pending) > 1:
            writes.insert(
                1,
                Write(
                    "PATCH",
                    "bids",
                    body={"status": "rejected", "updated_at": ts},
                    match={"booking_id": b.id, "status": "pending"},
                ),
            )
        return writes

    def _cancel(self, b: Booking, reason: str, ts: str) -> list[Write]:
        was = b.status
        b.status = "cancelled"
        writes = [self._patch(b, ts, status="cancelled", cancel_reason=reason, cancelled_at=ts)]
        if any(bid[2] == "pending" for bid in b.bids.values()) or len(b.bidders) > len(b.bids):
            writes.append(
                Write(
                    "PATCH",
                    "bids",
                    body={"status": "rejected", "updated_at": ts},
                    match={"booking_id": b.id, "status": "pending"},
                )
            )
            b.bids = {
                i: (t, a, "rejected" if s == "pending" else s) for i, (t, a, s) in b.bids.items()
            }
        if was == "accepted" and b.technician_id is not None:
            freed = self._fleet.drop(b.technician_id, b.id, ts)
            if freed is not None:
                writes.append(freed)
            writes.append(
                self._notify(b.technician_id, "booking_cancelled", "A job was cancelled", b, ts)
            )
        self._finish(b)
        return writes

    def _complete(self, b: Booking, now_s: float, ts: str) -> list[Write]:
        assert b.technician_id is not None
        b.status = "completed"
        writes = [
            self._patch(b, ts, status="completed", completed_at=ts),
            self._fleet.finish(b.technician_id, b.id, ts),
            *charge(b, self._rng, ts),
            self._notify(b.customer_id, "job_completed", "Job done: please rate it", b, ts),
        ]
        if self._rng.random() < REVIEW_PROBABILITY:
            b.next_s = now_s + self._rng.uniform(1.5, 4.0)
            self._review_later.append(b)
        self._finish(b)
        return writes

    def reviews_due(self, now_s: float, ts: str) -> list[Write]:
        """A due review of a completed booking: the review, the technician's new rating (what
        the ``reviews_refresh_technician_rating`` trigger sets in Postgres) and their
        notification; empty when none is due."""
        for b in self._review_later:
            if b.next_s <= now_s and b.technician_id is not None:
                self._review_later.remove(b)
                rating, write = review(b, self._rng, ts)
                title = f"New {rating}-star review"
                return [
                    write,
                    self._fleet.rate(b.technician_id, rating, ts),
                    self._notify(b.technician_id, "new_review", title, b, ts),
                ]
        return []

    # ------------------------------------------------------------ retention

    def forced_prune(self) -> list[Write]:
        """Deletes of the oldest finished booking and its rows when more than
        :data:`MAX_FINISHED` are on file; else none."""
        if len(self._finished) <= MAX_FINISHED:
            return []
        b = self._finished.popleft()
        if b in self._review_later:
            self._review_later.remove(b)
        self._customers.released(b.customer_id)
        self._fleet.release(b.id)
        match = {"booking_id": b.id}
        return [
            Write("DELETE", "payments", match=match),
            Write("DELETE", "bookings", match={"id": b.id}),
            # What the cascades of bids, messages, notifications and reviews would remove.
            Write("DELETE", "bids", match=match),
            Write("DELETE", "messages", match=match),
            Write("DELETE", "notifications", match=match),
            Write("DELETE", "reviews", match=match),
        ]

    # ------------------------------------------------------------ helpers

    def _finish(self, b: Booking) -> None:
        self._open.pop(b.id, None)
        self._finished.append(b)

    @staticmethod
    def _patch(b: Booking, ts: str, **changes: Any) -> Write:
        return Write("PATCH", "bookings", body={**changes, "updated_at": ts}, match={"id": b.id})

    @staticmethod
    def _notify(user_id: str, kind: str, title: str, b: Booking, ts: str) -> Write:
        return notify(user_id, kind, title, b.id, b.category, ts)


def _address(city: City, rng: random.Random) -> str:
    return f"{rng.choice(city.streets)} {rng.randint(1, 180)}, {city.name}"
