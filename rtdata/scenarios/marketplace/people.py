"""The marketplace's accounts: customers who sign up and book, and admins; the names they carry.

:class:`Customers` holds the customer accounts the scenario knows (their ``profiles`` rows),
signs new ones up and deletes old ones that no live booking refers to, so the table stays
bounded. Technicians' own rows live in :mod:`~rtdata.scenarios.marketplace.fleet`. Pure: the
randomness comes from the scenario's :class:`random.Random`, times come in as text.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from rtdata.scenarios.marketplace.places import CITIES
from rtdata.simulate.write import AuthUser, Write

__all__ = [
    "ADMINS",
    "FIRST_CUSTOMERS",
    "MAX_CUSTOMERS",
    "Customers",
    "Person",
    "new_id",
    "person_name",
]

FIRST_CUSTOMERS: Final = 60
"""Customer accounts the first write inserts."""

MAX_CUSTOMERS: Final = 90
"""Beyond this many customers, the oldest with no live booking is deleted."""

ADMINS: Final = 3
"""Admin accounts (they verify technicians); they never change."""

_FIRST_NAMES: Final = (
    "Anna", "Lena", "Lea", "Hannah", "Mia", "Laura", "Julia", "Sarah", "Katharina", "Sophie",
    "Emily", "Marie", "Leonie", "Elif", "Zeynep", "Jonas", "Lukas", "Leon", "Finn", "Paul",
    "Felix", "Maximilian", "Tim", "Niklas", "Jan", "Tobias", "Mehmet", "Deniz", "Marco", "Kai",
)  # fmt: skip
_SURNAMES: Final = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Yılmaz", "Kaya",
    "Nowak", "Kowalski",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Person:
    """One account (a ``profiles`` row).

    Attributes:
        id: The auth user's id (uuid text).
        full_name: Display name.
        email: Sign-in address.
        role: ``customer``, ``technician`` or ``admin``.
        city_id: Home city.
    """

    id: str
    full_name: str
    email: str
    role: str
    city_id: int

    def row(self, ts: str) -> dict[str, Any]:
        """The ``profiles`` row of this account, created and updated at ``ts``."""
        return {
            "id": self.id,
            "role": self.role,
            "full_name": self.full_name,
            "email": self.email,
            "phone": _phone(self.id),
            "city_id": self.city_id,
            "created_at": ts,
            "updated_at": ts,
        }

    def auth_user(self) -> AuthUser:
        """The auth user behind this account, as the app's sign-up makes it (its trigger
        reads ``full_name`` and ``role`` from the metadata)."""
        return AuthUser(self.id, self.email, {"full_name": self.full_name, "role": self.role})


def profiles_write(people: Sequence[Person], ts: str) -> Write:
    """Sign ``people`` up and write their ``profiles`` rows, created at ``ts``: each auth user
    is made first, then the row its sign-up trigger made is completed (an upsert)."""
    return Write(
        "POST",
        "profiles",
        body=[p.row(ts) for p in people],
        auth_users=tuple(p.auth_user() for p in people),
        on_conflict="id",
    )


def new_id(rng: random.Random) -> str:
    """A version-4 uuid drawn from ``rng``, as text."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def person_name(rng: random.Random) -> str:
    """A first name and surname drawn with ``rng``."""
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}"


def new_person(rng: random.Random, role: str, city_id: int) -> Person:
    """A new account of ``role`` in ``city_id`` with a fresh id, name and address."""
    person_id = new_id(rng)
    name = person_name(rng)
    local = name.lower().replace(" ", ".").replace("ü", "ue").replace("ö", "oe")
    local = local.replace("ä", "ae").replace("ı", "i")
    return Person(person_id, name, f"{local}.{person_id[:4]}@mail.example", role, city_id)


def _phone(person_id: str) -> str:
    digits = "".join(str(int(c, 16) % 10) for c in person_id.replace("-", "")[:9])
    return f"+49 1{digits[:2]} {digits[2:]}"


class Customers:
    """The customer and admin accounts, and which customers a live booking refers to.

    Args:
        rng: The scenario's random generator.
    """

    def __init__(self, rng: random.Random) -> None:
        """Make the first customers (spread over the cities) and the admins; nothing is sent."""
        self._rng = rng
        self.admins = tuple(new_person(rng, "admin", CITIES[2].id) for _ in range(ADMINS))
        self._customers: dict[str, Person] = {}
        for i in range(FIRST_CUSTOMERS):
            person = new_person(rng, "customer", CITIES[i % len(CITIES)].id)
            self._customers[person.id] = person
        self._bookings: Counter[str] = Counter()  # customer id -> live bookings

    @property
    def customers(self) -> dict[str, Person]:
        """The customers the scenario knows, by id, oldest first (a copy)."""
        return dict(self._customers)

    def opening_people(self) -> list[Person]:
        """The admins and the first customers."""
        return [*self.admins, *self._customers.values()]

    def pick(self, city_id: int) -> Person:
        """A customer of ``city_id`` (any customer if that city has none)."""
        local = [p for p in self._customers.values() if p.city_id == city_id]
        return self._rng.choice(local or list(self._customers.values()))

    def booked(self, customer_id: str) -> None:
        """Count a new live booking of ``customer_id``."""
        self._bookings[customer_id] += 1

    def released(self, customer_id: str) -> None:
        """Count a deleted booking of ``customer_id``."""
        self._bookings[customer_id] -= 1
        if self._bookings[customer_id] <= 0:
            del self._bookings[customer_id]

    def sign_up(self, ts: str) -> Write:
        """A new customer signs up (the auth user, then the ``profiles`` row), in a city
        drawn at random."""
        person = new_person(self._rng, "customer", self._rng.choice(CITIES).id)
        self._customers[person.id] = person
        return profiles_write([person], ts)

    def forced_prune(self) -> list[Write]:
        """Deletes of the oldest customer no live booking refers to, when there are more than
        :data:`MAX_CUSTOMERS` (its notifications first, as the cascade would); else none."""
        if len(self._customers) <= MAX_CUSTOMERS:
            return []
        for person_id in self._customers:
            if person_id not in self._bookings:
                del self._customers[person_id]
                return [
                    Write("DELETE", "notifications", match={"user_id": person_id}),
                    Write("DELETE", "profiles", match={"id": person_id}),
                ]
        return []
