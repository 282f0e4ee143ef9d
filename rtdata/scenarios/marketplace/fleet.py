"""The marketplace's technicians: who is verified, online, on a job, and where.

:class:`Fleet` keeps each technician's state and produces the ``technicians`` (and their
``profiles``) writes: going online and offline with the day's phase, position updates from the
technician app's GPS (moving towards a job while ``en_route``), jobs taken and finished,
ratings after reviews (what the ``reviews_refresh_technician_rating`` trigger does in
Postgres), new applicants and their verification by an admin, and deletes of departed
technicians so the fleet stays bounded. A technician's ``status`` moves only along
:data:`~rtdata.scenarios.marketplace.lifecycle.TECHNICIAN_TRANSITIONS`: ``on_job`` while one of their jobs is ``en_route`` or
``in_progress``. Pure: randomness from the scenario's :class:`random.Random`, times as text.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from typing import Any, Final

from rtdata.scenarios.marketplace.lifecycle import Technician
from rtdata.scenarios.marketplace.people import Person, new_person, profiles_write
from rtdata.scenarios.marketplace.places import CATEGORIES, CITIES, City, point_in, step_towards
from rtdata.simulate.write import Write

__all__ = [
    "MAX_JOBS",
    "MAX_SURGES",
    "MAX_TECHNICIANS",
    "PER_CITY",
    "SETTLED_TECHNICIANS",
    "Fleet",
]

PER_CITY: Final = 8
"""Verified technicians per city the first writes insert."""

MAX_TECHNICIANS: Final = 48
"""No one applies while this many technicians are on file."""

SETTLED_TECHNICIANS: Final = 44
"""Beyond this many technicians, the oldest offline one with no live booking leaves (so some
always leave and others apply)."""

MAX_JOBS: Final = 2
"""Most open jobs (accepted, en route or in progress) a technician bids beside."""

MAX_SURGES: Final = 12
"""High-demand notices kept (each one bulk ``POST`` of notifications) before the oldest goes."""

_VERIFY_AFTER_S: Final = (30.0, 90.0)
_FIRST_APPLICANTS: Final = 3
_SKILLS: Final = 4  # trades per technician


class Fleet:
    """Every technician, and the writes that move them.

    Args:
        rng: The scenario's random generator.
    """

    def __init__(self, rng: random.Random) -> None:
        """Make :data:`PER_CITY` verified technicians per city, about 70 % online, and three
        applicants an admin verifies within the first minute."""
        self._rng = rng
        self._all: dict[str, Technician] = {}
        for city in CITIES:
            for i in range(PER_CITY):  # every trade covered by several technicians per city
                skills = tuple(CATEGORIES[(i + k) % len(CATEGORIES)] for k in range(_SKILLS))
                tech = self._new(city.id, verified=True, skills=skills)
                tech.status = "available" if rng.random() < 0.7 else "offline"
                self._all[tech.id] = tech
        for _ in range(_FIRST_APPLICANTS):  # applied overnight, verified in the first minute
            city_id = rng.choice(CITIES).id
            tech = self._new(city_id, verified=False, skills=self._scarce(city_id))
            tech.verify_at_s = rng.uniform(20.0, 60.0)
            self._all[tech.id] = tech
        self.closed_city: int | None = None
        self._surges: deque[str] = deque()  # created_at of each high-demand notice, oldest first

    @property
    def technicians(self) -> dict[str, Technician]:
        """Every technician by id, oldest first (a copy of the mapping)."""
        return dict(self._all)

    def get(self, technician_id: str) -> Technician:
        """The technician with that id."""
        return self._all[technician_id]

    def opening_people(self) -> list[Person]:
        """The first technicians' accounts."""
        return [t.person for t in self._all.values()]

    def opening_rows(self, ts: str) -> list[dict[str, Any]]:
        """The first technicians' ``technicians`` rows."""
        return [self._row(t, ts) for t in self._all.values()]

    def bidders(self, city_id: int, category: str, exclude: set[str]) -> list[Technician]:
        """Online, verified technicians of ``city_id`` who take on ``category``, have room for
        another job and are not in ``exclude``."""
        return [
            t
            for t in self._all.values()
            if t.city_id == city_id
            and t.city_id != self.closed_city
            and t.online
            and t.verified
            and category in t.skills
            and len(t.jobs) < MAX_JOBS
            and t.id not in exclude
        ]

    def can_take(self, technician_id: str) -> bool:
        """Whether the technician is online, verified and has room for another job."""
        tech = self._all.get(technician_id)
        return tech is not None and tech.online and tech.verified and len(tech.jobs) < MAX_JOBS

    def surge(self, city_id: int, city_name: str, ts: str) -> Write | None:
        """A high-demand notice to every verified technician of ``city_id`` who is offline, in
        one bulk ``POST``; ``None`` when all of them are online."""
        offline = [
            t for t in self._all.values() if t.city_id == city_id and t.verified and not t.online
        ]
        if not offline:
            return None
        self._surges.append(ts)
        rows = [
            {
                "user_id": t.id,
                "kind": "high_demand",
                "title": f"High demand in {city_name}",
                "body": "Go online now: customers are waiting for bids.",
                "created_at": ts,
            }
            for t in offline
        ]
        return Write("POST", "notifications", body=rows)

    # ------------------------------------------------------------ jobs

    def refer(self, technician_id: str, booking_id: int) -> None:
        """Count a live row (a bid, a job) of ``booking_id`` that names the technician."""
        if technician_id in self._all:
            self._all[technician_id].bookings[booking_id] += 1

    def release(self, booking_id: int) -> None:
        """Forget a deleted booking in every technician's references."""
        for tech in self._all.values():
            tech.bookings.pop(booking_id, None)

    def take(self, technician_id: str, booking_id: int) -> None:
        """The technician's bid on ``booking_id`` was accepted."""
        self._all[technician_id].jobs[booking_id] = "accepted"

    def drop(self, technician_id: str, booking_id: int, ts: str) -> Write | None:
        """The booking was cancelled after acceptance: the technician is free of it; returns
        their status change, if any."""
        tech = self._all[technician_id]
        tech.jobs.pop(booking_id, None)
        return self._settle(tech, ts)

    def set_off(
        self, technician_id: str, booking_id: int, goal: tuple[float, float], ts: str
    ) -> Write:
        """The technician drives to a job: ``on_job``, heading for ``goal``."""
        tech = self._all[technician_id]
        tech.jobs[booking_id] = "active"
        tech.goal = goal
        tech.point = step_towards(tech.point, goal, 0.2)
        tech.status = "on_job"
        return self._patch(tech, ts, status="on_job", **self._position(tech, ts))

    def arrive(self, technician_id: str, ts: str) -> Write:
        """The technician reached the job's address and starts work."""
        tech = self._all[technician_id]
        if tech.goal is not None:
            tech.point = tech.goal
        tech.goal = None
        return self._patch(tech, ts, **self._position(tech, ts))

    def finish(self, technician_id: str, booking_id: int, ts: str) -> Write:
        """The technician completed a job: one more job done, and free unless another job is
        under way."""
        tech = self._all[technician_id]
        tech.jobs.pop(booking_id, None)
        tech.jobs_completed += 1
        settled = self._settle(tech, ts)
        body = settled.body if settled is not None and isinstance(settled.body, dict) else {}
        return self._patch(tech, ts, jobs_completed=tech.jobs_completed, **body)

    def rate(self, technician_id: str, rating: int, ts: str) -> Write:
        """A review of the technician: their average rating and review count, as the
        ``reviews_refresh_technician_rating`` trigger sets them."""
        tech = self._all[technician_id]
        total, count = tech.ratings
        tech.ratings = (total + rating, count + 1)
        average = round((total + rating) / (count + 1), 2)
        return self._patch(tech, ts, rating=average, reviews_count=count + 1)

    # ------------------------------------------------------------ shifts and positions

    def force_offline(self, city_id: int, ts: str) -> Write | None:
        """Take one free, online technician of ``city_id`` offline (the incident); ``None``
        when none is left."""
        for tech in self._all.values():
            if tech.city_id == city_id and tech.status == "available" and not tech.jobs:
                tech.status = "offline"
                return self._patch(tech, ts, status="offline")
        return None

    def shift_weight(self, share: float, closed_city: int | None) -> float:
        """How much a shift change is wanted: the gap between the online technicians and
        ``share`` of the verified ones (the closed city's count as wanting none)."""
        return abs(self._online_gap(share, closed_city)) * 1.5

    def shift(self, share: float, closed_city: int | None, ts: str) -> Write | None:
        """Bring one technician online (in the least covered city) or take one offline,
        towards ``share`` of the verified technicians online; ``None`` if nobody can move."""
        if self._online_gap(share, closed_city) > 0:
            offline = [
                t
                for t in self._all.values()
                if t.verified and not t.online and t.city_id != closed_city
            ]
            if not offline:
                return None
            coverage = Counter(t.city_id for t in self._all.values() if t.online)
            least = min(coverage.get(t.city_id, 0) for t in offline)
            tech = self._rng.choice([t for t in offline if coverage.get(t.city_id, 0) == least])
            tech.status = "available"
            tech.point = point_in(_city(tech.city_id), self._rng)
            return self._patch(tech, ts, status="available", **self._position(tech, ts))
        free = [t for t in self._all.values() if t.status == "available" and not t.jobs]
        if not free:
            return None
        tech = self._rng.choice(free)
        tech.status = "offline"
        return self._patch(tech, ts, status="offline")

    def ping(self, ts: str) -> Write | None:
        """A position update of an online technician: a step towards their job, or a short
        drive around their city; ``None`` if nobody is online."""
        online = [t for t in self._all.values() if t.online]
        if not online:
            return None
        tech = self._rng.choice(online)
        if tech.goal is not None:
            tech.point = step_towards(tech.point, tech.goal, self._rng.uniform(0.25, 0.5))
        elif tech.status == "available":
            lat_min, lat_max, lon_min, lon_max = _city(tech.city_id).box
            lat = min(max(tech.point[0] + self._rng.uniform(-0.004, 0.004), lat_min), lat_max)
            lon = min(max(tech.point[1] + self._rng.uniform(-0.006, 0.006), lon_min), lon_max)
            tech.point = (round(lat, 5), round(lon, 5))
        return self._patch(tech, ts, **self._position(tech, ts))

    # ------------------------------------------------------------ applicants

    def apply(self, elapsed_s: float, ts: str) -> list[Write]:
        """A new technician signs up (``profiles``, then ``technicians`` unverified); an
        admin verifies them 30-90 s later (:meth:`verification`). Nobody applies while
        :data:`MAX_TECHNICIANS` are on file."""
        if len(self._all) >= MAX_TECHNICIANS:
            return []
        size = Counter(t.city_id for t in self._all.values())
        fewest = min(size.get(c.id, 0) for c in CITIES)
        city_id = self._rng.choice([c.id for c in CITIES if size.get(c.id, 0) == fewest])
        tech = self._new(city_id, verified=False, skills=self._scarce(city_id))
        tech.verify_at_s = elapsed_s + self._rng.uniform(*_VERIFY_AFTER_S)
        self._all[tech.id] = tech
        return [
            profiles_write([tech.person], ts),
            Write("POST", "technicians", body=self._row(tech, ts)),
        ]

    def verification(self, elapsed_s: float, ts: str) -> list[Write]:
        """An admin verifies the first applicant who is due; the technician is notified."""
        for tech in self._all.values():
            if tech.verify_at_s is not None and tech.verify_at_s <= elapsed_s:
                tech.verify_at_s = None
                tech.verified = True
                note = {
                    "user_id": tech.id,
                    "kind": "verified",
                    "title": "Your account is verified",
                    "body": "You can now bid on jobs near you.",
                    "created_at": ts,
                }
                return [
                    self._patch(tech, ts, is_verified=True, verified_at=ts),
                    Write("POST", "notifications", body=note),
                ]
        return []

    def forced_prune(self) -> list[Write]:
        """The delete of the oldest high-demand notice beyond :data:`MAX_SURGES`, or deletes of
        the oldest offline technician no live booking refers to, when the fleet
        is larger than :data:`SETTLED_TECHNICIANS` (notifications, technician, profile)."""
        if len(self._surges) > MAX_SURGES:
            match = {"kind": "high_demand", "created_at": self._surges.popleft()}
            return [Write("DELETE", "notifications", match=match)]
        if len(self._all) <= SETTLED_TECHNICIANS:
            return []
        for tech in self._all.values():
            free = tech.verified and not tech.online and not tech.jobs and not tech.bookings
            if free and all(self._cover(tech.city_id, skill) > 2 for skill in tech.skills):
                del self._all[tech.id]
                return [
                    Write("DELETE", "notifications", match={"user_id": tech.id}),
                    Write("DELETE", "technicians", match={"id": tech.id}),
                    Write("DELETE", "profiles", match={"id": tech.id}),
                ]
        return []

    # ------------------------------------------------------------ helpers

    def _new(self, city_id: int, *, verified: bool, skills: tuple[str, ...]) -> Technician:
        person = new_person(self._rng, "technician", city_id)
        return Technician(
            person,
            tuple(sorted(skills, key=CATEGORIES.index)),
            float(self._rng.randrange(45, 95, 5)),
            verified,
            "offline",
            point_in(_city(city_id), self._rng),
        )

    def _cover(self, city_id: int, skill: str) -> int:
        """How many verified technicians of ``city_id`` take on ``skill``."""
        return sum(
            1
            for t in self._all.values()
            if t.city_id == city_id and t.verified and skill in t.skills
        )

    def _scarce(self, city_id: int) -> tuple[str, ...]:
        """The trades fewest technicians of ``city_id`` take on (a new applicant's skills)."""
        ranked = sorted(CATEGORIES, key=lambda c: (self._cover(city_id, c), self._rng.random()))
        return tuple(ranked[:_SKILLS])

    def _online_gap(self, share: float, closed_city: int | None) -> float:
        verified = [t for t in self._all.values() if t.verified]
        wanted = share * sum(1 for t in verified if t.city_id != closed_city)
        return wanted - sum(1 for t in verified if t.online)

    def _settle(self, tech: Technician, ts: str) -> Write | None:
        busy = any(state == "active" for state in tech.jobs.values())
        if tech.status == "on_job" and not busy:
            tech.status = "available"
            tech.goal = None
            return self._patch(tech, ts, status="available")
        return None

    def _row(self, tech: Technician, ts: str) -> dict[str, Any]:
        return {
            "id": tech.id,
            "display_name": tech.person.full_name,
            "city_id": tech.city_id,
            "skills": list(tech.skills),
            "hourly_rate": tech.hourly_rate,
            "is_verified": tech.verified,
            "verified_at": ts if tech.verified else None,
            "status": tech.status,
            "lat": tech.point[0],
            "lon": tech.point[1],
            "location_updated_at": ts,
            "rating": None,
            "reviews_count": 0,
            "jobs_completed": 0,
            "created_at": ts,
            "updated_at": ts,
        }

    @staticmethod
    def _position(tech: Technician, ts: str) -> dict[str, Any]:
        return {"lat": tech.point[0], "lon": tech.point[1], "location_updated_at": ts}

    @staticmethod
    def _patch(tech: Technician, ts: str, **changes: Any) -> Write:
        return Write(
            "PATCH", "technicians", body={**changes, "updated_at": ts}, match={"id": tech.id}
        )


def _city(city_id: int) -> City:
    return next(city for city in CITIES if city.id == city_id)
